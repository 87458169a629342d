// SPDX-License-Identifier: MIT
// ONNX Runtime timing of an export through node + onnxruntime-node (see ort_speed.h).
#include "core/eval/ort_speed.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/common/error.h"

namespace mixq::eval {

namespace fs = std::filesystem;

namespace {

std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

bool node_on_path() {
    const char* path = std::getenv("PATH");
    std::stringstream ss(path ? path : "");
    std::string d;
    while (std::getline(ss, d, ':'))
        if (!d.empty() && ::access((fs::path(d) / "node").c_str(), X_OK) == 0) return true;
    return false;
}

}  // namespace

std::optional<OrtHarness> find_ort_harness(std::string* why) {
    auto no = [&](const std::string& reason) -> std::optional<OrtHarness> {
        if (why) *why = reason;
        return std::nullopt;
    };
    if (!node_on_path()) return no("node is not on PATH");
    const char* env = std::getenv("MIXQ_ORT_DIR");
    const fs::path dir = env && *env ? fs::path(env) : fs::path(MIXQ_RESOURCES_DIR).parent_path() / "tests" / "ort";
    const fs::path pkg = dir / "node_modules" / "onnxruntime-node" / "package.json";
    std::error_code ec;
    if (!fs::is_regular_file(dir / "ort_bench.js", ec) || !fs::is_regular_file(pkg, ec))
        return no("onnxruntime-node is not installed in " + dir.string() + " (MIXQ_ORT_DIR)");
    std::ifstream in(pkg);
    const auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.contains("version") || !j["version"].is_string()) return no(pkg.string() + ": no version");
    return OrtHarness{dir, j["version"].get<std::string>()};
}

OrtSpeed ort_speed(const OrtHarness& h, const fs::path& model_onnx, int threads, int prompt, int decode, int runs,
                   const JobContext& job) {
    job.check_cancel();
    const std::string cmd = "OMP_NUM_THREADS=" + std::to_string(threads) + " node " +
                            shell_quote((h.dir / "ort_bench.js").string()) + " " + shell_quote(model_onnx.string()) +
                            " --threads " + std::to_string(threads) + " --prompt " + std::to_string(prompt) +
                            " --gen " + std::to_string(decode) + " --runs " + std::to_string(runs) + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) fail(model_onnx.string(), "cannot start node for ONNX Runtime timing");
    std::string out, last;
    char buf[4096];
    while (std::fgets(buf, sizeof buf, p)) {
        out += buf;
        std::string line(buf);
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
        if (!line.empty()) last = line;
    }
    const int status = ::pclose(p);
    if (status != 0 || last.empty() || last[0] != '{')
        fail(model_onnx.string(), "ONNX Runtime timing failed: " + (last.empty() ? std::string("no output") : last));
    const auto j = nlohmann::json::parse(last, nullptr, false);
    if (j.is_discarded()) fail(model_onnx.string(), "ONNX Runtime timing printed no JSON: " + last);
    OrtSpeed s;
    s.prefill_tokens_per_s = j.value("prefill_tokens_per_s", 0.0);
    s.decode_tokens_per_s = j.value("decode_tokens_per_s", 0.0);
    s.load_s = j.value("load_s", 0.0);
    s.threads = threads;
    s.prompt = prompt;
    s.decode = decode;
    s.runs = runs;
    s.runtime = "ONNX Runtime " + h.version + ", CPU, " + std::to_string(threads) + (threads == 1 ? " thread" : " threads");
    return s;
}

}  // namespace mixq::eval

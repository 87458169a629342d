// SPDX-License-Identifier: MIT
// Argument parsing, id lists, stderr progress and SIGINT cancellation for the CLI.
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "app/cli/cli_command.h"
#include "core/common/error.h"
#include "app/cli/cli_signals.h"
#include "core/common/error.h"

namespace mixq::cli {

std::map<std::string, Command>& command_table() {
    static std::map<std::string, Command> table;
    return table;
}

namespace {
const std::string kMissingValue = "\x01<missing>";
bool looks_like_flag(const std::string& a) {
    return (a.size() > 2 && a.rfind("--", 0) == 0) || (a.size() == 2 && a[0] == '-' && std::isalpha(static_cast<unsigned char>(a[1])));
}
}  // namespace

Args::Args(std::vector<std::string> argv, std::vector<std::string> switches) {
    for (size_t i = 0; i < argv.size(); ++i) {
        const std::string& a = argv[i];
        if (!looks_like_flag(a)) {
            m_positional.push_back(a);
            continue;
        }
        const auto eq = a.find('=');
        if (eq != std::string::npos) {
            m_flags.emplace(a.substr(0, eq), a.substr(eq + 1));
            continue;
        }
        bool is_switch = false;
        for (const auto& s : switches) is_switch |= (s == a);
        if (is_switch) m_flags.emplace(a, "");
        else if (i + 1 < argv.size()) m_flags.emplace(a, argv[++i]);
        else m_flags.emplace(a, kMissingValue);  // reported by get() after allow_only() had its say
    }
}

std::string Args::positional_at(size_t i, const std::string& what) const {
    if (i >= m_positional.size()) usage_fail("missing " + what);
    return m_positional[i];
}
bool Args::has(const std::string& flag) const { return m_flags.count(flag) != 0; }
std::optional<std::string> Args::get(const std::string& flag) const {
    auto it = m_flags.find(flag);
    if (it == m_flags.end()) return std::nullopt;
    if (it->second == kMissingValue) usage_fail("option " + flag + " needs a value");
    return it->second;
}
std::vector<std::string> Args::get_all(const std::string& flag) const {
    std::vector<std::string> out;
    auto range = m_flags.equal_range(flag);
    for (auto it = range.first; it != range.second; ++it) out.push_back(it->second);
    return out;
}
std::string Args::get_or(const std::string& flag, const std::string& dflt) const { return get(flag).value_or(dflt); }
long long Args::get_int(const std::string& flag, long long dflt, long long lo, long long hi) const {
    auto v = get(flag);
    if (!v) return dflt;
    const std::string range = std::to_string(lo) + ".." + std::to_string(hi);
    const std::string& s = *v;
    const bool neg = !s.empty() && s[0] == '-';
    const std::string d = s.substr(neg ? 1 : 0);
    if (d.empty() || d.find_first_not_of("0123456789") != std::string::npos)
        usage_fail(flag + ": needs an integer in " + range + ", got '" + s + "'");
    // Digits only: a magnitude past 2^63-1 is outside every range (compared as text: nothing can overflow or wrap).
    const size_t nz = d.find_first_not_of('0');
    const std::string mag = nz == std::string::npos ? "0" : d.substr(nz);
    if (mag.size() > 19 || (mag.size() == 19 && mag > "9223372036854775807"))
        usage_fail(flag + ": " + s + " is outside " + range);
    const long long x = (neg ? -1 : 1) * std::stoll(mag);
    if (x < lo || x > hi) usage_fail(flag + ": " + s + " is outside " + range);
    return x;
}
double Args::get_double(const std::string& flag, double dflt) const {
    auto v = get(flag);
    if (!v) return dflt;
    try {
        size_t pos = 0;
        double x = std::stod(*v, &pos);
        if (pos != v->size()) throw std::invalid_argument("");
        return x;
    } catch (...) {
        usage_fail("option " + flag + " needs a number, got '" + *v + "'");
    }
}
void Args::allow_only(const std::vector<std::string>& allowed) const {
    for (const auto& [k, v] : m_flags) {
        bool ok = false;
        for (const auto& a : allowed) ok |= (a == k);
        if (!ok) usage_fail("unknown option " + k);
    }
}

void check_output_file(const std::string& path) {
    namespace fs = std::filesystem;
    const fs::path p(path);
    const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
    std::error_code ec;
    if (fs::is_directory(p, ec)) fail(path, "is a folder; give a file name to write");
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) fail(dir.string(), std::string("cannot write here: ") + std::strerror(errno));
    if (!S_ISDIR(st.st_mode)) fail(dir.string(), "cannot write here: Not a directory");
    if (::access(dir.c_str(), W_OK | X_OK) != 0) fail(dir.string(), std::string("cannot write here: ") + std::strerror(errno));
}

std::vector<int> parse_id_list(const std::string& s) {
    std::vector<int> ids;
    size_t i = 0;
    while (i <= s.size()) {
        size_t j = s.find(',', i);
        if (j == std::string::npos) j = s.size();
        const std::string tok = s.substr(i, j - i);
        if (tok.empty() || tok.find_first_not_of("0123456789") != std::string::npos)
            usage_fail("--ids must be comma-separated non-negative integers, got '" + s + "'");
        // At most 9 significant digits fit an int without overflow; a longer id is out of every vocabulary.
        const size_t nz = std::min(tok.find_first_not_of('0'), tok.size() - 1);
        if (tok.size() - nz > 9) usage_fail("--ids: token id " + tok + " is too large (at most 999999999)");
        ids.push_back(std::stoi(tok.substr(nz)));
        i = j + 1;
    }
    return ids;
}

void check_ids_in_vocab(const std::vector<int>& ids, int vocab_size) {
    for (int id : ids)
        if (id >= vocab_size)
            fail("--ids", "token id " + std::to_string(id) + " is outside the vocabulary of the model (size " +
                              std::to_string(vocab_size) + ", config.json vocab_size)");
}

bool& progress_line_open() {
    static bool open = false;
    return open;
}

void end_progress_line() {
    if (progress_line_open()) std::fprintf(stderr, "\n");
    progress_line_open() = false;
}

void print_progress(double fraction, const std::string& stage, const std::string& item, double eta) {
    static auto last = std::chrono::steady_clock::now() - std::chrono::seconds(1);
    const auto now = std::chrono::steady_clock::now();
    if (fraction < 1.0 && now - last < std::chrono::milliseconds(200)) return;
    last = now;
    char buf[64] = "";
    if (eta >= 0) std::snprintf(buf, sizeof buf, " ETA %.0fs", eta);
    std::fprintf(stderr, "\r[%s] %5.1f%% %-40.40s%s   ", stage.c_str(), fraction * 100.0, item.c_str(), buf);
    progress_line_open() = fraction < 1.0;
    if (fraction >= 1.0) std::fprintf(stderr, "\n");
    std::fflush(stderr);
}

namespace {
mixq::CancelToken& token_instance() {
    static mixq::CancelToken t;
    return t;
}
void on_sigint(int) {
    token_instance().cancel();
    std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C kills at once
}
}  // namespace

void install_sigint_handler() {
    token_instance();
    std::signal(SIGINT, on_sigint);
}

namespace {
// Installed during static initialization, before main(), so a Ctrl-C at any point of a run cancels cleanly.
const bool g_sigint_installed = (install_sigint_handler(), true);
}  // namespace
const mixq::CancelToken& sigint_token() { return token_instance(); }

mixq::JobContext make_cli_job(bool quiet) {
    return mixq::JobContext(
        token_instance(),
        [quiet](const mixq::Progress& p) {
            if (!quiet) print_progress(p.fraction, p.stage, p.item, p.eta_seconds);
        },
        [quiet](const std::string& line) {
            if (!quiet) std::cerr << line << "\n";
        });
}

}  // namespace mixq::cli

// SPDX-License-Identifier: MIT
// scores.json reading and writing for ScoreTable, with validation of every field read.
#include "core/score/score_table.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/common/atomic_file.h"
#include "core/common/error.h"
#include "core/common/input_file.h"

namespace mixq::score {
using nlohmann::json;

namespace {
io::UnitKind parse_kind(const std::string& s, const std::string& label) {
    for (auto k : {io::UnitKind::QKV, io::UnitKind::O, io::UnitKind::GateUp, io::UnitKind::Down, io::UnitKind::LmHead,
                   io::UnitKind::Embedding, io::UnitKind::TiedEmbedding})
        if (s == io::unit_kind_name(k)) return k;
    fail(label, "unknown unit kind '" + s + "'");
}
}  // namespace

std::string score_table_to_json(const ScoreTable& t) {
    json j;
    j["schema"] = "mixq.scores/1";
    j["model"] = {{"path", t.model_path}, {"hash", t.model_hash}};
    json cands = json::array();
    for (const auto& c : t.candidates) cands.push_back(c.name());
    j["candidates"] = cands;
    j["calibration"] = {{"samples", t.calib_samples}, {"seq_len", t.calib_seq_len}, {"source", t.calib_source}};
    j["mode"] = t.mode;
    j["memory_mode"] = t.memory_mode;
    j["memory_reason"] = t.memory_reason;
    j["device"] = t.device;
    j["rotation"] = t.rotation;
    j["scale_bits"] = t.scale_bits;
    j["seconds"] = t.seconds;
    json units = json::array();
    for (const auto& u : t.units) {
        json ju;
        ju["name"] = u.name;
        ju["kind"] = io::unit_kind_name(u.kind);
        ju["layer"] = u.layer;
        ju["members"] = u.members;
        ju["shapes"] = u.shapes;
        json sc = json::object();
        for (const auto& c : u.candidates) {
            // JSON has no NaN/Inf (nlohmann writes null): a scores file never holds one.
            if (!std::isfinite(c.kld) || !std::isfinite(c.rel_err))
                fail("scores", "unit '" + u.name + "' " + c.format.name() + ": non-finite kld or rel_err");
            sc[c.format.name()] = {{"kld", c.kld}, {"rel_err", c.rel_err}, {"bits_per_weight", c.bits_per_weight},
                                   {"bytes", c.bytes}};
        }
        ju["scores"] = sc;
        units.push_back(ju);
    }
    j["units"] = units;
    return j.dump(1);
}

ScoreTable score_table_from_json(const std::string& text, const std::string& label) {
    json j;
    try {
        j = json::parse(text);
    } catch (const json::exception& e) {
        fail(label, std::string("not valid JSON: ") + e.what());
    }
    ScoreTable t;
    try {
        if (!j.is_object() || j.value("schema", "") != "mixq.scores/1")
            fail(label, "not a MixQ scores file (schema mixq.scores/1 expected)");
        t.model_path = j.at("model").at("path").get<std::string>();
        t.model_hash = j.at("model").at("hash").get<std::string>();
        for (const auto& c : j.at("candidates")) t.candidates.push_back(quant::QuantFormat::parse(c.get<std::string>()));
        if (t.candidates.empty()) fail(label, "no candidates");
        t.calib_samples = j.at("calibration").at("samples").get<int>();
        t.calib_seq_len = j.at("calibration").at("seq_len").get<int>();
        t.calib_source = j.at("calibration").at("source").get<std::string>();
        t.mode = j.value("mode", "exact");
        t.memory_mode = j.value("memory_mode", "");
        t.memory_reason = j.value("memory_reason", "");
        t.device = j.value("device", "cpu");
        t.rotation = j.value("rotation", "none");
        t.scale_bits = j.value("scale_bits", 16);
        t.seconds = j.value("seconds", 0.0);
        for (const auto& ju : j.at("units")) {
            UnitScore u;
            u.name = ju.at("name").get<std::string>();
            u.kind = parse_kind(ju.at("kind").get<std::string>(), label);
            u.layer = ju.at("layer").get<int>();
            u.members = ju.at("members").get<std::vector<std::string>>();
            u.shapes = ju.at("shapes").get<std::vector<std::vector<int64_t>>>();
            if (u.members.empty() || u.members.size() != u.shapes.size())
                fail(label, "unit '" + u.name + "': members and shapes differ in count");
            for (const auto& s : u.shapes)
                if (s.size() != 2 || s[0] <= 0 || s[1] <= 0) fail(label, "unit '" + u.name + "': shape must be [N, K] > 0");
            for (const auto& f : t.candidates) {
                const std::string key = f.name();
                if (!ju.at("scores").contains(key)) fail(label, "unit '" + u.name + "' has no score for " + key);
                const auto& s = ju["scores"][key];
                CandidateScore c;
                c.format = f;
                c.kld = s.at("kld").get<double>();
                c.rel_err = s.at("rel_err").get<double>();
                c.bits_per_weight = s.at("bits_per_weight").get<double>();
                c.bytes = s.at("bytes").get<uint64_t>();
                if (!(c.kld >= 0) || !(c.bits_per_weight > 0))
                    fail(label, "unit '" + u.name + "' " + key + ": kld must be >= 0 and bits_per_weight > 0");
                u.candidates.push_back(c);
            }
            t.units.push_back(std::move(u));
        }
    } catch (const json::exception& e) {
        fail(label, std::string("malformed scores file: ") + e.what());
    } catch (const Error& e) {
        const std::string m = e.what();
        if (m.rfind(label, 0) == 0) throw;
        fail(label, m);
    }
    return t;
}

void save_score_table(const ScoreTable& t, const std::filesystem::path& path) {
    write_file_atomic(path, score_table_to_json(t));
}

ScoreTable load_score_table(const std::filesystem::path& path) {
    return score_table_from_json(mixq::read_input_file(path, mixq::kMaxJsonBytes), path.string());
}

}  // namespace mixq::score

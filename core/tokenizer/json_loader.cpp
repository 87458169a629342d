// SPDX-License-Identifier: MIT
// tokenizer.json parsing with a parser callback that captures model.vocab and model.merges (see json_loader.h).
#include "core/tokenizer/json_loader.h"

#include <algorithm>

#include "core/common/error.h"

namespace mixq::tok {
namespace {

using json = nlohmann::json;
using Event = json::parse_event_t;

std::string one_line(std::string s) {
    std::replace(s.begin(), s.end(), '\n', ' ');
    std::replace(s.begin(), s.end(), '\r', ' ');
    return s;
}

std::string quote(const std::string& s) {
    std::string out = "'";
    for (unsigned char c : s) {
        out += c < 0x20 ? '?' : static_cast<char>(c);
        if (out.size() > 80) return out + "...'";
    }
    return out + "'";
}

/// Depths as nlohmann's callback reports them: the top-level object starts at 0, its keys are at 1, the keys
/// of "model" at 2, the entries of model.vocab / model.merges at 3 and the halves of a ["a", "b"] merge at 4.
class Capture {
public:
    Capture(TokenizerJson& out, const std::string& label) : m_out(out), m_label(label) {}

    bool operator()(int depth, Event ev, json& parsed) {
        const auto d = static_cast<size_t>(depth);
        switch (ev) {
            case Event::key:
                if (m_in_vocab && d == 3) {
                    m_pending_key = std::move(parsed.get_ref<std::string&>());
                    return false;  // keep the entry out of the tree
                }
                if (m_keys.size() <= d) m_keys.resize(d + 1);
                m_keys[d] = parsed.get<std::string>();
                return true;
            case Event::object_start:
            case Event::array_start: {
                const bool is_object = ev == Event::object_start;
                if (m_in_merges && d == 3) {
                    if (!is_object) {
                        m_in_pair = true;
                        m_pair.clear();
                        return true;
                    }
                    bad_merge();
                }
                if (m_kinds.size() <= d + 1) m_kinds.resize(d + 2, false);
                m_kinds[d + 1] = is_object;
                if (d == 2 && in_model()) {
                    if (is_object && m_keys[2] == "vocab") {
                        m_in_vocab = true;
                        m_out.vocab_captured = true;
                    } else if (!is_object && m_keys[2] == "merges") {
                        m_in_merges = true;
                        m_out.merges_captured = true;
                    }
                }
                return true;
            }
            case Event::object_end:
                if (m_in_vocab && d == 2) m_in_vocab = false;
                return true;
            case Event::array_end:
                if (m_in_pair && d == 3) {
                    m_in_pair = false;
                    if (m_pair.size() != 2) bad_merge();
                    m_out.merges.emplace_back(std::move(m_pair[0]), std::move(m_pair[1]));
                    ++m_index;
                    return false;  // drop the pair from the tree
                }
                if (m_in_merges && d == 2) m_in_merges = false;
                return true;
            case Event::value:
                if (m_in_vocab && d == 3) {
                    if (!parsed.is_number_integer() || parsed.get<long long>() < 0 || parsed.get<long long>() > 0x7FFFFFFF)
                        mixq::fail(m_label, "model.vocab: id of token " + quote(m_pending_key) +
                                                " must be a non-negative integer");
                    m_out.vocab.emplace_back(std::move(m_pending_key), parsed.get<int>());
                    return false;
                }
                if (m_in_pair && d == 4) {
                    if (!parsed.is_string()) bad_merge();
                    m_pair.push_back(std::move(parsed.get_ref<std::string&>()));
                    return false;
                }
                if (m_in_merges && d == 3) {
                    if (!parsed.is_string()) bad_merge();
                    const std::string& line = parsed.get_ref<const std::string&>();
                    if (line.rfind("#version", 0) != 0) {
                        const size_t sp = line.find(' ');
                        if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos)
                            mixq::fail(m_label, "model.merges[" + std::to_string(m_index) + "]: merge " + quote(line) +
                                                    " is not two tokens separated by one space");
                        m_out.merges.emplace_back(line.substr(0, sp), line.substr(sp + 1));
                    }
                    ++m_index;
                    return false;
                }
                return true;
            default:
                return true;
        }
    }

private:
    bool in_model() const {
        return m_keys.size() > 2 && m_kinds.size() > 2 && m_kinds[1] && m_kinds[2] && m_keys[1] == "model";
    }
    [[noreturn]] void bad_merge() const {
        mixq::fail(m_label, "model.merges[" + std::to_string(m_index) + "]: merge must be \"a b\" or [\"a\", \"b\"]");
    }

    TokenizerJson& m_out;
    const std::string& m_label;
    std::vector<std::string> m_keys;
    std::vector<bool> m_kinds;  // m_kinds[d]: the container holding depth-d entries is an object
    bool m_in_vocab = false, m_in_merges = false, m_in_pair = false;
    std::string m_pending_key;
    std::vector<std::string> m_pair;
    size_t m_index = 0;
};

}  // namespace

TokenizerJson parse_tokenizer_json(const std::string& text, const std::string& label) {
    TokenizerJson out;
    Capture capture(out, label);
    try {
        out.root = json::parse(text, [&](int depth, Event ev, json& parsed) { return capture(depth, ev, parsed); });
    } catch (const json::exception& e) {
        fail(label, "not valid JSON: " + one_line(e.what()));
    }
    return out;
}

}  // namespace mixq::tok

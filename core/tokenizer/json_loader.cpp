// SPDX-License-Identifier: MIT
// tokenizer.json parsing with a parser callback that captures model.vocab and model.merges (see json_loader.h).
#include "core/tokenizer/json_loader.h"

#include <algorithm>

#include "core/common/error.h"

namespace mixq::tok {
namespace {

using json = nlohmann::json;

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

/// A SAX handler that streams model.vocab and model.merges into vectors and hands every other event to
/// nlohmann's plain DOM builder. (nlohmann's callback parser rescans the enclosing array after every object, so
/// 100k added_tokens took ~5 s; this stays linear.) The captured sections are left empty ({} / []) in the tree.
class CaptureSax {
public:
    using Dom = nlohmann::detail::json_sax_dom_parser<json>;
    CaptureSax(TokenizerJson& out, const std::string& label) : m_out(out), m_label(label), m_dom(out.root, true) {}

    bool null() { return scalar([&] { return m_dom.null(); }, json()); }
    bool boolean(bool v) { return scalar([&] { return m_dom.boolean(v); }, json(v)); }
    bool number_integer(json::number_integer_t v) { return scalar([&] { return m_dom.number_integer(v); }, json(v)); }
    bool number_unsigned(json::number_unsigned_t v) { return scalar([&] { return m_dom.number_unsigned(v); }, json(v)); }
    bool number_float(json::number_float_t v, const json::string_t& s) {
        return scalar([&] { return m_dom.number_float(v, s); }, json(v));
    }
    bool binary(json::binary_t& v) { return scalar([&] { return m_dom.binary(v); }, json()); }
    bool string(json::string_t& v) {
        if (m_mode == Mode::Merges) {
            if (v.rfind("#version", 0) != 0) {
                const size_t sp = v.find(' ');
                if (sp == std::string::npos || v.find(' ', sp + 1) != std::string::npos)
                    mixq::fail(m_label, "model.merges[" + std::to_string(m_index) + "]: merge " + quote(v) +
                                            " is not two tokens separated by one space");
                m_out.merges.emplace_back(v.substr(0, sp), v.substr(sp + 1));
            }
            ++m_index;
            return true;
        }
        if (m_mode == Mode::Pair) {
            m_pair.push_back(std::move(v));
            return true;
        }
        if (m_mode == Mode::Vocab) bad_id();
        return m_dom.string(v);
    }
    bool key(json::string_t& k) {
        if (m_mode == Mode::Vocab) {
            m_pending_key = std::move(k);
            return true;
        }
        m_stack.back().key = k;
        return m_dom.key(k);
    }
    bool start_object(std::size_t n) {
        if (m_mode == Mode::Vocab) bad_id();
        if (m_mode == Mode::Merges || m_mode == Mode::Pair) bad_merge();
        if (in_model_key("vocab")) {
            m_mode = Mode::Vocab;
            m_out.vocab_captured = true;
        }
        m_stack.push_back({true, {}});
        return m_dom.start_object(m_mode == Mode::Vocab ? 0 : n);
    }
    bool end_object() {
        if (m_mode == Mode::Vocab) m_mode = Mode::None;
        m_stack.pop_back();
        return m_dom.end_object();
    }
    bool start_array(std::size_t n) {
        if (m_mode == Mode::Vocab) bad_id();
        if (m_mode == Mode::Pair) bad_merge();
        if (m_mode == Mode::Merges) {
            m_mode = Mode::Pair;
            m_pair.clear();
            return true;
        }
        if (in_model_key("merges")) {
            m_mode = Mode::Merges;
            m_out.merges_captured = true;
        }
        m_stack.push_back({false, {}});
        return m_dom.start_array(m_mode == Mode::Merges ? 0 : n);
    }
    bool end_array() {
        if (m_mode == Mode::Pair) {
            if (m_pair.size() != 2) bad_merge();
            m_out.merges.emplace_back(std::move(m_pair[0]), std::move(m_pair[1]));
            ++m_index;
            m_mode = Mode::Merges;
            return true;
        }
        if (m_mode == Mode::Merges) m_mode = Mode::None;
        m_stack.pop_back();
        return m_dom.end_array();
    }
    bool parse_error(std::size_t pos, const std::string& token, const nlohmann::detail::exception& e) {
        return m_dom.parse_error(pos, token, e);  // throws (exceptions allowed)
    }

private:
    enum class Mode { None, Vocab, Merges, Pair };
    struct Frame {
        bool is_object;
        std::string key;  ///< the last key read in this object
    };

    /// A value inside a captured section is taken here; elsewhere it goes to the tree.
    template <class F>
    bool scalar(F to_dom, const json& v) {
        if (m_mode == Mode::Vocab) {
            if (!v.is_number_integer() || v.get<long long>() < 0 || v.get<long long>() > 0x7FFFFFFF ||
                (v.is_number_unsigned() && v.get<unsigned long long>() > 0x7FFFFFFF))
                bad_id();
            m_out.vocab.emplace_back(std::move(m_pending_key), v.get<int>());
            return true;
        }
        if (m_mode == Mode::Merges || m_mode == Mode::Pair) bad_merge();
        return to_dom();
    }
    /// The next container is the value of key `k` in the top-level "model" object.
    bool in_model_key(const char* k) const {
        return m_mode == Mode::None && m_stack.size() == 2 && m_stack[0].is_object && m_stack[1].is_object &&
               m_stack[0].key == "model" && m_stack[1].key == k;
    }
    [[noreturn]] void bad_id() const {
        mixq::fail(m_label, "model.vocab: id of token " + quote(m_pending_key) + " must be a non-negative integer");
    }
    [[noreturn]] void bad_merge() const {
        mixq::fail(m_label, "model.merges[" + std::to_string(m_index) + "]: merge must be \"a b\" or [\"a\", \"b\"]");
    }

    TokenizerJson& m_out;
    const std::string& m_label;
    Dom m_dom;
    std::vector<Frame> m_stack;
    Mode m_mode = Mode::None;
    std::string m_pending_key;
    std::vector<std::string> m_pair;
    size_t m_index = 0;
};

}  // namespace

TokenizerJson parse_tokenizer_json(const std::string& text, const std::string& label) {
    TokenizerJson out;
    CaptureSax sax(out, label);
    try {
        json::sax_parse(text, &sax);
    } catch (const json::exception& e) {
        fail(label, "not valid JSON: " + one_line(e.what()));
    }
    return out;
}

}  // namespace mixq::tok

// SPDX-License-Identifier: MIT
// The decoder implementations (see decoder.h), following Hugging Face tokenizers' decode_chain semantics.
#include "core/tokenizer/decoder.h"

#include "core/tokenizer/byte_level.h"
#include "core/tokenizer/pattern.h"
#include "core/tokenizer/utf8.h"

namespace mixq::tok {
namespace {

class ByteLevel final : public Decoder {
public:
    void decode_chain(std::vector<std::string>& tokens) const override {
        std::string bytes = byte_level::unmap_tokens(tokens);
        tokens.assign(1, utf8::sanitize(bytes));
    }
};

class Replace final : public Decoder {
public:
    Replace(Pattern p, std::string content) : m_pattern(std::move(p)), m_content(std::move(content)) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (auto& t : tokens) t = m_pattern.replace_all(t, m_content);
    }

private:
    Pattern m_pattern;
    std::string m_content;
};

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

class ByteFallback final : public Decoder {
public:
    void decode_chain(std::vector<std::string>& tokens) const override {
        std::vector<std::string> out;
        out.reserve(tokens.size());
        std::string bytes;
        size_t byte_count = 0;
        auto flush = [&] {
            if (byte_count == 0) return;
            if (utf8::is_valid(bytes)) {
                out.push_back(bytes);
            } else {
                for (size_t i = 0; i < byte_count; ++i) out.emplace_back("\xEF\xBF\xBD");
            }
            bytes.clear();
            byte_count = 0;
        };
        for (auto& t : tokens) {
            int value = -1;
            if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') {
                const int hi = hex_value(t[3]), lo = hex_value(t[4]);
                if (hi >= 0 && lo >= 0) value = hi * 16 + lo;
            }
            if (value >= 0) {
                bytes.push_back(static_cast<char>(value));
                ++byte_count;
            } else {
                flush();
                out.push_back(std::move(t));
            }
        }
        flush();
        tokens = std::move(out);
    }
};

class Fuse final : public Decoder {
public:
    void decode_chain(std::vector<std::string>& tokens) const override {
        std::string all;
        for (const auto& t : tokens) all += t;
        tokens.assign(1, std::move(all));
    }
};

class Strip final : public Decoder {
public:
    Strip(char32_t content, size_t start, size_t stop) : m_content(content), m_start(start), m_stop(stop) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (auto& t : tokens) {
            std::vector<size_t> starts;  // byte offset of each character
            for (size_t i = 0; i < t.size(); i += utf8::char_length(static_cast<unsigned char>(t[i]))) starts.push_back(i);
            const size_t n = starts.size();
            size_t start_cut = 0;
            for (size_t i = 0; i < std::min(m_start, n); ++i) {
                if (utf8::decode_at(t, starts[i]) != m_content) break;
                start_cut = i + 1;
            }
            size_t stop_cut = n;
            for (size_t i = 0; i < std::min(m_stop, n); ++i) {
                const size_t index = n - i - 1;
                if (utf8::decode_at(t, starts[index]) != m_content) break;
                stop_cut = index;
            }
            if (stop_cut <= start_cut) {
                t.clear();
                continue;
            }
            const size_t a = start_cut < n ? starts[start_cut] : t.size();
            const size_t b = stop_cut < n ? starts[stop_cut] : t.size();
            t = t.substr(a, b - a);
        }
    }

private:
    char32_t m_content;
    size_t m_start, m_stop;
};

class Metaspace final : public Decoder {
public:
    Metaspace(std::string replacement, bool strip_first) : m_rep(std::move(replacement)), m_strip_first(strip_first) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        const Pattern p = Pattern::literal(m_rep);
        for (size_t i = 0; i < tokens.size(); ++i)
            tokens[i] = p.replace_all(tokens[i], i == 0 && m_strip_first ? "" : " ");
    }

private:
    std::string m_rep;
    bool m_strip_first;
};

class BpeDecoder final : public Decoder {
public:
    explicit BpeDecoder(std::string suffix) : m_suffix(std::move(suffix)) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        const Pattern p = Pattern::literal(m_suffix);
        for (size_t i = 0; i < tokens.size(); ++i)
            tokens[i] = p.replace_all(tokens[i], i + 1 == tokens.size() ? "" : " ");
    }

private:
    std::string m_suffix;
};

class Sequence final : public Decoder {
public:
    explicit Sequence(std::vector<std::unique_ptr<Decoder>> parts) : m_parts(std::move(parts)) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (const auto& p : m_parts) p->decode_chain(tokens);
    }

private:
    std::vector<std::unique_ptr<Decoder>> m_parts;
};

std::string one_char(const nlohmann::json& j, const char* key, const std::string& dflt, const JsonWhere& w) {
    const std::string s = string_or(j, key, dflt, w);
    if (s.empty() || !utf8::is_valid(s) || utf8::char_length(static_cast<unsigned char>(s[0])) != s.size())
        w.at(key).fail("must be one character");
    return s;
}

}  // namespace

std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j, const JsonWhere& w) {
    if (j.is_null()) return nullptr;
    const std::string type = type_field(j, w);
    if (type == "ByteLevel") return std::make_unique<ByteLevel>();
    if (type == "Replace") {
        const auto* p = field(j, "pattern");
        if (!p) w.at("pattern").fail("missing");
        return std::make_unique<Replace>(Pattern::from_json(*p, w.at("pattern")), string_field(j, "content", w));
    }
    if (type == "ByteFallback") return std::make_unique<ByteFallback>();
    if (type == "Fuse") return std::make_unique<Fuse>();
    if (type == "Strip") {
        const std::string c = one_char(j, "content", " ", w);
        const long long start = int_or(j, "start", 0, w), stop = int_or(j, "stop", 0, w);
        if (start < 0 || stop < 0) w.fail("start and stop must be non-negative");
        return std::make_unique<Strip>(utf8::decode_at(c, 0), static_cast<size_t>(start), static_cast<size_t>(stop));
    }
    if (type == "Metaspace") {
        const std::string rep = one_char(j, "replacement", "\xE2\x96\x81", w);
        bool strip_first = bool_or(j, "add_prefix_space", true, w);
        if (const auto* ps = field(j, "prepend_scheme")) {
            if (!ps->is_string()) w.at("prepend_scheme").fail("must be a string");
            strip_first = ps->get<std::string>() != "never";
        }
        return std::make_unique<Metaspace>(rep, strip_first);
    }
    if (type == "BPEDecoder") return std::make_unique<BpeDecoder>(string_or(j, "suffix", "</w>", w));
    if (type == "Sequence") {
        const auto* list = field(j, "decoders");
        if (!list || !list->is_array()) w.at("decoders").fail("must be a list");
        std::vector<std::unique_ptr<Decoder>> parts;
        for (size_t i = 0; i < list->size(); ++i)
            if (auto d = make_decoder((*list)[i], w.at("decoders").at(i))) parts.push_back(std::move(d));
        return std::make_unique<Sequence>(std::move(parts));
    }
    w.fail("unsupported decoder type '" + type + "'");
}

}  // namespace mixq::tok

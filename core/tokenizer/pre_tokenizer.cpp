// SPDX-License-Identifier: MIT
// The pre-tokenizer implementations (see pre_tokenizer.h), following Hugging Face tokenizers' semantics.
#include "core/tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <optional>

#include "core/tokenizer/byte_level.h"
#include "core/tokenizer/pattern.h"
#include "core/tokenizer/utf8.h"

namespace mixq::tok {

std::vector<Regex::Span> split_spans(size_t size, const std::vector<Regex::Span>& matches, SplitBehavior behavior,
                                     bool invert) {
    struct Part {
        size_t a, b;
        bool match;
    };
    std::vector<Part> parts;
    parts.reserve(matches.size() * 2 + 1);
    if (size == 0) {
        parts.push_back({0, 0, false});
    } else {
        size_t prev = 0;
        for (const auto& [a, b] : matches) {
            if (prev != a) parts.push_back({prev, a, false});
            parts.push_back({a, b, true});
            prev = b;
        }
        if (prev != size) parts.push_back({prev, size, false});
    }
    if (invert)
        for (auto& p : parts) p.match = !p.match;

    std::vector<Part> out;  // here `match` means "remove"
    out.reserve(parts.size());
    switch (behavior) {
        case SplitBehavior::Isolated:
            for (const auto& p : parts) out.push_back({p.a, p.b, false});
            break;
        case SplitBehavior::Removed:
            out = parts;
            break;
        case SplitBehavior::Contiguous: {
            bool prev_match = false;
            for (const auto& p : parts) {
                if (p.match == prev_match && !out.empty())
                    out.back().b = p.b;
                else
                    out.push_back({p.a, p.b, false});
                prev_match = p.match;
            }
            break;
        }
        case SplitBehavior::MergedWithPrevious: {
            bool prev_match = false;
            for (const auto& p : parts) {
                if (p.match && !prev_match && !out.empty())
                    out.back().b = p.b;
                else
                    out.push_back({p.a, p.b, false});
                prev_match = p.match;
            }
            break;
        }
        case SplitBehavior::MergedWithNext: {
            bool prev_match = false;
            for (size_t k = parts.size(); k-- > 0;) {
                const auto& p = parts[k];
                if (p.match && !prev_match && !out.empty())
                    out.back().a = p.a;
                else
                    out.push_back({p.a, p.b, false});
                prev_match = p.match;
            }
            std::reverse(out.begin(), out.end());
            break;
        }
    }
    std::vector<Regex::Span> spans;
    spans.reserve(out.size());
    for (const auto& p : out)
        if (!p.match && p.b > p.a) spans.emplace_back(p.a, p.b);
    return spans;
}

namespace {

/// Cuts every piece at the matches of `pattern` with `behavior`.
void split_pieces(std::vector<PreToken>& pieces, const Pattern& pattern, SplitBehavior behavior, bool invert) {
    std::vector<PreToken> out;
    out.reserve(pieces.size() * 2);
    std::vector<Regex::Span> matches;
    for (auto& piece : pieces) {
        matches.clear();
        pattern.find_all(piece.text, matches);
        if (matches.empty() && !invert) {  // fast path: the piece stays whole
            if (!piece.text.empty()) out.push_back(std::move(piece));
            continue;
        }
        for (const auto& [a, b] : split_spans(piece.text.size(), matches, behavior, invert))
            out.push_back({piece.text.substr(a, b - a), piece.at_origin && a == 0});
    }
    pieces = std::move(out);
}

SplitBehavior parse_behavior(const nlohmann::json& j, const JsonWhere& w) {
    const std::string b = string_field(j, "behavior", w);
    if (b == "Removed") return SplitBehavior::Removed;
    if (b == "Isolated") return SplitBehavior::Isolated;
    if (b == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
    if (b == "MergedWithNext") return SplitBehavior::MergedWithNext;
    if (b == "Contiguous") return SplitBehavior::Contiguous;
    w.at("behavior").fail("unknown split behavior '" + b + "'");
}

class Split final : public PreTokenizer {
public:
    Split(Pattern p, SplitBehavior b, bool invert) : m_pattern(std::move(p)), m_behavior(b), m_invert(invert) {}
    void pre_tokenize(std::vector<PreToken>& pieces) const override {
        split_pieces(pieces, m_pattern, m_behavior, m_invert);
    }

private:
    Pattern m_pattern;
    SplitBehavior m_behavior;
    bool m_invert;
};

constexpr const char* kGpt2Regex = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevel final : public PreTokenizer {
public:
    ByteLevel(bool add_prefix_space, bool use_regex, const JsonWhere& w) : m_add_prefix_space(add_prefix_space) {
        if (use_regex) m_regex.emplace(Pattern::regex(kGpt2Regex, w.file + ": " + w.path));
    }
    void pre_tokenize(std::vector<PreToken>& pieces) const override {
        if (m_add_prefix_space)
            for (auto& p : pieces)
                if (!p.text.empty() && p.text[0] != ' ') p.text.insert(0, 1, ' ');
        if (m_regex) split_pieces(pieces, *m_regex, SplitBehavior::Isolated, false);
        std::string mapped;
        for (auto& p : pieces) {
            mapped.clear();
            byte_level::map_bytes(p.text, mapped);
            p.text.swap(mapped);
        }
    }

private:
    bool m_add_prefix_space;
    std::optional<Pattern> m_regex;
};

class Metaspace final : public PreTokenizer {
public:
    enum class Prepend { Always, First, Never };
    Metaspace(std::string replacement, Prepend scheme, bool split)
        : m_replacement(std::move(replacement)), m_scheme(scheme), m_split(split),
          m_space(Pattern::literal(" ")), m_delim(Pattern::literal(m_replacement)) {}
    void pre_tokenize(std::vector<PreToken>& pieces) const override {
        for (auto& p : pieces) {
            p.text = m_space.replace_all(p.text, m_replacement);
            const bool starts = p.text.rfind(m_replacement, 0) == 0;
            if (!p.text.empty() && !starts &&
                (m_scheme == Prepend::Always || (m_scheme == Prepend::First && p.at_origin)))
                p.text.insert(0, m_replacement);
        }
        if (m_split) split_pieces(pieces, m_delim, SplitBehavior::MergedWithNext, false);
    }

private:
    std::string m_replacement;
    Prepend m_scheme;
    bool m_split;
    Pattern m_space, m_delim;
};

class Sequence final : public PreTokenizer {
public:
    explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> parts) : m_parts(std::move(parts)) {}
    void pre_tokenize(std::vector<PreToken>& pieces) const override {
        for (const auto& p : m_parts) p->pre_tokenize(pieces);
    }

private:
    std::vector<std::unique_ptr<PreTokenizer>> m_parts;
};

constexpr const char* kPunctuation = R"([\p{P}\x{21}-\x{2F}\x{3A}-\x{40}\x{5B}-\x{60}\x{7B}-\x{7E}])";

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j, const JsonWhere& w) {
    if (j.is_null()) return nullptr;
    const std::string type = type_field(j, w);
    const std::string where = w.file + ": " + w.path;
    if (type == "Split") {
        const auto* p = field(j, "pattern");
        if (!p) w.at("pattern").fail("missing");
        return std::make_unique<Split>(Pattern::from_json(*p, w.at("pattern")), parse_behavior(j, w),
                                       bool_or(j, "invert", false, w));
    }
    if (type == "ByteLevel")
        return std::make_unique<ByteLevel>(bool_or(j, "add_prefix_space", true, w), bool_or(j, "use_regex", true, w),
                                           w);
    if (type == "Metaspace") {
        const std::string rep = string_or(j, "replacement", "\xE2\x96\x81", w);
        if (rep.empty() || !utf8::is_valid(rep) || utf8::char_length(static_cast<unsigned char>(rep[0])) != rep.size())
            w.at("replacement").fail("must be one character");
        Metaspace::Prepend scheme = Metaspace::Prepend::Always;
        if (const auto* ps = field(j, "prepend_scheme")) {
            const std::string s = ps->is_string() ? ps->get<std::string>() : "";
            if (s == "always") scheme = Metaspace::Prepend::Always;
            else if (s == "first") scheme = Metaspace::Prepend::First;
            else if (s == "never") scheme = Metaspace::Prepend::Never;
            else w.at("prepend_scheme").fail("must be \"always\", \"first\" or \"never\"");
        } else if (!bool_or(j, "add_prefix_space", true, w)) {
            scheme = Metaspace::Prepend::Never;
        }
        return std::make_unique<Metaspace>(rep, scheme, bool_or(j, "split", true, w));
    }
    if (type == "Sequence") {
        const auto* list = field(j, "pretokenizers");
        if (!list || !list->is_array()) w.at("pretokenizers").fail("must be a list");
        std::vector<std::unique_ptr<PreTokenizer>> parts;
        for (size_t i = 0; i < list->size(); ++i)
            if (auto p = make_pre_tokenizer((*list)[i], w.at("pretokenizers").at(i))) parts.push_back(std::move(p));
        return std::make_unique<Sequence>(std::move(parts));
    }
    if (type == "Whitespace")
        return std::make_unique<Split>(Pattern::regex(R"(\w+|[^\w\s]+)", where), SplitBehavior::Removed, true);
    if (type == "WhitespaceSplit")
        return std::make_unique<Split>(Pattern::regex(R"(\s+)", where), SplitBehavior::Removed, false);
    if (type == "Digits")
        return std::make_unique<Split>(Pattern::regex(bool_or(j, "individual_digits", false, w) ? R"(\p{N})" : R"(\p{N}+)",
                                                      where),
                                       SplitBehavior::Isolated, false);
    if (type == "Punctuation") {
        SplitBehavior b = SplitBehavior::Isolated;
        if (field(j, "behavior")) b = parse_behavior(j, w);
        return std::make_unique<Split>(Pattern::regex(kPunctuation, where), b, false);
    }
    if (type == "BertPreTokenizer") {
        std::vector<std::unique_ptr<PreTokenizer>> parts;
        parts.push_back(std::make_unique<Split>(Pattern::regex(R"(\s+)", where), SplitBehavior::Removed, false));
        parts.push_back(std::make_unique<Split>(Pattern::regex(kPunctuation, where), SplitBehavior::Isolated, false));
        return std::make_unique<Sequence>(std::move(parts));
    }
    w.fail("unsupported pre_tokenizer type '" + type + "'");
}

}  // namespace mixq::tok

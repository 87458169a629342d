// SPDX-License-Identifier: MIT
// The normalizer implementations (see normalizer.h). Unicode forms and case mapping come from ICU.
#include "core/tokenizer/normalizer.h"

#include <unicode/bytestream.h>
#include <unicode/casemap.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>

#include "core/tokenizer/pattern.h"
#include "core/tokenizer/utf8.h"

namespace mixq::tok {
namespace {

bool is_ascii(const std::string& s) {
    for (unsigned char c : s)
        if (c >= 0x80) return false;
    return true;
}

class UnicodeForm final : public Normalizer {
public:
    enum Form { NFC, NFD, NFKC, NFKD };
    UnicodeForm(Form f, const JsonWhere& w) {
        UErrorCode st = U_ZERO_ERROR;
        switch (f) {
            case NFC: m_norm = icu::Normalizer2::getNFCInstance(st); break;
            case NFD: m_norm = icu::Normalizer2::getNFDInstance(st); break;
            case NFKC: m_norm = icu::Normalizer2::getNFKCInstance(st); break;
            case NFKD: m_norm = icu::Normalizer2::getNFKDInstance(st); break;
        }
        if (U_FAILURE(st) || !m_norm) w.fail(std::string("ICU normalizer unavailable: ") + u_errorName(st));
    }
    void normalize(std::string& s) const override {
        if (is_ascii(s)) return;  // ASCII is invariant under all four forms
        UErrorCode st = U_ZERO_ERROR;
        if (m_norm->isNormalizedUTF8(s, st) && U_SUCCESS(st)) return;
        st = U_ZERO_ERROR;
        std::string out;
        icu::StringByteSink<std::string> sink(&out, static_cast<int32_t>(s.size() + s.size() / 4));
        m_norm->normalizeUTF8(0, s, sink, nullptr, st);
        if (U_SUCCESS(st)) s = std::move(out);
    }

private:
    const icu::Normalizer2* m_norm = nullptr;
};

class Lowercase final : public Normalizer {
public:
    void normalize(std::string& s) const override {
        if (is_ascii(s)) {
            for (char& c : s)
                if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
            return;
        }
        UErrorCode st = U_ZERO_ERROR;
        std::string out;
        icu::StringByteSink<std::string> sink(&out, static_cast<int32_t>(s.size()));
        icu::CaseMap::utf8ToLower("", 0, s, sink, nullptr, st);
        if (U_SUCCESS(st)) s = std::move(out);
    }
};

class Prepend final : public Normalizer {
public:
    explicit Prepend(std::string p) : m_prepend(std::move(p)) {}
    void normalize(std::string& s) const override {
        if (!s.empty()) s.insert(0, m_prepend);
    }

private:
    std::string m_prepend;
};

class Replace final : public Normalizer {
public:
    Replace(Pattern p, std::string content) : m_pattern(std::move(p)), m_content(std::move(content)) {}
    void normalize(std::string& s) const override { s = m_pattern.replace_all(s, m_content); }

private:
    Pattern m_pattern;
    std::string m_content;
};

class Strip final : public Normalizer {
public:
    Strip(bool left, bool right) : m_left(left), m_right(right) {}
    void normalize(std::string& s) const override {
        if (m_right) {
            size_t end = s.size();
            while (end > 0) {
                const size_t st = utf8::prev_char_start(s, end);
                if (!utf8::is_white_space(utf8::decode_at(s, st))) break;
                end = st;
            }
            s.resize(end);
        }
        if (m_left) {
            size_t start = 0;
            while (start < s.size() && utf8::is_white_space(utf8::decode_at(s, start)))
                start += utf8::char_length(static_cast<unsigned char>(s[start]));
            s.erase(0, start);
        }
    }

private:
    bool m_left, m_right;
};

class StripAccents final : public Normalizer {
public:
    void normalize(std::string& s) const override {
        if (is_ascii(s)) return;
        std::string out;
        out.reserve(s.size());
        for (size_t i = 0; i < s.size();) {
            const size_t len = utf8::char_length(static_cast<unsigned char>(s[i]));
            const auto cat = u_charType(static_cast<UChar32>(utf8::decode_at(s, i)));
            if (cat != U_NON_SPACING_MARK && cat != U_ENCLOSING_MARK && cat != U_COMBINING_SPACING_MARK)
                out.append(s, i, len);
            i += len;
        }
        s = std::move(out);
    }
};

class Sequence final : public Normalizer {
public:
    explicit Sequence(std::vector<std::unique_ptr<Normalizer>> parts) : m_parts(std::move(parts)) {}
    void normalize(std::string& s) const override {
        for (const auto& p : m_parts) p->normalize(s);
    }

private:
    std::vector<std::unique_ptr<Normalizer>> m_parts;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j, const JsonWhere& w) {
    if (j.is_null()) return nullptr;
    const std::string type = type_field(j, w);
    if (type == "NFC") return std::make_unique<UnicodeForm>(UnicodeForm::NFC, w);
    if (type == "NFD") return std::make_unique<UnicodeForm>(UnicodeForm::NFD, w);
    if (type == "NFKC") return std::make_unique<UnicodeForm>(UnicodeForm::NFKC, w);
    if (type == "NFKD") return std::make_unique<UnicodeForm>(UnicodeForm::NFKD, w);
    if (type == "Lowercase") return std::make_unique<Lowercase>();
    if (type == "Prepend") return std::make_unique<Prepend>(string_field(j, "prepend", w));
    if (type == "Replace") {
        const auto* p = field(j, "pattern");
        if (!p) w.at("pattern").fail("missing");
        return std::make_unique<Replace>(Pattern::from_json(*p, w.at("pattern")), string_field(j, "content", w));
    }
    if (type == "Strip")
        return std::make_unique<Strip>(bool_or(j, "strip_left", true, w), bool_or(j, "strip_right", true, w));
    if (type == "StripAccents") return std::make_unique<StripAccents>();
    if (type == "Sequence") {
        const auto* list = field(j, "normalizers");
        if (!list || !list->is_array()) w.at("normalizers").fail("must be a list");
        std::vector<std::unique_ptr<Normalizer>> parts;
        for (size_t i = 0; i < list->size(); ++i)
            if (auto n = make_normalizer((*list)[i], w.at("normalizers").at(i))) parts.push_back(std::move(n));
        return std::make_unique<Sequence>(std::move(parts));
    }
    w.fail("unsupported normalizer type '" + type + "'");
}

}  // namespace mixq::tok

// SPDX-License-Identifier: MIT
// Tokenizer building blocks against independent references: Hugging Face tokenizers' own unit-test expectations
// (split behaviors, Split/Metaspace/ByteLevel pre-tokenizers, unk/byte_fallback/prefix in BPE, added-token
// options, ByteFallback/Strip/Metaspace decoders), a brute-force BPE, hand-computed encodings of tiny
// SentencePiece-style and post-processed tokenizers, Unicode facts for the normalizers, and the one-line errors
// for malformed tokenizer.json files.
#include <QtTest>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "core/common/error.h"
#include "core/tokenizer/added_vocab.h"
#include "core/tokenizer/bpe_model.h"
#include "core/tokenizer/decoder.h"
#include "core/tokenizer/normalizer.h"
#include "core/tokenizer/pre_tokenizer.h"
#include "core/tokenizer/regex.h"
#include "core/tokenizer/tokenizer.h"
#include "test_support.h"

using namespace mixq;
using nlohmann::json;
namespace fs = std::filesystem;
using Strings = std::vector<std::string>;
using Ids = std::vector<int>;

namespace {

tok::JsonWhere where() { return {"test", "component"}; }

std::unique_ptr<tok::PreTokenizer> pre(const std::string& json_text) {
    return tok::make_pre_tokenizer(json::parse(json_text), where());
}

Strings pre_tokenize(const tok::PreTokenizer& p, const std::string& text, bool at_origin = true) {
    std::vector<tok::PreToken> pieces{{text, at_origin}};
    p.pre_tokenize(pieces);
    Strings out;
    for (auto& x : pieces) out.push_back(x.text);
    return out;
}

Strings decode_chain(const std::string& json_text, Strings tokens) {
    auto d = tok::make_decoder(json::parse(json_text), where());
    d->decode_chain(tokens);
    return tokens;
}

std::string normalize(const std::string& json_text, std::string s) {
    tok::make_normalizer(json::parse(json_text), where())->normalize(s);
    return s;
}

Ids bpe(const tok::BpeModel& m, const std::string& word) {
    Ids ids;
    m.tokenize(word, ids);
    return ids;
}

QString q(const Strings& s) {
    QStringList l;
    for (const auto& x : s) l << QString::fromStdString(x);
    return "[" + l.join("|") + "]";
}

/// (text, id) of each segment, for comparing with Hugging Face's extract_and_normalize tests.
std::vector<std::pair<std::string, int>> segments(const tok::AddedVocabulary& v, const tok::Normalizer* n,
                                                  const std::string& text) {
    std::vector<std::pair<std::string, int>> out;
    for (const auto& s : v.extract_and_normalize(text, n)) out.emplace_back(s.text, s.id);
    return out;
}

tok::AddedToken added(int id, const std::string& content, bool normalized, bool special = false, bool single_word = false,
                      bool lstrip = false, bool rstrip = false) {
    tok::AddedToken t;
    t.id = id;
    t.content = content;
    t.normalized = normalized;
    t.special = special;
    t.single_word = single_word;
    t.lstrip = lstrip;
    t.rstrip = rstrip;
    return t;
}

/// Textbook BPE: repeatedly merge the adjacent pair with the lowest rank (leftmost on ties) until none applies.
Ids brute_force_bpe(const std::string& word, const std::map<std::pair<std::string, std::string>, int>& ranks,
                    const std::map<std::string, int>& vocab) {
    Strings syms;
    for (size_t i = 0; i < word.size();) {
        size_t len = 1;
        const auto b = static_cast<unsigned char>(word[i]);
        if (b >= 0xF0) len = 4;
        else if (b >= 0xE0) len = 3;
        else if (b >= 0xC0) len = 2;
        syms.push_back(word.substr(i, len));
        i += len;
    }
    for (;;) {
        int best = -1;
        size_t at = 0;
        for (size_t i = 0; i + 1 < syms.size(); ++i) {
            auto it = ranks.find({syms[i], syms[i + 1]});
            if (it != ranks.end() && (best < 0 || it->second < best)) {
                best = it->second;
                at = i;
            }
        }
        if (best < 0) break;
        syms[at] += syms[at + 1];
        syms.erase(syms.begin() + static_cast<std::ptrdiff_t>(at) + 1);
    }
    Ids ids;
    for (const auto& s : syms) ids.push_back(vocab.at(s));
    return ids;
}

/// Loads a tokenizer.json written to `file`; returns the mixq::Error message ("" when it loaded).
std::string load_error(const fs::path& file, const std::string& content) {
    {
        std::ofstream out(file, std::ios::binary);
        out << content;
    }
    try {
        tok::Tokenizer::from_file(file);
    } catch (const Error& e) {
        return e.what();
    }
    return {};
}

const char* kTinyModel = R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]})";

/// A small tokenizer.json: the given sections around a four-token BPE with <s> and </s> as special tokens.
std::string tiny_json(const std::string& post_processor, const std::string& decoder = "null") {
    return R"({"version": "1.0", "added_tokens": [
        {"id": 0, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
        {"id": 1, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
      "normalizer": null, "pre_tokenizer": null, "post_processor": )" +
           post_processor + R"(, "decoder": )" + decoder +
           R"(, "model": {"type": "BPE", "vocab": {"<s>": 0, "</s>": 1, "a": 2, "b": 3, "ab": 4}, "merges": ["a b"]}})";
}

}  // namespace

class TestTokenizerComponents : public QObject {
    Q_OBJECT

private slots:
    void splitBehaviors() {
        // Hugging Face normalizer.rs test "split": "The-final--countdown" split on '-'.
        const std::map<std::string, Strings> want = {
            {"Removed", {"The", "final", "countdown"}},
            {"Isolated", {"The", "-", "final", "-", "-", "countdown"}},
            {"MergedWithPrevious", {"The-", "final-", "-", "countdown"}},
            {"MergedWithNext", {"The", "-final", "-", "-countdown"}},
            {"Contiguous", {"The", "-", "final", "--", "countdown"}},
        };
        for (const auto& [behavior, expected] : want) {
            auto p = pre(R"({"type": "Split", "pattern": {"String": "-"}, "behavior": ")" + behavior + R"(", "invert": false})");
            QCOMPARE(q(pre_tokenize(*p, "The-final--countdown")), q(expected));
        }
    }

    void splitRegexInvert() {
        // Hugging Face split.rs test "basic": regex \w+|[^\w\s]+ with invert = true.
        const std::map<std::string, Strings> want = {
            {"Removed", {"How", "are", "you", "doing", "?"}},
            {"Isolated", {"How", " ", "are", " ", "you", " ", "doing", "?"}},
            {"MergedWithPrevious", {"How ", "are ", "you ", "doing", "?"}},
            {"MergedWithNext", {"How", " are", " you", " doing", "?"}},
            {"Contiguous", {"How", " ", "are", " ", "you", " ", "doing?"}},
        };
        for (const auto& [behavior, expected] : want) {
            auto p = pre(R"({"type": "Split", "pattern": {"Regex": "\\w+|[^\\w\\s]+"}, "behavior": ")" + behavior +
                         R"(", "invert": true})");
            QCOMPARE(q(pre_tokenize(*p, "How are you doing?")), q(expected));
        }
        // split.rs "regex_string" and "invert": a literal and a regex agree; inverting "Hello" equals splitting on " ".
        auto by_regex = pre(R"({"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "Removed", "invert": false})");
        auto by_string = pre(R"({"type": "Split", "pattern": {"String": " "}, "behavior": "Removed", "invert": false})");
        QCOMPARE(q(pre_tokenize(*by_regex, "Hey, man!")), q({"Hey,", "man!"}));
        QCOMPARE(q(pre_tokenize(*by_string, "Hey, man!")), q({"Hey,", "man!"}));
        auto inverted = pre(R"({"type": "Split", "pattern": {"String": "Hello"}, "behavior": "Removed", "invert": true})");
        QCOMPARE(q(pre_tokenize(*inverted, "Hello Hello Hello")), q({"Hello", "Hello", "Hello"}));
        QCOMPARE(q(pre_tokenize(*by_string, "Hello Hello Hello")), q({"Hello", "Hello", "Hello"}));
    }

    void metaspace() {
        // Hugging Face metaspace.rs tests "basic" and "multiple_spaces".
        auto m = pre(R"({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true})");
        QCOMPARE(q(pre_tokenize(*m, "Hey friend!")), q({"▁Hey", "▁friend!"}));
        QCOMPARE(q(pre_tokenize(*m, "Hey   friend!")), q({"▁Hey", "▁", "▁", "▁friend!"}));
        // The older form: add_prefix_space.
        auto legacy = pre(R"({"type": "Metaspace", "replacement": "▁", "add_prefix_space": true})");
        QCOMPARE(q(pre_tokenize(*legacy, "Hey friend!")), q({"▁Hey", "▁friend!"}));
        auto never = pre(R"({"type": "Metaspace", "replacement": "▁", "add_prefix_space": false})");
        QCOMPARE(q(pre_tokenize(*never, "Hey friend!")), q({"Hey", "▁friend!"}));
        // "first": only the piece at the start of the input gets the prefix.
        auto first = pre(R"({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": true})");
        QCOMPARE(q(pre_tokenize(*first, "Hey friend!", true)), q({"▁Hey", "▁friend!"}));
        QCOMPARE(q(pre_tokenize(*first, "Hey friend!", false)), q({"Hey", "▁friend!"}));
        auto nosplit = pre(R"({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": false})");
        QCOMPARE(q(pre_tokenize(*nosplit, "Hey friend!")), q({"▁Hey▁friend!"}));
    }

    void byteLevelPreTokenizer() {
        // Hugging Face byte_level.rs test "pre_tokenization" (GPT-2 regex, no prefix space).
        auto p = pre(R"({"type": "ByteLevel", "add_prefix_space": false, "use_regex": true})");
        QCOMPARE(q(pre_tokenize(*p, "Hello my friend, how is your day going?")),
                 q({"Hello", "Ġmy", "Ġfriend", ",", "Ġhow", "Ġis", "Ġyour", "Ġday", "Ġgoing", "?"}));
        QCOMPARE(q(pre_tokenize(*p, "I'm don't")), q({"I", "'m", "Ġdon", "'t"}));
        auto prefixed = pre(R"({"type": "ByteLevel", "add_prefix_space": true, "use_regex": true})");
        QCOMPARE(q(pre_tokenize(*prefixed, "Hello my")), q({"ĠHello", "Ġmy"}));
        // GPT-2's bytes_to_unicode: '\n' (0x0A) -> U+010A, ' ' -> U+0120, and é (C3 A9) -> "Ã©".
        auto no_regex = pre(R"({"type": "ByteLevel", "add_prefix_space": false, "use_regex": false})");
        QCOMPARE(q(pre_tokenize(*no_regex, "a b\né")), q({"aĠbĊÃ©"}));
        // Sequence: a Split then ByteLevel, as Qwen/Llama-3 ship them.
        auto seq = pre(R"({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}"}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]})");
        QCOMPARE(q(pre_tokenize(*seq, "x 1234567")), q({"xĠ", "123", "456", "7"}));
    }

    void otherPreTokenizers() {
        QCOMPARE(q(pre_tokenize(*pre(R"({"type": "Whitespace"})"), "Hey man!! ok")), q({"Hey", "man", "!!", "ok"}));
        QCOMPARE(q(pre_tokenize(*pre(R"({"type": "WhitespaceSplit"})"), " Hey  man!!\tok ")), q({"Hey", "man!!", "ok"}));
        QCOMPARE(q(pre_tokenize(*pre(R"({"type": "Digits", "individual_digits": true})"), "a12b")), q({"a", "1", "2", "b"}));
        QCOMPARE(q(pre_tokenize(*pre(R"({"type": "Digits", "individual_digits": false})"), "a12b")), q({"a", "12", "b"}));
        QCOMPARE(q(pre_tokenize(*pre(R"({"type": "Punctuation", "behavior": "Isolated"})"), "Hey, you!")),
                 q({"Hey", ",", " you", "!"}));
        QCOMPARE(q(pre_tokenize(*pre(R"({"type": "BertPreTokenizer"})"), "Hey, you!")), q({"Hey", ",", "you", "!"}));
    }

    void bpeUnknown() {
        // Hugging Face bpe/model.rs tests "test_unk_not_fused" and "test_unk_get_fused".
        tok::BpeOptions o;
        o.unk_token = "<unk>";
        tok::BpeModel not_fused({{"<unk>", 0}, {"a", 1}, {"b", 2}}, {}, o);
        QCOMPARE(bpe(not_fused, "c"), Ids({0}));
        QCOMPARE(bpe(not_fused, "cc"), Ids({0, 0}));
        QCOMPARE(bpe(not_fused, "accb"), Ids({1, 0, 0, 2}));
        o.fuse_unk = true;
        tok::BpeModel fused({{"<unk>", 0}, {"a", 1}, {"b", 2}}, {}, o);
        QCOMPARE(bpe(fused, "c"), Ids({0}));
        QCOMPARE(bpe(fused, "cc"), Ids({0}));
        QCOMPARE(bpe(fused, "accb"), Ids({1, 0, 2}));
        // Without an unk_token an unknown character is dropped.
        tok::BpeModel no_unk({{"a", 1}, {"b", 2}}, {}, {});
        QCOMPARE(bpe(no_unk, "acb"), Ids({1, 2}));
    }

    void bpeMergesAndOptions() {
        // Hugging Face "test_tokenize_with_and_without_dropout" (no dropout): "unrelated" -> one token.
        tok::BpeModel m({{"u", 0}, {"n", 1}, {"r", 2}, {"e", 3}, {"l", 4}, {"a", 5}, {"t", 6}, {"d", 7}, {"re", 8},
                         {"at", 9}, {"ed", 10}, {"un", 11}, {"ated", 12}, {"rel", 13}, {"related", 14}, {"unrelated", 15}},
                        {{"r", "e"}, {"a", "t"}, {"e", "d"}, {"u", "n"}, {"at", "ed"}, {"re", "l"}, {"rel", "ated"},
                         {"un", "related"}},
                        {});
        QCOMPARE(bpe(m, "unrelated"), Ids({15}));
        QCOMPARE(bpe(m, "rated"), Ids({2, 12}));  // r + ated: no (r, ated) merge
        // "test_bpe_with_continuing_subword_prefix".
        tok::BpeOptions o;
        o.unk_token = "[UNK]";
        o.continuing_subword_prefix = "##";
        tok::BpeModel p({{"a", 0}, {"##b", 1}, {"##c", 2}, {"ab", 3}, {"abc", 4}}, {{"a", "##b"}, {"ab", "##c"}}, o);
        QCOMPARE(bpe(p, "ab"), Ids({3}));
        QCOMPARE(bpe(p, "abc"), Ids({4}));
        // end_of_word_suffix: the last character carries the suffix.
        tok::BpeOptions s;
        s.end_of_word_suffix = "</w>";
        tok::BpeModel suf({{"a", 0}, {"b</w>", 1}, {"ab</w>", 2}, {"b", 3}, {"a</w>", 4}}, {{"a", "b</w>"}}, s);
        QCOMPARE(bpe(suf, "ab"), Ids({2}));
        QCOMPARE(bpe(suf, "ba"), Ids({3, 4}));
        // ignore_merges: a word that is itself a token is emitted whole, even where merges would split it.
        const std::vector<std::pair<std::string, int>> v = {{"a", 0}, {"b", 1}, {"ab", 2}, {"abab", 3}};
        tok::BpeOptions im;
        QCOMPARE(bpe(tok::BpeModel(v, {{"a", "b"}}, im), "abab"), Ids({2, 2}));
        im.ignore_merges = true;
        QCOMPARE(bpe(tok::BpeModel(v, {{"a", "b"}}, im), "abab"), Ids({3}));
        QCOMPARE(bpe(tok::BpeModel(v, {{"a", "b"}}, im), "aba"), Ids({2, 0}));
        // Equal ranks resolve left to right: "aaa" with (a, a) -> "aa" + "a".
        tok::BpeModel aa({{"a", 0}, {"aa", 1}}, {{"a", "a"}}, {});
        QCOMPARE(bpe(aa, "aaa"), Ids({1, 0}));
        QCOMPARE(bpe(aa, "aaaa"), Ids({1, 1}));
    }

    void byteFallback() {
        // Hugging Face "test_bpe_byte_fallback" and "test_bpe_byte_fallback_newline".
        tok::BpeOptions o;
        o.unk_token = "<unk>";
        o.byte_fallback = true;
        tok::BpeModel m({{"<unk>", 0}, {"<0x61>", 1}}, {}, o);
        QCOMPARE(bpe(m, "c"), Ids({0}));
        QCOMPARE(bpe(m, "a"), Ids({1}));
        tok::BpeModel nl({{"<unk>", 0}, {"<0x0A>", 1}}, {}, o);
        QCOMPARE(bpe(nl, "\n"), Ids({1}));
        // A character missing from the vocabulary becomes its UTF-8 bytes: é = C3 A9.
        tok::BpeModel e({{"<unk>", 0}, {"<0xC3>", 1}, {"<0xA9>", 2}, {"x", 3}}, {}, o);
        QCOMPARE(bpe(e, "xéx"), Ids({3, 1, 2, 3}));
    }

    void bruteForceBpe() {
        // Merge ranks read here straight from the demo model's tokenizer.json (and Mistral's when shared data is
        // there); the textbook algorithm must agree with the priority-queue one on many words.
        std::vector<fs::path> files = {mixq_test::demo_model() / "tokenizer.json"};
        if (mixq_test::tokenizers_missing().empty()) files.push_back(mixq_test::real_tokenizer("mistral-sp"));
        else QVERIFY2(!mixq_test::in_ci(), mixq_test::tokenizers_missing().c_str());
        std::mt19937 rng(5);
        for (const auto& file : files) {
            const json j = json::parse(mixq_test::read_text(file));
            std::map<std::string, int> vocab;
            std::vector<std::pair<std::string, int>> vocab_list;
            for (const auto& [t, id] : j["model"]["vocab"].items()) {
                vocab[t] = id;
                vocab_list.emplace_back(t, id);
            }
            std::map<std::pair<std::string, std::string>, int> ranks;
            std::vector<std::pair<std::string, std::string>> merges;
            for (const auto& m : j["model"]["merges"]) {
                std::string a, b;
                if (m.is_string()) {
                    const std::string s = m;
                    a = s.substr(0, s.find(' '));
                    b = s.substr(s.find(' ') + 1);
                } else {
                    a = m[0];
                    b = m[1];
                }
                if (!ranks.count({a, b})) ranks[{a, b}] = static_cast<int>(merges.size());
                merges.emplace_back(a, b);
            }
            tok::BpeModel model(vocab_list, merges, {});
            // The alphabet: single-character tokens.
            Strings alphabet;
            for (const auto& [t, id] : vocab) {
                const auto b = static_cast<unsigned char>(t[0]);
                const size_t len = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
                if (t.size() == len && t[0] != '<') alphabet.push_back(t);
            }
            QVERIFY(alphabet.size() > 40);
            // Words from real merges (likely to chain) and random strings.
            int checked = 0;
            for (int i = 0; i < 3000; ++i) {
                std::string word;
                if (i % 2 == 0) {
                    const int parts = 1 + static_cast<int>(rng() % 4);
                    for (int k = 0; k < parts; ++k) {
                        const auto& [a, b] = merges[rng() % merges.size()];
                        word += a + b;
                    }
                } else {
                    const int len = 1 + static_cast<int>(rng() % 24);
                    for (int k = 0; k < len; ++k) word += alphabet[rng() % alphabet.size()];
                }
                bool representable = true;  // every character must be a token for the brute force
                for (size_t p = 0; p < word.size();) {
                    const auto b = static_cast<unsigned char>(word[p]);
                    const size_t len = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
                    representable = representable && vocab.count(word.substr(p, len));
                    p += len;
                }
                if (!representable) continue;
                const Ids want = brute_force_bpe(word, ranks, vocab);
                const Ids got = bpe(model, word);
                if (got != want) QFAIL(qPrintable(QString("BPE differs from brute force on '%1' (%2)")
                                                       .arg(QString::fromStdString(word), file.c_str())));
                ++checked;
            }
            QVERIFY(checked > 2000);
        }
    }

    void addedTokenOptions() {
        // Hugging Face added_vocabulary.rs tests, with a Lowercase normalizer.
        auto lower = tok::make_normalizer(json::parse(R"({"type": "Lowercase"})"), where());
        using Seg = std::vector<std::pair<std::string, int>>;
        {  // "options_use_cases"
            tok::AddedVocabulary v;
            v.build({added(0, "my", true, false, false, true, true), added(1, "name", true),
                     added(2, "ony", true, false, true), added(3, "[CLS]", false, true), added(4, "[SEP]", false, true)},
                    lower.get());
            QCOMPARE(segments(v, lower.get(), "[CLS] My name is Anthony [SEP]"),
                     (Seg{{"[CLS]", 3}, {" my ", 0}, {"name", 1}, {" is anthony ", -1}, {"[SEP]", 4}}));
        }
        {  // "test_single_word_is_correct"
            tok::AddedVocabulary v;
            v.build({added(0, "<mask>", true, false, true)}, lower.get());
            QCOMPARE(segments(v, lower.get(), "<mask> My name <mask> A<mask> <mask>ony <mask>"),
                     (Seg{{"<mask>", 0}, {" my name ", -1}, {"<mask>", 0}, {" a<mask> <mask>ony ", -1}, {"<mask>", 0}}));
            // "test_single_word_is_unicode_correct": punctuation is not a word character, a combining mark is.
            QCOMPARE(segments(v, lower.get(), "<mask>, <mask>- \u25CC\u0330<mask>"),
                     (Seg{{"<mask>", 0}, {", ", -1}, {"<mask>", 0}, {"- \u25CC\u0330<mask>", -1}}));
        }
        {  // "test_lstrip_unicode_space"
            tok::AddedVocabulary v;
            v.build({added(0, "<mask>", true, false, true, true, true)}, lower.get());
            QCOMPARE(segments(v, lower.get(), "Hi <mask> there\t<mask>\t<mask>\u2000"),
                     (Seg{{"hi", -1}, {" <mask> ", 0}, {"there", -1}, {"\t<mask>\t", 0}, {"<mask>\u2000", 0}}));
        }
        {  // leftmost, then longest; non-normalized tokens match the raw text, before normalization
            tok::AddedVocabulary v;
            v.build({added(5, "<|a|>", false, true), added(6, "<|a|><|b|>", false, true), added(7, "AB", false)},
                    lower.get());
            QCOMPARE(segments(v, lower.get(), "x<|a|><|b|>AB ab<|a|>"),
                     (Seg{{"x", -1}, {"<|a|><|b|>", 6}, {"AB", 7}, {" ab", -1}, {"<|a|>", 5}}));
        }
    }

    void decoders() {
        // Hugging Face byte_fallback.rs test "decode".
        const std::string r = "\xEF\xBF\xBD";
        const char* bf = R"({"type": "ByteFallback"})";
        QCOMPARE(q(decode_chain(bf, {"Hey", "friend!"})), q({"Hey", "friend!"}));
        QCOMPARE(q(decode_chain(bf, {"<0x61>"})), q({"a"}));
        QCOMPARE(q(decode_chain(bf, {"<0xE5>"})), q({r}));
        QCOMPARE(q(decode_chain(bf, {"<0xE5>", "<0x8f>"})), q({r, r}));
        QCOMPARE(q(decode_chain(bf, {"<0xE5>", "<0x8f>", "<0xab>"})), q({"叫"}));
        QCOMPARE(q(decode_chain(bf, {"<0xE5>", "<0x8f>", "<0xab>", "a"})), q({"叫", "a"}));
        QCOMPARE(q(decode_chain(bf, {"<0xE5>", "<0x8f>", "a"})), q({r, r, "a"}));
        // strip.rs test "decode".
        QCOMPARE(q(decode_chain(R"({"type": "Strip", "content": "H", "start": 1, "stop": 0})", {"Hey", " friend!", "HHH"})),
                 q({"ey", " friend!", "HH"}));
        QCOMPARE(q(decode_chain(R"({"type": "Strip", "content": "y", "start": 0, "stop": 1})", {"Hey", " friend!"})),
                 q({"He", " friend!"}));
        // metaspace.rs test "decode", and prepend_scheme never.
        QCOMPARE(q(decode_chain(R"({"type": "Metaspace", "replacement": "▁", "add_prefix_space": true})", {"▁Hey", "▁friend!"})),
                 q({"Hey", " friend!"}));
        QCOMPARE(q(decode_chain(R"({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never"})", {"▁Hey", "▁friend!"})),
                 q({" Hey", " friend!"}));
        QCOMPARE(q(decode_chain(R"({"type": "Fuse"})", {"a", "b", "c"})), q({"abc"}));
        QCOMPARE(q(decode_chain(R"({"type": "BPEDecoder", "suffix": "</w>"})", {"hello</w>", "world</w>"})),
                 q({"hello ", "world"}));
        // ByteLevel: GPT-2 alphabet back to bytes; a token with characters outside it passes through.
        QCOMPARE(q(decode_chain(R"({"type": "ByteLevel"})", {"Hello", "Ġmy", "Ġfriend", ",", "Ċ", "Ã©", "日"})),
                 q({"Hello my friend,\né日"}));
        // The Mistral chain.
        QCOMPARE(q(decode_chain(R"({"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                  {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]})",
                                {"▁Hello", "<0xE5>", "<0x8F>", "<0xAB>", "▁▁x"})),
                 q({"Hello叫  x"}));
    }

    void normalizers() {
        QCOMPARE(normalize(R"({"type": "NFC"})", "e\u0301"), std::string("\u00e9"));
        QCOMPARE(normalize(R"({"type": "NFD"})", "\u00e9"), std::string("e\u0301"));
        QCOMPARE(normalize(R"({"type": "NFKC"})", "\uFB01 \u2460"), std::string("fi 1"));  // ligature fi, circled 1
        QCOMPARE(normalize(R"({"type": "NFKD"})", "\u00C5"), std::string("A\u030A"));
        QCOMPARE(normalize(R"({"type": "Lowercase"})", "\u00C0B\u0130"), std::string("\u00E0bi\u0307"));
        QCOMPARE(normalize(R"({"type": "Strip", "strip_left": true, "strip_right": false})", " \t x \u3000"),
                 std::string("x \u3000"));
        QCOMPARE(normalize(R"({"type": "Strip", "strip_left": true, "strip_right": true})", " \t x \u3000"), std::string("x"));
        QCOMPARE(normalize(R"({"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "StripAccents"}]})", "caf\u00e9"),
                 std::string("cafe"));
        QCOMPARE(normalize(R"({"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "})", "a  b    c d"),
                 std::string("a b c d"));
        const char* sp = R"({"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                           {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]})";
        QCOMPARE(normalize(sp, "Hello  world"), std::string("▁Hello▁▁world"));
        QCOMPARE(normalize(sp, ""), std::string(""));  // Prepend leaves empty text empty
    }

    void sentencePieceStyle() {
        // A miniature Llama-2/Mistral layout: Prepend + Replace normalizer, <0xNN> byte fallback, the
        // Replace/ByteFallback/Fuse/Strip decoder. Ids worked out by hand.
        json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
        for (int b = 0; b < 256; ++b) {
            char name[8];
            std::snprintf(name, sizeof name, "<0x%02X>", b);
            vocab[name] = 3 + b;
        }
        vocab["▁"] = 259;
        vocab["h"] = 260;
        vocab["i"] = 261;
        vocab["▁h"] = 262;
        vocab["▁hi"] = 263;
        json j = {
            {"added_tokens", json::parse(R"([{"id": 0, "content": "<unk>", "special": true, "normalized": false},
                                             {"id": 1, "content": "<s>", "special": true, "normalized": false},
                                             {"id": 2, "content": "</s>", "special": true, "normalized": false}])")},
            {"normalizer", json::parse(R"({"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                                           {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]})")},
            {"pre_tokenizer", nullptr},
            {"post_processor", json::parse(R"({"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}})")},
            {"decoder", json::parse(R"({"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                  {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]})")},
            {"model", {{"type", "BPE"}, {"unk_token", "<unk>"}, {"byte_fallback", true}, {"fuse_unk", true},
                       {"vocab", vocab}, {"merges", {"▁ h", "▁h i"}}}}};
        auto tk = tok::Tokenizer::from_json(j.dump(), "mini-sp");
        QCOMPARE(tk->encode("hi hi"), Ids({263, 263}));
        QCOMPARE(tk->encode("hi hi", true), Ids({1, 263, 263}));
        QCOMPARE(tk->encode("hi é"), Ids({263, 259, 3 + 0xC3, 3 + 0xA9}));
        QCOMPARE(QString::fromStdString(tk->decode({263, 259, 3 + 0xC3, 3 + 0xA9})), QString::fromUtf8("hi é"));
        QCOMPARE(QString::fromStdString(tk->decode({1, 263, 263}, true)), QString("hi hi"));
        // The normalizer runs on each piece between added tokens: "hi</s>hi" -> ▁hi </s> ▁hi.
        QCOMPARE(tk->encode("hi</s>hi"), Ids({263, 2, 263}));

        // The older layout: no normalizer, Metaspace pre-tokenizer and decoder.
        j["normalizer"] = nullptr;
        j["pre_tokenizer"] = json::parse(R"({"type": "Metaspace", "replacement": "▁", "add_prefix_space": true})");
        j["decoder"] = json::parse(R"({"type": "Metaspace", "replacement": "▁", "add_prefix_space": true})");
        auto old = tok::Tokenizer::from_json(j.dump(), "mini-sp-metaspace");
        QCOMPARE(old->encode("hi hi"), Ids({263, 263}));
        QCOMPARE(QString::fromStdString(old->decode({263, 263})), QString("hi hi"));
    }

    void postProcessors() {
        const char* tmpl = R"({"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]},
                                           "</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}})";
        const std::string tmpl_string = R"({"type": "TemplateProcessing", "single": "<s> $A </s>",
            "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]},
                               "</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}})";
        const std::string roberta = R"({"type": "RobertaProcessing", "sep": ["</s>", 1], "cls": ["<s>", 0],
            "trim_offsets": true, "add_prefix_space": false})";
        const std::string bert = R"({"type": "BertProcessing", "sep": ["</s>", 1], "cls": ["<s>", 0]})";
        const std::string seq = R"({"type": "Sequence", "processors": [{"type": "ByteLevel", "add_prefix_space": false,
            "trim_offsets": true, "use_regex": false}, )" + std::string(tmpl) + "]}";
        for (const std::string& p : {std::string(tmpl), tmpl_string, roberta, bert, seq}) {
            auto tk = tok::Tokenizer::from_json(tiny_json(p), "tiny");
            QCOMPARE(tk->encode("ab"), Ids({4}));
            QCOMPARE(tk->encode("ab", true), Ids({0, 4, 1}));
            QCOMPARE(tk->encode("aab<s>b", true), Ids({0, 2, 4, 0, 3, 1}));
            // No decoder: tokens joined with spaces, as Hugging Face does.
            QCOMPARE(QString::fromStdString(tk->decode({0, 4, 2, 1})), QString("<s> ab a </s>"));
            QCOMPARE(QString::fromStdString(tk->decode({0, 4, 2, 1}, true)), QString("ab a"));
            QCOMPARE(QString::fromStdString(tk->decode({4, 99, -1, 2})), QString("ab a"));  // unknown ids skipped
            QCOMPARE(tk->vocab_size(), 5);
            QCOMPARE(QString::fromStdString(tk->id_to_token(4)), QString("ab"));
            QCOMPARE(tk->id_to_token(77), std::string());
            QVERIFY(tk->is_special_token(0) && !tk->is_special_token(4));
        }
        auto none = tok::Tokenizer::from_json(tiny_json("null"), "tiny");
        QCOMPARE(none->encode("ab", true), Ids({4}));
    }

    void malformedFiles() {
        const fs::path dir = mixq_test::scratch("tokenizer_errors");
        const fs::path f = dir / "tokenizer.json";
        struct Case {
            std::string content;
            std::vector<std::string> fragments;
        };
        const std::string base_pre = R"({"model": )";
        const std::vector<Case> cases = {
            {"this is not json {", {"not valid JSON"}},
            {"", {"not valid JSON"}},
            {"[1, 2]", {"not a tokenizer.json"}},
            {"{}", {"no \"model\" section"}},
            {R"({"model": {"type": "Unigram", "vocab": [["a", 0.0]]}})", {"Unigram", "not supported", "only BPE"}},
            {R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})", {"WordPiece", "not supported"}},
            {R"({"model": {"type": "BPE", "merges": []}})", {"model.vocab", "missing"}},
            {R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a zz"]}})",
             {"model.merges[0]", "'zz'", "not in the vocabulary"}},
            {R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a", "b"], ["b", "q"]]}})",
             {"model.merges[0]", "'ab'", "merge result"}},
            {R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b", "a b c"]}})",
             {"model.merges[1]", "not two tokens"}},
            {R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [42]}})", {"model.merges[0]"}},
            {R"({"model": {"type": "BPE", "vocab": {"a": -3}, "merges": []}})", {"model.vocab", "'a'", "non-negative"}},
            {R"({"model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []}})", {"model.vocab", "non-negative"}},
            // (an ordinary literal: Qt's moc misreads a raw string holding "(unclosed")
            {"{\"model\": " + std::string(kTinyModel) +
                 ", \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(unclosed\"}, \"behavior\": \"Isolated\"}}",
             {"pre_tokenizer", "bad regex", "(unclosed"}},
            {R"({"model": )" + std::string(kTinyModel) +
                 R"(, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Sideways"}})",
             {"pre_tokenizer.behavior", "Sideways"}},
            {R"({"model": )" + std::string(kTinyModel) + R"(, "normalizer": {"type": "Precompiled"}})",
             {"normalizer", "unsupported normalizer type 'Precompiled'"}},
            {R"({"model": )" + std::string(kTinyModel) + R"(, "decoder": {"type": "CTC"}})", {"decoder", "'CTC'"}},
            {R"({"model": )" + std::string(kTinyModel) + R"(, "post_processor": {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<s>"}}], "special_tokens": {}}})",
             {"post_processor", "'<s>'"}},
            {R"({"model": )" + std::string(kTinyModel) + R"(, "added_tokens": [{"content": "x"}]})",
             {"added_tokens[0].id"}},
        };
        for (const auto& c : cases) {
            const std::string msg = load_error(f, c.content);
            if (msg.empty()) QFAIL(qPrintable("no error for: " + QString::fromStdString(c.content)));
            QVERIFY2(msg.find('\n') == std::string::npos, msg.c_str());
            QVERIFY2(msg.find(f.string()) == 0, msg.c_str());  // names the file first
            for (const auto& frag : c.fragments) QVERIFY2(msg.find(frag) != std::string::npos, (msg + " lacks " + frag).c_str());
        }
        try {
            tok::Tokenizer::from_file(dir / "missing" / "tokenizer.json");
            QFAIL("no error for a missing file");
        } catch (const Error& e) {
            QVERIFY(std::string(e.what()).find("cannot open") != std::string::npos);
        }
        // A folder stands for its tokenizer.json; a well-formed minimal file loads.
        QVERIFY(load_error(f, R"({"model": )" + std::string(kTinyModel) + "}").empty());
        QCOMPARE(tok::Tokenizer::from_file(dir)->encode("abba"), Ids({2, 1, 0}));
    }

    void regexRejectsInvalidUtf8() {
        tok::Regex re("\\p{L}+", "test");
        std::vector<tok::Regex::Span> spans;
        QVERIFY_THROWS_EXCEPTION(Error, re.find_all("ab\xC3(", spans));
        re.find_all("ab cd", spans);
        QCOMPARE(spans.size(), size_t(2));
        QVERIFY(re.jit() || true);  // JIT is optional; matching must work either way
    }
};

QTEST_APPLESS_MAIN(TestTokenizerComponents)
#include "test_tokenizer_components.moc"

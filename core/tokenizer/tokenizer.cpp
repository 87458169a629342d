// SPDX-License-Identifier: MIT
// HfTokenizer: the Tokenizer behind tokenizer.json. Loads the sections and runs the Hugging Face pipeline:
// added tokens -> normalizer -> pre-tokenizer -> BPE model -> post-processor; decode runs the decoder.
#include "core/tokenizer/tokenizer.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/common/error.h"
#include "core/common/input_file.h"
#include "core/tokenizer/added_vocab.h"
#include "core/tokenizer/bpe_model.h"
#include "core/tokenizer/decoder.h"
#include "core/tokenizer/json_loader.h"
#include "core/tokenizer/normalizer.h"
#include "core/tokenizer/post_processor.h"
#include "core/tokenizer/pre_tokenizer.h"
#include "core/tokenizer/utf8.h"

namespace mixq::tok {
namespace {

std::string one_line(std::string s) {
    std::replace(s.begin(), s.end(), '\n', ' ');
    std::replace(s.begin(), s.end(), '\r', ' ');
    return s;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
    size_t pos = 0;
    while ((pos = s.find(from, pos)) != std::string::npos) {
        s.replace(pos, from.size(), to);
        pos += to.size();
    }
}

/// transformers' clean_up_tokenization.
std::string clean_up_tokenization(std::string s) {
    static const std::pair<const char*, const char*> rules[] = {
        {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
        {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto& [from, to] : rules) replace_all(s, from, to);
    return s;
}

std::vector<AddedToken> parse_added_tokens(const nlohmann::json& j, const JsonWhere& w) {
    std::vector<AddedToken> out;
    const auto* list = field(j, "added_tokens");
    if (!list) return out;
    const JsonWhere wl = w.at("added_tokens");
    if (!list->is_array()) wl.fail("must be a list");
    for (size_t i = 0; i < list->size(); ++i) {
        const auto& e = (*list)[i];
        const JsonWhere we = wl.at(i);
        if (!e.is_object()) we.fail("must be an object");
        AddedToken t;
        const long long id = int_or(e, "id", -1, we);
        if (id < 0 || id > 0x7FFFFFFF) we.at("id").fail("must be a non-negative integer");
        t.id = static_cast<int>(id);
        t.content = string_field(e, "content", we);
        if (t.content.empty()) we.at("content").fail("must not be empty");
        if (!utf8::is_valid(t.content)) we.at("content").fail("is not valid UTF-8");
        t.special = bool_or(e, "special", false, we);
        t.single_word = bool_or(e, "single_word", false, we);
        t.lstrip = bool_or(e, "lstrip", false, we);
        t.rstrip = bool_or(e, "rstrip", false, we);
        t.normalized = bool_or(e, "normalized", !t.special, we);
        out.push_back(std::move(t));
    }
    return out;
}

class HfTokenizer final : public Tokenizer {
public:
    HfTokenizer(TokenizerJson& doc, const std::string& label) {
        const nlohmann::json& j = doc.root;
        const JsonWhere w{label, ""};
        if (!j.is_object()) w.fail("not a tokenizer.json (the top level is not an object)");
        const auto* model = field(j, "model");
        if (!model) w.fail("no \"model\" section");
        if (!model->is_object()) w.at("model").fail("must be an object");
        std::string type = string_or(*model, "type", "", w.at("model"));
        if (type.empty() && field(*model, "vocab") && field(*model, "merges")) type = "BPE";
        if (type.empty()) w.at("model").fail("no \"type\"");
        if (type != "BPE") w.at("model").fail("model type '" + type + "' is not supported (only BPE)");

        static const nlohmann::json null_json;
        auto section = [&](const char* key) -> const nlohmann::json& {
            const auto* v = field(j, key);
            return v ? *v : null_json;
        };
        m_normalizer = make_normalizer(section("normalizer"), w.at("normalizer"));
        m_pre_tokenizer = make_pre_tokenizer(section("pre_tokenizer"), w.at("pre_tokenizer"));
        m_model = BpeModel::from_json(*model, w.at("model"), doc.vocab_captured ? &doc.vocab : nullptr,
                                      doc.merges_captured ? &doc.merges : nullptr);
        m_added.build(parse_added_tokens(j, w), m_normalizer.get());
        m_post = make_post_processor(section("post_processor"), w.at("post_processor"));
        m_decoder = make_decoder(section("decoder"), w.at("decoder"));
        m_vocab_size = std::max(m_model->max_id(), m_added.max_id()) + 1;
    }

    std::vector<int> encode(const std::string& text, bool add_special_tokens) const override {
        std::string repaired;
        const std::string* input = &text;
        if (!utf8::is_valid(text)) {
            repaired = utf8::sanitize(text);
            input = &repaired;
        }
        std::vector<int> ids;
        ids.reserve(input->size() / 3 + 4);
        std::vector<PreToken> pieces;
        for (auto& seg : m_added.extract_and_normalize(*input, m_normalizer.get())) {
            if (seg.id >= 0) {
                ids.push_back(seg.id);
                continue;
            }
            pieces.clear();
            pieces.push_back({std::move(seg.text), seg.at_origin});
            if (m_pre_tokenizer) m_pre_tokenizer->pre_tokenize(pieces);
            for (const auto& p : pieces) m_model->tokenize(p.text, ids);
        }
        if (add_special_tokens && m_post) m_post->process(ids);
        return ids;
    }

    std::string decode(const std::vector<int>& ids, bool skip_special_tokens) const override {
        std::vector<std::string> tokens;
        tokens.reserve(ids.size());
        for (int id : ids) {
            std::optional<std::string_view> t;
            if (const AddedToken* a = m_added.by_id(id))
                t = a->content;
            else
                t = m_model->id_to_token(id);
            if (!t) continue;  // unknown ids are skipped, as Hugging Face does
            if (skip_special_tokens && m_added.is_special(*t)) continue;
            tokens.emplace_back(*t);
        }
        std::string out;
        if (m_decoder) {
            m_decoder->decode_chain(tokens);
            for (const auto& t : tokens) out += t;
        } else {
            for (size_t i = 0; i < tokens.size(); ++i) {
                if (i) out += ' ';
                out += tokens[i];
            }
        }
        out = utf8::sanitize(out);
        if (m_clean_up) out = clean_up_tokenization(std::move(out));
        return out;
    }

    int vocab_size() const override { return m_vocab_size; }

    std::optional<int> token_to_id(const std::string& token) const override {
        if (auto id = m_added.id_of(token)) return id;
        return m_model->token_to_id(token);
    }

    std::string id_to_token(int id) const override {
        if (const AddedToken* a = m_added.by_id(id)) return a->content;
        if (const auto t = m_model->id_to_token(id)) return std::string(*t);
        return {};
    }

    bool is_special_token(int id) const override {
        const AddedToken* a = m_added.by_id(id);
        return a && a->special;
    }
    void set_clean_up_tokenization_spaces(bool on) override { m_clean_up = on; }
    bool clean_up_tokenization_spaces() const override { return m_clean_up; }

private:
    std::unique_ptr<Normalizer> m_normalizer;
    std::unique_ptr<PreTokenizer> m_pre_tokenizer;
    std::unique_ptr<BpeModel> m_model;
    AddedVocabulary m_added;
    std::unique_ptr<PostProcessor> m_post;
    std::unique_ptr<Decoder> m_decoder;
    int m_vocab_size = 0;
    bool m_clean_up = false;
};

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_json(const std::string& json_text, const std::string& label) {
    TokenizerJson doc = parse_tokenizer_json(json_text, label);
    try {
        return std::make_unique<HfTokenizer>(doc, label);
    } catch (const nlohmann::json::exception& e) {
        fail(label, "malformed tokenizer.json: " + one_line(e.what()));
    }
}

std::unique_ptr<Tokenizer> Tokenizer::from_file(const std::filesystem::path& path_in) {
    std::filesystem::path path = path_in;
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) path /= "tokenizer.json";
    auto tok = from_json(mixq::read_input_file(path, mixq::kMaxTokenizerBytes), path.string());

    // transformers keeps clean_up_tokenization_spaces in tokenizer_config.json; it only affects decode, so a
    // missing or malformed config just leaves it off (a pipe, device or oversized file is still refused).
    std::string cs;
    if (mixq::read_input_file_if_present(path.parent_path() / "tokenizer_config.json", mixq::kMaxJsonBytes, cs)) {
        const auto c = nlohmann::json::parse(cs, nullptr, false);
        if (c.is_object()) {
            auto it = c.find("clean_up_tokenization_spaces");
            if (it != c.end() && it->is_boolean()) tok->set_clean_up_tokenization_spaces(it->get<bool>());
        }
    }
    return tok;
}

void check_ids_in_model_vocab(const Tokenizer& tok, const std::vector<int>& ids, int64_t model_vocab,
                              const std::string& tokenizer_file) {
    for (int id : ids)
        if (id < 0 || id >= model_vocab)
            fail(tokenizer_file, "token '" + one_line(tok.id_to_token(id)).substr(0, 40) + "' has id " + std::to_string(id) +
                                     ", outside the model's vocabulary of " + std::to_string(model_vocab) +
                                     " (vocab_size in config.json); the tokenizer does not belong to this model");
}

}  // namespace mixq::tok

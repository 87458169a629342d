// SPDX-License-Identifier: MIT
// The post-processor implementations (see post_processor.h).
#include "core/tokenizer/post_processor.h"

#include <map>
#include <sstream>

namespace mixq::tok {
namespace {

/// Wraps the sequence: `before` ids, the sequence, `after` ids.
class Wrap final : public PostProcessor {
public:
    Wrap(std::vector<int> before, std::vector<int> after) : m_before(std::move(before)), m_after(std::move(after)) {}
    void process(std::vector<int>& ids) const override {
        ids.insert(ids.begin(), m_before.begin(), m_before.end());
        ids.insert(ids.end(), m_after.begin(), m_after.end());
    }

private:
    std::vector<int> m_before, m_after;
};

class NoOp final : public PostProcessor {
public:
    void process(std::vector<int>&) const override {}
};

class Sequence final : public PostProcessor {
public:
    explicit Sequence(std::vector<std::unique_ptr<PostProcessor>> parts) : m_parts(std::move(parts)) {}
    void process(std::vector<int>& ids) const override {
        for (const auto& p : m_parts) p->process(ids);
    }

private:
    std::vector<std::unique_ptr<PostProcessor>> m_parts;
};

/// ["<s>", 1] as RobertaProcessing/BertProcessing write cls and sep.
int token_pair_id(const nlohmann::json& j, const char* key, const JsonWhere& w) {
    const auto* v = field(j, key);
    if (!v) w.at(key).fail("missing");
    if (!v->is_array() || v->size() != 2 || !(*v)[1].is_number_integer())
        w.at(key).fail("must be [token, id]");
    return (*v)[1].get<int>();
}

std::unique_ptr<PostProcessor> make_template(const nlohmann::json& j, const JsonWhere& w) {
    std::map<std::string, std::vector<int>> specials;
    if (const auto* st = field(j, "special_tokens")) {
        if (!st->is_object()) w.at("special_tokens").fail("must be an object");
        for (const auto& [name, v] : st->items()) {
            const auto* ids = field(v, "ids");
            if (!ids || !ids->is_array()) w.at("special_tokens").at(name).fail("needs a list \"ids\"");
            std::vector<int> list;
            for (const auto& id : *ids) {
                if (!id.is_number_integer()) w.at("special_tokens").at(name).fail("ids must be integers");
                list.push_back(id.get<int>());
            }
            specials[name] = std::move(list);
        }
    }
    const auto* single = field(j, "single");
    if (!single) w.at("single").fail("missing");
    // The template: a list of {"SpecialToken": {"id": ...}} / {"Sequence": {"id": "A"}}, or the string form
    // "<s> $A </s>".
    std::vector<std::string> pieces;  // "$" marks the sequence
    if (single->is_string()) {
        std::istringstream in(single->get<std::string>());
        std::string p;
        while (in >> p) {
            const auto colon = p.rfind(':');
            if (colon != std::string::npos && colon > 0) p = p.substr(0, colon);
            pieces.push_back(!p.empty() && p[0] == '$' ? "$" : p);
        }
    } else if (single->is_array()) {
        for (size_t i = 0; i < single->size(); ++i) {
            const auto& e = (*single)[i];
            if (const auto* sp = field(e, "SpecialToken")) {
                pieces.push_back(string_field(*sp, "id", w.at("single").at(i).at("SpecialToken")));
            } else if (field(e, "Sequence")) {
                pieces.emplace_back("$");
            } else {
                w.at("single").at(i).fail("must be a SpecialToken or a Sequence");
            }
        }
    } else {
        w.at("single").fail("must be a list or a string");
    }
    std::vector<int> before, after;
    bool seen_sequence = false;
    for (const auto& p : pieces) {
        if (p == "$") {
            seen_sequence = true;
            continue;
        }
        auto it = specials.find(p);
        if (it == specials.end()) w.at("single").fail("special token '" + p + "' is missing from special_tokens");
        auto& dst = seen_sequence ? after : before;
        dst.insert(dst.end(), it->second.begin(), it->second.end());
    }
    return std::make_unique<Wrap>(std::move(before), std::move(after));
}

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const nlohmann::json& j, const JsonWhere& w) {
    if (j.is_null()) return nullptr;
    const std::string type = type_field(j, w);
    if (type == "TemplateProcessing") return make_template(j, w);
    if (type == "RobertaProcessing" || type == "BertProcessing")
        return std::make_unique<Wrap>(std::vector<int>{token_pair_id(j, "cls", w)},
                                      std::vector<int>{token_pair_id(j, "sep", w)});
    if (type == "ByteLevel") return std::make_unique<NoOp>();
    if (type == "Sequence") {
        const auto* list = field(j, "processors");
        if (!list || !list->is_array()) w.at("processors").fail("must be a list");
        std::vector<std::unique_ptr<PostProcessor>> parts;
        for (size_t i = 0; i < list->size(); ++i)
            if (auto p = make_post_processor((*list)[i], w.at("processors").at(i))) parts.push_back(std::move(p));
        return std::make_unique<Sequence>(std::move(parts));
    }
    w.fail("unsupported post_processor type '" + type + "'");
}

}  // namespace mixq::tok

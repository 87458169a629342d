// SPDX-License-Identifier: MIT
// BPE model: loading, the priority-queue merge loop and the word cache (see bpe_model.h).
#include "core/tokenizer/bpe_model.h"

#include <cstdio>
#include <queue>

#include "core/tokenizer/utf8.h"

namespace mixq::tok {
namespace {

constexpr size_t kCacheCapacity = 65536;
constexpr size_t kCacheMaxWordBytes = 256;

/// A token quoted for a one-line message: control characters escaped, long ones cut.
std::string quote(std::string_view s) {
    std::string out = "'";
    for (unsigned char c : s) {
        if (c < 0x20 || c == 0x7F) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
        if (out.size() > 80) return out + "...'";
    }
    return out + "'";
}

std::optional<std::string> optional_string(const nlohmann::json& j, const char* key, const JsonWhere& w) {
    const auto* v = field(j, key);
    if (!v) return std::nullopt;
    if (!v->is_string()) w.at(key).fail("must be a string or null");
    return v->get<std::string>();
}

}  // namespace

std::unique_ptr<BpeModel> BpeModel::from_json(const nlohmann::json& model, const JsonWhere& w,
                                              std::vector<std::pair<std::string, int>>* vocab,
                                              std::vector<std::pair<std::string, std::string>>* merges) {
    std::unique_ptr<BpeModel> m(new BpeModel());
    auto& o = m->m_options;
    o.unk_token = optional_string(model, "unk_token", w);
    o.continuing_subword_prefix = optional_string(model, "continuing_subword_prefix", w);
    o.end_of_word_suffix = optional_string(model, "end_of_word_suffix", w);
    o.fuse_unk = bool_or(model, "fuse_unk", false, w);
    o.byte_fallback = bool_or(model, "byte_fallback", false, w);
    o.ignore_merges = bool_or(model, "ignore_merges", false, w);

    if (vocab) {
        m->set_vocab(std::move(*vocab));
    } else {
        const auto* v = field(model, "vocab");
        if (!v) w.at("vocab").fail("missing");
        if (!v->is_object()) w.at("vocab").fail("must be an object {token: id}");
        std::vector<std::pair<std::string, int>> list;
        list.reserve(v->size());
        for (const auto& [token, id] : v->items()) {
            if (!id.is_number_integer() || id.get<long long>() < 0 || id.get<long long>() > 0x7FFFFFFF)
                w.at("vocab").fail("id of token " + quote(token) + " must be a non-negative integer");
            list.emplace_back(token, id.get<int>());
        }
        m->set_vocab(std::move(list));
    }

    const JsonWhere wm = w.at("merges");
    if (merges) {
        m->m_merges.reserve(merges->size() + merges->size() / 2);
        for (size_t i = 0; i < merges->size(); ++i)
            m->add_merge((*merges)[i].first, (*merges)[i].second, static_cast<uint32_t>(i), wm, i);
    } else if (const auto* list = field(model, "merges")) {
        if (!list->is_array()) wm.fail("must be a list");
        m->m_merges.reserve(list->size() + list->size() / 2);
        uint32_t rank = 0;
        for (size_t i = 0; i < list->size(); ++i) {
            const auto& e = (*list)[i];
            if (e.is_string()) {
                const std::string& line = e.get_ref<const std::string&>();
                if (line.rfind("#version", 0) == 0) continue;
                const size_t sp = line.find(' ');
                if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos)
                    wm.at(i).fail("merge " + quote(line) + " is not two tokens separated by one space");
                m->add_merge(std::string_view(line).substr(0, sp), std::string_view(line).substr(sp + 1), rank++, wm, i);
            } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
                m->add_merge(e[0].get_ref<const std::string&>(), e[1].get_ref<const std::string&>(), rank++, wm, i);
            } else {
                wm.at(i).fail("merge must be \"a b\" or [\"a\", \"b\"]");
            }
        }
    }
    m->m_join_buffer = std::string();
    return m;
}

BpeModel::BpeModel(std::vector<std::pair<std::string, int>> vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options,
                   const JsonWhere& w)
    : m_options(std::move(options)) {
    for (const auto& [t, id] : vocab)
        if (id < 0) w.at("vocab").fail("id of token " + quote(t) + " must be non-negative");
    set_vocab(std::move(vocab));
    m_merges.reserve(merges.size() + merges.size() / 2);
    const JsonWhere wm = w.at("merges");
    for (size_t i = 0; i < merges.size(); ++i)
        add_merge(merges[i].first, merges[i].second, static_cast<uint32_t>(i), wm, i);
    m_join_buffer = std::string();
}

void BpeModel::set_vocab(std::vector<std::pair<std::string, int>>&& vocab) {
    size_t bytes = 0;
    for (const auto& [t, id] : vocab) bytes += t.size();
    m_vocab = TokenTable();
    m_vocab.reserve(vocab.size(), bytes);
    for (const auto& [t, id] : vocab) m_vocab.insert_or_assign(t, id);  // a repeated token keeps its last id
    vocab.clear();
    vocab.shrink_to_fit();
    int max_id = -1;
    m_vocab.for_each([&](std::string_view, int id) { max_id = std::max(max_id, id); });
    m_id_to_token.assign(static_cast<size_t>(max_id + 1), std::string_view());
    m_vocab.for_each([&](std::string_view t, int id) {
        if (m_vocab.find(t) == id) m_id_to_token[id] = t;  // views into the arena, which no longer changes
    });
    m_unk_id = m_options.unk_token ? m_vocab.find(*m_options.unk_token).value_or(-1) : -1;
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        m_byte_ids[b] = m_vocab.find(std::string_view(name)).value_or(-1);
    }
}

void BpeModel::add_merge(std::string_view a, std::string_view b, uint32_t rank, const JsonWhere& merges_where,
                         size_t index) {
    const auto ia = m_vocab.find(a);
    if (!ia) merges_where.at(index).fail("merge names token " + quote(a) + ", which is not in the vocabulary");
    const auto ib = m_vocab.find(b);
    if (!ib) merges_where.at(index).fail("merge names token " + quote(b) + ", which is not in the vocabulary");
    std::string& joined = m_join_buffer;
    joined.assign(a);
    const auto& prefix = m_options.continuing_subword_prefix;
    if (prefix && !prefix->empty() && b.substr(0, prefix->size()) == *prefix)
        joined.append(b.substr(prefix->size()));
    else
        joined.append(b);
    const auto in = m_vocab.find(std::string_view(joined));
    if (!in) merges_where.at(index).fail("merge result " + quote(joined) + " is not in the vocabulary");
    m_merges.insert_or_assign(*ia, *ib, Merge{rank, *in});  // a repeated pair keeps its last rank, as HF does
}

const BpeModel::Merge* BpeModel::find_merge(int a, int b) const { return m_merges.find(a, b); }

std::optional<std::string_view> BpeModel::id_to_token(int id) const {
    if (id < 0 || id >= static_cast<int>(m_id_to_token.size()) || m_id_to_token[id].data() == nullptr)
        return std::nullopt;
    return m_id_to_token[id];
}

void BpeModel::tokenize(std::string_view word, std::vector<int>& out) const {
    if (word.empty()) return;
    if (m_options.ignore_merges) {
        if (const auto id = m_vocab.find(word)) {
            out.push_back(*id);
            return;
        }
    }
    const bool cacheable = word.size() < kCacheMaxWordBytes;
    if (cacheable) {
        std::lock_guard lock(m_cache_mutex);
        auto it = m_cache.find(word);
        if (it != m_cache.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    const size_t first = out.size();
    merge_word(word, out);
    if (cacheable) {
        std::vector<int> ids(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
        std::lock_guard lock(m_cache_mutex);
        if (m_cache.size() >= kCacheCapacity) m_cache.clear();
        m_cache.emplace(std::string(word), std::move(ids));
    }
}

void BpeModel::merge_word(std::string_view w, std::vector<int>& out) const {
    struct Symbol {
        int id;
        int prev;
        int next;
        uint32_t len;  // bytes covered; 0 once merged away
    };
    struct Entry {
        uint32_t rank;
        uint32_t pos;
        int new_id;
    };
    struct Later {
        bool operator()(const Entry& a, const Entry& b) const {
            return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
        }
    };

    thread_local std::vector<Symbol> syms;
    syms.clear();
    auto add = [&](int id, size_t len) {
        const int idx = static_cast<int>(syms.size());
        syms.push_back({id, idx - 1, -1, static_cast<uint32_t>(len)});
        if (idx > 0) syms[idx - 1].next = idx;
    };

    const auto& prefix = m_options.continuing_subword_prefix;
    const auto& suffix = m_options.end_of_word_suffix;
    const bool decorate = (prefix && !prefix->empty()) || (suffix && !suffix->empty());
    std::string buf;
    int unk_id = -1;
    size_t unk_len = 0;
    for (size_t i = 0; i < w.size();) {
        size_t len = utf8::char_length(static_cast<unsigned char>(w[i]));
        if (i + len > w.size()) len = w.size() - i;
        std::string_view s = w.substr(i, len);
        if (decorate) {
            buf.clear();
            if (i > 0 && prefix) buf += *prefix;
            buf.append(s);
            if (i + len >= w.size() && suffix) buf += *suffix;
            s = buf;
        }
        i += len;
        if (const auto id = m_vocab.find(s)) {
            if (unk_id >= 0) {
                add(unk_id, unk_len);
                unk_id = -1;
            }
            add(*id, len);
            continue;
        }
        if (m_options.byte_fallback) {
            bool all = true;
            for (unsigned char b : s) all = all && m_byte_ids[b] >= 0;
            if (all) {
                for (unsigned char b : s) add(m_byte_ids[b], 1);
                continue;
            }
        }
        if (m_unk_id >= 0) {
            if (unk_id >= 0 && m_options.fuse_unk) {
                unk_len += len;
            } else {
                if (unk_id >= 0) add(unk_id, unk_len);
                unk_id = m_unk_id;
                unk_len = len;
            }
        }
        // without a usable unk_token an unknown character is dropped, as Hugging Face does
    }
    if (unk_id >= 0) add(unk_id, unk_len);

    if (syms.size() > 1 && !m_merges.empty()) {
        std::vector<Entry> storage;
        storage.reserve(syms.size() * 2);
        std::priority_queue<Entry, std::vector<Entry>, Later> queue(Later{}, std::move(storage));
        for (size_t k = 0; k + 1 < syms.size(); ++k)
            if (const Merge* m = find_merge(syms[k].id, syms[k + 1].id))
                queue.push({m->rank, static_cast<uint32_t>(k), m->new_id});
        while (!queue.empty()) {
            const Entry top = queue.top();
            queue.pop();
            Symbol& cur = syms[top.pos];
            if (cur.len == 0 || cur.next < 0) continue;
            const int next_pos = cur.next;
            const Symbol right = syms[next_pos];
            const Merge* m = find_merge(cur.id, right.id);
            if (!m || m->new_id != top.new_id) continue;  // stale entry
            cur.id = top.new_id;
            cur.len += right.len;
            cur.next = right.next;
            syms[next_pos].len = 0;
            if (right.next >= 0) syms[right.next].prev = static_cast<int>(top.pos);
            if (cur.prev >= 0)
                if (const Merge* mp = find_merge(syms[cur.prev].id, cur.id))
                    queue.push({mp->rank, static_cast<uint32_t>(cur.prev), mp->new_id});
            if (cur.next >= 0)
                if (const Merge* mn = find_merge(cur.id, syms[cur.next].id))
                    queue.push({mn->rank, top.pos, mn->new_id});
        }
    }
    for (const auto& s : syms)
        if (s.len != 0) out.push_back(s.id);
}

}  // namespace mixq::tok

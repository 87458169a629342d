// SPDX-License-Identifier: MIT
// Flat open-addressing hash tables for the BPE model: TokenTable (token string <-> id, strings in one arena)
// and PairTable ((left id, right id) -> merge rank and result). One probe sequence in contiguous memory per
// lookup, which matters when loading 100k+ tokens and 300k merges.
#pragma once
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mixq::tok {

inline uint64_t hash_bytes(std::string_view s) {
    uint64_t h = 0xcbf29ce484222325ull ^ (s.size() * 0x9E3779B97F4A7C15ull);  // FNV-1a, length-seeded
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

inline size_t table_capacity_for(size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    return cap;
}

class TokenTable {
public:
    void reserve(size_t n, size_t bytes) {
        m_arena.reserve(bytes);
        m_entries.reserve(n);
        rehash(table_capacity_for(n));
    }
    /// Inserts or reassigns `token`.
    void insert_or_assign(std::string_view token, int id) {
        if ((m_entries.size() + 1) * 2 > m_slots.size()) rehash(table_capacity_for(m_entries.size() + 1));
        const uint64_t h = hash_bytes(token);
        size_t i = h & m_mask;
        while (m_slots[i] != 0) {
            Entry& e = m_entries[m_slots[i] - 1];
            if (e.hash == h && view(e) == token) {
                e.id = id;
                return;
            }
            i = (i + 1) & m_mask;
        }
        m_entries.push_back({h, static_cast<uint32_t>(m_arena.size()), static_cast<uint32_t>(token.size()), id});
        m_arena.append(token);
        m_slots[i] = static_cast<uint32_t>(m_entries.size());
    }
    std::optional<int> find(std::string_view token) const {
        if (m_slots.empty()) return std::nullopt;
        const uint64_t h = hash_bytes(token);
        for (size_t i = h & m_mask; m_slots[i] != 0; i = (i + 1) & m_mask) {
            const Entry& e = m_entries[m_slots[i] - 1];
            if (e.hash == h && e.len == token.size() && std::memcmp(m_arena.data() + e.off, token.data(), e.len) == 0)
                return e.id;
        }
        return std::nullopt;
    }
    size_t size() const { return m_entries.size(); }
    /// Calls f(token, id) for every entry, in insertion order.
    template <class F>
    void for_each(F&& f) const {
        for (const auto& e : m_entries) f(view(e), e.id);
    }

private:
    struct Entry {
        uint64_t hash;
        uint32_t off, len;
        int id;
    };
    std::string_view view(const Entry& e) const { return std::string_view(m_arena).substr(e.off, e.len); }
    void rehash(size_t cap) {
        m_slots.assign(cap, 0);
        m_mask = cap - 1;
        for (size_t k = 0; k < m_entries.size(); ++k) {
            size_t i = m_entries[k].hash & m_mask;
            while (m_slots[i] != 0) i = (i + 1) & m_mask;
            m_slots[i] = static_cast<uint32_t>(k + 1);
        }
    }
    std::string m_arena;
    std::vector<Entry> m_entries;
    std::vector<uint32_t> m_slots;  // entry index + 1; 0 = empty
    size_t m_mask = 0;
};

class PairTable {
public:
    struct Value {
        uint32_t rank;
        int new_id;
    };
    void reserve(size_t n) { rehash(table_capacity_for(n)); }
    void insert_or_assign(int a, int b, Value v) {
        if ((m_size + 1) * 2 > m_slots.size()) rehash(table_capacity_for(m_size + 1));
        const uint64_t k = key(a, b);
        size_t i = slot_of(k);
        while (m_slots[i].key != kEmpty && m_slots[i].key != k) i = (i + 1) & m_mask;
        if (m_slots[i].key == kEmpty) ++m_size;
        m_slots[i] = {k, v};
    }
    const Value* find(int a, int b) const {
        if (m_slots.empty()) return nullptr;
        const uint64_t k = key(a, b);
        for (size_t i = slot_of(k); m_slots[i].key != kEmpty; i = (i + 1) & m_mask)
            if (m_slots[i].key == k) return &m_slots[i].value;
        return nullptr;
    }
    size_t size() const { return m_size; }
    bool empty() const { return m_size == 0; }

private:
    static constexpr uint64_t kEmpty = ~0ull;
    struct Slot {
        uint64_t key = kEmpty;
        Value value{};
    };
    static uint64_t key(int a, int b) {
        return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
    }
    size_t slot_of(uint64_t k) const { return static_cast<size_t>((k * 0x9E3779B97F4A7C15ull) >> m_shift); }
    void rehash(size_t cap) {
        std::vector<Slot> old = std::move(m_slots);
        m_slots.assign(cap, Slot{});
        m_mask = cap - 1;
        m_shift = 64;
        for (size_t c = cap; c > 1; c >>= 1) --m_shift;
        for (const auto& s : old)
            if (s.key != kEmpty) {
                size_t i = slot_of(s.key);
                while (m_slots[i].key != kEmpty) i = (i + 1) & m_mask;
                m_slots[i] = s;
            }
    }
    std::vector<Slot> m_slots;
    size_t m_mask = 0;
    int m_shift = 64;
    size_t m_size = 0;
};

}  // namespace mixq::tok

// SPDX-License-Identifier: MIT
// safetensors header validation, the sharded memory-mapped TensorStore, and the atomic writer.
#include "core/io/safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "core/common/atomic_file.h"
#include "core/common/error.h"
#include "core/common/input_file.h"
#include "core/io/json_read.h"

namespace mixq::io {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {
constexpr uint64_t kMaxHeader = 100ull << 20;  // 100 MiB, as the reference implementation limits it
}

std::vector<TensorInfo> parse_safetensors_header(const uint8_t* bytes, size_t size, const std::string& file,
                                                 std::map<std::string, std::string>* metadata) {
    if (size < 8) fail(file, "truncated safetensors file (" + std::to_string(size) + " bytes, no header length)");
    uint64_t hlen = 0;
    std::memcpy(&hlen, bytes, 8);  // little endian on every supported platform
    if (hlen > kMaxHeader) fail(file, "header length " + std::to_string(hlen) + " is implausibly large");
    if (hlen > size - 8)
        fail(file, "truncated safetensors file: header claims " + std::to_string(hlen) + " bytes but the file has " +
                       std::to_string(size - 8) + " after the length prefix");
    json header;
    std::set<std::string> seen;
    std::string duplicate;
    try {
        // The callback sees every top-level key, so a tensor named twice (JSON keeps only the last) is caught.
        header = json::parse(bytes + 8, bytes + 8 + hlen, [&](int depth, json::parse_event_t ev, json& parsed) {
            if (ev == json::parse_event_t::key && depth == 1 && !seen.insert(parsed.get<std::string>()).second &&
                duplicate.empty())
                duplicate = parsed.get<std::string>();
            return true;
        });
    } catch (const json::exception& e) {
        fail(file, std::string("header is not valid JSON: ") + e.what());
    }
    if (!duplicate.empty()) fail(file, "duplicate tensor name '" + duplicate + "' in the header");
    if (!header.is_object()) fail(file, "header is not a JSON object");
    const size_t data_begin = 8 + static_cast<size_t>(hlen);
    const size_t data_size = size - data_begin;

    std::vector<TensorInfo> out;
    std::vector<std::pair<size_t, size_t>> ranges;
    for (auto it = header.begin(); it != header.end(); ++it) {
        const std::string& name = it.key();
        if (name == "__metadata__") {
            if (metadata && it->is_object())
                for (auto m = it->begin(); m != it->end(); ++m)
                    if (m->is_string()) (*metadata)[m.key()] = m->get<std::string>();
            continue;
        }
        const json& t = it.value();
        if (!t.is_object() || !t.contains("dtype") || !t.contains("shape") || !t.contains("data_offsets"))
            fail(file, "tensor '" + name + "' needs dtype, shape and data_offsets");
        if (!t["dtype"].is_string()) fail(file, "tensor '" + name + "': dtype is not a string");
        TensorInfo info;
        info.name = name;
        const std::string dt = t["dtype"].get<std::string>();
        if (!parse_dtype(dt, info.dtype))
            fail(file, "tensor '" + name + "' has dtype " + dt + ", not supported (BF16, F16, F32 are)");
        if (!t["shape"].is_array()) fail(file, "tensor '" + name + "': shape is not an array");
        unsigned __int128 numel = 1;
        for (const auto& d : t["shape"]) {
            if (!d.is_number_integer() || (!d.is_number_unsigned() && d.get<int64_t>() < 0))
                fail(file, "tensor '" + name + "': shape has a negative or non-integer dimension");
            info.shape.push_back(json_int(d, 0, int64_t(1) << 62, file, "tensor '" + name + "' shape"));
            numel *= static_cast<uint64_t>(info.shape.back());
            if (numel > (static_cast<unsigned __int128>(1) << 62)) fail(file, "tensor '" + name + "': shape is too large");
        }
        const auto& offs = t["data_offsets"];
        if (!offs.is_array() || offs.size() != 2)
            fail(file, "tensor '" + name + "': data_offsets must be two non-negative integers");
        const uint64_t b = static_cast<uint64_t>(json_int(offs[0], 0, INT64_MAX, file, name + ".data_offsets[0]"));
        const uint64_t e = static_cast<uint64_t>(json_int(offs[1], 0, INT64_MAX, file, name + ".data_offsets[1]"));
        if (e < b) fail(file, "tensor '" + name + "': data_offsets end before they begin");
        if (e > data_size)
            fail(file, "tensor '" + name + "': data_offsets [" + std::to_string(b) + ", " + std::to_string(e) +
                           ") run past the end of the file (data section is " + std::to_string(data_size) + " bytes)");
        const unsigned __int128 expect = numel * dtype_size(info.dtype);
        if (expect != e - b)
            fail(file, "tensor '" + name + "': shape × dtype is " + std::to_string(static_cast<uint64_t>(expect)) +
                           " bytes but data_offsets span " + std::to_string(e - b));
        info.offset = data_begin + b;
        info.nbytes = e - b;
        ranges.emplace_back(b, e);
        out.push_back(std::move(info));
    }
    std::sort(ranges.begin(), ranges.end());
    size_t prev_end = 0;
    for (const auto& [b, e] : ranges) {
        if (b == e) continue;  // zero-size tensors occupy no bytes
        if (b < prev_end) fail(file, "tensor data ranges overlap at byte " + std::to_string(b));
        // The format has no holes (as the reference implementation checks): unread bytes are refused.
        if (b > prev_end)
            fail(file, "data section bytes [" + std::to_string(prev_end) + ", " + std::to_string(b) +
                           ") belong to no tensor");
        prev_end = e;
    }
    if (prev_end != data_size)
        fail(file, std::to_string(data_size - prev_end) + " bytes after the last tensor (data section is " +
                       std::to_string(data_size) + " bytes, tensors end at " + std::to_string(prev_end) + ")");
    return out;
}

void TensorStore::add_file(const fs::path& path, const std::vector<std::string>* expected) {
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(path, ec))) fail(path.string(), "file not found");
    auto mf = std::make_unique<MappedFile>(path);
    auto infos = parse_safetensors_header(mf->data(), mf->size(), path.string());
    const int idx = static_cast<int>(m_files.size());
    std::set<std::string> present;
    for (auto& t : infos) {
        t.file_index = idx;
        if (m_index.count(t.name)) fail(path.string(), "tensor '" + t.name + "' appears in more than one shard");
        present.insert(t.name);
        m_index[t.name] = m_tensors.size();
        m_tensors.push_back(std::move(t));
    }
    if (expected) {
        for (const auto& n : *expected)
            if (!present.count(n))
                fail(path.string(), "index lists tensor '" + n + "' in this shard but the shard does not hold it");
        const std::set<std::string> listed(expected->begin(), expected->end());
        for (const auto& n : present)
            if (!listed.count(n))
                fail(path.string(), "tensor '" + n + "' is in this shard but model.safetensors.index.json does not list it here");
    }
    m_files.push_back(std::move(mf));
    m_paths.push_back(path);
}

std::shared_ptr<TensorStore> TensorStore::open_file(const fs::path& file) {
    auto store = std::shared_ptr<TensorStore>(new TensorStore());
    store->m_label = file.string();
    store->add_file(file, nullptr);
    return store;
}

std::shared_ptr<TensorStore> TensorStore::open_folder(const fs::path& dir) {
    const fs::path single = dir / "model.safetensors";
    const fs::path index = dir / "model.safetensors.index.json";
    auto store = std::shared_ptr<TensorStore>(new TensorStore());
    store->m_label = dir.string();
    std::string index_text;
    if (read_input_file_if_present(index, kMaxJsonBytes, index_text)) {
        json j;
        try {
            j = json::parse(index_text);
        } catch (const json::exception& e) {
            fail(index.string(), std::string("not valid JSON: ") + e.what());
        }
        if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
            fail(index.string(), "missing object 'weight_map'");
        std::map<std::string, std::vector<std::string>> by_shard;
        for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
            if (!it->is_string()) fail(index.string(), "weight_map entry '" + it.key() + "' is not a file name");
            const std::string shard = it->get<std::string>();
            if (shard.find('/') != std::string::npos || shard.find("..") != std::string::npos)
                fail(index.string(), "weight_map entry '" + it.key() + "' points outside the folder: " + shard);
            by_shard[shard].push_back(it.key());
        }
        if (by_shard.empty()) fail(index.string(), "weight_map is empty");
        for (const auto& [shard, names] : by_shard) {
            std::error_code ec;
            if (!fs::exists(fs::symlink_status(dir / shard, ec)))
                fail((dir / shard).string(), "shard listed in model.safetensors.index.json is missing");
            store->add_file(dir / shard, &names);
        }
    } else if (std::error_code ec; fs::exists(fs::symlink_status(single, ec))) {
        store->add_file(single, nullptr);
    } else {
        fail(dir.string(), "no model.safetensors or model.safetensors.index.json in the folder");
    }
    return store;
}

const TensorInfo& TensorStore::info(const std::string& name) const {
    auto it = m_index.find(name);
    if (it == m_index.end()) fail(m_label, "tensor '" + name + "' not found");
    return m_tensors[it->second];
}

std::vector<std::string> TensorStore::names() const {
    std::vector<std::string> out;
    out.reserve(m_tensors.size());
    for (const auto& t : m_tensors) out.push_back(t.name);
    return out;
}

uint64_t TensorStore::total_bytes() const {
    uint64_t n = 0;
    for (const auto& t : m_tensors) n += t.nbytes;
    return n;
}

const uint8_t* TensorStore::raw(const TensorInfo& t) const { return m_files[t.file_index]->data() + t.offset; }

void TensorStore::check_finite(const TensorInfo& t, int64_t first_elem, const float* v, size_t n) const {
    // Branch-free scan (vectorizes): one pass over what was just converted, so the check streams with the reads.
    bool bad = false;
    for (size_t i = 0; i < n; ++i) bad |= !std::isfinite(v[i]);
    if (!bad) return;
    size_t i = 0;
    while (std::isfinite(v[i])) ++i;
    const int64_t at = first_elem + static_cast<int64_t>(i), re = std::max<int64_t>(t.row_elems(), 1);
    std::string where = t.shape.size() >= 2 ? "[" + std::to_string(at / re) + ", " + std::to_string(at % re) + "]"
                                            : "[" + std::to_string(at) + "]";
    fail(m_paths[static_cast<size_t>(t.file_index)].string(),
         "tensor '" + t.name + "' holds a non-finite weight (" + (std::isnan(v[i]) ? "NaN" : v[i] > 0 ? "+Inf" : "-Inf") +
             ") at " + where + "; a model with NaN or Inf weights cannot be scored, evaluated or exported");
}

const uint8_t* TensorStore::raw_checked(const std::string& name) const {
    const TensorInfo& t = info(name);
    const uint8_t* p = raw(t);
    if (t.dtype == DType::F32) {
        check_finite(t, 0, reinterpret_cast<const float*>(p), static_cast<size_t>(t.numel()));
        return p;
    }
    const uint16_t exp_mask = t.dtype == DType::BF16 ? 0x7F80 : 0x7C00;  // exponent all ones: Inf or NaN
    const size_t n = static_cast<size_t>(t.numel());
    bool bad = false;
    for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);  // headers need not align tensors to 2 bytes
        bad |= (h & exp_mask) == exp_mask;
    }
    if (!bad) return p;
    for (size_t i = 0; i < n; ++i) {
        float v;
        convert_to_f32(t.dtype, p + 2 * i, &v, 1);
        check_finite(t, static_cast<int64_t>(i), &v, 1);
    }
    return p;
}

std::vector<float> TensorStore::read_f32(const std::string& name) const {
    const TensorInfo& t = info(name);
    std::vector<float> out(static_cast<size_t>(t.numel()));
    convert_to_f32(t.dtype, raw(t), out.data(), out.size());
    check_finite(t, 0, out.data(), out.size());
    return out;
}

void TensorStore::read_rows_f32(const std::string& name, int64_t row0, int64_t nrows, float* out) const {
    const TensorInfo& t = info(name);
    if (row0 < 0 || nrows < 0 || row0 + nrows > t.rows())
        fail(m_label, "rows [" + std::to_string(row0) + ", " + std::to_string(row0 + nrows) + ") outside tensor '" +
                          name + "'");
    const int64_t re = t.row_elems();
    convert_to_f32(t.dtype, raw(t) + static_cast<size_t>(row0 * re) * dtype_size(t.dtype), out,
                   static_cast<size_t>(nrows * re));
    check_finite(t, row0 * re, out, static_cast<size_t>(nrows * re));
}

void TensorStore::release(const std::string& name) const {
    const TensorInfo& t = info(name);
    m_files[t.file_index]->release(t.offset, t.nbytes);
}

void write_safetensors(const fs::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    json header = json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    uint64_t offset = 0;
    for (const auto& t : tensors) {
        uint64_t numel = 1;
        for (auto d : t.shape) numel *= static_cast<uint64_t>(d);
        if (numel * dtype_size(t.dtype) != t.bytes.size())
            fail(path.string(), "tensor '" + t.name + "' bytes do not match its shape");
        header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
        offset += t.bytes.size();
    }
    std::string h = header.dump();
    while ((8 + h.size()) % 8 != 0) h.push_back(' ');
    AtomicFileWriter w(path);
    const uint64_t hlen = h.size();
    w.write(&hlen, 8);
    w.write(h.data(), h.size());
    for (const auto& t : tensors) w.write(t.bytes.data(), t.bytes.size());
    w.commit();
}

}  // namespace mixq::io

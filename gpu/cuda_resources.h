// SPDX-License-Identifier: MIT
// Device management for the CUDA backend: error checks that throw mixq::Error, the "CUDA unavailable" probe with its
// single log line, and RAII owners of device buffers, pinned host buffers, streams and events.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace mixq::gpu {

/// Throws mixq::Error "<where>: CUDA error <name> (<description>)" when err != cudaSuccess.
void check_cuda(cudaError_t err, const std::string& where);
/// Checks cudaGetLastError() after kernel launches (clears a sticky launch error first seen here).
void check_last(const std::string& where);

/// True when at least one CUDA device can be used. Otherwise false, `why` gets "CUDA unavailable: <reason>" and,
/// when `log` is set, that line is printed to stderr once per process (callers then take the CPU path).
bool cuda_available(std::string* why = nullptr, bool log = true);

/// Makes `device` current for the guard's lifetime and restores the previous device afterwards (also when the code
/// inside switched devices itself).
class DeviceGuard {
public:
    explicit DeviceGuard(int device);
    ~DeviceGuard();
    DeviceGuard(const DeviceGuard&) = delete;
    DeviceGuard& operator=(const DeviceGuard&) = delete;

private:
    int m_prev = 0;
    bool m_switched = false;
};

/// A non-blocking stream on the device that is current at construction.
class Stream {
public:
    Stream();
    ~Stream();
    Stream(Stream&& o) noexcept : m_s(o.m_s) { o.m_s = nullptr; }
    Stream& operator=(Stream&& o) noexcept;
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;
    cudaStream_t get() const { return m_s; }
    void synchronize() const;

private:
    cudaStream_t m_s = nullptr;
};

/// An event on the current device; `timing` enables cudaEventElapsedTime.
class Event {
public:
    explicit Event(bool timing = false);
    ~Event();
    Event(Event&& o) noexcept : m_e(o.m_e) { o.m_e = nullptr; }
    Event& operator=(Event&& o) noexcept;
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;
    cudaEvent_t get() const { return m_e; }
    void record(cudaStream_t s) const;
    void synchronize() const;
    /// Milliseconds between `start` and this event (both recorded and completed).
    float elapsed_ms_since(const Event& start) const;

private:
    cudaEvent_t m_e = nullptr;
};

/// Device memory owned by value (cudaMalloc on the device current at allocation, cudaFree on destruction).
class DeviceBuffer {
public:
    DeviceBuffer() = default;
    explicit DeviceBuffer(size_t bytes) { allocate(bytes); }
    ~DeviceBuffer() { release(); }
    DeviceBuffer(DeviceBuffer&& o) noexcept;
    DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;

    /// Frees the old block and allocates `bytes` (0 leaves the buffer empty). Throws mixq::Error when out of memory.
    void allocate(size_t bytes);
    void release();
    void* data() const { return m_ptr; }
    template <class T>
    T* as() const { return static_cast<T*>(m_ptr); }
    size_t bytes() const { return m_bytes; }
    int device() const { return m_device; }
    bool empty() const { return m_ptr == nullptr; }

    /// Synchronous copies on the legacy default stream; throw mixq::Error. download() does not wait for work on
    /// non-blocking streams: synchronize them first.
    void upload(const void* host, size_t bytes, size_t offset = 0);
    void download(void* host, size_t bytes, size_t offset = 0) const;
    /// Fills the buffer with zero bytes and waits until that is done.
    void zero();

private:
    void* m_ptr = nullptr;
    size_t m_bytes = 0;
    int m_device = 0;
};

/// Page-locked host memory (cudaHostAlloc, portable to every device), for asynchronous copies that overlap compute.
class PinnedBuffer {
public:
    PinnedBuffer() = default;
    explicit PinnedBuffer(size_t bytes) { allocate(bytes); }
    ~PinnedBuffer() { release(); }
    PinnedBuffer(PinnedBuffer&& o) noexcept;
    PinnedBuffer& operator=(PinnedBuffer&& o) noexcept;
    PinnedBuffer(const PinnedBuffer&) = delete;
    PinnedBuffer& operator=(const PinnedBuffer&) = delete;

    void allocate(size_t bytes);
    void release();
    void* data() const { return m_ptr; }
    template <class T>
    T* as() const { return static_cast<T*>(m_ptr); }
    size_t bytes() const { return m_bytes; }

private:
    void* m_ptr = nullptr;
    size_t m_bytes = 0;
};

}  // namespace mixq::gpu

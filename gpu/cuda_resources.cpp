// SPDX-License-Identifier: MIT
// Error checks, the availability probe and the RAII resource owners declared in cuda_resources.h.
#include "gpu/cuda_resources.h"

#include <atomic>
#include <cstdio>
#include <utility>

#include "core/common/error.h"
#include "gpu/device_info.h"

namespace mixq::gpu {

void check_cuda(cudaError_t err, const std::string& where) {
    if (err == cudaSuccess) return;
    cudaGetLastError();  // clear a non-sticky error so later calls start clean
    fail(where, std::string("CUDA error ") + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

void check_last(const std::string& where) { check_cuda(cudaGetLastError(), where); }

bool cuda_available(std::string* why, bool log) {
    static std::atomic<bool> logged{false};
    std::string reason;
    const auto devices = list_devices(&reason);
    if (!devices.empty()) return true;
    if (reason.rfind("CUDA unavailable", 0) != 0) reason = "CUDA unavailable: " + reason;
    if (why) *why = reason;
    if (log && !logged.exchange(true)) std::fprintf(stderr, "%s; using the CPU path\n", reason.c_str());
    return false;
}

DeviceGuard::DeviceGuard(int device) {
    check_cuda(cudaGetDevice(&m_prev), "cudaGetDevice");
    if (m_prev != device) {
        check_cuda(cudaSetDevice(device), "cudaSetDevice(" + std::to_string(device) + ")");
        m_switched = true;
    }
}

DeviceGuard::~DeviceGuard() {
    int cur = m_prev;
    // also when code inside the scope switched devices itself (the scorer's per-part work)
    if (m_switched || (cudaGetDevice(&cur) == cudaSuccess && cur != m_prev)) cudaSetDevice(m_prev);
}

Stream::Stream() { check_cuda(cudaStreamCreateWithFlags(&m_s, cudaStreamNonBlocking), "cudaStreamCreate"); }
Stream::~Stream() {
    if (m_s) cudaStreamDestroy(m_s);
}
Stream& Stream::operator=(Stream&& o) noexcept {
    if (this != &o) {
        if (m_s) cudaStreamDestroy(m_s);
        m_s = std::exchange(o.m_s, nullptr);
    }
    return *this;
}
void Stream::synchronize() const { check_cuda(cudaStreamSynchronize(m_s), "cudaStreamSynchronize"); }

Event::Event(bool timing) {
    check_cuda(cudaEventCreateWithFlags(&m_e, timing ? cudaEventDefault : cudaEventDisableTiming), "cudaEventCreate");
}
Event::~Event() {
    if (m_e) cudaEventDestroy(m_e);
}
Event& Event::operator=(Event&& o) noexcept {
    if (this != &o) {
        if (m_e) cudaEventDestroy(m_e);
        m_e = std::exchange(o.m_e, nullptr);
    }
    return *this;
}
void Event::record(cudaStream_t s) const { check_cuda(cudaEventRecord(m_e, s), "cudaEventRecord"); }
void Event::synchronize() const { check_cuda(cudaEventSynchronize(m_e), "cudaEventSynchronize"); }
float Event::elapsed_ms_since(const Event& start) const {
    float ms = 0.0f;
    check_cuda(cudaEventElapsedTime(&ms, start.m_e, m_e), "cudaEventElapsedTime");
    return ms;
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& o) noexcept
    : m_ptr(std::exchange(o.m_ptr, nullptr)), m_bytes(std::exchange(o.m_bytes, 0)), m_device(o.m_device) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
        release();
        m_ptr = std::exchange(o.m_ptr, nullptr);
        m_bytes = std::exchange(o.m_bytes, 0);
        m_device = o.m_device;
    }
    return *this;
}

void DeviceBuffer::allocate(size_t bytes) {
    release();
    if (bytes == 0) return;
    check_cuda(cudaGetDevice(&m_device), "cudaGetDevice");
    const cudaError_t err = cudaMalloc(&m_ptr, bytes);
    if (err != cudaSuccess) {
        m_ptr = nullptr;
        cudaGetLastError();
        fail("cuda:" + std::to_string(m_device), "cannot allocate " + std::to_string(bytes >> 20) + " MiB of device memory (" +
                                                   cudaGetErrorString(err) + ")");
    }
    m_bytes = bytes;
}

void DeviceBuffer::release() {
    if (m_ptr) {
        int cur = 0;
        const bool ok = cudaGetDevice(&cur) == cudaSuccess;
        if (ok && cur != m_device) cudaSetDevice(m_device);
        cudaFree(m_ptr);
        if (ok && cur != m_device) cudaSetDevice(cur);
    }
    m_ptr = nullptr;
    m_bytes = 0;
}

void DeviceBuffer::upload(const void* host, size_t bytes, size_t offset) {
    if (offset + bytes > m_bytes) fail("DeviceBuffer", "upload past the end of the buffer");
    check_cuda(cudaMemcpy(static_cast<char*>(m_ptr) + offset, host, bytes, cudaMemcpyHostToDevice), "upload");
}

void DeviceBuffer::download(void* host, size_t bytes, size_t offset) const {
    if (offset + bytes > m_bytes) fail("DeviceBuffer", "download past the end of the buffer");
    check_cuda(cudaMemcpy(host, static_cast<const char*>(m_ptr) + offset, bytes, cudaMemcpyDeviceToHost), "download");
}

void DeviceBuffer::zero() {
    if (!m_ptr) return;
    check_cuda(cudaMemset(m_ptr, 0, m_bytes), "cudaMemset");
    check_cuda(cudaStreamSynchronize(nullptr), "cudaMemset");  // done before work on non-blocking streams reads it
}

PinnedBuffer::PinnedBuffer(PinnedBuffer&& o) noexcept
    : m_ptr(std::exchange(o.m_ptr, nullptr)), m_bytes(std::exchange(o.m_bytes, 0)) {}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& o) noexcept {
    if (this != &o) {
        release();
        m_ptr = std::exchange(o.m_ptr, nullptr);
        m_bytes = std::exchange(o.m_bytes, 0);
    }
    return *this;
}

void PinnedBuffer::allocate(size_t bytes) {
    release();
    if (bytes == 0) return;
    // portable: pinned for every device's context (the multi_gpu scorer's host cache feeds several devices)
    const cudaError_t err = cudaHostAlloc(&m_ptr, bytes, cudaHostAllocPortable);
    if (err != cudaSuccess) {
        m_ptr = nullptr;
        cudaGetLastError();
        fail("pinned host memory", "cannot allocate " + std::to_string(bytes >> 20) + " MiB (" +
                                       cudaGetErrorString(err) + ")");
    }
    m_bytes = bytes;
}

void PinnedBuffer::release() {
    if (m_ptr) cudaFreeHost(m_ptr);
    m_ptr = nullptr;
    m_bytes = 0;
}

}  // namespace mixq::gpu

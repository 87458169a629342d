// SPDX-License-Identifier: MIT
// mixq::Error: the one exception type core/ throws for bad input and failed I/O. Its message is a single line
// that names the file (or object) and the problem, e.g. "model.safetensors: header length 2^60 exceeds file size".
#pragma once
#include <stdexcept>
#include <string>

namespace mixq {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

/// Thrown by long jobs when their CancelToken was set; never reported as a failure.
class Cancelled : public std::runtime_error {
public:
    Cancelled() : std::runtime_error("cancelled") {}
};

/// Builds "<where>: <what>" and throws mixq::Error.
[[noreturn]] inline void fail(const std::string& where, const std::string& what) {
    throw Error(where.empty() ? what : where + ": " + what);
}

}  // namespace mixq

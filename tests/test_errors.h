// SPDX-License-Identifier: MIT
// error_of: the message of the mixq::Error a callable throws, for tests that check one-line error messages.
// (Kept out of test_support.h: the CLI tests name their process runner `mixq`, which the namespace would shadow.)
#pragma once
#include <string>

#include "core/common/error.h"

namespace mixq_test {

/// The message of the mixq::Error that `f` throws, or "" when it throws none (other exceptions propagate and fail
/// the test).
template <class F>
std::string error_of(F f) {
    try {
        f();
    } catch (const mixq::Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace mixq_test

// SPDX-License-Identifier: MIT
// The CLI's command table: each cmd_*.cpp registers one subcommand (name, usage, run function) at static-init
// time; main.cpp dispatches. Also the small argument parser and output helpers every command uses.
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/common/error.h"

namespace mixq::cli {

/// A wrong command line (missing, unknown or malformed option): main() prints it like any error and exits 2.
class UsageError : public mixq::Error {
public:
    using mixq::Error::Error;
};
/// Throws UsageError "<what>" (the option is named in the text).
[[noreturn]] inline void usage_fail(const std::string& what) { throw UsageError(what); }

/// Parsed "--flag value", "--flag=value", "--switch" and positional arguments.
class Args {
public:
    Args(std::vector<std::string> argv, std::vector<std::string> switches);
    const std::vector<std::string>& positional() const { return m_positional; }
    std::string positional_at(size_t i, const std::string& what) const;  ///< throws "missing WHAT"
    bool has(const std::string& flag) const;
    std::optional<std::string> get(const std::string& flag) const;
    std::vector<std::string> get_all(const std::string& flag) const;  ///< repeated flags
    std::string get_or(const std::string& flag, const std::string& dflt) const;
    /// An integer option in [lo, hi]; anything else (junk, 4294967424 for an int, 1e30) is a UsageError naming
    /// the option and the range, never a wrapped or clamped value.
    long long get_int(const std::string& flag, long long dflt, long long lo, long long hi) const;
    double get_double(const std::string& flag, double dflt) const;
    /// Throws when a flag outside `allowed` was given (catches typos).
    void allow_only(const std::vector<std::string>& allowed) const;

private:
    std::vector<std::string> m_positional;
    std::multimap<std::string, std::string> m_flags;
};

struct Command {
    std::string name;
    std::string usage;    ///< one line: "mixq info MODEL [--json]"
    std::string summary;  ///< what it does
    std::vector<std::string> switches;  ///< flags that take no value
    std::function<int(const Args&)> run;
};

std::map<std::string, Command>& command_table();

struct CommandRegistrar {
    explicit CommandRegistrar(Command c) { command_table()[c.name] = std::move(c); }
};

/// Checks, before any work, that an output file can be created: its folder exists, is a folder and is writable,
/// and the path is not a folder itself. Throws mixq::Error naming the culprit path.
void check_output_file(const std::string& path);
/// Parses "1,2,3" into ids; throws mixq::Error on junk.
std::vector<int> parse_id_list(const std::string& s);
/// Refuses (exit 1) an --ids value outside the model's vocabulary, naming the option rather than the engine.
void check_ids_in_vocab(const std::vector<int>& ids, int vocab_size);
/// Prints a progress line on stderr ("\r[stage] 42.0% item ETA 12s"), throttled; newline when fraction hits 1.
void print_progress(double fraction, const std::string& stage, const std::string& item, double eta);
/// Ends a pending progress line (so an error message starts on its own line).
void end_progress_line();
bool& progress_line_open();

}  // namespace mixq::cli

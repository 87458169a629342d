// SPDX-License-Identifier: MIT
// RFC 4180 CSV parsing: comma-separated fields, CRLF or LF record ends, quoted fields with embedded commas,
// doubled quotes and line breaks. Like Python's csv module, a quote inside an unquoted field is literal and blank
// lines are skipped; an unterminated quoted field or text after a closing quote is an error "<file>:<line>: ...".
#pragma once
#include <string>
#include <vector>

namespace mixq::eval {

struct CsvRecord {
    std::vector<std::string> fields;
    int line = 0;  ///< 1-based line on which the record starts
};

/// Parses `text`; `label` (the file name) prefixes error messages. A leading UTF-8 BOM is ignored.
std::vector<CsvRecord> parse_csv(const std::string& text, const std::string& label);

}  // namespace mixq::eval

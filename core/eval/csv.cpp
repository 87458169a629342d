// SPDX-License-Identifier: MIT
// parse_csv: a single-pass state machine over the bytes of the file.
#include "core/eval/csv.h"

#include "core/common/error.h"

namespace mixq::eval {

std::vector<CsvRecord> parse_csv(const std::string& text, const std::string& label) {
    std::vector<CsvRecord> out;
    size_t i = text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
    const size_t n = text.size();
    int line = 1;
    auto where = [&](int l) { return label + ":" + std::to_string(l); };
    while (i < n) {
        // Blank line: skip.
        if (text[i] == '\n' || (text[i] == '\r' && i + 1 < n && text[i + 1] == '\n')) {
            i += text[i] == '\r' ? 2 : 1;
            ++line;
            continue;
        }
        CsvRecord rec;
        rec.line = line;
        std::string field;
        bool end_of_record = false;
        while (!end_of_record) {
            field.clear();
            if (i < n && text[i] == '"') {
                const int start_line = line;
                ++i;
                bool closed = false;
                while (i < n) {
                    const char c = text[i];
                    if (c == '"') {
                        if (i + 1 < n && text[i + 1] == '"') {
                            field.push_back('"');
                            i += 2;
                            continue;
                        }
                        ++i;
                        closed = true;
                        break;
                    }
                    if (c == '\n') ++line;
                    field.push_back(c);
                    ++i;
                }
                if (!closed) fail(where(start_line), "unterminated quoted field (the file ends inside quotes)");
                if (i < n && text[i] != ',' && text[i] != '\n' && !(text[i] == '\r' && i + 1 < n && text[i + 1] == '\n') &&
                    !(text[i] == '\r' && i + 1 == n))
                    fail(where(line), std::string("unexpected character '") + text[i] + "' after a closing quote");
            } else {
                while (i < n && text[i] != ',' && text[i] != '\n' && !(text[i] == '\r' && (i + 1 == n || text[i + 1] == '\n'))) {
                    field.push_back(text[i]);
                    ++i;
                }
            }
            rec.fields.push_back(field);
            if (i >= n) {
                end_of_record = true;
            } else if (text[i] == ',') {
                ++i;
                if (i >= n) {  // trailing comma at end of file: one more empty field
                    rec.fields.emplace_back();
                    end_of_record = true;
                }
            } else {  // \n or \r\n
                i += text[i] == '\r' ? (i + 1 < n ? 2 : 1) : 1;
                ++line;
                end_of_record = true;
            }
        }
        out.push_back(std::move(rec));
    }
    return out;
}

}  // namespace mixq::eval

// SPDX-License-Identifier: MIT
// `mixq tokenize MODEL --text STR [--json] [--add-special] [--decode 1,2,3] [--skip-special]`: encodes text with
// the model folder's tokenizer.json (ids space-separated, or {"ids":[...]}) and/or decodes a list of ids.
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/cli/cli_command.h"
#include "core/common/error.h"
#include "core/tokenizer/tokenizer.h"

namespace mixq::cli {
namespace {

int run_tokenize(const Args& args) {
    args.allow_only({"--text", "--json", "--decode", "--add-special", "--skip-special"});
    const std::filesystem::path model = args.positional_at(0, "MODEL folder");
    const auto text = args.get("--text");
    const auto decode = args.get("--decode");
    if (!text && !decode) fail("tokenize", "give --text STR to encode or --decode ID,ID,... to decode");
    // from_file accepts the folder (its tokenizer.json) or the file itself.
    auto tok = tok::Tokenizer::from_file(model);

    nlohmann::json j = nlohmann::json::object();
    if (text) {
        const auto ids = tok->encode(*text, args.has("--add-special"));
        if (args.has("--json")) {
            j["ids"] = ids;
        } else {
            for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
            std::cout << "\n";
        }
    }
    if (decode) {
        const auto ids = parse_id_list(*decode);
        const int n = tok->vocab_size();
        for (int id : ids)
            if (id < 0 || id >= n) fail("tokenize", "id " + std::to_string(id) + " is outside the vocabulary (0.." + std::to_string(n - 1) + ")");
        const std::string out = tok->decode(ids, args.has("--skip-special"));
        if (args.has("--json"))
            j["text"] = out;
        else
            std::cout << out << "\n";
    }
    if (args.has("--json")) std::cout << j.dump() << "\n";
    return 0;
}

CommandRegistrar reg({"tokenize", "mixq tokenize MODEL --text STR [--json] [--add-special] [--decode 1,2,3] [--skip-special]",
                      "Encodes text with the model's tokenizer.json (ids space-separated, or {\"ids\":[...]} with --json); "
                      "--add-special adds the post-processor's tokens (e.g. BOS); --decode prints the text of an id list.",
                      {"--json", "--add-special", "--skip-special"}, run_tokenize});

}  // namespace
}  // namespace mixq::cli

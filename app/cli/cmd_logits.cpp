// SPDX-License-Identifier: MIT
// `mixq logits MODEL --ids 1,2,3 --out FILE`: fp32 little-endian logits [tokens, vocab] of the CPU engine.
#include <iostream>

#include "app/cli/cli_command.h"
#include "core/common/error.h"
#include "core/common/atomic_file.h"
#include "core/engine/transformer.h"

namespace mixq::cli {
namespace {

int run_logits(const Args& args) {
    args.allow_only({"--ids", "--out", "--json"});
    auto model = io::Model::open(args.positional_at(0, "MODEL folder"));
    const auto ids = parse_id_list(args.get_or("--ids", ""));
    const auto out = args.get("--out");
    if (!out) fail("", "missing --out FILE");
    engine::Transformer tf(model);
    const engine::RowMatrix logits = tf.forward(ids);
    write_file_atomic(*out, std::string(reinterpret_cast<const char*>(logits.data()), logits.size() * sizeof(float)));
    if (args.has("--json"))
        std::cout << "{\"out\":\"" << *out << "\",\"shape\":[" << logits.rows() << "," << logits.cols() << "]}\n";
    else
        std::cout << "wrote " << *out << " [" << logits.rows() << ", " << logits.cols() << "] fp32\n";
    return 0;
}

CommandRegistrar reg({"logits", "mixq logits MODEL --ids 1,2,3 --out FILE [--json]",
                      "Writes the logits of a token sequence as fp32 little-endian [tokens, vocab].", {"--json"},
                      run_logits});

}  // namespace
}  // namespace mixq::cli

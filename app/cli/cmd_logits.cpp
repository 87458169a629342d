// SPDX-License-Identifier: MIT
// `mixq logits MODEL --ids 1,2,3 --out FILE [--plan plan.json]`: fp32 little-endian logits [tokens, vocab] of the
// CPU engine, optionally with a plan's fake-quant weights (what the exported ONNX model computes).
#include <iostream>

#include "app/cli/cli_command.h"
#include "core/common/error.h"
#include "core/common/atomic_file.h"
#include "core/engine/transformer.h"
#include "core/plan/plan_json.h"
#include "core/plan/plan_weights.h"

namespace mixq::cli {
namespace {

int run_logits(const Args& args) {
    args.allow_only({"--ids", "--out", "--plan", "--json"});
    auto model = io::Model::open(args.positional_at(0, "MODEL folder"));
    const auto ids = parse_id_list(args.get_or("--ids", ""));
    check_ids_in_vocab(ids, model->config().vocab_size);
    const auto out = args.get("--out");
    if (!out) usage_fail("missing --out FILE");
    check_output_file(*out);
    // With --plan: the plan's fake-quant weights, in the rotation its scores were computed with.
    const auto plan_file = args.get("--plan");
    const plan::Plan plan = plan_file ? plan::load_plan(*plan_file) : plan::Plan{};
    engine::Transformer tf = plan::plan_engine(model, plan, plan_file ? *plan_file : "plan");
    if (plan_file) plan::apply_plan_fake_quant(tf, *model, plan, 0, *plan_file);
    const engine::RowMatrix logits = tf.forward(ids);
    for (Eigen::Index t = 0; t < logits.rows(); ++t)
        if (!logits.row(t).allFinite())
            fail(model->dir().string(), "the logits of token " + std::to_string(t) + " (id " + std::to_string(ids[size_t(t)]) +
                                            ") hold NaN or Inf: the model's weights or activations overflow; nothing written");
    write_file_atomic(*out, std::string(reinterpret_cast<const char*>(logits.data()), logits.size() * sizeof(float)));
    if (args.has("--json"))
        std::cout << "{\"out\":\"" << *out << "\",\"shape\":[" << logits.rows() << "," << logits.cols() << "]}\n";
    else
        std::cout << "wrote " << *out << " [" << logits.rows() << ", " << logits.cols() << "] fp32\n";
    return 0;
}

CommandRegistrar reg({"logits", "mixq logits MODEL --ids 1,2,3 --out FILE [--plan plan.json] [--json]",
                      "Writes the logits of a token sequence as fp32 little-endian [tokens, vocab]; --plan uses the plan's "
                      "fake-quant weights.", {"--json"},
                      run_logits});

}  // namespace
}  // namespace mixq::cli

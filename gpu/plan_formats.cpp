// SPDX-License-Identifier: MIT
// apply_plan_formats: plan units → CudaDecoderOptions::layer_formats / lm_head_format.
#include "gpu/plan_formats.h"

#include "core/common/error.h"

namespace mixq::gpu {

void apply_plan_formats(const plan::Plan& plan, int num_layers, CudaDecoderOptions& opt) {
    opt.layer_formats.assign(static_cast<size_t>(num_layers), LayerFormats{});
    opt.lm_head_format.reset();
    for (const auto& u : plan.units) {
        const std::optional<quant::QuantFormat> f =
            u.format.is_float() ? std::nullopt : std::optional<quant::QuantFormat>(u.format);
        if (u.kind == io::UnitKind::LmHead || u.kind == io::UnitKind::TiedEmbedding) {
            opt.lm_head_format = f;
            continue;
        }
        if (u.kind == io::UnitKind::Embedding) continue;
        if (u.layer < 0 || u.layer >= num_layers)
            fail("plan", "unit " + u.name + " names layer " + std::to_string(u.layer) + " of a " +
                             std::to_string(num_layers) + "-layer model");
        LayerFormats& lf = opt.layer_formats[static_cast<size_t>(u.layer)];
        switch (u.kind) {
            case io::UnitKind::QKV: lf.qkv = f; break;
            case io::UnitKind::O: lf.o = f; break;
            case io::UnitKind::GateUp: lf.gate_up = f; break;
            case io::UnitKind::Down: lf.down = f; break;
            default: break;
        }
    }
}

}  // namespace mixq::gpu

// SPDX-License-Identifier: MIT
// Device choice for evaluation: the CPU engine (always there) or an accelerator LanguageModel that an executable
// installs at start (the CUDA decoder from gpu/, when built), so core/ never depends on gpu/. Export folders are
// always run by the built-in ONNX runner on the CPU; the choice applies to model folders (targets and baselines).
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "core/engine/language_model.h"
#include "core/eval/speed_bench.h"
#include "core/io/model.h"
#include "core/plan/plan.h"

namespace mixq::eval {

struct AcceleratorModelBackend {
    std::string name;  ///< "cuda"
    /// True when a device can be used; otherwise false with the reason ("CUDA unavailable: no CUDA driver").
    std::function<bool(std::string* why)> available;
    /// The model on the device; `log` receives one line per event (placement, memory mode).
    std::function<std::unique_ptr<engine::LanguageModel>(std::shared_ptr<const io::Model>,
                                                 const std::function<void(const std::string&)>& log)>
        open;
    /// Short description of the device it runs on, e.g. "cuda:0 (NVIDIA H200)".
    std::function<std::string()> device_name;
    /// A decoder for the speed task, as deployed: BF16 activations, weights dense BF16 (plan null) or quantized
    /// per `plan` (an export's mixq_plan.json applied to its source model) on the device's quantized kernels.
    std::function<DecoderSession(std::shared_ptr<const io::Model>, const plan::Plan* plan, int capacity,
                                 const std::function<void(const std::string&)>& log)>
        speed_session;
};

/// Installs (or, with an empty name, removes) the accelerator backend. Call before any evaluation starts.
void install_accelerator_model(AcceleratorModelBackend backend);

/// Where model folders run: "cpu" or the accelerator's name. `device` is auto | cpu | cuda; "cuda" fails with a
/// one-line reason when no backend is built or usable, "auto" falls back to "cpu" and, when a backend is installed
/// but cannot be used, puts the reason in *note.
std::string resolve_eval_device(const std::string& device, std::string* note);

/// Opens `model` on the installed accelerator (resolve_eval_device returned its name first).
std::unique_ptr<engine::LanguageModel> open_on_accelerator(std::shared_ptr<const io::Model> model,
                                                   const std::function<void(const std::string&)>& log);
/// The accelerator's device description ("" when none).
std::string accelerator_device_name();
/// True when the installed accelerator can time decoders (speed_session).
bool accelerator_has_speed_session();
/// The accelerator's speed-task decoder (see AcceleratorModelBackend::speed_session).
DecoderSession accelerator_speed_session(std::shared_ptr<const io::Model> model, const plan::Plan* plan, int capacity,
                                         const std::function<void(const std::string&)>& log);

}  // namespace mixq::eval

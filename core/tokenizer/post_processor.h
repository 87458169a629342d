// SPDX-License-Identifier: MIT
// Post-processors of tokenizer.json ("post_processor") for a single sequence with add_special_tokens:
// TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel (adds nothing) and Sequence.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/tokenizer/json_fields.h"

namespace mixq::tok {

class PostProcessor {
public:
    virtual ~PostProcessor() = default;
    /// Adds the special tokens around one encoded sequence.
    virtual void process(std::vector<int>& ids) const = 0;
};

/// Builds the post-processor described by `j`; nullptr for JSON null. Unknown types throw mixq::Error.
std::unique_ptr<PostProcessor> make_post_processor(const nlohmann::json& j, const JsonWhere& w);

}  // namespace mixq::tok

// Which tokenizer files travel with an exported model: an HF directory's own tokenizer files,
// or, for Retort weights trained on token shards, the tokenizer those shards were made with
// (recorded as retort.tokenizer + retort.tokenizer_hash, and checked against that hash).
#pragma once
#include <string>

#include "core/lm/hf_export.h"

namespace retort::core {

struct TokenizerForExport {
  TokenizerExport write;  // empty when nothing can be exported
  std::string note;       // what is exported, or why nothing is
};

// For `source` as `retort export hf` takes it.
TokenizerForExport tokenizer_for_export(const std::string& source);

}  // namespace retort::core

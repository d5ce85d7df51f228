// The tokenizer a model carries: an HF directory's tokenizer files or a GGUF's tokenizer, or, for
// Retort weights trained on token shards, the tokenizer those shards were made with (recorded as
// retort.tokenizer + retort.tokenizer_hash). Used to guard training data and to export.
#pragma once
#include <string>

#include "core/lm/hf_export.h"

namespace retort::core {

struct TokenizerForExport {
  TokenizerExport write;  // empty when nothing can be exported
  std::string note;       // what is exported, or why nothing is
};

// The content hash (16 hex digits) of the tokenizer `lm`, imported from `source`, carries or
// records; empty when it says nothing about its tokenizer.
std::string model_tokenizer_hash(const std::string& source, const ImportedLm& lm);

// For `source` as `retort export hf` takes it, already imported as `lm`.
TokenizerForExport tokenizer_for_export(const std::string& source, const ImportedLm& lm);

}  // namespace retort::core

// A GGUF's tokenizer.ggml.* metadata (model "gpt2": byte-level BPE) as a ByteBpeSpec: tokens,
// merges, token types (control and user-defined tokens are specials), BOS/EOS, and the
// tokenizer.ggml.pre name mapped to the split regexes llama.cpp uses for it.
#pragma once
#include <string>
#include <vector>

#include "core/checkpoint/gguf.h"
#include "core/text/byte_bpe_tokenizer.h"

namespace retort::core {

// The pre-tokenizer steps of a tokenizer.ggml.pre name ("gpt2", "smollm", "llama-bpe",
// "qwen2", and the names llama.cpp treats as those); input error naming `what` and the name
// for any other.
std::vector<PreTokenizeStep> gguf_pre_tokenizer(const std::string& pre, const std::string& what);

ByteBpeSpec read_gguf_tokenizer(const GgufFile& file);

}  // namespace retort::core

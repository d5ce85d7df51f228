// Reads a Hugging Face tokenizer.json with a byte-level BPE model into a ByteBpeSpec; every
// feature outside what ByteBpeTokenizer implements exactly is refused with an input error.
#pragma once
#include <string>

#include "core/text/byte_bpe_tokenizer.h"

namespace retort::core {

// BOS/EOS come from tokenizer_config.json next to the file (bos_token, eos_token) when it
// exists, else from well-known special token names (<|endoftext|>, <|end_of_text|>, </s>, ...).
ByteBpeSpec read_hf_tokenizer_json(const std::string& path);

}  // namespace retort::core

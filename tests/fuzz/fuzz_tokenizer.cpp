// libFuzzer target: the tokenizer readers through open_tokenizer. The first input byte picks the
// form the rest is written as: tokenizer.json (byte-level BPE), a SentencePiece .model, or a
// .gguf carrying tokenizer.ggml.*; an accepted tokenizer then encodes and decodes a fixed text.
#include <string>

#include "core/text/tokenizer.h"
#include "tests/fuzz/fuzz_util.h"

namespace {
volatile size_t g_sink;
constexpr const char* kText = "Hello, world! Retort distils 1234 models.\n\tÜnïcode: 日本語 😀 <|endoftext|>";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* const kNames[] = {"tokenizer.json", "fuzz.model", "fuzz.gguf"};
  const std::string path = retort::fuzz::write_input(kNames[data[0] % 3], data + 1, size - 1);
  retort::fuzz::expect_clean_errors("fuzz_tokenizer", [&] {
    const auto tokenizer = retort::core::open_tokenizer(path);
    const auto ids = tokenizer->encode(kText);
    for (int32_t id : ids)
      if (id < 0 || id >= tokenizer->vocab_size()) std::abort();  // encode made an id outside the vocabulary
    g_sink = tokenizer->decode(ids).size() + tokenizer->special_tokens().size();
  });
  return 0;
}

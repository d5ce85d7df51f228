// Text generation with a LlamaModel (batch 1): the prompt fills the KV cache in one decode
// call, then one token at a time is chosen (TokenSampler) and decoded until a stop id, the
// token limit, or prompt + new tokens reaching the model's max_seq_len.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "core/lm/llama_model.h"
#include "core/text/sampling.h"

namespace retort::core {

struct GenerateOptions {
  int64_t max_new_tokens = 128;
  SamplingOptions sampling;
  std::vector<int32_t> stop_ids;  // generation ends before emitting one of these
};

// The new tokens (the stop token excluded); on_token sees each as it is chosen. Input error for
// an empty prompt, a prompt id outside the vocabulary, or a prompt as long as max_seq_len.
std::vector<int32_t> generate(LlamaModel& model, std::span<const int32_t> prompt, const GenerateOptions& options,
                              const std::function<void(int32_t)>& on_token = {});

}  // namespace retort::core

// The decode loop of generation.
#include "core/text/generate.h"

#include <algorithm>
#include <string>

#include "core/base/error.h"

namespace retort::core {

std::vector<int32_t> generate(LlamaModel& model, std::span<const int32_t> prompt, const GenerateOptions& options,
                              const std::function<void(int32_t)>& on_token) {
  const LlamaConfig& c = model.config();
  if (prompt.empty()) RETORT_INPUT_ERROR("generate: the prompt has no tokens");
  for (const int32_t id : prompt)
    if (id < 0 || id >= c.vocab_size)
      RETORT_INPUT_ERROR("generate: prompt token " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(c.vocab_size));
  const auto n = static_cast<int64_t>(prompt.size());
  if (n >= c.max_seq_len)
    RETORT_INPUT_ERROR("generate: the prompt's " + std::to_string(n) + " tokens leave no room in max_seq_len " + std::to_string(c.max_seq_len));
  TokenSampler sampler(options.sampling);
  // The whole sequence (prompt + new tokens) stays within max_seq_len.
  const int64_t limit = std::min(options.max_new_tokens, c.max_seq_len - n);
  KvCache cache(c, model.compute_ptr(), n + std::max<int64_t>(limit, 1));
  std::vector<float> logits(static_cast<size_t>(c.vocab_size));
  model.decode(prompt.data(), n, cache, logits.data());
  std::vector<int32_t> out;
  while (static_cast<int64_t>(out.size()) < limit) {
    const int32_t id = sampler.next(logits);
    if (std::find(options.stop_ids.begin(), options.stop_ids.end(), id) != options.stop_ids.end()) break;
    out.push_back(id);
    if (on_token) on_token(id);
    if (static_cast<int64_t>(out.size()) == limit) break;
    model.decode(&id, 1, cache, logits.data());
  }
  return out;
}

}  // namespace retort::core

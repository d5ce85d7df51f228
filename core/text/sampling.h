// Next-token choice from logits: greedy (argmax, lowest id on ties) or sampling with
// temperature, top-k and top-p (nucleus) from a seeded generator, deterministic per seed.
#pragma once
#include <cstdint>
#include <random>
#include <span>

namespace retort::core {

struct SamplingOptions {
  bool greedy = false;       // argmax; also when temperature == 0
  double temperature = 1.0;  // > 0 samples from softmax(logits / temperature)
  int64_t top_k = 0;         // > 0: only the k most likely tokens
  double top_p = 1.0;        // < 1: only the smallest set of most likely tokens reaching this mass
  uint64_t seed = 0;
};

class TokenSampler {
 public:
  // Input error for temperature < 0, top_k < 0 or top_p outside (0, 1].
  explicit TokenSampler(const SamplingOptions& options);
  int32_t next(std::span<const float> logits);

 private:
  SamplingOptions options_;
  std::mt19937_64 rng_;
};

}  // namespace retort::core

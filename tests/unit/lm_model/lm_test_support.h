// Shared helpers of the lm_model tests: tiny Llama shapes, random weights by HF name (the same
// values for the model and the float64 reference), and one training step through the model.
#pragma once
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/lm/llama_model.h"
#include "core/lm/lm_head_loss.h"
#include "tests/support/numeric.h"
#include "tests/unit/lm_model/reference_llama.h"

namespace retort::test {

inline core::LlamaConfig tiny_config(bool tied, int64_t n_kv_heads, bool qkv_bias) {
  core::LlamaConfig c;
  c.vocab_size = 13;
  c.dim = 16;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = n_kv_heads;
  c.ffn_dim = 24;
  c.max_seq_len = 16;
  c.rope_theta = 10000.0;
  c.norm_eps = 1e-5;
  c.tie_embeddings = tied;
  c.qkv_bias = qkv_bias;
  return c;
}

// Random weights for every tensor of the model's layout: norm gains 1 + N(0, 0.1), biases
// N(0, 0.1), other weights N(0, 0.5) (large enough that attention is far from uniform).
inline std::map<std::string, std::vector<float>> random_weights(const core::LlamaModel& m, uint32_t seed) {
  std::map<std::string, std::vector<float>> w;
  uint32_t s = seed;
  for (const auto& t : m.layout().tensors()) {
    const bool norm = t.name.find("norm.weight") != std::string::npos;
    const bool bias = t.name.ends_with(".bias");
    std::vector<float> v = random_normal(static_cast<size_t>(t.numel), s++, norm || bias ? 0.1f : 0.5f);
    if (norm)
      for (float& x : v) x += 1.f;
    w[t.name] = std::move(v);
  }
  return w;
}

inline ReferenceLlama reference_of(const core::LlamaConfig& c, const std::map<std::string, std::vector<float>>& w) {
  ReferenceLlama ref{c, {}, {}};
  for (const auto& [name, v] : w) ref.w[name] = Vec(v.begin(), v.end());
  return ref;
}

inline std::vector<int32_t> random_tokens(int64_t n, int64_t vocab, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_int_distribution<int32_t> d(0, static_cast<int32_t>(vocab - 1));
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = d(g);
  return t;
}

struct StepResult {
  double mean_loss = 0;
  std::vector<float> grads;
};

// forward(training) -> begin_backward -> chunked head + CE (mean over counted rows) -> backward.
inline StepResult train_step(core::LlamaModel& m, const std::vector<int32_t>& tokens,
                             const std::vector<int32_t>& labels, const core::LmBatch& b,
                             size_t head_budget = core::kDefaultHeadChunkBytes, const core::GradReadyHook& hook = {}) {
  const core::LlamaConfig& c = m.config();
  const float* hidden = m.forward(tokens.data(), b);
  m.begin_backward();
  int64_t counted = 0;
  for (int32_t y : labels) counted += y != -100;
  core::ChunkedHead head(m.compute_ptr(), head_budget);
  const core::HeadInputs in{hidden, m.head_weight(), b.batch * b.seq_len, c.dim, c.vocab_size, m.dhidden(),
                            m.head_grad()};
  const core::HeadLossSums s =
      core::lm_head_cross_entropy(head, in, {labels.data(), -100, 1.f / static_cast<float>(counted), nullptr});
  m.backward(m.dhidden(), b, hook);
  const auto g = m.grads();
  return {s.loss_sum / static_cast<double>(counted), std::vector<float>(g.begin(), g.end())};
}

}  // namespace retort::test

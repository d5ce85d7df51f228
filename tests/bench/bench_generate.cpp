// retort_bench generate: tokens/s of KV-cache decoding (LlamaModel::decode, batch 1) at the
// SmolLM2-135M shape with random weights, 1 OpenMP thread, and the same run's bound for a
// memory-bound decoder: triad bandwidth / bytes of fp32 weights read per token.
// Args: [--layers 30] [--dim 576] [--heads 9] [--kv-heads 3] [--ffn 1536] [--vocab 49152]
//       [--prompt 32] [--new 32]
#include <omp.h>

#include <chrono>
#include <string>
#include <vector>

#include "core/lm/llama_model.h"
#include "tests/bench/baselines.h"
#include "tests/bench/bench.h"

namespace {

using namespace retort::core;

int64_t arg(const retort::bench::Args& a, const std::string& name, int64_t fallback) {
  for (size_t i = 0; i + 1 < a.rest.size(); ++i)
    if (a.rest[i] == name) return std::stoll(a.rest[i + 1]);
  return fallback;
}

int run(const retort::bench::Args& a) {
  LlamaConfig c;
  c.n_layers = arg(a, "--layers", a.quick ? 2 : 30);
  c.dim = arg(a, "--dim", a.quick ? 64 : 576);
  c.n_heads = arg(a, "--heads", a.quick ? 4 : 9);
  c.n_kv_heads = arg(a, "--kv-heads", a.quick ? 2 : 3);
  c.ffn_dim = arg(a, "--ffn", a.quick ? 128 : 1536);
  c.vocab_size = arg(a, "--vocab", a.quick ? 512 : 49152);
  c.tie_embeddings = true;
  c.rope_theta = 100000;
  const int64_t prompt = arg(a, "--prompt", 32), fresh = arg(a, "--new", a.quick ? 4 : 32);
  c.max_seq_len = prompt + fresh;
  omp_set_num_threads(1);
  LlamaModel model(c);
  model.initialize(1);
  std::vector<int32_t> tokens(static_cast<size_t>(prompt));
  for (int64_t i = 0; i < prompt; ++i) tokens[i] = static_cast<int32_t>((i * 7919) % c.vocab_size);
  std::vector<float> logits(static_cast<size_t>(c.vocab_size));
  std::vector<double> per_token;
  double prefill_s = 0;
  const int rounds = std::max(1, a.repeats / 10);
  for (int r = 0; r < rounds; ++r) {
    KvCache cache(c, model.compute_ptr());
    auto t0 = std::chrono::steady_clock::now();
    model.decode(tokens.data(), prompt, cache, logits.data());
    prefill_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (int64_t i = 0; i < fresh; ++i) {
      // Greedy next token, as `retort generate --greedy` picks it.
      int32_t next = 0;
      for (int64_t v = 1; v < c.vocab_size; ++v)
        if (logits[v] > logits[next]) next = static_cast<int32_t>(v);
      t0 = std::chrono::steady_clock::now();
      model.decode(&next, 1, cache, logits.data());
      per_token.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  const double token_s = retort::bench::median(per_token);
  const double weight_bytes = static_cast<double>(model.num_params()) * 4.0;
  const double triad = retort::bench::triad_gbps();
  const double bound_tokens_per_s = triad * 1e9 / weight_bytes;
  retort::bench::emit({{"bench", "generate"},
                       {"layers", c.n_layers}, {"dim", c.dim}, {"heads", c.n_heads}, {"kv_heads", c.n_kv_heads},
                       {"ffn", c.ffn_dim}, {"vocab", c.vocab_size}, {"params", model.num_params()},
                       {"threads", 1}, {"prompt_tokens", prompt}, {"new_tokens", fresh},
                       {"prefill_tokens_per_s", static_cast<double>(prompt) / prefill_s},
                       {"decode_tokens_per_s", 1.0 / token_s},
                       {"triad_gbps", triad}, {"weights_mb", weight_bytes / 1e6},
                       {"bandwidth_bound_tokens_per_s", bound_tokens_per_s},
                       {"fraction_of_bandwidth_bound", (1.0 / token_s) / bound_tokens_per_s}});
  return 0;
}

RETORT_BENCH("generate", "KV-cache decoding tokens/s at the SmolLM2-135M shape vs the same-run triad-bandwidth bound",
             run);

}  // namespace

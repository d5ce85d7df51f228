// Test support for LM teacher tests: a tiny random Llama teacher (vocab 12, dim 16, 1 layer,
// 2 query heads over 1 KV head, ffn 32, 8 positions) saved where a job's teacher.checkpoint
// points, and the copy-task distillation job around it.
#pragma once
#include <fmt/format.h>

#include <string>

#include "core/checkpoint/checkpoint.h"
#include "core/config/load.h"
#include "core/lm/llama_model.h"

namespace retort::core::test {

inline void save_tiny_llama_teacher(const std::string& path, uint64_t seed = 17) {
  LlamaConfig c;
  c.vocab_size = 12, c.dim = 16, c.n_layers = 1, c.n_heads = 2, c.n_kv_heads = 1, c.ffn_dim = 32;
  c.max_seq_len = 8;
  LlamaModel model(c);
  model.initialize(seed);
  save_model(model, path);
}

// Copy-task windows of 8 tokens, a 16-wide student, `distill` the distill section's keys.
inline Config tiny_copy_distill_job(const std::string& teacher, const std::string& distill, int64_t teachers,
                                    int64_t students, int64_t batch_size) {
  return load_config_text(fmt::format(R"(
run: {{name: t, seed: 4}}
data: {{dataset: copy_task, seq_len: 8, copy_train_size: 64}}
student: {{arch: llama, vocab_size: 12, dim: 16, n_layers: 1, n_heads: 2}}
teacher: {{checkpoint: {}}}
cluster: {{teachers: {}, students: {}}}
distill: {{{}}}
train: {{batch_size: {}, epochs: 1}}
)", teacher, teachers, students, distill, batch_size), "job.yaml");
}

}  // namespace retort::core::test

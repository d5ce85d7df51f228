// Next-token language modelling with the Llama transformer: windows of T + 1 tokens (token
// shards of `retort tokenize`, or the synthetic copy task), forward to the final hidden states,
// the objective's chunked head + loss, backward through the blocks.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "core/lm/llama_model.h"
#include "core/lm/lm_import.h"
#include "core/lm/lm_head_loss.h"
#include "core/train/student_task.h"

namespace retort::core {

// One split of sequences: `count` windows of T + 1 tokens; targets before `first_counted` are
// not part of the loss (the copy task's unpredictable prefix).
struct TokenWindows {
  int64_t count = 0;
  int64_t first_counted = 0;
  int64_t vocab = 0;
  std::function<void(std::span<const int64_t> ids, int32_t* tokens_out)> gather;
};

// The train and validation splits that config.data names (dataset tokens or copy_task).
struct TokenSplits {
  TokenWindows train, val;
};
TokenSplits load_token_splits(const Config& config);

// The student's shape from the config (student.* keys, derived values filled in) for data of
// `data_vocab` tokens and sequences of data.seq_len.
LlamaConfig student_llama_config(const Config& config, int64_t data_vocab);

class LmTask final : public StudentTask {
 public:
  LmTask(const Config& config, std::shared_ptr<Compute> compute);
  Network& network() override { return *model_; }
  int64_t num_samples() const override { return data_.train.count; }
  int64_t loss_terms_per_sample() const override { return seq_len_ - data_.train.first_counted; }
  int64_t tokens_per_sample() const override { return seq_len_; }
  void initialize(uint64_t seed) override;
  ObjectiveResult forward_loss(Objective& objective, const StepBatch& batch, float grad_scale) override;
  void backward(const GradReadyHook& ready) override;
  EvalResult evaluate(int64_t batch_size) override;

  LlamaModel& model() { return *model_; }

 private:
  // Splits windows[rows, T + 1] into inputs[rows·T] and labels[rows·T] (-100 = not counted).
  void split_windows(const TokenWindows& split, int64_t rows);

  const Config cfg_;  // a copy: the caller's Config may be a temporary
  uint64_t seed_;
  TokenSplits data_;
  int64_t seq_len_;
  std::optional<ImportedLm> init_;  // student.init_from, read once, until initialize() loads it
  std::unique_ptr<LlamaModel> model_;
  ChunkedHead head_;
  std::vector<int32_t> windows_, inputs_, labels_;
  std::vector<uint64_t> ids_u64_;
  LmBatch batch_;
};

}  // namespace retort::core

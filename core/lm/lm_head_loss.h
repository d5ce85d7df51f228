// The language-model head fused with its objective, chunk by chunk of token rows: logits of one
// chunk [c, V] = X_c·Wᵀ, the objective turns them into dlogits in place, then dX_c = dZ·W and
// dW += dZᵀ·X_c. No [N, V] tensor ever exists; the chunk's rows come from a memory budget.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "core/model/compute.h"

namespace retort::core {

inline constexpr size_t kDefaultHeadChunkBytes = size_t{64} << 20;

struct HeadInputs {
  const float* hidden = nullptr;  // X [rows, dim], compute memory
  const float* weight = nullptr;  // W [vocab, dim], compute memory
  int64_t rows = 0, dim = 0, vocab = 0;
  float* dhidden = nullptr;  // dX [rows, dim], overwritten; null (with dweight) = no backward
  float* dweight = nullptr;  // dW [vocab, dim], accumulated
};

// Sums over the rows an objective counted.
struct HeadLossSums {
  double loss_sum = 0;
  int64_t tokens = 0;   // rows that counted (labels != ignore_index)
  int64_t correct = 0;  // counted rows whose argmax (first maximum) is the label
};

// One chunk handed to an objective: rows [row0, row0 + rows) of the batch, their logits
// [rows, vocab] in compute memory. With backward the objective overwrites them with dlogits.
struct HeadChunk {
  int64_t row0 = 0, rows = 0, vocab = 0;
  float* logits = nullptr;
  bool backward = false;
};
using HeadObjective = std::function<HeadLossSums(const HeadChunk&)>;

// Reusable chunk workspace on a Compute, and the loop over chunks.
class ChunkedHead {
 public:
  explicit ChunkedHead(std::shared_ptr<Compute> compute, size_t budget_bytes = kDefaultHeadChunkBytes);
  // Rows per chunk for a vocabulary: as many [rows, vocab] float rows as the budget holds (>= 1).
  int64_t chunk_rows(int64_t vocab) const;
  Compute& compute() const { return *compute_; }
  HeadLossSums run(const HeadInputs& in, const HeadObjective& objective);

 private:
  std::shared_ptr<Compute> compute_;
  size_t budget_bytes_;
  ComputeBuffer logits_;
};

// Next-token cross-entropy targets: host labels[rows], rows labelled ignore_index count for
// nothing (zero gradient). dlogits = (softmax − onehot) · grad_scale.
struct CrossEntropyTargets {
  const int32_t* host_labels = nullptr;
  int32_t ignore_index = -100;
  float grad_scale = 1;
  double* host_row_nll = nullptr;  // [rows]: each counted row's −log p(label); ignored rows get 0
};
HeadObjective cross_entropy_objective(Compute& compute, const CrossEntropyTargets& targets);

// head.run with cross_entropy_objective: loss sum, counted tokens, correct, dX, dW.
HeadLossSums lm_head_cross_entropy(ChunkedHead& head, const HeadInputs& in, const CrossEntropyTargets& targets);

}  // namespace retort::core

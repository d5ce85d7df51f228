// ChunkedHead: the chunk loop (the head's GEMMs per chunk: threaded host GEMMs on the CPU,
// lm_head_gemm.h; the Compute's otherwise) and the next-token cross-entropy objective (the
// Compute's token_xent on each chunk, in place).
#include "core/lm/lm_head_loss.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/base/error.h"
#include "core/lm/lm_head_gemm.h"

namespace retort::core {

ChunkedHead::ChunkedHead(std::shared_ptr<Compute> compute, size_t budget_bytes)
    : compute_(std::move(compute)), budget_bytes_(budget_bytes) {}

int64_t ChunkedHead::chunk_rows(int64_t vocab) const {
  const size_t row_bytes = static_cast<size_t>(vocab) * sizeof(float);
  return std::max<int64_t>(1, static_cast<int64_t>(budget_bytes_ / row_bytes));
}

HeadLossSums ChunkedHead::run(const HeadInputs& in, const HeadObjective& objective) {
  RETORT_CHECK((in.dhidden == nullptr) == (in.dweight == nullptr), "head backward needs both dX and dW");
  const bool backward = in.dhidden != nullptr;
  const int64_t chunk = std::min(chunk_rows(in.vocab), in.rows);
  if (logits_.size() < static_cast<size_t>(chunk * in.vocab)) {
    logits_ = ComputeBuffer();
    logits_ = ComputeBuffer(compute_, static_cast<size_t>(chunk * in.vocab));
  }
  // The plain CPU Compute's head GEMMs split the vocabulary across threads (lm_head_gemm.h): a
  // BLAS-threaded GEMM of one chunk's ~250 rows loses ~10 % at 2 threads. Batch-invariant
  // forwards keep their fixed-order kernel, other devices their Compute.
  const bool host_gemms =
      compute_->device() == Device::cpu && compute_->host_memory() && !compute_->batch_invariant();
  HeadLossSums total;
  for (int64_t row0 = 0; row0 < in.rows; row0 += chunk) {
    const int64_t c = std::min(chunk, in.rows - row0);
    const float* x = in.hidden + row0 * in.dim;
    if (host_gemms)  // Z_c = X_c·Wᵀ
      head_logits_host(x, in.weight, logits_.data(), c, in.dim, in.vocab);
    else
      compute_->linear_forward(x, in.weight, nullptr, logits_.data(), c, in.dim, in.vocab, false);
    const HeadLossSums s = objective({row0, c, in.vocab, logits_.data(), backward});
    total.loss_sum += s.loss_sum;
    total.tokens += s.tokens;
    total.correct += s.correct;
    if (backward && host_gemms)  // dX_c = dZ·W, dW += dZᵀ·X_c
      head_backward_host(x, in.weight, logits_.data(), in.dhidden + row0 * in.dim, in.dweight, c, in.dim, in.vocab);
    else if (backward)
      compute_->linear_backward(x, in.weight, logits_.data(), in.dhidden + row0 * in.dim, in.dweight, nullptr, c,
                                in.dim, in.vocab);
  }
  return total;
}

HeadObjective cross_entropy_objective(Compute& compute, const CrossEntropyTargets& t) {
  return [&compute, t](const HeadChunk& ch) {
    const int32_t* labels = t.host_labels + ch.row0;
    for (int64_t r = 0; r < ch.rows; ++r) {
      const int32_t y = labels[r];
      if (y != t.ignore_index && (y < 0 || y >= ch.vocab))
        RETORT_INPUT_ERROR(fmt::format("lm head: label {} at row {} is outside the vocabulary [0, {})", y,
                                       ch.row0 + r, ch.vocab));
    }
    const kernels::TokenXentResult x =
        compute.token_xent(ch.logits, labels, t.ignore_index, ch.backward ? ch.logits : nullptr, ch.rows, ch.vocab,
                           t.grad_scale, t.host_row_nll ? t.host_row_nll + ch.row0 : nullptr);
    return HeadLossSums{x.loss_sum, x.tokens, x.correct};
  };
}

HeadLossSums lm_head_cross_entropy(ChunkedHead& head, const HeadInputs& in, const CrossEntropyTargets& targets) {
  return head.run(in, cross_entropy_objective(head.compute(), targets));
}

}  // namespace retort::core

// Softmax cross-entropy for supervised training and evaluation, one pass per row:
//   loss_r = logsumexp(z_r) - z_r[y_r];  dz_r = (softmax(z_r) - onehot(y_r)) · grad_scale.
#pragma once
#include <cstdint>

namespace retort::kernels {

struct XentResult {
  double loss_sum = 0;   // Σ_rows loss_r (float64)
  int64_t correct = 0;   // rows whose argmax (first maximum) equals the label
};

// logits[rows, classes], labels[rows] in [0, classes) -> result; dlogits[rows, classes] written
// when not null (may alias logits).
XentResult softmax_xent(const float* logits, const int32_t* labels, float* dlogits, int64_t rows,
                        int64_t classes, float grad_scale);

}  // namespace retort::kernels

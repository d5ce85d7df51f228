// Next-token cross-entropy over a wide vocabulary (the LM head's loss), rows threaded, in place:
//   nll_r = logsumexp(z_r) − z_r[y_r];  dz_r = (softmax(z_r) − onehot(y_r)) · grad_scale;
// rows whose label is ignore_index count for nothing (nll 0, dz row 0, not in loss/tokens/correct).
#pragma once
#include <cstdint>

namespace retort::kernels {

struct TokenXentResult {
  double loss_sum = 0;  // Σ counted rows of nll_r (the float64 sum of the rows' values, in row order)
  int64_t tokens = 0;   // counted rows (label != ignore_index)
  int64_t correct = 0;  // counted rows whose argmax (first maximum) is the label
};

// logits [rows, vocab] f32; labels [rows], each ignore_index or in [0, vocab) (the caller checks:
// a precondition, not validated here); dlogits [rows, vocab] written when not null and may be
// logits itself; row_nll [rows] (nullable) gets every row's nll_r (0 for ignored rows).
//
// Math: per block of 1024 elements e_j = 2^((z_j − m_b)·log2 e) (m_b the block maximum, vexp2 of
// kernels/cpu/kd_loss_cpu_math.h), summed in fp32 lanes per 256 elements and in float64 above;
// S = Σ_b 2^((m_b − m)·log2 e)·Σ_block e, nll = log S + m − z_y in float64; q_j = e_j·f_b/S.
// Error bound against float64 (held by tests/unit/token_xent/test_token_xent.cpp at V = 49,152 and
// small V): |nll − ref| ≤ 1e-5 + 1e-6·|ref|; for j ≠ y |dz_j − ref_j| ≤ |grad_scale|·1e-7 +
// 2e-5·|ref_j| (the relative error grows with −log q_j, from the exponent's rounding: 7.4e-6 seen
// with logits of std 12), and |dz_y − ref_y| ≤ |grad_scale|·1e-5. q_j below ~2^-126 is flushed to 0.
// A row with NaN or +inf logits (or all −inf) has nll NaN and a NaN dz row; the sums carry it.
// Results per row do not depend on the thread count or on the other rows; the loss sum is added
// in row order after the parallel loop, so the whole result is independent of the thread count.
// Compiled for AVX2 and for AVX-512, one picked at load time (the lane sums differ in their last
// bits between the two; one machine always runs the same one).
TokenXentResult token_xent(const float* logits, const int32_t* labels, int32_t ignore_index, float* dlogits,
                           int64_t rows, int64_t vocab, float grad_scale, double* row_nll);

}  // namespace retort::kernels

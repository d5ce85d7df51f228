// Per-row kernels of the LM teacher's target encoding (core/lm/lm_targets.cpp): the exp-sum
// behind a row's log-sum-exp and the top-k selection. A row's results depend only on its own
// values (fixed order of operations), so targets stay batch-invariant.
#pragma once
#include <cstdint>

namespace retort::kernels {

struct RowExpSum {
  float max = 0;       // max_j t_j
  double sum = 0;      // Σ_j exp((t_j − max)·inv_t)
  bool finite = true;  // every t_j finite (otherwise max and sum mean nothing)
};

// t[n] (n ≥ 1) -> max, sum and, when e is not null, e[j] = exp((t_j − max)·inv_t) in float.
// Each term: x = (t_j − max)·inv_t rounded to float, the CPU's branch-free exp (≤ 2 ulp, 0 below
// −87.3); the sum in double: 8 lane sums over j < n rounded down to 8 (lane i holds j ≡ i mod 8),
// reduced ((s0+s4)+(s2+s6)) + ((s1+s5)+(s3+s7)), then the remaining terms in order.
RowExpSum row_exp_sum(const float* t, int64_t n, float inv_t, float* e);

// The k (1 ≤ k ≤ n) largest values of t[n] by descending value, ties to the lower index: their
// indices and values, best first. t must be free of NaN (row_exp_sum's finite check). Rows of
// n ≥ kTopkHeapRatio·k take a heap with a vector filter, shorter ones a key selection (the same
// result either way).
inline constexpr int64_t kTopkHeapRatio = 64;
void row_topk(const float* t, int64_t n, int64_t k, uint32_t* ids, float* values);

}  // namespace retort::kernels

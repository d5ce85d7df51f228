// CPU next-token cross-entropy (kernels/token_xent.h): one read of each row from memory, block by
// block (maximum, then vexp2 into an L2-sized scratch row with the block's sums), the blocks
// rescaled to the row maximum by one factor each, then dz written from the scratch row. Rows run
// in parallel (OpenMP); the loss is summed in row order afterwards.
#include "kernels/token_xent.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/cpu/kd_loss_cpu_math.h"

namespace retort::kernels {
namespace {

constexpr int64_t kBlock = 1024;    // elements per block: one maximum, one rescaling factor
constexpr int64_t kLaneSum = 256;   // fp32 lane sums over this many elements, then float64
constexpr float kLog2e = 1.44269504088896341f;

// Per-thread row workspace: e_j [vocab] and per block its maximum and Σ e.
struct RowScratch {
  std::vector<float> e, block_max;
  std::vector<double> block_sum;
  void reserve(int64_t vocab) {
    const auto blocks = static_cast<size_t>((vocab + kBlock - 1) / kBlock);
    if (e.size() < static_cast<size_t>(vocab)) e.resize(static_cast<size_t>(vocab));
    if (block_max.size() < blocks) block_max.resize(blocks), block_sum.resize(blocks);
  }
};

// One counted row: returns nll and sets `correct`; writes dz [V] when not null (may alias z).
[[gnu::target_clones("arch=x86-64-v4", "default")]]
double xent_row(const float* z, int32_t label, float* dz, int64_t V, float grad_scale, RowScratch& scratch,
                bool& correct) {
  const int64_t n_blocks = (V + kBlock - 1) / kBlock;
  const float z_label = z[label];  // read before dz (perhaps z itself) is written
  float* e = scratch.e.data();
  float row_max = -INFINITY;
  int64_t arg = 0, nonfinite = 0;
  for (int64_t b = 0; b < n_blocks; ++b) {
    const int64_t c = b * kBlock, end = std::min(c + kBlock, V);
    float m = -INFINITY;
    int32_t bad = 0;
#pragma omp simd reduction(max : m) reduction(+ : bad)
    for (int64_t i = c; i < end; ++i) {
      const float v = z[i];
      m = v > m ? v : m;
      bad += !(v <= 3.40282347e38f);  // NaN or +inf
    }
    nonfinite += bad;
    if (m > row_max) {  // a later block only takes the argmax with a strictly larger maximum
      row_max = m;
      arg = c + cpu::first_index_of(z + c, end - c, m);
    }
    // An all −inf block: its maximum is −FLT_MAX so z − max stays −inf and e = 0.
    m = std::max(m, -std::numeric_limits<float>::max());
    double sum = 0;
    for (int64_t s = c; s < end; s += kLaneSum) {
      const int64_t s_end = std::min(s + kLaneSum, end);
      float lanes = 0;
#pragma omp simd reduction(+ : lanes)
      for (int64_t i = s; i < s_end; ++i) {
        const float x = cpu::vexp2((z[i] - m) * kLog2e);
        e[i] = x;
        lanes += x;
      }
      sum += lanes;
    }
    scratch.block_max[b] = m;
    scratch.block_sum[b] = sum;
  }
  if (nonfinite > 0 || row_max == -INFINITY) {
    correct = false;
    if (dz) std::fill(dz, dz + V, std::numeric_limits<float>::quiet_NaN());
    return std::numeric_limits<double>::quiet_NaN();
  }
  // Block → row: f_b = 2^((m_b − m)·log2 e), kept in block_max; S = Σ_b f_b·Σ_block e.
  double total = 0;
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float f = cpu::vexp2((scratch.block_max[b] - row_max) * kLog2e);
    scratch.block_max[b] = f;
    total += static_cast<double>(f) * scratch.block_sum[b];
  }
  correct = arg == label;
  if (dz) {
    const double scale_over_total = static_cast<double>(grad_scale) / total;
    for (int64_t b = 0; b < n_blocks; ++b) {
      const int64_t c = b * kBlock, end = std::min(c + kBlock, V);
      const float coef = static_cast<float>(scratch.block_max[b] * scale_over_total);  // q_j·scale = e_j·coef
#pragma omp simd
      for (int64_t i = c; i < end; ++i) dz[i] = e[i] * coef;
    }
    dz[label] -= grad_scale;
  }
  return std::log(total) + static_cast<double>(row_max) - static_cast<double>(z_label);
}

}  // namespace

TokenXentResult token_xent(const float* logits, const int32_t* labels, int32_t ignore_index, float* dlogits,
                           int64_t rows, int64_t vocab, float grad_scale, double* row_nll) {
  std::vector<double> nll_local;
  double* nll = row_nll;
  if (!nll) nll_local.resize(static_cast<size_t>(rows)), nll = nll_local.data();
  std::vector<uint8_t> correct(static_cast<size_t>(rows), 0);
#pragma omp parallel
  {
    thread_local RowScratch scratch;
    scratch.reserve(vocab);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      float* dz = dlogits ? dlogits + r * vocab : nullptr;
      if (labels[r] == ignore_index) {
        nll[r] = 0;
        if (dz) std::memset(dz, 0, static_cast<size_t>(vocab) * sizeof(float));
        continue;
      }
      bool right = false;
      nll[r] = xent_row(logits + r * vocab, labels[r], dz, vocab, grad_scale, scratch, right);
      correct[static_cast<size_t>(r)] = right;
    }
  }
  TokenXentResult result;
  for (int64_t r = 0; r < rows; ++r) {
    if (labels[r] == ignore_index) continue;
    result.loss_sum += nll[r];
    result.tokens += 1;
    result.correct += correct[static_cast<size_t>(r)];
  }
  return result;
}

}  // namespace retort::kernels

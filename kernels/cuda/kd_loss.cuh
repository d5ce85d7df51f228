// The fused distillation-loss kernels (one CTA per row) and their launch sequence. Compiled by
// nvcc into kernels/cuda/kd_loss.cu and by g++ against tests/simt for the emulated tests.
// Sequence: kd_count_kernel (counted rows, label check) → one row kernel (dense or top-k) →
// kd_finalize_kernel (double sums in a fixed order into KdTotals).
#pragma once
#include <cstdint>
#include <string>

#include "core/base/error.h"
#include "kernels/cuda/kd_loss_device.cuh"
#include "kernels/kd_loss.h"

namespace retort::kernels::gpu {

// Shapes: labels [rows] (may be null). Writes totals->counted and the first bad label row.
static __global__ void kd_count_kernel(const int32_t* labels, KdDeviceParams p, KdTotals* totals) {
  __shared__ float scratch[32];
  float counted = 0, first_bad = 4.0e9f;
  for (int64_t r = threadIdx.x; r < p.rows; r += blockDim.x) {
    const int32_t y = labels ? labels[r] : 0;
    const bool ignored = labels && y == p.ignore_index;
    counted += ignored ? 0.0f : 1.0f;
    if (!ignored && (y < 0 || y >= p.vocab)) first_bad = fminf(first_bad, static_cast<float>(r));
  }
  counted = block_allreduce(counted, SumOp{}, 0.0f, scratch);
  first_bad = block_allreduce(-first_bad, MaxOp{}, -4.0e9f, scratch);
  if (threadIdx.x == 0) {
    totals->loss = totals->kd = totals->ce = 0;
    totals->counted = static_cast<long long>(counted);
    totals->nonfinite = 0;
    totals->bad_label_row_plus1 = -first_bad < 4.0e9f ? static_cast<unsigned>(-first_bad) + 1u : 0u;
    totals->bad_index_row_plus1 = 0;
  }
}

// Per-row preamble shared by both row kernels: is the row counted, with which label.
struct RowLabel {
  bool counted;
  int64_t label;  // -1 when there is no CE term
};
__device__ __forceinline__ RowLabel row_label(const int32_t* labels, const KdDeviceParams& p, int64_t r) {
  if (!labels) return RowLabel{true, -1};
  const int32_t y = labels[r];
  if (y == p.ignore_index || y < 0 || y >= p.vocab) return RowLabel{false, -1};  // bad labels: host throws
  return RowLabel{true, p.with_ce ? static_cast<int64_t>(y) : -1};
}

__device__ __forceinline__ float grad_scale(const KdDeviceParams& p, const KdTotals* totals) {
  const long long n = totals->counted;
  return p.reduction_mean ? (n > 0 ? 1.0f / static_cast<float>(n) : 0.0f) : 1.0f;
}

template <typename Tz>
__device__ void finish_skipped_row(Tz* dz, const KdDeviceParams& p, int64_t r, bool nonfinite_row, unsigned flags,
                                   KdWorkspace ws, float* entropy, uint8_t* agree) {
  const float nan = __int_as_float(0x7fc00000);
  row_fill(dz, p.vocab, nonfinite_row ? nan : 0.0f);
  if (threadIdx.x == 0) {
    ws.row_kd[r] = nonfinite_row ? nan : 0.0f;
    ws.row_ce[r] = nonfinite_row ? nan : 0.0f;
    ws.row_flags[r] = flags;
    if (entropy) entropy[r] = nan;
    if (agree) agree[r] = 0;
  }
}

// Dense teacher. Shapes: z, t, dz [rows, V]; one CTA per row, blockDim multiple of 32.
// Pass 1: online max/sum of z/T, t/T (and z for CE when T ≠ 1), NaN check, argmax.
// Pass 2 (rkl/jsd/tvd): ḡ = Σ q g. Pass 3: dz with streaming stores, loss and entropy sums.
template <typename Tz, typename Tt, int kDiv>
__global__ void __launch_bounds__(1024) kd_dense_kernel(const Tz* z_all, const Tt* t_all, const int32_t* labels, Tz* dz_all,
                                                        KdDeviceParams p, KdWorkspace ws, float* entropy, uint8_t* agree) {
  __shared__ float scratch[96];
  __shared__ long long scratch_i[32];
  const int64_t r = blockIdx.x, V = p.vocab;
  const Tz* z = z_all + r * V;
  const Tt* t = t_all + r * V;
  Tz* dz = dz_all + r * V;
  const RowLabel rl = row_label(labels, p, r);
  if (!rl.counted) return finish_skipped_row(dz, p, r, false, 0u, ws, entropy, agree);
  const bool vec = aligned16(z) && aligned16(t) && aligned16(dz);
  const float inv_t = p.inv_temperature;
  const bool separate_s = p.with_ce && p.temperature != 1.0f;

  Online sa, sb, sz;
  ArgMax zmax, tmax;
  float bad = 0;
  row_for_each(z, t, V, vec, [&](int64_t i, float zi, float ti) {
    bad += (nonfinite(zi) || nonfinite(ti)) ? 1.0f : 0.0f;
    sa.add(scaled(zi, inv_t));
    sb.add(scaled(ti, inv_t));
    if (separate_s) sz.add(zi);
    if (agree) {
      zmax.add(zi, i);
      tmax.add(ti, i);
    }
  });
  sa = block_allreduce_online(sa, scratch);
  sb = block_allreduce_online(sb, scratch);
  if (separate_s) sz = block_allreduce_online(sz, scratch);
  bad = block_allreduce(bad, SumOp{}, 0.0f, scratch);
  if (bad > 0 || sa.m == -kInf || sb.m == -kInf)
    return finish_skipped_row(dz, p, r, true, kRowCounted | kRowNonfinite, ws, entropy, agree);
  const bool agrees = agree ? block_argmax(zmax, scratch, scratch_i) == block_argmax(tmax, scratch, scratch_i) : false;
  const float log_sa = logf(sa.s), log_sb = logf(sb.s);
  const float log_sz = separate_s ? logf(sz.s) : log_sa, z_shift = separate_s ? sz.m : sa.m;

  float g_bar = -1.0f;  // fkl: Σ q g = -Σ p = -1
  if (kDiv != kFkl) {
    float g_sum = 0;
    row_for_each(z, t, V, vec, [&](int64_t, float zi, float ti) {
      const float la = (scaled(zi, inv_t) - sa.m) - log_sa, lb = (scaled(ti, inv_t) - sb.m) - log_sb;
      float l, gq;
      category_terms<kDiv>(__expf(lb), __expf(la), lb, la, p.beta, l, gq);
      g_sum += gq;
    });
    g_bar = block_allreduce(g_sum, SumOp{}, 0.0f, scratch);
  }

  const float w = grad_scale(p, ws.totals);
  const float grad_kd = w * (1.0f - p.alpha) * p.temperature, grad_ce = p.with_ce ? w * p.alpha : 0.0f;
  float loss = 0, ent = 0;
  row_transform(z, t, dz, V, vec, [&](int64_t i, float zi, float ti) {
    const float la = (scaled(zi, inv_t) - sa.m) - log_sa, lb = (scaled(ti, inv_t) - sb.m) - log_sb;
    const float q = __expf(la), pr = __expf(lb);
    float l, gq;
    category_terms<kDiv>(pr, q, lb, la, p.beta, l, gq);
    loss += l;
    ent += pr > 0.0f ? -pr * lb : 0.0f;
    const float s = separate_s ? __expf((zi - z_shift) - log_sz) : q;
    return grad_kd * (gq - q * g_bar) + grad_ce * (s - (i == rl.label ? 1.0f : 0.0f));
  });
  loss = block_allreduce(loss, SumOp{}, 0.0f, scratch);
  ent = block_allreduce(ent, SumOp{}, 0.0f, scratch);
  if (threadIdx.x == 0) {
    const float kd = p.temperature * p.temperature * loss;
    ws.row_kd[r] = kd > 0.0f ? kd : 0.0f;
    ws.row_ce[r] = rl.label >= 0 ? log_sz - (to_float(z[rl.label]) - z_shift) : 0.0f;
    ws.row_flags[r] = kRowCounted;
    if (entropy) entropy[r] = ent;
    if (agree) agree[r] = agrees ? 1 : 0;
  }
}

// Top-k teacher. Shapes: z, dz [rows, V]; indices, values [rows, k]; lse [rows]. One CTA per
// row; dynamic smem: a bitmask of the row's top-k tokens (ceil(V/32) words).
template <typename Tz, typename Tt, int kDiv>
__global__ void __launch_bounds__(1024) kd_topk_kernel(const Tz* z_all, const uint32_t* idx_all, const Tt* val_all,
                                                       const float* lse_all, const int32_t* labels, Tz* dz_all,
                                                       KdDeviceParams p, KdWorkspace ws, float* entropy, uint8_t* agree) {
  __shared__ float scratch[96];
  __shared__ long long scratch_i[32];
  RETORT_DYNAMIC_SMEM(unsigned, in_topk);
  const int64_t r = blockIdx.x, V = p.vocab, k = p.k;
  const Tz* z = z_all + r * V;
  const uint32_t* idx = idx_all + r * k;
  const Tt* val = val_all + r * k;
  Tz* dz = dz_all + r * V;
  const RowLabel rl = row_label(labels, p, r);
  if (!rl.counted) return finish_skipped_row(dz, p, r, false, 0u, ws, entropy, agree);
  const bool vec = aligned16(z) && aligned16(dz);
  const float inv_t = p.inv_temperature;
  const bool separate_s = p.with_ce && p.temperature != 1.0f;
  const bool bucket = p.tail_bucket != 0;

  // Top-k bitmask, teacher statistics (renormalize softmax, argmax), index and NaN checks.
  const int64_t words = (V + 31) / 32;
  for (int64_t wd = threadIdx.x; wd < words; wd += blockDim.x) in_topk[wd] = 0u;
  __syncthreads();
  Online sv, sk;  // teacher values / T, and the student's a over the top-k tokens (renormalize)
  ArgMax vmax;
  float bad = 0, bad_index = 0;
  for (int64_t c = threadIdx.x; c < k; c += blockDim.x) {
    const uint32_t j = idx[c];
    const float v = to_float(val[c]);
    bad += nonfinite(v) ? 1.0f : 0.0f;
    if (j >= V) {
      bad_index += 1.0f;
      continue;
    }
    atomicOr(&in_topk[j >> 5], 1u << (j & 31u));
    sv.add(scaled(v, inv_t));
    sk.add(scaled(to_float(z[j]), inv_t));
    vmax.add(v, j);  // the teacher's argmax: the largest value, smallest token on ties
  }
  bad_index = block_allreduce(bad_index, SumOp{}, 0.0f, scratch);  // also orders the atomics
  if (bad_index > 0) return finish_skipped_row(dz, p, r, false, kRowBadIndex, ws, entropy, agree);
  const float lse = lse_all[r];
  Online sa, sz;
  ArgMax zmax;
  row_for_each_z(z, V, vec, [&](int64_t i, float zi) {
    bad += nonfinite(zi) ? 1.0f : 0.0f;
    sa.add(scaled(zi, inv_t), !((in_topk[i >> 5] >> (i & 31)) & 1u));
    if (separate_s) sz.add(zi);
    if (agree) zmax.add(zi, i);
  });
  sa = block_allreduce_online(sa, scratch);
  if (separate_s) sz = block_allreduce_online(sz, scratch);
  sv = block_allreduce_online(sv, scratch);
  sk = block_allreduce_online(sk, scratch);
  bad = block_allreduce(bad, SumOp{}, 0.0f, scratch);
  if (bad > 0 || nonfinite(lse) || lse == -kInf || sa.m == -kInf || sv.m == -kInf)
    return finish_skipped_row(dz, p, r, true, kRowCounted | kRowNonfinite, ws, entropy, agree);
  const bool agrees = agree ? block_argmax(zmax, scratch, scratch_i) == block_argmax(vmax, scratch, scratch_i) : false;
  const float log_sa = logf(sa.s), log_sv = logf(sv.s);
  const float log_sz = separate_s ? logf(sz.s) : log_sa, z_shift = separate_s ? sz.m : sa.m;

  // Category log-probabilities: teacher log p_c and student log q_c (renormalize: log q̂_c from
  // the top-k logits themselves). Bucket: p_c = exp(t_c/T - lse) in double, since the tail
  // 1 - Σ p_c cancels.
  const float log_sk = logf(sk.s);
  const double temperature = p.temperature;
  auto log_p_raw = [&](float v) -> double {
    return bucket ? static_cast<double>(v) / temperature - static_cast<double>(lse)
                  : static_cast<double>((scaled(v, inv_t) - sv.m) - log_sv);
  };
  auto log_q_of = [&](uint32_t j) {
    const float a = scaled(to_float(z[j]), inv_t);
    return bucket ? (a - sa.m) - log_sa : (a - sk.m) - log_sk;
  };
  __shared__ double scratch_d[32];
  double sum_p = 0;
  for (int64_t c = threadIdx.x; c < k; c += blockDim.x) sum_p += exp(log_p_raw(to_float(val[c])));
  sum_p = block_allreduce(sum_p, SumOp{}, 0.0, scratch_d);
  const bool has_tail = bucket && k < V;
  const double p_tail_raw = has_tail ? fmax(0.0, 1.0 - sum_p) : 0.0;
  const double log_norm = bucket ? log(sum_p + p_tail_raw) : 0.0;  // divides the k+1 values by their sum
  auto log_p_of = [&](float v) { return static_cast<float>(log_p_raw(v) - log_norm); };
  const float p_tail = static_cast<float>(p_tail_raw / (bucket ? sum_p + p_tail_raw : 1.0));
  const float q_tail = has_tail ? sa.tail / sa.s : 0.0f;  // summed directly over non-top-k tokens

  float loss = 0, g_sum = 0, ent = 0;
  for (int64_t c = threadIdx.x; c < k; c += blockDim.x) {
    const float lp = log_p_of(to_float(val[c])), lq = log_q_of(idx[c]);
    const float pc = __expf(lp);
    float l, gq;
    category_terms<kDiv>(pc, __expf(lq), lp, lq, p.beta, l, gq);
    loss += l;
    g_sum += gq;
    ent += pc > 0.0f ? -pc * lp : 0.0f;
  }
  loss = block_allreduce(loss, SumOp{}, 0.0f, scratch);
  g_sum = block_allreduce(g_sum, SumOp{}, 0.0f, scratch);
  ent = block_allreduce(ent, SumOp{}, 0.0f, scratch);
  float l_tail = 0, gq_tail = 0;
  if (p_tail > 0.0f || q_tail > 0.0f) category_terms<kDiv>(p_tail, q_tail, logf(p_tail), logf(q_tail), p.beta, l_tail, gq_tail);
  const float g_bar = g_sum + gq_tail;
  loss += l_tail;
  ent += p_tail > 0.0f ? -p_tail * logf(p_tail) : 0.0f;

  // Gradient: every token as a tail token (bucket) or with no KD term (renormalize) ...
  const float w = grad_scale(p, ws.totals);
  const float grad_kd = w * (1.0f - p.alpha) * p.temperature, grad_ce = p.with_ce ? w * p.alpha : 0.0f;
  const float g_tail = q_tail > 0.0f ? gq_tail / q_tail : 0.0f;
  const float tail_coef = bucket ? grad_kd * (g_tail - g_bar) : 0.0f;
  auto ce_term = [&](int64_t i, float zi) {
    const float s = __expf(((separate_s ? zi : scaled(zi, inv_t)) - z_shift) - log_sz);
    return grad_ce * (s - (i == rl.label ? 1.0f : 0.0f));
  };
  row_transform_z(z, dz, V, vec, [&](int64_t i, float zi) {
    const float q = __expf((scaled(zi, inv_t) - sa.m) - log_sa);
    return tail_coef * q + ce_term(i, zi);
  });
  __syncthreads();  // the block's global writes above are visible to the overwrite below
  // ... then the k top-k tokens get their own category's term.
  for (int64_t c = threadIdx.x; c < k; c += blockDim.x) {
    const uint32_t j = idx[c];
    const float lp = log_p_of(to_float(val[c])), lq = log_q_of(j);
    const float qc = __expf(lq);
    float l, gq;
    category_terms<kDiv>(__expf(lp), qc, lp, lq, p.beta, l, gq);
    dz[j] = from_float<Tz>(grad_kd * (gq - qc * g_bar) + ce_term(j, to_float(z[j])));
  }
  if (threadIdx.x == 0) {
    const float kd = p.temperature * p.temperature * loss;
    ws.row_kd[r] = kd > 0.0f ? kd : 0.0f;
    ws.row_ce[r] = rl.label >= 0 ? log_sz - (to_float(z[rl.label]) - z_shift) : 0.0f;
    ws.row_flags[r] = kRowCounted;
    if (entropy) entropy[r] = ent;
    if (agree) agree[r] = agrees ? 1 : 0;
  }
}

// One CTA: reduces the per-row results in double, in an order fixed by blockDim.
static __global__ void kd_finalize_kernel(KdDeviceParams p, KdWorkspace ws) {
  __shared__ double scratch[32];
  __shared__ float scratch_f[32];
  double kd = 0, ce = 0;
  float nonfinite_rows = 0, first_bad_index = 4.0e9f;
  for (int64_t r = threadIdx.x; r < p.rows; r += blockDim.x) {
    const unsigned f = ws.row_flags[r];
    if (f & kRowCounted) {
      kd += ws.row_kd[r];
      ce += ws.row_ce[r];
    }
    nonfinite_rows += (f & kRowNonfinite) ? 1.0f : 0.0f;
    if (f & kRowBadIndex) first_bad_index = fminf(first_bad_index, static_cast<float>(r));
  }
  kd = block_allreduce(kd, SumOp{}, 0.0, scratch);
  ce = block_allreduce(ce, SumOp{}, 0.0, scratch);
  nonfinite_rows = block_allreduce(nonfinite_rows, SumOp{}, 0.0f, scratch_f);
  first_bad_index = -block_allreduce(-first_bad_index, MaxOp{}, -4.0e9f, scratch_f);
  if (threadIdx.x == 0) {
    const long long n = ws.totals->counted;
    const double w = p.reduction_mean ? (n > 0 ? 1.0 / static_cast<double>(n) : 0.0) : 1.0;
    ws.totals->kd = kd * w;
    ws.totals->ce = p.with_ce ? ce * w : 0.0;
    ws.totals->loss = (1.0 - p.alpha) * ws.totals->kd + p.alpha * ws.totals->ce;
    ws.totals->nonfinite = nonfinite_rows > 0 ? 1u : 0u;
    ws.totals->bad_index_row_plus1 = first_bad_index < 4.0e9f ? static_cast<unsigned>(first_bad_index) + 1u : 0u;
  }
}

// ---- host side: everything below only calls launch(), so it runs on a device and emulated ----

// Device (or emulated) pointers of one call.
struct KdLaunchArgs {
  const void* student = nullptr;
  DType student_dtype = DType::f32;
  const void* teacher = nullptr;  // dense logits, or top-k values
  DType teacher_dtype = DType::f32;
  const uint32_t* topk_indices = nullptr;  // null: dense
  const float* topk_lse = nullptr;
  const int32_t* labels = nullptr;
  void* dz = nullptr;
  float* entropy = nullptr;
  uint8_t* agree = nullptr;
  KdDeviceParams params;
  int divergence = kFkl;  // after jsd β ∈ {0, 1} → fkl / rkl
};

inline int kd_effective_divergence(const KdLossParams& params) {
  if (params.divergence == Divergence::jsd && params.beta == 0.0f) return kFkl;
  if (params.divergence == Divergence::jsd && params.beta == 1.0f) return kRkl;
  return static_cast<int>(params.divergence);
}

// 32..512 threads, about 8 elements (one 16-byte fp32 pair of loads) per thread per step.
inline unsigned kd_threads_per_row(int64_t vocab) {
  unsigned threads = 32;
  while (threads < 512 && static_cast<int64_t>(threads) * 8 < vocab) threads *= 2;
  return threads;
}

// Fills KdLaunchArgs from the contract's arguments (pointers used as they are).
inline KdLaunchArgs kd_launch_args(const TensorView& student, const TeacherLogits& teacher, const int32_t* labels,
                                   const TensorView& dz, const KdLossParams& params, const KdLossMetrics& metrics) {
  KdLaunchArgs a;
  const bool dense = teacher.kind == TeacherLogits::Kind::dense;
  a.student = student.data;
  a.student_dtype = student.dtype;
  a.teacher = dense ? teacher.logits.data : teacher.values.data;
  a.teacher_dtype = dense ? teacher.logits.dtype : teacher.values.dtype;
  a.topk_indices = dense ? nullptr : static_cast<const uint32_t*>(teacher.indices.data);
  a.topk_lse = dense ? nullptr : static_cast<const float*>(teacher.lse.data);
  a.labels = labels;
  a.dz = dz.data;
  a.entropy = metrics.teacher_entropy;
  a.agree = metrics.top1_agree;
  KdDeviceParams& p = a.params;
  p.rows = student.rows;
  p.vocab = student.cols;
  p.k = dense ? 0 : teacher.indices.cols;
  p.temperature = params.temperature;
  p.inv_temperature = 1.0f / params.temperature;
  p.beta = params.beta;
  p.alpha = params.alpha;
  p.ignore_index = params.ignore_index;
  p.tail_bucket = params.tail == Tail::bucket ? 1 : 0;
  p.reduction_mean = params.reduction == Reduction::mean ? 1 : 0;
  p.with_ce = params.alpha > 0.0f && labels != nullptr ? 1 : 0;
  a.divergence = kd_effective_divergence(params);
  if (!dense && (p.vocab + 31) / 32 * 4 > 48 * 1024)
    RETORT_INPUT_ERROR("kd_loss (cuda): a top-k teacher supports V <= 393216, got V=" + std::to_string(p.vocab));
  return a;
}

namespace detail {
template <typename Tz, typename Tt, int kDiv>
void launch_rows(const KdLaunchArgs& a, KdWorkspace ws, Stream stream) {
  const dim3 grid(static_cast<unsigned>(a.params.rows)), block(kd_threads_per_row(a.params.vocab));
  if (!a.topk_indices) {
    launch(kd_dense_kernel<Tz, Tt, kDiv>, grid, block, 0, stream, static_cast<const Tz*>(a.student),
           static_cast<const Tt*>(a.teacher), a.labels, static_cast<Tz*>(a.dz), a.params, ws, a.entropy, a.agree);
  } else {
    const size_t smem = static_cast<size_t>((a.params.vocab + 31) / 32) * sizeof(unsigned);
    launch(kd_topk_kernel<Tz, Tt, kDiv>, grid, block, smem, stream, static_cast<const Tz*>(a.student), a.topk_indices,
           static_cast<const Tt*>(a.teacher), a.topk_lse, a.labels, static_cast<Tz*>(a.dz), a.params, ws, a.entropy,
           a.agree);
  }
}
template <typename Tz, typename Tt>
void launch_rows_div(const KdLaunchArgs& a, KdWorkspace ws, Stream stream) {
  switch (a.divergence) {
    case kFkl: return launch_rows<Tz, Tt, kFkl>(a, ws, stream);
    case kRkl: return launch_rows<Tz, Tt, kRkl>(a, ws, stream);
    case kJsd: return launch_rows<Tz, Tt, kJsd>(a, ws, stream);
    default: return launch_rows<Tz, Tt, kTvd>(a, ws, stream);
  }
}
}  // namespace detail

// Enqueues the three kernels; `workspace` holds kd_workspace_bytes(rows) device bytes.
inline void kd_enqueue(const KdLaunchArgs& a, void* workspace, Stream stream) {
  const KdWorkspace ws = kd_carve_workspace(workspace, a.params.rows);
  launch(kd_count_kernel, dim3(1), dim3(256), 0, stream, a.labels, a.params, ws.totals);
  const bool zf = a.student_dtype == DType::f32, tf = a.teacher_dtype == DType::f32;
  if (zf && tf) detail::launch_rows_div<float, float>(a, ws, stream);
  if (zf && !tf) detail::launch_rows_div<float, bf16>(a, ws, stream);
  if (!zf && tf) detail::launch_rows_div<bf16, float>(a, ws, stream);
  if (!zf && !tf) detail::launch_rows_div<bf16, bf16>(a, ws, stream);
  launch(kd_finalize_kernel, dim3(1), dim3(256), 0, stream, a.params, ws);
}

// The contract's result from the totals copied back; bad labels / indices become input errors.
inline KdLossResult kd_result_from_totals(const KdTotals& totals, int64_t vocab) {
  if (totals.bad_label_row_plus1)
    RETORT_INPUT_ERROR("kd_loss: labels[" + std::to_string(totals.bad_label_row_plus1 - 1) + "] is outside [0, " +
                       std::to_string(vocab) + ") and is not ignore_index");
  if (totals.bad_index_row_plus1)
    RETORT_INPUT_ERROR("kd_loss: a top-k index at row " + std::to_string(totals.bad_index_row_plus1 - 1) +
                       " is outside the vocabulary of " + std::to_string(vocab));
  KdLossResult r;
  r.loss = totals.loss;
  r.kd = totals.kd;
  r.ce = totals.ce;
  r.rows_counted = totals.counted;
  r.nonfinite_input = totals.nonfinite != 0;
  return r;
}

}  // namespace retort::kernels::gpu

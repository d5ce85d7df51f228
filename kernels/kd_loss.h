// Contract of the fused distillation loss: student logits + teacher logits (dense or top-k) +
// labels -> reduced loss and its gradient wrt the student logits, in one call. CPU (kernels/cpu)
// and CUDA (kernels/cuda) implement it; kd_loss() picks one from where the tensors live.
#pragma once
#include <cstdint>

#include "core/base/tensor.h"

namespace retort::kernels {

// ---- The math (per row r; all divergences carry the factor T²) ------------------------------
// z = student logits (V), t = teacher logits, T = temperature, y = label, a = z/T, b = t/T:
//   q = softmax(a)   p = softmax(b)   s = softmax(z)   (log-probabilities are computed as
//   x_i - max - log Σ exp(x - max), so ±1e4 and -inf logits are exact; 0·log 0 := 0)
// Divergence D(p, q) over categories c (dense: the V tokens):
//   fkl: Σ p_c log(p_c/q_c)                          = KL(p‖q)   (Hinton)
//   rkl: Σ q_c log(q_c/p_c)                          = KL(q‖p)
//   jsd: β KL(p‖m) + (1-β) KL(q‖m), m = βp + (1-β)q  (0 < β < 1; β = 0 is fkl, β = 1 is rkl,
//        the GKD convention: the endpoints are the KL limits, not the vanishing JSD)
//   tvd: ½ Σ |p_c - q_c|
// Row loss:  ℓ_r = (1-α) · T² · D(p, q) + α · CE_r,   CE_r = log Σ exp(z) - z_y
// Reduced:   L = Σ_{r counted} ℓ_r / (n_counted if mean, 1 if sum)
// A row is counted unless labels[r] == ignore_index; with labels == nullptr every row counts.
// KD terms are clamped to ≥ 0 per row (they are ≥ 0 mathematically; only rounding goes below).
//
// Gradient (dz = ∂L/∂z, written for every row; zero for rows not counted). With
// g_c = ∂D/∂q_c and ḡ = Σ_c q_c g_c, the softmax chain rule gives
//   ∂(T² D)/∂z_j = T · (q_j g_{c(j)} - q_j ḡ)
// and per divergence (q_j g_j, ḡ):
//   fkl: q_j g_j = -p_j,                  ḡ = -1          ⇒ T (q_j - p_j)
//   rkl: q_j g_j = q_j log(q_j/p_j),      ḡ = KL(q‖p)
//   jsd: q_j g_j = (1-β) q_j log(q_j/m_j), ḡ = Σ (1-β) q log(q/m)
//   tvd: q_j g_j = ½ q_j sign(q_j - p_j),  ḡ = Σ ½ q sign(q - p)
//   dz_j = w · [ (1-α) T (q_j g_j - q_j ḡ) + α (s_j - [j == y]) ],  w = 1/n_counted (mean) or 1.
//
// Top-k teacher: per row k (index, logit) pairs with distinct indices, and
// lse_r = log Σ_{j<V} exp(t_rj / T) over the FULL vocabulary, at the same T as params.
//   p_c = exp(t_c/T - lse) for the k pairs.
//   tail = bucket (default): the missing mass is one extra category for both distributions:
//     P_tail = max(0, 1 - Σ_k p_c), Q_tail = Σ_{j ∉ K} q_j (= 1 - Σ_K q), and the teacher's
//     k+1 values are divided by their sum (so rounding in lse cannot make them exceed 1).
//     With k == V there is no tail. Every non-top-k token j gets g_tail = ∂D/∂Q_tail:
//     dz_j = (1-α) T q_j (g_tail - ḡ) + CE term; truncated top-k KL without the bucket is
//     biased and can go negative, the bucketed one is a true divergence.
//   tail = renormalize: both distributions are restricted to the k tokens and renormalised
//     (p̂ = softmax of the k teacher logits/T, q̂ = q_K / Σ_K q; lse unused); non-top-k tokens
//     get no KD gradient.
//
// Errors: a mismatch of shapes, dtypes or devices, a label outside [0, V) other than
// ignore_index, or a top-k index ≥ V throws an input error (CUDA top-k also needs V ≤ 393,216:
// a per-row token bitmask lives in shared memory). NaN or +inf in a counted row of z, t,
// values or lse, or a row whose logits are all -inf, does not throw: it sets
// KdLossResult::nonfinite_input and makes that row's loss and gradient NaN, so it never hides
// in the reduced loss.

enum class Divergence : uint8_t { fkl, rkl, jsd, tvd };
enum class Tail : uint8_t { bucket, renormalize };
enum class Reduction : uint8_t { mean, sum };

const char* divergence_name(Divergence d);  // "fkl", "rkl", "jsd", "tvd"
Divergence parse_divergence(const char* name);  // inverse; throws an input error

struct KdLossParams {
  float temperature = 1.0f;  // T > 0
  float alpha = 0.0f;        // weight of the hard-label cross-entropy, in [0, 1]
  float beta = 0.5f;         // jsd mixing weight, in [0, 1]
  Divergence divergence = Divergence::fkl;
  Tail tail = Tail::bucket;
  Reduction reduction = Reduction::mean;
  int32_t ignore_index = -100;
};

// The teacher's side of one call: dense logits, or top-k pairs plus the full-vocabulary lse.
struct TeacherLogits {
  enum class Kind : uint8_t { dense, topk };
  Kind kind = Kind::dense;
  TensorView logits;   // dense: rows × V, f32 | bf16
  TensorView indices;  // top-k: rows × k, u32
  TensorView values;   // top-k: rows × k, f32 | bf16 (teacher logits, not divided by T)
  TensorView lse;      // top-k: rows × 1, f32: log Σ_j exp(t_j / T)

  static TeacherLogits dense(const TensorView& logits);
  static TeacherLogits topk(const TensorView& indices, const TensorView& values, const TensorView& lse);
  int64_t rows() const { return kind == Kind::dense ? logits.rows : indices.rows; }
};

// Optional per-row training-log metrics, on the student's device; nullptr = not computed.
// Rows that are not counted get entropy NaN and agreement 0.
struct KdLossMetrics {
  float* teacher_entropy = nullptr;  // rows: H(p) in nats (top-k bucket: over the k+1 categories)
  uint8_t* top1_agree = nullptr;     // rows: 1 when argmax z == argmax t (first index on ties)
};

struct KdLossResult {
  double loss = 0;           // reduced total loss L
  double kd = 0;             // reduced T²·D part (before the (1-α) weight)
  double ce = 0;             // reduced CE part (before the α weight); 0 when alpha == 0
  int64_t rows_counted = 0;  // rows not ignored
  bool nonfinite_input = false;
};

// The one entry point. student: rows × V (f32 | bf16); labels: rows int32 (may be nullptr when
// alpha == 0) on the student's device; dz: rows × V in the student's dtype, same device.
// Dispatches to the CPU or the CUDA implementation from student.device. `stream` is a
// cudaStream_t for CUDA (nullptr = default stream); the call returns after the result is known.
KdLossResult kd_loss(const TensorView& student, const TeacherLogits& teacher, const int32_t* labels,
                     const TensorView& dz, const KdLossParams& params, const KdLossMetrics& metrics = {},
                     void* stream = nullptr);

// The two implementations (kd_loss validates arguments, then calls one of these).
KdLossResult kd_loss_cpu(const TensorView& student, const TeacherLogits& teacher, const int32_t* labels,
                         const TensorView& dz, const KdLossParams& params, const KdLossMetrics& metrics);
#ifdef RETORT_HAVE_CUDA
KdLossResult kd_loss_cuda(const TensorView& student, const TeacherLogits& teacher, const int32_t* labels,
                          const TensorView& dz, const KdLossParams& params, const KdLossMetrics& metrics,
                          void* stream);
#endif

// Throws an input error naming the offending argument when shapes/dtypes/devices/params do not
// fit the contract (kd_loss calls it; implementations may assume it passed).
void validate_kd_loss_args(const TensorView& student, const TeacherLogits& teacher, const int32_t* labels,
                           const TensorView& dz, const KdLossParams& params);

}  // namespace retort::kernels

// Per-token teacher targets for LM distillation (dense | top-k + lse | sampled ids + counts) as
// flat host-memory structs a wire or cache can carry, and their teacher-side encoding chunk by
// chunk after the teacher's head (no [N, V] copy for top-k and sampled).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/base/dtype.h"
#include "core/lm/lm_head_loss.h"

namespace retort::core {

// The three kinds. t = teacher logits of one token, T = the temperature the targets were made
// at, p = softmax(t/T), lse = log Σ_{j<V} exp(t_j/T).
//  dense:   all V logits (fp32 | bf16): the reference.
//  topk:    the k largest logits (by value, ties to the lower id), their ids and lse; with the
//           tail 1 − Σ_K p as one extra category (kernels/kd_loss.h's top-k contract).
//  sampled: n ids drawn i.i.d. from p (inverse CDF of a counter-based uniform keyed by
//           (seed, sample id, position, draw), so a token's draws never depend on batching,
//           chunking or teacher count), stored as the distinct ids with their counts c_i
//           (Σ c_i = n) and log p_i. Estimator (fkl only; Anshumann et al., ACL 2025, random
//           sampling KD with the teacher as proposal, so every importance weight is 1):
//             T² KL(p‖q) = T² E_{i~p}[log p_i − log q_i]  ≈  L̂ = T² Σ_i (c_i/n)(log p_i − log q_i)
//           with q = softmax(z/T). E[c_j/n] = p_j makes L̂ unbiased, and so is its gradient:
//             ∂L̂/∂z_j = T (q_j − c_j/n),  E = T (q_j − p_j) = the dense fkl gradient.
//           L̂ is not clamped (a single estimate may be < 0; clamping would bias it). rkl, jsd
//           (β > 0) and tvd have no unbiased estimate from draws of p alone: refused.
enum class TargetKind : uint8_t { dense, topk, sampled };
const char* target_kind_name(TargetKind kind);  // "dense", "topk", "sampled"

struct LmTargets {
  TargetKind kind = TargetKind::dense;
  int64_t rows = 0, vocab = 0;
  int32_t k = 0;             // topk: pairs per row; sampled: draws per row n (= slots per row)
  DType dtype = DType::f32;  // dense and topk logit values: f32 | bf16; sampled: the precision of
                             //   log_probs (fp32 floats; with bf16 each is rounded to a bf16 value,
                             //   which is what the cache stores, so online and cached targets agree)
  float temperature = 1;     // T of lse (topk) and of p (sampled); informational for dense
  uint64_t seed = 0;         // sampled: the draws' seed
  std::vector<uint8_t> values;    // dense: rows×V logits; topk: rows×k logits (dtype, not divided by T)
  std::vector<uint32_t> indices;  // topk: rows×k, by descending logit; sampled: rows×n, the
                                  //   distinct drawn ids ascending, then padding ids (count 0)
  std::vector<float> lse;         // topk: rows
  std::vector<uint16_t> counts;   // sampled: rows×n draws per slot (0 = padding)
  std::vector<float> log_probs;   // sampled: rows×n log p_i at T (padding: -inf), rounded to dtype

  int64_t slots() const { return kind == TargetKind::dense ? vocab : k; }  // entries per row
  size_t payload_bytes() const;  // bytes of the arrays above (what a wire or cache carries)
  // Throws an input error naming `what` when sizes, dtype or per-row contents do not fit.
  void validate(const std::string& what) const;
};

// Empty targets of a kind sized for `rows` (arrays allocated, contents zero).
LmTargets make_targets(TargetKind kind, int64_t rows, int64_t vocab, int32_t k, DType dtype, float temperature,
                       uint64_t seed);

struct EncodeSpec {
  TargetKind kind = TargetKind::dense;
  int32_t k = 0;  // topk: k (1..V); sampled: n draws (1..min(V, 65535): n distinct slots per row)
  DType dtype = DType::f32;
  float temperature = 1;
  uint64_t seed = 0;
  const int64_t* sample_ids = nullptr;  // sampled: host [rows], the token's sample (window) id
  const int32_t* positions = nullptr;   // sampled: host [rows], the token's position in it
};

// Rows [row0, row0 + rows) of `out` from host logits [rows, V] (out made by make_targets with
// the spec's kind/k/dtype/T/seed). Each row depends only on its logits and key.
void encode_rows(const float* host_logits, int64_t row0, int64_t rows, const EncodeSpec& spec, LmTargets& out);

// Teacher side: logits = hidden [rows, dim] · weightᵀ chunk by chunk through `head` (compute
// memory; a device chunk is downloaded into one [chunk, V] host buffer), encoded per row.
LmTargets encode_targets(ChunkedHead& head, const float* hidden, const float* weight, int64_t rows, int64_t dim,
                         int64_t vocab, const EncodeSpec& spec);
// The same into rows [row0, row0 + rows) of `out` (made by make_targets for the spec; the spec's
// sample_ids / positions are indexed by out's rows).
void encode_targets_into(ChunkedHead& head, const float* hidden, const float* weight, int64_t rows, int64_t dim,
                         const EncodeSpec& spec, LmTargets& out, int64_t row0);

}  // namespace retort::core

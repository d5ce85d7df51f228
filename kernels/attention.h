// Causal softmax attention with grouped-query heads (flash-attention style on the CPU: tiled
// over keys with an online softmax; backward recomputes probabilities tile by tile from lse).
// Batch-invariant by construction: a (sequence, head) is computed by the same fixed sequence of
// float operations whatever the batch or the thread count (no split over keys across threads).
#pragma once
#include <cstdint>

namespace retort::kernels {

// Queries and keys per tile of the CPU kernels (the backward's scratch is a few such tiles).
inline constexpr int64_t kAttentionTile = 64;

// Head h reads kv head h / (n_heads / n_kv_heads). Query i of a sequence sits at absolute
// position q_start + i and attends keys j <= q_start + i (j < kv_len). q_start > 0 is the
// KV-cache (generation) case. Scores are scale · q·k.
struct AttentionShape {
  int64_t batch = 0, q_len = 0, kv_len = 0, q_start = 0;
  int64_t n_heads = 0, n_kv_heads = 0, head_dim = 0;
  int64_t q_stride = 0;    // floats between consecutive query rows (token rows)
  int64_t kv_stride = 0;   // floats between consecutive key (and value) rows
  int64_t out_stride = 0;  // floats between consecutive out rows
  float scale = 0;         // usually 1/sqrt(head_dim)
};

// q: row (b, i) at q + (b*q_len + i)*q_stride, head h at +h*head_dim.
// k, v: row (b, j) at k + (b*kv_len + j)*kv_stride, kv head g at +g*head_dim.
// out: same layout as q with out_stride (only the head slices are written).
// lse[batch, n_heads, q_len] = log-sum-exp of the scaled scores of each query (may be null).
// CPU: tiles of kAttentionTile queries × kAttentionTile keys, online softmax in float32.
void attention_forward(const float* q, const float* k, const float* v, float* out, float* lse,
                       const AttentionShape& s);

// Given out and lse of the forward and dout (layout of out): dq (layout of q), dk, dv (layout of
// k/v) are OVERWRITTEN on their head slices (other floats of the rows untouched, so dq/dk/dv may
// be views into one fused buffer). P is recomputed per tile from lse, D_i = Σ dout_i ∘ out_i.
// dq of a query sums over key tiles in increasing order; dk/dv of a kv head sum over its query
// heads in increasing head order (via a scratch of 2·batch·n_heads·kv_len·head_dim floats when
// n_kv_heads < n_heads). lse must not be null.
void attention_backward(const float* q, const float* k, const float* v, const float* out,
                        const float* lse, const float* dout, float* dq, float* dk, float* dv,
                        const AttentionShape& s);

}  // namespace retort::kernels

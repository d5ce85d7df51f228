// LlamaModel's transformer block, forward and backward, read top to bottom. Shapes: N token rows,
// d = dim, qd = n_heads·head_dim, kvd = n_kv_heads·head_dim, F = ffn_dim; weights [out, in].
//   h1 = rmsnorm(x) · w_in                      [N, d]
//   q = h1·Wqᵀ (+bq) [N, qd], k, v = h1·Wk/vᵀ (+b) [N, kvd]; rope(q), rope(k)
//   att = causal_gqa_attention(q, k, v)         [N, qd]
//   x_mid = x + dropout(att·Woᵀ)                [N, d]
//   h2 = rmsnorm(x_mid) · w_post                [N, d]
//   x_out = x_mid + dropout((silu(h2·Wgᵀ) ∘ h2·Wuᵀ)·Wdᵀ)
#include "core/lm/llama_model.h"

namespace retort::core {
namespace {
const float* bias_or_null(const float* base, int64_t offset) { return offset < 0 ? nullptr : base + offset; }
float* bias_or_null(float* base, int64_t offset) { return offset < 0 ? nullptr : base + offset; }
}  // namespace

void LlamaModel::block_forward(int64_t layer, const BlockIo& io, const LmBatch* dropout_batch) {
  Compute& c = *compute_;
  const LayerParams& w = layers_[static_cast<size_t>(layer)];
  const LayerActs a = acts(layer);
  const float* p = device_params_;
  const int64_t n = io.shape.batch * io.shape.q_len, d = config_.dim, f = config_.ffn_dim;
  const int64_t hd = config_.head_dim(), qd = config_.n_heads * hd, kvd = config_.kv_dim();
  const float eps = static_cast<float>(config_.norm_eps);

  // Attention.
  c.rmsnorm_forward({.x = io.x_in, .w = p + w.input_norm, .y = normed_, .rstd = a.rstd1, .rows = n, .dim = d, .eps = eps});
  c.linear_forward(normed_, p + w.wq, bias_or_null(p, w.bq), a.q, n, d, qd, false);
  c.linear_forward(normed_, p + w.wk, bias_or_null(p, w.bk), io.k_dst, n, d, kvd, false);
  c.linear_forward(normed_, p + w.wv, bias_or_null(p, w.bv), io.v_dst, n, d, kvd, false);
  c.rope_forward({a.q, io.positions, {n, config_.n_heads, hd, qd, config_.rope_theta}});
  c.rope_forward({io.k_dst, io.positions, {n, config_.n_kv_heads, hd, kvd, config_.rope_theta}});
  c.attention_forward({.q = a.q, .k = io.k_all, .v = io.v_all, .out = a.att, .lse = a.lse, .shape = io.shape});
  c.linear_forward(a.att, p + w.wo, nullptr, a.x_mid, n, qd, d, false);
  if (dropout_batch) c.dropout_forward(a.x_mid, a.x_mid, dropout_keys(*dropout_batch, 2 * layer), n, d, dropout_);
  c.add_inplace({a.x_mid, io.x_in, n * d});

  // SwiGLU MLP.
  c.rmsnorm_forward({.x = a.x_mid, .w = p + w.post_norm, .y = normed_, .rstd = a.rstd2, .rows = n, .dim = d, .eps = eps});
  c.linear_forward(normed_, p + w.gate, nullptr, a.gate, n, d, f, false);
  c.linear_forward(normed_, p + w.up, nullptr, a.up, n, d, f, false);
  c.swiglu_forward({.gate = a.gate, .up = a.up, .out = act_, .n = n * f});
  c.linear_forward(act_, p + w.down, nullptr, io.x_out, n, f, d, false);
  if (dropout_batch) c.dropout_forward(io.x_out, io.x_out, dropout_keys(*dropout_batch, 2 * layer + 1), n, d, dropout_);
  c.add_inplace({io.x_out, a.x_mid, n * d});
}

// On entry grads_scratch_.dres = d(loss)/d(x_out) of this block; on exit d(loss)/d(x_in).
// Parameter gradients are accumulated into the flat gradient buffer. h1, h2 and the SwiGLU
// output are recomputed from the saved inputs (same kernels, same bits) rather than stored.
void LlamaModel::block_backward(int64_t layer, const LmBatch& b) {
  Compute& c = *compute_;
  const LayerParams& w = layers_[static_cast<size_t>(layer)];
  const LayerActs a = acts(layer);
  const Grads& g = grads_scratch_;
  const float* p = device_params_;
  float* gp = device_grads_;
  const int64_t n = last_rows_, d = config_.dim, f = config_.ffn_dim;
  const int64_t hd = config_.head_dim(), qd = config_.n_heads * hd, kvd = config_.kv_dim();
  const float eps = static_cast<float>(config_.norm_eps);
  const int32_t* positions = reinterpret_cast<const int32_t*>(token_ids_.data()) + capacity_rows_;
  const bool with_dropout = b.training && dropout_ > 0;

  // SwiGLU MLP: x_out = x_mid + dropout(act·Wdᵀ).
  const float* dmlp = g.dres;
  if (with_dropout) {
    c.dropout_backward(g.dres, g.dbranch, dropout_keys(b, 2 * layer + 1), n, d, dropout_);
    dmlp = g.dbranch;
  }
  c.swiglu_forward({.gate = a.gate, .up = a.up, .out = act_, .n = n * f});  // recomputed: the same bits
  c.linear_backward(act_, p + w.down, dmlp, g.dact, gp + w.down, nullptr, n, f, d);
  c.swiglu_backward({.gate = a.gate, .up = a.up, .dout = g.dact, .dgate = g.dgate, .dup = g.dup, .n = n * f});
  c.rmsnorm_forward({.x = a.x_mid, .w = p + w.post_norm, .y = normed_, .rows = n, .dim = d, .eps = eps});
  c.linear_backward(normed_, p + w.gate, g.dgate, g.dn, gp + w.gate, nullptr, n, d, f);
  c.linear_backward(normed_, p + w.up, g.dup, g.dn2, gp + w.up, nullptr, n, d, f);
  c.add_inplace({g.dn, g.dn2, n * d});
  c.rmsnorm_backward({.x = a.x_mid, .w = p + w.post_norm, .rstd = a.rstd2, .dy = g.dn, .dx = g.dn2,
                      .dw = gp + w.post_norm, .rows = n, .dim = d});
  c.add_inplace({g.dres, g.dn2, n * d});  // dres = d/d(x_mid)

  // Attention: x_mid = x_in + dropout(att·Woᵀ).
  const float* dattn_out = g.dres;
  if (with_dropout) {
    c.dropout_backward(g.dres, g.dbranch, dropout_keys(b, 2 * layer), n, d, dropout_);
    dattn_out = g.dbranch;
  }
  c.linear_backward(a.att, p + w.wo, dattn_out, g.datt, gp + w.wo, nullptr, n, qd, d);
  c.attention_backward({.q = a.q, .k = a.k, .v = a.v, .out = a.att, .lse = a.lse, .dout = g.datt, .dq = g.dq,
                        .dk = g.dk, .dv = g.dv, .shape = training_shape(b)});
  c.rope_backward({g.dq, positions, {n, config_.n_heads, hd, qd, config_.rope_theta}});
  c.rope_backward({g.dk, positions, {n, config_.n_kv_heads, hd, kvd, config_.rope_theta}});
  c.rmsnorm_forward({.x = residual(layer), .w = p + w.input_norm, .y = normed_, .rows = n, .dim = d, .eps = eps});
  c.linear_backward(normed_, p + w.wq, g.dq, g.dn, gp + w.wq, bias_or_null(gp, w.bq), n, d, qd);
  c.linear_backward(normed_, p + w.wk, g.dk, g.dn2, gp + w.wk, bias_or_null(gp, w.bk), n, d, kvd);
  c.add_inplace({g.dn, g.dn2, n * d});
  c.linear_backward(normed_, p + w.wv, g.dv, g.dn2, gp + w.wv, bias_or_null(gp, w.bv), n, d, kvd);
  c.add_inplace({g.dn, g.dn2, n * d});
  c.rmsnorm_backward({.x = residual(layer), .w = p + w.input_norm, .rstd = a.rstd1, .dy = g.dn, .dx = g.dn2,
                      .dw = gp + w.input_norm, .rows = n, .dim = d});
  c.add_inplace({g.dres, g.dn2, n * d});  // dres = d/d(x_in)
}

}  // namespace retort::core

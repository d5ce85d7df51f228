// A float64 Llama written plainly for the tests: weights by Hugging Face name, embedding, RMSNorm,
// RoPE (rotate-half), causal grouped-query attention, SwiGLU, residuals, final norm, head, mean
// next-token cross-entropy. Optional dropout masks are given by the caller. Slow and obvious.
#pragma once
#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/lm/llama_config.h"

namespace retort::test {

using Vec = std::vector<double>;

struct ReferenceLlama {
  core::LlamaConfig c;
  std::map<std::string, Vec> w;  // HF name -> values (row-major)
  // keep(layer, site 0 attention / 1 mlp, row, col) -> multiplier applied before the residual add.
  std::function<double(int64_t, int, int64_t, int64_t)> dropout_scale;

  const Vec& at(const std::string& name) const { return w.at(name); }

  // y[rows, out] = x[rows, in]·Wᵀ (+ b)
  static Vec linear(const Vec& x, const Vec& W, const Vec* b, int64_t rows, int64_t in, int64_t out) {
    Vec y(static_cast<size_t>(rows * out));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < out; ++o) {
        double s = b ? (*b)[o] : 0.0;
        for (int64_t i = 0; i < in; ++i) s += x[r * in + i] * W[o * in + i];
        y[r * out + o] = s;
      }
    return y;
  }
  Vec rmsnorm(const Vec& x, const Vec& g, int64_t rows) const {
    const int64_t d = c.dim;
    Vec y(x.size());
    for (int64_t r = 0; r < rows; ++r) {
      double ss = 0;
      for (int64_t i = 0; i < d; ++i) ss += x[r * d + i] * x[r * d + i];
      const double inv = 1.0 / std::sqrt(ss / static_cast<double>(d) + c.norm_eps);
      for (int64_t i = 0; i < d; ++i) y[r * d + i] = x[r * d + i] * inv * g[i];
    }
    return y;
  }
  void rope(Vec& x, int64_t rows, int64_t heads, int64_t seq_len) const {
    const int64_t hd = c.head_dim(), half = hd / 2;
    for (int64_t r = 0; r < rows; ++r) {
      const double pos = static_cast<double>(r % seq_len);
      for (int64_t h = 0; h < heads; ++h) {
        double* v = x.data() + (r * heads + h) * hd;
        for (int64_t j = 0; j < half; ++j) {
          const double angle = pos * std::pow(c.rope_theta, -2.0 * static_cast<double>(j) / static_cast<double>(hd));
          const double a = v[j], b = v[j + half];
          v[j] = a * std::cos(angle) - b * std::sin(angle);
          v[j + half] = b * std::cos(angle) + a * std::sin(angle);
        }
      }
    }
  }
  Vec attention(const Vec& q, const Vec& k, const Vec& v, int64_t batch, int64_t seq_len) const {
    const int64_t hd = c.head_dim(), H = c.n_heads, KV = c.n_kv_heads;
    Vec out(static_cast<size_t>(batch * seq_len * H * hd), 0.0);
    const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t h = 0; h < H; ++h) {
        const int64_t g = h / (H / KV);
        for (int64_t i = 0; i < seq_len; ++i) {
          const double* qi = q.data() + ((b * seq_len + i) * H + h) * hd;
          Vec s(static_cast<size_t>(i + 1));
          double m = -1e300;
          for (int64_t j = 0; j <= i; ++j) {
            const double* kj = k.data() + ((b * seq_len + j) * KV + g) * hd;
            double dot = 0;
            for (int64_t e = 0; e < hd; ++e) dot += qi[e] * kj[e];
            s[j] = dot * scale;
            m = std::max(m, s[j]);
          }
          double z = 0;
          for (double& e : s) z += (e = std::exp(e - m));
          double* o = out.data() + ((b * seq_len + i) * H + h) * hd;
          for (int64_t j = 0; j <= i; ++j) {
            const double* vj = v.data() + ((b * seq_len + j) * KV + g) * hd;
            for (int64_t e = 0; e < hd; ++e) o[e] += s[j] / z * vj[e];
          }
        }
      }
    return out;
  }
  void add_branch(Vec& x, const Vec& branch, int64_t layer, int site) const {
    const int64_t d = c.dim;
    for (size_t i = 0; i < x.size(); ++i) {
      const int64_t r = static_cast<int64_t>(i) / d, col = static_cast<int64_t>(i) % d;
      x[i] += branch[i] * (dropout_scale ? dropout_scale(layer, site, r, col) : 1.0);
    }
  }

  // Final-normed hidden [batch*seq_len, dim].
  Vec hidden(const std::vector<int32_t>& tokens, int64_t batch, int64_t seq_len) const {
    const int64_t n = batch * seq_len, d = c.dim, hd = c.head_dim();
    const int64_t qd = c.n_heads * hd, kvd = c.n_kv_heads * hd, f = c.ffn_dim;
    const Vec& emb = at("model.embed_tokens.weight");
    Vec x(static_cast<size_t>(n * d));
    for (int64_t r = 0; r < n; ++r)
      for (int64_t i = 0; i < d; ++i) x[r * d + i] = emb[tokens[r] * d + i];
    for (int64_t l = 0; l < c.n_layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      auto bias = [&](const char* name) { return c.qkv_bias ? &at(p + name) : nullptr; };
      const Vec h1 = rmsnorm(x, at(p + "input_layernorm.weight"), n);
      Vec q = linear(h1, at(p + "self_attn.q_proj.weight"), bias("self_attn.q_proj.bias"), n, d, qd);
      Vec k = linear(h1, at(p + "self_attn.k_proj.weight"), bias("self_attn.k_proj.bias"), n, d, kvd);
      const Vec v = linear(h1, at(p + "self_attn.v_proj.weight"), bias("self_attn.v_proj.bias"), n, d, kvd);
      rope(q, n, c.n_heads, seq_len);
      rope(k, n, c.n_kv_heads, seq_len);
      const Vec att = attention(q, k, v, batch, seq_len);
      add_branch(x, linear(att, at(p + "self_attn.o_proj.weight"), nullptr, n, qd, d), l, 0);
      const Vec h2 = rmsnorm(x, at(p + "post_attention_layernorm.weight"), n);
      const Vec gate = linear(h2, at(p + "mlp.gate_proj.weight"), nullptr, n, d, f);
      const Vec up = linear(h2, at(p + "mlp.up_proj.weight"), nullptr, n, d, f);
      Vec act(gate.size());
      for (size_t i = 0; i < act.size(); ++i) act[i] = gate[i] / (1 + std::exp(-gate[i])) * up[i];
      add_branch(x, linear(act, at(p + "mlp.down_proj.weight"), nullptr, n, f, d), l, 1);
    }
    return rmsnorm(x, at("model.norm.weight"), n);
  }
  const Vec& head() const { return c.tie_embeddings ? at("model.embed_tokens.weight") : at("lm_head.weight"); }
  Vec logits(const Vec& hidden_rows, int64_t rows) const {
    return linear(hidden_rows, head(), nullptr, rows, c.dim, c.vocab_size);
  }
  // Mean cross-entropy over rows whose label is not ignore_index.
  double loss(const std::vector<int32_t>& tokens, const std::vector<int32_t>& labels, int64_t batch,
              int64_t seq_len, int32_t ignore_index = -100) const {
    const int64_t n = batch * seq_len, V = c.vocab_size;
    const Vec z = logits(hidden(tokens, batch, seq_len), n);
    double sum = 0;
    int64_t counted = 0;
    for (int64_t r = 0; r < n; ++r) {
      if (labels[r] == ignore_index) continue;
      double m = -1e300, s = 0;
      for (int64_t j = 0; j < V; ++j) m = std::max(m, z[r * V + j]);
      for (int64_t j = 0; j < V; ++j) s += std::exp(z[r * V + j] - m);
      sum += std::log(s) + m - z[r * V + labels[r]];
      ++counted;
    }
    return sum / static_cast<double>(counted);
  }
};

}  // namespace retort::test

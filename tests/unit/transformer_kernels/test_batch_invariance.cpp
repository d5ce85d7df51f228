// Batch invariance: each sequence's (row's) results are bitwise the same computed inside a batch
// of several or alone (copied to a differently aligned buffer), at 1 and at 2 OpenMP threads.
// Reductions that span rows (dw, dtable) are bitwise the same at 1 and 2 threads.
#include <catch2/catch.hpp>
#include <omp.h>

#include <cmath>
#include <cstring>

#include "kernels/attention.h"
#include "kernels/embedding.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"
#include "tests/unit/transformer_kernels/reference.h"

using namespace retort::kernels;
using namespace retort::test::tk;

namespace {
template <class F>
void with_threads(int n, F&& f) {
  const int before = omp_get_max_threads();
  omp_set_num_threads(n);
  f();
  omp_set_num_threads(before);
}
bool same_bits(const float* a, const float* b, size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }
// A copy of n floats starting one float into its buffer (a different alignment than the batch).
std::vector<float> shifted_copy(const float* src, size_t n) {
  std::vector<float> v(n + 1);
  std::memcpy(v.data() + 1, src, n * sizeof(float));
  return v;
}
}  // namespace

TEST_CASE("rmsnorm rows are batch- and thread-invariant", "[transformer_kernels][invariance]") {
  const int64_t rows = 48, dim = 1027;  // large enough to run in parallel, odd width
  const auto x = padded_random(rows * dim, 1, 3.f), w = padded_random(dim, 2), dy = padded_random(rows * dim, 3);
  std::vector<float> y[2], rstd[2], dx[2], dw[2];
  for (int t = 0; t < 2; ++t)
    with_threads(t + 1, [&] {
      y[t].assign(rows * dim, 0), rstd[t].assign(rows, 0), dx[t].assign(rows * dim, 0), dw[t].assign(dim, 0);
      rmsnorm_forward(x.data(), w.data(), y[t].data(), rstd[t].data(), rows, dim, 1e-5f);
      rmsnorm_backward(x.data(), w.data(), rstd[t].data(), dy.data(), dx[t].data(), dw[t].data(), rows, dim);
    });
  REQUIRE(same_bits(y[0].data(), y[1].data(), rows * dim));
  REQUIRE(same_bits(dx[0].data(), dx[1].data(), rows * dim));
  REQUIRE(same_bits(dw[0].data(), dw[1].data(), dim));
  for (int64_t r = 0; r < rows; ++r) {
    auto xr = shifted_copy(x.data() + r * dim, dim), dyr = shifted_copy(dy.data() + r * dim, dim);
    std::vector<float> yr(dim), dxr(dim), dwr(dim);
    float rs = 0;
    rmsnorm_forward(xr.data() + 1, w.data(), yr.data(), &rs, 1, dim, 1e-5f);
    rmsnorm_backward(xr.data() + 1, w.data(), &rs, dyr.data() + 1, dxr.data(), dwr.data(), 1, dim);
    REQUIRE(same_bits(yr.data(), y[0].data() + r * dim, dim));
    REQUIRE(rs == rstd[0][r]);
    REQUIRE(same_bits(dxr.data(), dx[0].data() + r * dim, dim));
  }
}

TEST_CASE("rope, swiglu and embedding rows are batch- and thread-invariant", "[transformer_kernels][invariance]") {
  const RopeParams p{96, 9, 64, 9 * 64 + 3, 10000.0};
  std::vector<int32_t> pos(p.rows);
  for (int64_t r = 0; r < p.rows; ++r) pos[r] = int32_t(r % 40);
  const auto x0 = padded_random(p.rows * p.row_stride, 4);
  std::vector<float> x[2] = {x0, x0};
  for (int t = 0; t < 2; ++t) with_threads(t + 1, [&] { rope_forward(x[t].data(), pos.data(), p); });
  REQUIRE(same_bits(x[0].data(), x[1].data(), x0.size()));
  for (int64_t r = 0; r < p.rows; ++r) {
    auto xr = shifted_copy(x0.data() + r * p.row_stride, p.row_stride);
    RopeParams one = p;
    one.rows = 1;
    rope_forward(xr.data() + 1, &pos[r], one);
    REQUIRE(same_bits(xr.data() + 1, x[0].data() + r * p.row_stride, p.row_stride));
  }

  const int64_t rows = 40, cols = 1537;  // flat calls split the array at other places than rows
  const auto g = padded_random(rows * cols, 5, 3.f), u = padded_random(rows * cols, 6), d = padded_random(rows * cols, 7);
  std::vector<float> out[2], dg[2], du[2];
  for (int t = 0; t < 2; ++t)
    with_threads(t + 1, [&] {
      out[t].assign(rows * cols, 0), dg[t].assign(rows * cols, 0), du[t].assign(rows * cols, 0);
      swiglu_forward(g.data(), u.data(), out[t].data(), rows * cols);
      swiglu_backward(g.data(), u.data(), d.data(), dg[t].data(), du[t].data(), rows * cols);
    });
  for (auto* v : {out, dg, du}) REQUIRE(same_bits(v[0].data(), v[1].data(), rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    auto gr = shifted_copy(g.data() + r * cols, cols), ur = shifted_copy(u.data() + r * cols, cols),
         dr = shifted_copy(d.data() + r * cols, cols);
    std::vector<float> o(cols), a(cols), b(cols);
    swiglu_forward(gr.data() + 1, ur.data() + 1, o.data(), cols);
    swiglu_backward(gr.data() + 1, ur.data() + 1, dr.data() + 1, a.data(), b.data(), cols);
    REQUIRE(same_bits(o.data(), out[0].data() + r * cols, cols));
    REQUIRE(same_bits(a.data(), dg[0].data() + r * cols, cols));
    REQUIRE(same_bits(b.data(), du[0].data() + r * cols, cols));
  }

  const int64_t n = 700, vocab = 37, dim = 200;
  std::vector<int32_t> tok(n);
  for (int64_t i = 0; i < n; ++i) tok[i] = int32_t((i * i + 3 * i) % vocab);
  const auto dout = padded_random(n * dim, 8);
  std::vector<float> dtable[2];
  for (int t = 0; t < 2; ++t)
    with_threads(t + 1, [&] {
      dtable[t].assign(vocab * dim, 0.5f);
      embedding_backward(tok.data(), n, dout.data(), vocab, dim, dtable[t].data());
    });
  REQUIRE(same_bits(dtable[0].data(), dtable[1].data(), vocab * dim));
}

TEST_CASE("attention sequences are batch- and thread-invariant", "[transformer_kernels][invariance]") {
  for (auto [q_len, kv_len, q_start, kv_heads] : {std::tuple{70, 70, 0, 2}, {9, 140, 131, 6}}) {
    AttentionShape s;
    s.batch = 4, s.q_len = q_len, s.kv_len = kv_len, s.q_start = q_start;
    s.n_heads = 6, s.n_kv_heads = kv_heads, s.head_dim = 32;
    s.q_stride = s.out_stride = 6 * 32, s.kv_stride = kv_heads * 32;
    s.scale = float(1 / std::sqrt(32.0));
    const size_t qn = q_len * s.q_stride, kvn = kv_len * s.kv_stride, ln = 6 * q_len;  // per sequence
    const auto q = padded_random(4 * qn, 10), k = padded_random(4 * kvn, 11), v = padded_random(4 * kvn, 12),
               dout = padded_random(4 * qn, 13);
    std::vector<float> out[2], lse[2], dq[2], dk[2], dv[2];
    for (int t = 0; t < 2; ++t)
      with_threads(t + 1, [&] {
        out[t].assign(4 * qn, 0), lse[t].assign(4 * ln, 0), dq[t].assign(4 * qn, 0);
        dk[t].assign(4 * kvn, 0), dv[t].assign(4 * kvn, 0);
        attention_forward(q.data(), k.data(), v.data(), out[t].data(), lse[t].data(), s);
        attention_backward(q.data(), k.data(), v.data(), out[t].data(), lse[t].data(), dout.data(),
                           dq[t].data(), dk[t].data(), dv[t].data(), s);
      });
    CAPTURE(q_len, kv_len, q_start, kv_heads);
    REQUIRE(same_bits(out[0].data(), out[1].data(), 4 * qn));
    REQUIRE(same_bits(lse[0].data(), lse[1].data(), 4 * ln));
    REQUIRE(same_bits(dq[0].data(), dq[1].data(), 4 * qn));
    REQUIRE(same_bits(dk[0].data(), dk[1].data(), 4 * kvn));
    REQUIRE(same_bits(dv[0].data(), dv[1].data(), 4 * kvn));
    AttentionShape one = s;
    one.batch = 1;
    for (int64_t b = 0; b < 4; ++b)
      for (int threads : {1, 2})
        with_threads(threads, [&] {
          auto qb = shifted_copy(q.data() + b * qn, qn), kb = shifted_copy(k.data() + b * kvn, kvn),
               vb = shifted_copy(v.data() + b * kvn, kvn), db = shifted_copy(dout.data() + b * qn, qn);
          std::vector<float> o(qn), l(ln), gq(qn), gk(kvn), gv(kvn);
          attention_forward(qb.data() + 1, kb.data() + 1, vb.data() + 1, o.data(), l.data(), one);
          attention_backward(qb.data() + 1, kb.data() + 1, vb.data() + 1, o.data(), l.data(), db.data() + 1,
                             gq.data(), gk.data(), gv.data(), one);
          CAPTURE(b, threads);
          REQUIRE(same_bits(o.data(), out[0].data() + b * qn, qn));
          REQUIRE(same_bits(l.data(), lse[0].data() + b * ln, ln));
          REQUIRE(same_bits(gq.data(), dq[0].data() + b * qn, qn));
          REQUIRE(same_bits(gk.data(), dk[0].data() + b * kvn, kvn));
          REQUIRE(same_bits(gv.data(), dv[0].data() + b * kvn, kvn));
        });
  }
}

// Embedding, RMSNorm, RoPE, SwiGLU and the residual add vs the float64 references in
// reference.h, on odd and model-like sizes; sentinels after (and between) every output row.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>

#include "core/base/error.h"
#include "kernels/embedding.h"
#include "kernels/residual.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"
#include "tests/unit/transformer_kernels/reference.h"

using namespace retort::kernels;
using namespace retort::test::tk;

TEST_CASE("embedding forward and backward match the reference", "[transformer_kernels][embedding]") {
  for (auto [n, vocab, dim] : {std::tuple{1, 1, 1}, {9, 5, 3}, {40, 17, 130}, {300, 50, 64}}) {
    std::vector<int32_t> tok(n);
    for (int i = 0; i < n; ++i) tok[i] = (i * 7 + i / 3) % vocab;  // repeats, out of order
    const auto table = padded_random(vocab * dim, 1), dout = padded_random(n * dim, 2);
    auto out = padded_sentinels(n * dim), dtable = padded_random(vocab * dim, 3);
    Vec ref_dtable = to_double(dtable, vocab * dim), ref_out;
    embedding_forward(tok.data(), n, table.data(), vocab, dim, out.data());
    embedding_backward(tok.data(), n, dout.data(), vocab, dim, dtable.data());
    retort::test::tk::embedding_forward(tok, to_double(table, vocab * dim), dim, ref_out);
    retort::test::tk::embedding_backward(tok, to_double(dout, n * dim), dim, ref_dtable);
    for (int i = 0; i < n * dim; ++i) REQUIRE(double(out[i]) == ref_out[i]);  // a copy: exact
    REQUIRE(worst_ratio("embedding backward", dtable.data(), ref_dtable.data(), vocab * dim, 1e-6, 1e-6) <= 1);
    REQUIRE(tail_intact(out, n * dim));
    REQUIRE(tail_intact(dtable, vocab * dim));
  }
}

TEST_CASE("embedding refuses an out-of-range token id, naming it", "[transformer_kernels][embedding]") {
  const auto table = padded_random(4 * 2, 1);
  auto out = padded_sentinels(3 * 2);
  for (int32_t bad : {4, -1, 1000}) {
    const std::vector<int32_t> tok = {0, bad, 1};
    try {
      embedding_forward(tok.data(), 3, table.data(), 4, 2, out.data());
      FAIL("no error for id " << bad);
    } catch (const retort::Error& e) {
      REQUIRE(e.kind() == retort::ErrorKind::input);
      REQUIRE_THAT(e.message(), Catch::Contains("token id " + std::to_string(bad)));
      REQUIRE_THAT(e.message(), Catch::Contains("position 1"));
    }
    REQUIRE_THROWS_AS(embedding_backward(tok.data(), 3, out.data(), 4, 2, out.data()), retort::Error);
  }
}

TEST_CASE("rmsnorm forward and backward match the reference", "[transformer_kernels][rmsnorm]") {
  for (auto [rows, dim] : {std::pair{1, 1}, {3, 7}, {5, 13}, {64, 576}, {9, 1027}}) {
    const float eps = 1e-5f;
    const auto x = padded_random(rows * dim, 11, 2.f), w = padded_random(dim, 12),
               dy = padded_random(rows * dim, 13);
    auto y = padded_sentinels(rows * dim), rstd = padded_sentinels(rows),
         dx = padded_sentinels(rows * dim), dw = padded_random(dim, 14);
    Vec ref_y, ref_rstd, ref_dx, ref_dw = to_double(dw, dim);
    const Vec xd = to_double(x, rows * dim), wd = to_double(w, dim);
    rmsnorm_forward(x.data(), w.data(), y.data(), rstd.data(), rows, dim, eps);
    rmsnorm_backward(x.data(), w.data(), rstd.data(), dy.data(), dx.data(), dw.data(), rows, dim);
    retort::test::tk::rmsnorm_forward(xd, wd, rows, dim, eps, ref_y, ref_rstd);
    retort::test::tk::rmsnorm_backward(xd, wd, to_double(dy, rows * dim), rows, dim, eps, ref_dx, ref_dw);
    CAPTURE(rows, dim);
    REQUIRE(worst_ratio("rmsnorm y", y.data(), ref_y.data(), rows * dim, 1e-6, 2e-6) <= 1);
    REQUIRE(worst_ratio("rmsnorm rstd", rstd.data(), ref_rstd.data(), rows, 0, 2e-6) <= 1);
    REQUIRE(worst_ratio("rmsnorm dx", dx.data(), ref_dx.data(), rows * dim, 1e-5, 1e-5) <= 1);
    REQUIRE(worst_ratio("rmsnorm dw", dw.data(), ref_dw.data(), dim, 1e-5, 1e-5) <= 1);
    for (auto* v : {&y, &dx}) REQUIRE(tail_intact(*v, rows * dim));
    REQUIRE(tail_intact(rstd, rows));
    REQUIRE(tail_intact(dw, dim));
    // Inference form: no rstd output, same y bits. In place (y = x, dx = dy): same bits.
    auto y2 = padded_sentinels(rows * dim);
    rmsnorm_forward(x.data(), w.data(), y2.data(), nullptr, rows, dim, eps);
    REQUIRE(std::memcmp(y.data(), y2.data(), sizeof(float) * rows * dim) == 0);
    auto xy = x, dydx = dy, dw2 = padded_random(dim, 14);
    rmsnorm_forward(xy.data(), w.data(), xy.data(), nullptr, rows, dim, eps);
    REQUIRE(std::memcmp(xy.data(), y.data(), sizeof(float) * rows * dim) == 0);
    rmsnorm_backward(x.data(), w.data(), rstd.data(), dydx.data(), dydx.data(), dw2.data(), rows, dim);
    REQUIRE(std::memcmp(dydx.data(), dx.data(), sizeof(float) * rows * dim) == 0);
    REQUIRE(std::memcmp(dw2.data(), dw.data(), sizeof(float) * dim) == 0);
  }
}

TEST_CASE("rope forward and backward match the reference and leave row padding alone",
          "[transformer_kernels][rope]") {
  struct Case { int64_t rows, heads, head_dim, pad; double theta; };
  for (auto c : {Case{1, 1, 2, 0, 10000.0}, Case{7, 3, 8, 5, 10000.0}, Case{33, 9, 64, 0, 100000.0},
                 Case{20, 2, 48, 3, 500000.0}}) {
    RopeParams p{c.rows, c.heads, c.head_dim, c.heads * c.head_dim + c.pad, c.theta};
    std::vector<int32_t> pos(c.rows);
    for (int64_t r = 0; r < c.rows; ++r) pos[r] = int32_t((r * 37) % 1500);  // sparse range: per-row path
    for (bool dense_positions : {false, true}) {
      if (dense_positions)
        for (int64_t r = 0; r < c.rows; ++r) pos[r] = int32_t(r % 5 + 3);  // table path
      const size_t n = c.rows * p.row_stride;
      const auto x0 = padded_random(n, 21);
      auto x = x0;
      rope_forward(x.data(), pos.data(), p);
      Vec ref = to_double(x0, n);
      rope_apply(ref, pos, p, 1.0);
      CAPTURE(c.rows, c.heads, c.head_dim, dense_positions);
      REQUIRE(worst_ratio("rope forward", x.data(), ref.data(), n, 1e-6, 1e-6) <= 1);
      auto dx = x0;
      rope_backward(dx.data(), pos.data(), p);
      Vec ref_b = to_double(x0, n);
      rope_apply(ref_b, pos, p, -1.0);
      REQUIRE(worst_ratio("rope backward", dx.data(), ref_b.data(), n, 1e-6, 1e-6) <= 1);
      for (int64_t r = 0; r < c.rows; ++r)  // the pad floats of each row are copies of the input
        for (int64_t e = c.heads * c.head_dim; e < p.row_stride; ++e) {
          REQUIRE(x[r * p.row_stride + e] == x0[r * p.row_stride + e]);
          REQUIRE(dx[r * p.row_stride + e] == x0[r * p.row_stride + e]);
        }
      REQUIRE(tail_intact(x, n));
      REQUIRE(tail_intact(dx, n));
    }
  }
}

TEST_CASE("rope refuses a negative position or an odd head_dim", "[transformer_kernels][rope]") {
  std::vector<float> x(2 * 8, 1.f);
  const std::vector<int32_t> pos = {3, -1};
  REQUIRE_THROWS_AS(rope_forward(x.data(), pos.data(), RopeParams{2, 1, 8, 8, 10000.0}), retort::Error);
  const std::vector<int32_t> ok = {3, 4};
  REQUIRE_THROWS_AS(rope_backward(x.data(), ok.data(), RopeParams{2, 1, 7, 8, 10000.0}), retort::Error);
  REQUIRE(std::all_of(x.begin(), x.end(), [](float v) { return v == 1.f; }));  // nothing written
}

TEST_CASE("swiglu forward and backward match the reference",
          "[transformer_kernels][swiglu]") {
  for (int64_t n : {1, 7, 100, 5000}) {
    const auto g = padded_random(n, 31, 3.f), u = padded_random(n, 32), dout = padded_random(n, 33);
    auto out = padded_sentinels(n), dg = padded_sentinels(n), du = padded_sentinels(n);
    swiglu_forward(g.data(), u.data(), out.data(), n);
    swiglu_backward(g.data(), u.data(), dout.data(), dg.data(), du.data(), n);
    Vec ro, rdg, rdu;
    retort::test::tk::swiglu_forward(to_double(g, n), to_double(u, n), ro);
    retort::test::tk::swiglu_backward(to_double(g, n), to_double(u, n), to_double(dout, n), rdg, rdu);
    REQUIRE(worst_ratio("swiglu out", out.data(), ro.data(), n, 1e-6, 1e-6) <= 1);
    REQUIRE(worst_ratio("swiglu dgate", dg.data(), rdg.data(), n, 1e-6, 1e-6) <= 1);
    REQUIRE(worst_ratio("swiglu dup", du.data(), rdu.data(), n, 1e-6, 1e-6) <= 1);
    for (auto* v : {&out, &dg, &du}) REQUIRE(tail_intact(*v, n));
  }
  // Large |gate|: σ saturates (exp's argument stays <= 0 in the kernel).
  const std::vector<float> g = {-100.f, -88.f, -87.5f, -20.f, -0.f, 0.f, 20.f, 88.f, 100.f};
  const std::vector<float> u(g.size(), 1.5f), dout(g.size(), 0.75f);
  std::vector<float> out(g.size()), dg(g.size()), du(g.size());
  swiglu_forward(g.data(), u.data(), out.data(), g.size());
  swiglu_backward(g.data(), u.data(), dout.data(), dg.data(), du.data(), g.size());
  Vec ro, rdg, rdu;
  const Vec gd(g.begin(), g.end()), ud(u.begin(), u.end()), dd(dout.begin(), dout.end());
  retort::test::tk::swiglu_forward(gd, ud, ro);
  retort::test::tk::swiglu_backward(gd, ud, dd, rdg, rdu);
  REQUIRE(worst_ratio("swiglu saturated out", out.data(), ro.data(), g.size(), 1e-6, 1e-6) <= 1);
  REQUIRE(worst_ratio("swiglu saturated dgate", dg.data(), rdg.data(), g.size(), 1e-6, 1e-6) <= 1);
  REQUIRE(worst_ratio("swiglu saturated dup", du.data(), rdu.data(), g.size(), 1e-6, 1e-6) <= 1);
}

TEST_CASE("swiglu strided over the halves of a fused buffer matches the reference",
          "[transformer_kernels][swiglu]") {
  // Strided: gate and up are the two halves of one [rows, 2*cols] buffer, out has padding.
  const int64_t rows = 13, cols = 37, in_stride = 2 * cols, out_stride = cols + 3;
  const auto fused = padded_random(rows * in_stride, 34, 2.f), dout = padded_random(rows * out_stride, 35);
  auto out = padded_sentinels(rows * out_stride), dfused = padded_sentinels(rows * in_stride);
  swiglu_forward(fused.data(), fused.data() + cols, out.data(), rows, cols, in_stride, out_stride);
  swiglu_backward(fused.data(), fused.data() + cols, dout.data(), dfused.data(), dfused.data() + cols,
                  rows, cols, in_stride, out_stride);
  for (int64_t r = 0; r < rows; ++r) {
    Vec g(fused.begin() + r * in_stride, fused.begin() + r * in_stride + cols);
    Vec u(fused.begin() + r * in_stride + cols, fused.begin() + (r + 1) * in_stride);
    Vec d(dout.begin() + r * out_stride, dout.begin() + r * out_stride + cols);
    Vec ro, rdg, rdu;
    retort::test::tk::swiglu_forward(g, u, ro);
    retort::test::tk::swiglu_backward(g, u, d, rdg, rdu);
    REQUIRE(worst_ratio("swiglu strided out", out.data() + r * out_stride, ro.data(), cols, 1e-6, 1e-6) <= 1);
    REQUIRE(worst_ratio("swiglu strided dgate", dfused.data() + r * in_stride, rdg.data(), cols, 1e-6, 1e-6) <= 1);
    REQUIRE(worst_ratio("swiglu strided dup", dfused.data() + r * in_stride + cols, rdu.data(), cols, 1e-6, 1e-6) <= 1);
    for (int64_t c = cols; c < out_stride; ++c) REQUIRE(out[r * out_stride + c] == kSentinel);
  }
  REQUIRE(tail_intact(out, rows * out_stride));
  REQUIRE(tail_intact(dfused, rows * in_stride));
}

TEST_CASE("add_inplace adds exactly", "[transformer_kernels][residual]") {
  for (int64_t n : {1, 7, 70000}) {
    auto y = padded_random(n, 41);
    const auto x = padded_random(n, 42), y0 = y;
    add_inplace(y.data(), x.data(), n);
    for (int64_t i = 0; i < n; ++i) REQUIRE(y[i] == y0[i] + x[i]);  // one float add: exact rule
    REQUIRE(tail_intact(y, n));
  }
}

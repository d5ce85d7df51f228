// The CUDA embedding, RMSNorm, RoPE, SwiGLU and residual kernels (kernels/cuda/
// transformer_pointwise.cuh, the exact device source) on the SIMT emulator, vs the float64
// references of tests/unit/transformer_kernels with sentinels after every output; sizes off the
// 256-thread grid; batch invariance (a row alone vs inside a batch: bitwise).
#include "tests/simt/simt.h"
// The emulator's built-ins must come first.
#include <catch2/catch.hpp>

#include <cstring>
#include <tuple>

#include "kernels/cuda/transformer_pointwise.cuh"
#include "kernels/embedding.h"
#include "tests/unit/transformer_kernels/reference.h"

using namespace retort::kernels;
using namespace retort::test::tk;
using retort::test::random_normal;

namespace {
bool same_bits(const float* a, const float* b, size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }
}  // namespace

TEST_CASE("emulated CUDA embedding forward and backward match the reference", "[cuda][emulated][embedding]") {
  // vocab 70 > 64 owner ranges (uneven ranges), vocab 5 < 64 (one row per range), dim 300 > 256.
  for (auto [n, vocab, dim] : {std::tuple{1, 1, 1}, {9, 5, 3}, {40, 70, 300}, {150, 130, 64}}) {
    std::vector<int32_t> tok(n);
    for (int i = 0; i < n; ++i) tok[i] = (i * 7 + i / 3) % vocab;  // repeats, out of order
    const auto table = padded_random(vocab * dim, 1), dout = padded_random(n * dim, 2);
    auto out = padded_sentinels(n * dim), dtable = padded_random(vocab * dim, 3);
    auto cpu_dtable = dtable;
    Vec ref_dtable = to_double(dtable, vocab * dim), ref_out;
    gpu::enqueue_embedding_forward(tok.data(), n, table.data(), vocab, dim, out.data(), nullptr);
    gpu::enqueue_embedding_backward(tok.data(), n, dout.data(), vocab, dim, dtable.data(), nullptr);
    retort::test::tk::embedding_forward(tok, to_double(table, vocab * dim), dim, ref_out);
    retort::test::tk::embedding_backward(tok, to_double(dout, n * dim), dim, ref_dtable);
    CAPTURE(n, vocab, dim);
    for (int i = 0; i < n * dim; ++i) REQUIRE(double(out[i]) == ref_out[i]);  // a copy: exact
    REQUIRE(worst_ratio("cuda embedding backward", dtable.data(), ref_dtable.data(), vocab * dim, 1e-6, 1e-6) <= 1);
    REQUIRE(tail_intact(out, n * dim));
    REQUIRE(tail_intact(dtable, vocab * dim));
    // Each table element adds its tokens in increasing position, as the CPU kernel: same bits.
    retort::kernels::embedding_backward(tok.data(), n, dout.data(), vocab, dim, cpu_dtable.data());
    REQUIRE(same_bits(dtable.data(), cpu_dtable.data(), vocab * dim));
  }
}

TEST_CASE("emulated CUDA id check reports the first out-of-range id", "[cuda][emulated][embedding]") {
  const std::vector<int32_t> good = {0, 3, 1, 3};
  unsigned long long bad = 0;
  gpu::enqueue_check_ids(good.data(), 4, 4, &bad, nullptr);
  REQUIRE(bad == 0);
  const std::vector<int32_t> tok = {0, 1, 9, -1, 7, 2};  // first bad at position 2
  gpu::enqueue_check_ids(tok.data(), 6, 4, &bad, nullptr);
  REQUIRE(6 - int64_t(bad) == 2);
  // The forward writes zeros for the bad rows and the backward skips them (no write outside the table).
  const auto table = padded_random(4 * 3, 5), dout = padded_random(6 * 3, 6);
  auto out = padded_sentinels(6 * 3), dtable = padded_random(4 * 3, 7);
  const auto dtable0 = dtable;
  gpu::enqueue_embedding_forward(tok.data(), 6, table.data(), 4, 3, out.data(), nullptr);
  gpu::enqueue_embedding_backward(tok.data(), 6, dout.data(), 4, 3, dtable.data(), nullptr);
  for (int c = 0; c < 3; ++c) {
    REQUIRE(out[2 * 3 + c] == 0.f);
    REQUIRE(out[3 * 3 + c] == 0.f);
    REQUIRE(out[4 * 3 + c] == 0.f);
    REQUIRE(out[5 * 3 + c] == table[2 * 3 + c]);
    REQUIRE(dtable[3 * 3 + c] == dtable0[3 * 3 + c]);  // id 3 is not among the tokens
    REQUIRE(dtable[2 * 3 + c] == dtable0[2 * 3 + c] + dout[5 * 3 + c]);
  }
  REQUIRE(tail_intact(out, 6 * 3));
  REQUIRE(tail_intact(dtable, 4 * 3));
}

TEST_CASE("emulated CUDA rmsnorm forward and backward match the reference", "[cuda][emulated][rmsnorm]") {
  // dim 1027 > 4 × 256 threads; rows 40 = 2 dw chunks of 32 (the last partial).
  for (auto [rows, dim] : {std::pair{1, 1}, {3, 7}, {40, 13}, {3, 576}, {2, 1027}}) {
    const float eps = 1e-5f;
    const auto x = padded_random(rows * dim, 11, 2.f), w = padded_random(dim, 12),
               dy = padded_random(rows * dim, 13);
    auto y = padded_sentinels(rows * dim), rstd = padded_sentinels(rows), dx = padded_sentinels(rows * dim),
         dw = padded_random(dim, 14);
    auto partial = padded_sentinels(gpu::rmsnorm_backward_scratch(rows, dim));
    Vec ref_y, ref_rstd, ref_dx, ref_dw = to_double(dw, dim);
    const Vec xd = to_double(x, rows * dim), wd = to_double(w, dim);
    gpu::enqueue_rmsnorm_forward(x.data(), w.data(), y.data(), rstd.data(), rows, dim, eps, nullptr);
    gpu::enqueue_rmsnorm_backward(x.data(), w.data(), rstd.data(), dy.data(), dx.data(), dw.data(), partial.data(),
                                  rows, dim, nullptr);
    retort::test::tk::rmsnorm_forward(xd, wd, rows, dim, eps, ref_y, ref_rstd);
    retort::test::tk::rmsnorm_backward(xd, wd, to_double(dy, rows * dim), rows, dim, eps, ref_dx, ref_dw);
    CAPTURE(rows, dim);
    REQUIRE(worst_ratio("cuda rmsnorm y", y.data(), ref_y.data(), rows * dim, 1e-6, 2e-6) <= 1);
    REQUIRE(worst_ratio("cuda rmsnorm rstd", rstd.data(), ref_rstd.data(), rows, 0, 2e-6) <= 1);
    REQUIRE(worst_ratio("cuda rmsnorm dx", dx.data(), ref_dx.data(), rows * dim, 1e-5, 1e-5) <= 1);
    REQUIRE(worst_ratio("cuda rmsnorm dw", dw.data(), ref_dw.data(), dim, 1e-5, 1e-5) <= 1);
    for (auto* v : {&y, &dx}) REQUIRE(tail_intact(*v, rows * dim));
    REQUIRE(tail_intact(rstd, rows));
    REQUIRE(tail_intact(dw, dim));
    REQUIRE(tail_intact(partial, gpu::rmsnorm_backward_scratch(rows, dim)));
    // Inference form (no rstd) and in place (y = x, dx = dy): the same bits.
    auto y2 = padded_sentinels(rows * dim);
    gpu::enqueue_rmsnorm_forward(x.data(), w.data(), y2.data(), nullptr, rows, dim, eps, nullptr);
    REQUIRE(same_bits(y.data(), y2.data(), rows * dim));
    auto xy = x, dydx = dy, dw2 = padded_random(dim, 14);
    gpu::enqueue_rmsnorm_forward(xy.data(), w.data(), xy.data(), nullptr, rows, dim, eps, nullptr);
    REQUIRE(same_bits(xy.data(), y.data(), rows * dim));
    gpu::enqueue_rmsnorm_backward(x.data(), w.data(), rstd.data(), dydx.data(), dydx.data(), dw2.data(),
                                  partial.data(), rows, dim, nullptr);
    REQUIRE(same_bits(dydx.data(), dx.data(), rows * dim));
    REQUIRE(same_bits(dw2.data(), dw.data(), dim));
  }
}

TEST_CASE("emulated CUDA rmsnorm rows have the same bits alone or inside a batch",
          "[cuda][emulated][rmsnorm][invariance]") {
  const int64_t rows = 6, dim = 300;
  const auto x = random_normal(rows * dim, 15), w = random_normal(dim, 16), dy = random_normal(rows * dim, 17);
  std::vector<float> y(rows * dim), rstd(rows), dx(rows * dim), dw(dim, 0.f);
  std::vector<float> partial(gpu::rmsnorm_backward_scratch(rows, dim));
  gpu::enqueue_rmsnorm_forward(x.data(), w.data(), y.data(), rstd.data(), rows, dim, 1e-5f, nullptr);
  gpu::enqueue_rmsnorm_backward(x.data(), w.data(), rstd.data(), dy.data(), dx.data(), dw.data(), partial.data(), rows,
                                dim, nullptr);
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<float> y1(dim), rstd1(1), dx1(dim), dw1(dim, 0.f), partial1(dim);
    gpu::enqueue_rmsnorm_forward(x.data() + r * dim, w.data(), y1.data(), rstd1.data(), 1, dim, 1e-5f, nullptr);
    gpu::enqueue_rmsnorm_backward(x.data() + r * dim, w.data(), rstd1.data(), dy.data() + r * dim, dx1.data(),
                                  dw1.data(), partial1.data(), 1, dim, nullptr);
    REQUIRE(same_bits(y1.data(), y.data() + r * dim, dim));
    REQUIRE(rstd1[0] == rstd[r]);
    REQUIRE(same_bits(dx1.data(), dx.data() + r * dim, dim));
  }
}

TEST_CASE("emulated CUDA rope forward and backward match the reference and leave row padding alone",
          "[cuda][emulated][rope]") {
  struct Case { int64_t rows, heads, head_dim, pad; double theta; };
  for (auto c : {Case{1, 1, 2, 0, 10000.0}, Case{7, 3, 8, 5, 10000.0}, Case{33, 9, 64, 0, 100000.0},
                 Case{20, 2, 48, 3, 500000.0}}) {
    RopeParams p{c.rows, c.heads, c.head_dim, c.heads * c.head_dim + c.pad, c.theta};
    std::vector<int32_t> pos(c.rows);
    for (int64_t r = 0; r < c.rows; ++r) pos[r] = int32_t((r * 37) % 1500);
    const size_t n = c.rows * p.row_stride;
    const auto x0 = padded_random(n, 21);
    auto x = x0, dx = x0;
    gpu::enqueue_rope(x.data(), pos.data(), p, 1.f, nullptr);
    gpu::enqueue_rope(dx.data(), pos.data(), p, -1.f, nullptr);
    Vec ref = to_double(x0, n), ref_b = to_double(x0, n);
    rope_apply(ref, pos, p, 1.0);
    rope_apply(ref_b, pos, p, -1.0);
    CAPTURE(c.rows, c.heads, c.head_dim);
    REQUIRE(worst_ratio("cuda rope forward", x.data(), ref.data(), n, 1e-6, 1e-6) <= 1);
    REQUIRE(worst_ratio("cuda rope backward", dx.data(), ref_b.data(), n, 1e-6, 1e-6) <= 1);
    for (int64_t r = 0; r < c.rows; ++r)
      for (int64_t e = c.heads * c.head_dim; e < p.row_stride; ++e) {
        REQUIRE(x[r * p.row_stride + e] == x0[r * p.row_stride + e]);
        REQUIRE(dx[r * p.row_stride + e] == x0[r * p.row_stride + e]);
      }
    REQUIRE(tail_intact(x, n));
    REQUIRE(tail_intact(dx, n));
  }
  std::vector<float> x(16, 1.f);
  const std::vector<int32_t> pos = {3, 4};
  REQUIRE_THROWS_AS(gpu::enqueue_rope(x.data(), pos.data(), RopeParams{2, 1, 7, 8, 10000.0}, 1.f, nullptr),
                    retort::Error);  // odd head_dim
}

TEST_CASE("emulated CUDA swiglu forward and backward match the reference", "[cuda][emulated][swiglu]") {
  for (int64_t n : {1, 7, 300, 5000}) {
    const auto g = padded_random(n, 31, 3.f), u = padded_random(n, 32), dout = padded_random(n, 33);
    auto out = padded_sentinels(n), dg = padded_sentinels(n), du = padded_sentinels(n);
    gpu::enqueue_swiglu_forward(g.data(), u.data(), out.data(), 1, n, n, n, nullptr);
    gpu::enqueue_swiglu_backward(g.data(), u.data(), dout.data(), dg.data(), du.data(), 1, n, n, n, nullptr);
    Vec ro, rdg, rdu;
    retort::test::tk::swiglu_forward(to_double(g, n), to_double(u, n), ro);
    retort::test::tk::swiglu_backward(to_double(g, n), to_double(u, n), to_double(dout, n), rdg, rdu);
    CAPTURE(n);
    REQUIRE(worst_ratio("cuda swiglu out", out.data(), ro.data(), n, 1e-6, 1e-6) <= 1);
    REQUIRE(worst_ratio("cuda swiglu dgate", dg.data(), rdg.data(), n, 1e-6, 1e-6) <= 1);
    REQUIRE(worst_ratio("cuda swiglu dup", du.data(), rdu.data(), n, 1e-6, 1e-6) <= 1);
    for (auto* v : {&out, &dg, &du}) REQUIRE(tail_intact(*v, n));
  }
  // Saturated σ: exp's argument stays <= 0.
  const std::vector<float> g = {-100.f, -88.f, -87.5f, -20.f, -0.f, 0.f, 20.f, 88.f, 100.f};
  const std::vector<float> u(g.size(), 1.5f), dout(g.size(), 0.75f);
  const int64_t n = int64_t(g.size());
  std::vector<float> out(g.size()), dg(g.size()), du(g.size());
  gpu::enqueue_swiglu_forward(g.data(), u.data(), out.data(), 1, n, n, n, nullptr);
  gpu::enqueue_swiglu_backward(g.data(), u.data(), dout.data(), dg.data(), du.data(), 1, n, n, n, nullptr);
  Vec ro, rdg, rdu;
  const Vec gd(g.begin(), g.end()), ud(u.begin(), u.end()), dd(dout.begin(), dout.end());
  retort::test::tk::swiglu_forward(gd, ud, ro);
  retort::test::tk::swiglu_backward(gd, ud, dd, rdg, rdu);
  REQUIRE(worst_ratio("cuda swiglu saturated out", out.data(), ro.data(), g.size(), 1e-6, 1e-6) <= 1);
  REQUIRE(worst_ratio("cuda swiglu saturated dgate", dg.data(), rdg.data(), g.size(), 1e-6, 1e-6) <= 1);
  REQUIRE(worst_ratio("cuda swiglu saturated dup", du.data(), rdu.data(), g.size(), 1e-6, 1e-6) <= 1);
}

TEST_CASE("emulated CUDA swiglu strided over the halves of a fused buffer", "[cuda][emulated][swiglu]") {
  const int64_t rows = 13, cols = 37, in_stride = 2 * cols, out_stride = cols + 3;
  const auto fused = padded_random(rows * in_stride, 34, 2.f), dout = padded_random(rows * out_stride, 35);
  auto out = padded_sentinels(rows * out_stride), dfused = padded_sentinels(rows * in_stride);
  gpu::enqueue_swiglu_forward(fused.data(), fused.data() + cols, out.data(), rows, cols, in_stride, out_stride,
                              nullptr);
  gpu::enqueue_swiglu_backward(fused.data(), fused.data() + cols, dout.data(), dfused.data(), dfused.data() + cols,
                               rows, cols, in_stride, out_stride, nullptr);
  for (int64_t r = 0; r < rows; ++r) {
    Vec g(fused.begin() + r * in_stride, fused.begin() + r * in_stride + cols);
    Vec u(fused.begin() + r * in_stride + cols, fused.begin() + (r + 1) * in_stride);
    Vec d(dout.begin() + r * out_stride, dout.begin() + r * out_stride + cols);
    Vec ro, rdg, rdu;
    retort::test::tk::swiglu_forward(g, u, ro);
    retort::test::tk::swiglu_backward(g, u, d, rdg, rdu);
    REQUIRE(worst_ratio("cuda swiglu strided out", out.data() + r * out_stride, ro.data(), cols, 1e-6, 1e-6) <= 1);
    REQUIRE(worst_ratio("cuda swiglu strided dgate", dfused.data() + r * in_stride, rdg.data(), cols, 1e-6, 1e-6) <=
            1);
    REQUIRE(worst_ratio("cuda swiglu strided dup", dfused.data() + r * in_stride + cols, rdu.data(), cols, 1e-6,
                        1e-6) <= 1);
    for (int64_t c = cols; c < out_stride; ++c) REQUIRE(out[r * out_stride + c] == kSentinel);
  }
  REQUIRE(tail_intact(out, rows * out_stride));
  REQUIRE(tail_intact(dfused, rows * in_stride));
}

TEST_CASE("emulated CUDA add_inplace adds exactly", "[cuda][emulated][residual]") {
  for (int64_t n : {1, 7, 70000}) {
    auto y = padded_random(n, 41);
    const auto x = padded_random(n, 42), y0 = y;
    gpu::enqueue_add_inplace(y.data(), x.data(), n, nullptr);
    for (int64_t i = 0; i < n; ++i) REQUIRE(y[i] == y0[i] + x[i]);
    REQUIRE(tail_intact(y, n));
  }
}

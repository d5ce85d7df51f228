// The float64 reference backwards are what the float32 kernels are held to, so they are checked
// here against central differences of the reference forwards: loss = Σ forward(x)·r, random r.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>

#include "tests/unit/transformer_kernels/reference.h"

using namespace retort::kernels;
using namespace retort::test::tk;

namespace {
constexpr double kStep = 1e-6;
constexpr double kTol = 1e-7, kEps = 1e-6;

Vec random_double(size_t n, uint32_t seed, float scale = 1.f) {
  const auto v = retort::test::random_normal(n, seed, scale);
  return Vec(v.begin(), v.end());
}
double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}
// Central differences of loss() w.r.t. every element of x, compared with grad.
void check_gradient(const char* what, Vec& x, const Vec& grad, const std::function<double()>& loss) {
  REQUIRE(grad.size() == x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double x0 = x[i];
    x[i] = x0 + kStep;
    const double up = loss();
    x[i] = x0 - kStep;
    const double down = loss();
    x[i] = x0;
    const double fd = (up - down) / (2 * kStep);
    CAPTURE(what, i, fd, grad[i]);
    REQUIRE(std::abs(fd - grad[i]) <= kTol + std::abs(fd) * kEps);
  }
}
}  // namespace

TEST_CASE("reference gradients: rmsnorm", "[transformer_kernels][gradcheck]") {
  const int64_t rows = 3, dim = 5;
  const double eps = 1e-5;
  Vec x = random_double(rows * dim, 1), w = random_double(dim, 2), r = random_double(rows * dim, 3);
  const auto loss = [&] {
    Vec y, rstd;
    rmsnorm_forward(x, w, rows, dim, eps, y, rstd);
    return dot(y, r);
  };
  Vec dx, dw(dim, 0.0);
  rmsnorm_backward(x, w, r, rows, dim, eps, dx, dw);
  check_gradient("rmsnorm dx", x, dx, loss);
  check_gradient("rmsnorm dw", w, dw, loss);
}

TEST_CASE("reference gradients: rope", "[transformer_kernels][gradcheck]") {
  const RopeParams p{3, 2, 6, 13, 10000.0};
  const std::vector<int32_t> pos = {0, 5, 1234};
  Vec x = random_double(p.rows * p.row_stride, 4), r = random_double(p.rows * p.row_stride, 5);
  const auto loss = [&] {
    Vec y = x;
    rope_apply(y, pos, p, 1.0);
    return dot(y, r);
  };
  Vec dx = r;
  rope_apply(dx, pos, p, -1.0);
  check_gradient("rope dx", x, dx, loss);
}

TEST_CASE("reference gradients: swiglu and embedding", "[transformer_kernels][gradcheck]") {
  Vec g = random_double(9, 6, 3.f), u = random_double(9, 7), r = random_double(9, 8);
  const auto loss = [&] {
    Vec out;
    swiglu_forward(g, u, out);
    return dot(out, r);
  };
  Vec dg, du;
  swiglu_backward(g, u, r, dg, du);
  check_gradient("swiglu dgate", g, dg, loss);
  check_gradient("swiglu dup", u, du, loss);

  const std::vector<int32_t> tok = {2, 0, 2, 3};
  const int64_t dim = 3;
  Vec table = random_double(4 * dim, 9), re = random_double(tok.size() * dim, 10);
  const auto eloss = [&] {
    Vec out;
    embedding_forward(tok, table, dim, out);
    return dot(out, re);
  };
  Vec dtable(table.size(), 0.0);
  embedding_backward(tok, re, dim, dtable);
  check_gradient("embedding dtable", table, dtable, eloss);
}

TEST_CASE("reference gradients: attention (GQA, KV-cache offset, strided rows)",
          "[transformer_kernels][gradcheck]") {
  for (auto [q_len, kv_len, q_start, heads, kv_heads] :
       {std::tuple{4, 4, 0, 4, 2}, {3, 7, 4, 2, 2}, {2, 6, 1, 3, 1}}) {
    AttentionShape s;
    s.batch = 2, s.q_len = q_len, s.kv_len = kv_len, s.q_start = q_start;
    s.n_heads = heads, s.n_kv_heads = kv_heads, s.head_dim = 4;
    s.q_stride = heads * 4 + 1, s.kv_stride = kv_heads * 4 + 2, s.out_stride = heads * 4 + 3;
    s.scale = 0.5f;
    Vec q = random_double(s.batch * q_len * s.q_stride, 11), k = random_double(s.batch * kv_len * s.kv_stride, 12),
        v = random_double(s.batch * kv_len * s.kv_stride, 13), r = random_double(s.batch * q_len * s.out_stride, 14);
    const auto loss = [&] {
      Vec out, lse;
      attention_forward(q, k, v, s, out, lse);
      return dot(out, r);
    };
    Vec dq, dk, dv;
    attention_backward(q, k, v, r, s, dq, dk, dv);
    CAPTURE(q_len, kv_len, q_start, heads, kv_heads);
    check_gradient("attention dq", q, dq, loss);
    check_gradient("attention dk", k, dk, loss);
    check_gradient("attention dv", v, dv, loss);
  }
}

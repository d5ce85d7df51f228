// The CUDA attention kernels (kernels/cuda/transformer_attention.cuh, the exact device source) on
// the SIMT emulator: forward (out, lse) and backward (dq, dk, dv) vs the float64 reference with
// sentinels after every buffer and in every row gap; shapes off the 32-tile grid, GQA, KV-cache
// offsets, fused qkv rows; batch invariance and prefill-vs-decode bits.
#include "tests/simt/simt.h"
// The emulator's built-ins must come first.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "core/base/error.h"
#include "kernels/cuda/transformer_attention.cuh"
#include "tests/unit/transformer_kernels/reference.h"

using namespace retort::kernels;
using namespace retort::test::tk;
using retort::test::random_normal;

namespace {
// Tolerances (|got − ref| <= tol + |ref|·eps), inputs ~N(0, 1), scale 1/sqrt(head_dim): those
// of the CPU kernel's test.
constexpr double kOutTol = 2e-6, kOutEps = 2e-5;
constexpr double kLseTol = 2e-6, kLseEps = 2e-6;
constexpr double kGradTol = 1e-5, kGradEps = 1e-4;

struct Case {
  int64_t batch, q_len, kv_len, q_start, heads, kv_heads, head_dim;
  bool fused;  // q, k, v (and dq, dk, dv) as slices of one [rows, (H + 2G)·d + 3] buffer
};

AttentionShape shape_of(const Case& c) {
  AttentionShape s;
  s.batch = c.batch, s.q_len = c.q_len, s.kv_len = c.kv_len, s.q_start = c.q_start;
  s.n_heads = c.heads, s.n_kv_heads = c.kv_heads, s.head_dim = c.head_dim;
  s.scale = float(1 / std::sqrt(double(c.head_dim)));
  const int64_t qw = c.heads * c.head_dim, kw = c.kv_heads * c.head_dim, fused_w = qw + 2 * kw + 3;
  s.q_stride = c.fused ? fused_w : qw + 2;
  s.kv_stride = c.fused ? fused_w : kw + 1;
  s.out_stride = qw + 5;
  return s;
}

bool gaps_intact(const std::vector<float>& buf, size_t rows, int64_t stride, int64_t from) {
  for (size_t r = 0; r < rows; ++r)
    for (int64_t e = from; e < stride; ++e)
      if (buf[r * stride + e] != kSentinel) return false;
  return true;
}

void run_case(const Case& c, uint32_t seed) {
  const AttentionShape s = shape_of(c);
  const int64_t qw = c.heads * c.head_dim, kw = c.kv_heads * c.head_dim;
  const size_t q_rows = c.batch * c.q_len, kv_rows = c.batch * c.kv_len;
  const size_t nq = q_rows * s.q_stride, nkv = kv_rows * s.kv_stride, nout = q_rows * s.out_stride;
  const int64_t k_off = c.fused ? qw : 0, v_off = c.fused ? qw + kw : 0;
  std::vector<float> qbuf = padded_random(nq, seed), kbuf, vbuf;
  if (!c.fused) kbuf = padded_random(nkv, seed + 1), vbuf = padded_random(nkv, seed + 2);
  const float* q = qbuf.data();
  const float* k = c.fused ? qbuf.data() + k_off : kbuf.data();
  const float* v = c.fused ? qbuf.data() + v_off : vbuf.data();
  const auto dout = padded_random(nout, seed + 3);
  auto out = padded_sentinels(nout), lse = padded_sentinels(c.batch * c.heads * c.q_len);
  gpu::enqueue_attention_forward(q, k, v, out.data(), lse.data(), s, nullptr);

  const Vec qd = to_double(qbuf, nq);
  const Vec kd = c.fused ? Vec(qd.begin() + k_off, qd.end()) : to_double(kbuf, nkv);
  const Vec vd = c.fused ? Vec(qd.begin() + v_off, qd.end()) : to_double(vbuf, nkv);
  Vec ro, rlse, rdq, rdk, rdv;
  attention_forward(qd, kd, vd, s, ro, rlse);
  CAPTURE(c.batch, c.q_len, c.kv_len, c.q_start, c.heads, c.kv_heads, c.head_dim, c.fused);
  for (size_t r = 0; r < q_rows; ++r)
    REQUIRE(worst_ratio("cuda attention out", out.data() + r * s.out_stride, ro.data() + r * s.out_stride, qw,
                        kOutTol, kOutEps) <= 1);
  REQUIRE(gaps_intact(out, q_rows, s.out_stride, qw));
  REQUIRE(worst_ratio("cuda attention lse", lse.data(), rlse.data(), rlse.size(), kLseTol, kLseEps) <= 1);
  REQUIRE(tail_intact(out, nout));
  REQUIRE(tail_intact(lse, rlse.size()));
  auto out_no_lse = padded_sentinels(nout);  // inference form: lse not written, same out bits
  gpu::enqueue_attention_forward(q, k, v, out_no_lse.data(), nullptr, s, nullptr);
  REQUIRE(std::memcmp(out.data(), out_no_lse.data(), out.size() * sizeof(float)) == 0);

  auto dqbuf = padded_sentinels(nq), dkbuf = padded_sentinels(c.fused ? 0 : nkv),
       dvbuf = padded_sentinels(c.fused ? 0 : nkv);
  float* dq = dqbuf.data();
  float* dk = c.fused ? dqbuf.data() + k_off : dkbuf.data();
  float* dv = c.fused ? dqbuf.data() + v_off : dvbuf.data();
  gpu::enqueue_attention_backward(q, k, v, out.data(), lse.data(), dout.data(), dq, dk, dv, s, nullptr);
  attention_backward(qd, kd, vd, to_double(dout, nout), s, rdq, rdk, rdv);
  for (size_t r = 0; r < q_rows; ++r)
    REQUIRE(worst_ratio("cuda attention dq", dq + r * s.q_stride, rdq.data() + r * s.q_stride, qw, kGradTol,
                        kGradEps) <= 1);
  for (size_t r = 0; r < kv_rows; ++r) {
    REQUIRE(worst_ratio("cuda attention dk", dk + r * s.kv_stride, rdk.data() + r * s.kv_stride, kw, kGradTol,
                        kGradEps) <= 1);
    REQUIRE(worst_ratio("cuda attention dv", dv + r * s.kv_stride, rdv.data() + r * s.kv_stride, kw, kGradTol,
                        kGradEps) <= 1);
  }
  if (c.fused) {
    REQUIRE(gaps_intact(dqbuf, q_rows, s.q_stride, qw + 2 * kw));
  } else {
    REQUIRE(gaps_intact(dqbuf, q_rows, s.q_stride, qw));
    REQUIRE(gaps_intact(dkbuf, kv_rows, s.kv_stride, kw));
    REQUIRE(gaps_intact(dvbuf, kv_rows, s.kv_stride, kw));
    REQUIRE(tail_intact(dkbuf, nkv));
    REQUIRE(tail_intact(dvbuf, nkv));
  }
  REQUIRE(tail_intact(dqbuf, nq));
}

// Every output of the forward and backward of one call, for bit comparisons.
struct Outputs {
  std::vector<float> out, lse, dq, dk, dv;
};
Outputs run_all(const AttentionShape& s, const float* q, const float* k, const float* v, const float* dout) {
  Outputs o;
  o.out.assign(s.batch * s.q_len * s.out_stride, 0.f);
  o.lse.assign(s.batch * s.n_heads * s.q_len, 0.f);
  o.dq.assign(s.batch * s.q_len * s.q_stride, 0.f);
  o.dk.assign(s.batch * s.kv_len * s.kv_stride, 0.f);
  o.dv.assign(o.dk.size(), 0.f);
  gpu::enqueue_attention_forward(q, k, v, o.out.data(), o.lse.data(), s, nullptr);
  gpu::enqueue_attention_backward(q, k, v, o.out.data(), o.lse.data(), dout, o.dq.data(), o.dk.data(), o.dv.data(),
                                  s, nullptr);
  return o;
}
bool same_bits(const float* a, const float* b, size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }
}  // namespace

TEST_CASE("emulated CUDA attention matches the reference: prefill shapes", "[cuda][emulated][attention]") {
  run_case({1, 37, 37, 0, 6, 2, 8, false}, 100);     // GQA 6/2, one full and one partial tile
  run_case({1, 70, 70, 0, 2, 2, 64, false}, 200);    // MHA, three tiles (32 + 32 + 6)
  run_case({1, 33, 33, 0, 2, 1, 128, false}, 300);   // the largest head_dim, MQA
  run_case({1, 1, 1, 0, 1, 1, 8, false}, 400);       // a single token
  run_case({1, 9, 9, 0, 2, 2, 40, false}, 450);      // head_dim not a multiple of 32
}

TEST_CASE("emulated CUDA attention matches the reference: KV-cache offsets", "[cuda][emulated][attention]") {
  run_case({2, 5, 75, 70, 4, 2, 16, false}, 500);   // a few new tokens after 70 cached
  run_case({1, 1, 100, 99, 6, 3, 32, false}, 600);  // one decode step
  run_case({1, 40, 90, 50, 2, 2, 24, false}, 700);  // a chunk whose queries span two tiles
  run_case({1, 10, 50, 20, 6, 2, 8, false}, 800);   // cache longer than needed: keys >= 30 unused
  run_case({2, 5, 12, 10, 2, 1, 8, false}, 850);    // kv_len < q_start + q_len: all keys < 12
}

TEST_CASE("emulated CUDA attention matches the reference: q/k/v in one fused buffer",
          "[cuda][emulated][attention]") {
  run_case({1, 40, 40, 0, 4, 2, 24, true}, 900);
}

TEST_CASE("emulated CUDA attention: a sequence has the same bits alone or inside a batch",
          "[cuda][emulated][attention][invariance]") {
  const Case c{3, 40, 40, 0, 2, 1, 16, false};
  const AttentionShape s = shape_of(c);
  const size_t nq = c.batch * c.q_len * s.q_stride, nkv = c.batch * c.kv_len * s.kv_stride;
  const auto q = random_normal(nq, 11), k = random_normal(nkv, 12), v = random_normal(nkv, 13);
  const auto dout = random_normal(c.batch * c.q_len * s.out_stride, 14);
  const Outputs all = run_all(s, q.data(), k.data(), v.data(), dout.data());
  AttentionShape one = s;
  one.batch = 1;
  for (int64_t b = 0; b < c.batch; ++b) {
    const size_t qo = b * c.q_len * s.q_stride, ko = b * c.kv_len * s.kv_stride, oo = b * c.q_len * s.out_stride;
    const Outputs alone = run_all(one, q.data() + qo, k.data() + ko, v.data() + ko, dout.data() + oo);
    CAPTURE(b);
    REQUIRE(same_bits(alone.out.data(), all.out.data() + oo, alone.out.size()));
    REQUIRE(same_bits(alone.lse.data(), all.lse.data() + b * c.heads * c.q_len, alone.lse.size()));
    REQUIRE(same_bits(alone.dq.data(), all.dq.data() + qo, alone.dq.size()));
    REQUIRE(same_bits(alone.dk.data(), all.dk.data() + ko, alone.dk.size()));
    REQUIRE(same_bits(alone.dv.data(), all.dv.data() + ko, alone.dv.size()));
  }
}

TEST_CASE("emulated CUDA attention: a decode step gives the prefill's bits for its query",
          "[cuda][emulated][attention][invariance]") {
  const Case c{1, 50, 50, 0, 4, 2, 16, false};
  const AttentionShape s = shape_of(c);
  const auto q = random_normal(c.q_len * s.q_stride, 21), k = random_normal(c.kv_len * s.kv_stride, 22),
             v = random_normal(c.kv_len * s.kv_stride, 23);
  std::vector<float> out(c.q_len * s.out_stride, 0.f), lse(c.heads * c.q_len, 0.f);
  gpu::enqueue_attention_forward(q.data(), k.data(), v.data(), out.data(), lse.data(), s, nullptr);
  for (int64_t p : {0, 31, 32, 49}) {  // tile edges included
    AttentionShape step = s;
    step.q_len = 1, step.q_start = p, step.kv_len = p + 1;
    std::vector<float> o(s.out_stride, 0.f), l(c.heads, 0.f);
    gpu::enqueue_attention_forward(q.data() + p * s.q_stride, k.data(), v.data(), o.data(), l.data(), step, nullptr);
    CAPTURE(p);
    REQUIRE(same_bits(o.data(), out.data() + p * s.out_stride, c.heads * c.head_dim));
    for (int64_t h = 0; h < c.heads; ++h) REQUIRE(l[h] == lse[h * c.q_len + p]);
  }
}

TEST_CASE("emulated CUDA attention refuses shapes it cannot run", "[cuda][emulated][attention]") {
  std::vector<float> buf(8192, 0.f), lse(64, 0.f);
  AttentionShape s{1, 2, 2, 0, 1, 1, 160, 160, 160, 160, 0.1f};  // head_dim above 128
  const float* c = buf.data();
  REQUIRE_THROWS_AS(gpu::enqueue_attention_forward(c, c, c, buf.data(), lse.data(), s, nullptr), retort::Error);
  s = AttentionShape{1, 2, 2, 0, 6, 4, 8, 48, 32, 48, 0.35f};  // 4 kv heads do not divide 6
  REQUIRE_THROWS_AS(gpu::enqueue_attention_forward(c, c, c, buf.data(), lse.data(), s, nullptr), retort::Error);
  s.n_kv_heads = 2;
  s.kv_stride = 16;
  REQUIRE_THROWS_AS(
      gpu::enqueue_attention_backward(c, c, c, c, nullptr, c, buf.data(), buf.data(), buf.data(), s, nullptr),
      retort::Error);  // the backward needs lse
}

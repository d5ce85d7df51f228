// Causal GQA attention forward (out, lse) and backward (dq, dk, dv) vs the float64 reference:
// tile-boundary and odd lengths, GQA 6/2 and n_kv_heads = n_heads, KV-cache offsets, head_dim
// 8..64, and q/k/v as column slices of one fused qkv buffer (gaps must stay untouched).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "core/base/error.h"
#include "kernels/attention.h"
#include "tests/unit/transformer_kernels/reference.h"

using namespace retort::kernels;
using namespace retort::test::tk;

namespace {
// Tolerances (|got − ref| <= tol + |ref|·eps), inputs ~N(0, 1), scale 1/sqrt(head_dim).
constexpr double kOutTol = 2e-6, kOutEps = 2e-5;
constexpr double kLseTol = 2e-6, kLseEps = 2e-6;
constexpr double kGradTol = 1e-5, kGradEps = 1e-4;

struct Case {
  int64_t batch, q_len, kv_len, q_start, heads, kv_heads, head_dim;
  bool fused;  // q, k, v (and dq, dk, dv) as slices of one [rows, (H + 2G)·d + 3] buffer
};

void run_case(const Case& c, uint32_t seed) {
  AttentionShape s;
  s.batch = c.batch, s.q_len = c.q_len, s.kv_len = c.kv_len, s.q_start = c.q_start;
  s.n_heads = c.heads, s.n_kv_heads = c.kv_heads, s.head_dim = c.head_dim;
  s.scale = float(1 / std::sqrt(double(c.head_dim)));
  const int64_t qw = c.heads * c.head_dim, kw = c.kv_heads * c.head_dim;
  // Buffers: separate q/k/v with row padding (2 and 1 floats), or one fused buffer.
  const int64_t fused_w = qw + 2 * kw + 3;
  s.q_stride = c.fused ? fused_w : qw + 2;
  s.kv_stride = c.fused ? fused_w : kw + 1;
  s.out_stride = qw + 5;
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
  attention_forward(q, k, v, out.data(), lse.data(), s);

  // Reference on float64 copies of the same buffers (fused: the same buffer three times).
  const Vec qd = to_double(qbuf, nq);
  const Vec kd = c.fused ? Vec(qd.begin() + k_off, qd.end()) : to_double(kbuf, nkv);
  const Vec vd = c.fused ? Vec(qd.begin() + v_off, qd.end()) : to_double(vbuf, nkv);
  Vec ro, rlse, rdq, rdk, rdv;
  attention_forward(qd, kd, vd, s, ro, rlse);
  CAPTURE(c.batch, c.q_len, c.kv_len, c.q_start, c.heads, c.kv_heads, c.head_dim, c.fused);
  for (size_t r = 0; r < q_rows; ++r) {
    REQUIRE(worst_ratio("attention out", out.data() + r * s.out_stride, ro.data() + r * s.out_stride,
                        qw, kOutTol, kOutEps) <= 1);
    for (int64_t e = qw; e < s.out_stride; ++e) REQUIRE(out[r * s.out_stride + e] == kSentinel);
  }
  REQUIRE(worst_ratio("attention lse", lse.data(), rlse.data(), rlse.size(), kLseTol, kLseEps) <= 1);
  REQUIRE(tail_intact(out, nout));
  REQUIRE(tail_intact(lse, rlse.size()));
  auto out_no_lse = padded_sentinels(nout);  // inference form: lse not written, same out bits
  attention_forward(q, k, v, out_no_lse.data(), nullptr, s);
  REQUIRE(std::memcmp(out.data(), out_no_lse.data(), out.size() * sizeof(float)) == 0);

  // Backward; dq/dk/dv buffers laid out like q/k/v, all sentinels first.
  auto dqbuf = padded_sentinels(nq), dkbuf = padded_sentinels(c.fused ? 0 : nkv),
       dvbuf = padded_sentinels(c.fused ? 0 : nkv);
  float* dq = dqbuf.data();
  float* dk = c.fused ? dqbuf.data() + k_off : dkbuf.data();
  float* dv = c.fused ? dqbuf.data() + v_off : dvbuf.data();
  attention_backward(q, k, v, out.data(), lse.data(), dout.data(), dq, dk, dv, s);
  attention_backward(qd, kd, vd, to_double(dout, nout), s, rdq, rdk, rdv);
  for (size_t r = 0; r < q_rows; ++r)
    REQUIRE(worst_ratio("attention dq", dq + r * s.q_stride, rdq.data() + r * s.q_stride, qw,
                        kGradTol, kGradEps) <= 1);
  for (size_t r = 0; r < kv_rows; ++r) {
    REQUIRE(worst_ratio("attention dk", dk + r * s.kv_stride, rdk.data() + r * s.kv_stride, kw,
                        kGradTol, kGradEps) <= 1);
    REQUIRE(worst_ratio("attention dv", dv + r * s.kv_stride, rdv.data() + r * s.kv_stride, kw,
                        kGradTol, kGradEps) <= 1);
  }
  // Only the head slices were written: the row gaps (and the buffer tails) are still sentinels.
  const auto gaps_intact = [](const std::vector<float>& buf, size_t rows, int64_t stride,
                              int64_t from) {
    for (size_t r = 0; r < rows; ++r)
      for (int64_t e = from; e < stride; ++e)
        if (buf[r * stride + e] != kSentinel) return false;
    return true;
  };
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
}  // namespace

TEST_CASE("attention matches the reference: prefill shapes", "[transformer_kernels][attention]") {
  run_case({2, 37, 37, 0, 6, 2, 8, false}, 100);    // GQA 6/2, one partial tile
  run_case({1, 130, 130, 0, 4, 4, 64, false}, 200);  // MHA, three tiles (64 + 64 + 2)
  run_case({3, 64, 64, 0, 2, 1, 16, false}, 300);    // exactly one tile, MQA
  run_case({1, 1, 1, 0, 1, 1, 8, false}, 400);       // a single token
}

TEST_CASE("attention matches the reference: KV-cache offsets", "[transformer_kernels][attention]") {
  run_case({2, 5, 75, 70, 6, 2, 16, false}, 500);     // a few new tokens after 70 cached
  run_case({1, 1, 100, 99, 6, 3, 32, false}, 600);    // one decode step
  run_case({2, 70, 150, 80, 6, 6, 24, false}, 700);   // long chunk, keys in three tiles
  run_case({1, 10, 50, 20, 6, 2, 8, false}, 800);     // cache longer than needed: keys >= 30 unused
  run_case({2, 5, 12, 10, 2, 1, 8, false}, 850);      // kv_len < q_start + q_len: all keys < 12
}

TEST_CASE("attention matches the reference: q/k/v in one fused buffer", "[transformer_kernels][attention]") {
  run_case({3, 70, 70, 0, 6, 2, 24, true}, 900);
  run_case({2, 66, 66, 0, 4, 4, 40, true}, 1000);
}

TEST_CASE("attention refuses inconsistent shapes", "[transformer_kernels][attention]") {
  std::vector<float> buf(4096, 0.f), lse(64, 0.f);
  AttentionShape s{1, 2, 2, 0, 6, 4, 8, 48, 32, 48, 0.35f};  // 4 kv heads do not divide 6
  const float* c = buf.data();
  REQUIRE_THROWS_AS(attention_forward(c, c, c, buf.data(), lse.data(), s), retort::Error);
  s.n_kv_heads = 2;
  s.kv_stride = 8;  // narrower than 2 kv heads of 8
  REQUIRE_THROWS_AS(attention_forward(c, c, c, buf.data(), lse.data(), s), retort::Error);
  s.kv_stride = 16;
  REQUIRE_THROWS_AS(attention_backward(c, c, c, c, nullptr, c, buf.data(), buf.data(), buf.data(), s),
                    retort::Error);  // the backward needs lse
}

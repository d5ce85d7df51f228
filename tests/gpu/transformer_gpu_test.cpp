// The transformer's CUDA kernels (kernels/cuda/transformer_cuda.h) on a real device at model-like
// sizes: each against the float64 references of tests/unit/transformer_kernels and the CPU
// kernels, buffers travelling to the device and back with their sentinel tails; attention batch
// invariance bitwise on the device.
#include <cuda_runtime.h>

#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "core/base/cuda_check.h"
#include "kernels/attention.h"
#include "kernels/cuda/transformer_cuda.h"
#include "kernels/embedding.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"
#include "tests/unit/transformer_kernels/reference.h"

using namespace retort::kernels;
using namespace retort::test::tk;
using retort::test::random_normal;

namespace {
// A device copy of a host vector (payload and sentinels), copied back over it on request.
template <typename T>
struct OnDevice {
  std::vector<T>& host;
  T* ptr = nullptr;
  explicit OnDevice(std::vector<T>& h) : host(h) {
    RETORT_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&ptr), host.size() * sizeof(T)));
    RETORT_CUDA_CHECK(cudaMemcpy(ptr, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  ~OnDevice() { cudaFree(ptr); }
  OnDevice(const OnDevice&) = delete;
  OnDevice& operator=(const OnDevice&) = delete;
  void back() {
    RETORT_CUDA_CHECK(cudaDeviceSynchronize());
    RETORT_CUDA_CHECK(cudaMemcpy(host.data(), ptr, host.size() * sizeof(T), cudaMemcpyDeviceToHost));
  }
};
bool same_bits(const float* a, const float* b, size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }
}  // namespace

TEST_CASE("cuda embedding forward/backward match the reference and the CPU bits", "[gpu][transformer]") {
  const int64_t n = 4096, vocab = 49152, dim = 576;
  std::vector<int32_t> tok(n);
  for (int64_t i = 0; i < n; ++i) tok[i] = int32_t((i * 7919 + i / 5) % 3000);  // repeats
  auto table = padded_random(vocab * dim, 1), dout = padded_random(n * dim, 2);
  auto out = padded_sentinels(n * dim), dtable = padded_random(vocab * dim, 3);
  auto cpu_dtable = dtable;
  {
    OnDevice<int32_t> t(tok);
    OnDevice<float> tb(table), d(dout), o(out), dt(dtable);
    embedding_forward_cuda(t.ptr, n, tb.ptr, vocab, dim, o.ptr, nullptr);
    embedding_backward_cuda(t.ptr, n, d.ptr, vocab, dim, dt.ptr, nullptr);
    o.back();
    dt.back();
  }
  std::vector<float> cpu_out(n * dim);
  embedding_forward(tok.data(), n, table.data(), vocab, dim, cpu_out.data());
  embedding_backward(tok.data(), n, dout.data(), vocab, dim, cpu_dtable.data());
  REQUIRE(same_bits(out.data(), cpu_out.data(), n * dim));
  REQUIRE(same_bits(dtable.data(), cpu_dtable.data(), vocab * dim));  // same order of adds
  REQUIRE(tail_intact(out, n * dim));
  REQUIRE(tail_intact(dtable, vocab * dim));
  tok[17] = int32_t(vocab);
  OnDevice<int32_t> bad(tok);
  OnDevice<float> tb(table), o(out);
  REQUIRE_THROWS_WITH(embedding_forward_cuda(bad.ptr, n, tb.ptr, vocab, dim, o.ptr, nullptr),
                      Catch::Contains("position 17"));
}

TEST_CASE("cuda rmsnorm, rope, swiglu and add match the references", "[gpu][transformer]") {
  const int64_t rows = 2048, dim = 576, heads = 9, head_dim = 64, ffn = 1536;
  // RMSNorm (dx in place over dy, as the model calls it).
  auto x = padded_random(rows * dim, 11, 2.f), w = padded_random(dim, 12), dy = padded_random(rows * dim, 13);
  auto y = padded_sentinels(rows * dim), rstd = padded_sentinels(rows), dw = padded_random(dim, 14);
  auto dx = dy;
  Vec ref_y, ref_rstd, ref_dx, ref_dw = to_double(dw, dim);
  {
    OnDevice<float> xd(x), wd(w), yd(y), rd(rstd), dxd(dx), dwd(dw);
    rmsnorm_forward_cuda(xd.ptr, wd.ptr, yd.ptr, rd.ptr, rows, dim, 1e-5f, nullptr);
    rmsnorm_backward_cuda(xd.ptr, wd.ptr, rd.ptr, dxd.ptr, dxd.ptr, dwd.ptr, rows, dim, nullptr);
    yd.back(), rd.back(), dxd.back(), dwd.back();
  }
  const Vec xv = to_double(x, rows * dim), wv = to_double(w, dim);
  retort::test::tk::rmsnorm_forward(xv, wv, rows, dim, 1e-5, ref_y, ref_rstd);
  retort::test::tk::rmsnorm_backward(xv, wv, to_double(dy, rows * dim), rows, dim, 1e-5, ref_dx, ref_dw);
  REQUIRE(worst_ratio("gpu rmsnorm y", y.data(), ref_y.data(), rows * dim, 1e-6, 2e-6) <= 1);
  REQUIRE(worst_ratio("gpu rmsnorm dx", dx.data(), ref_dx.data(), rows * dim, 1e-5, 1e-5) <= 1);
  REQUIRE(worst_ratio("gpu rmsnorm dw", dw.data(), ref_dw.data(), dim, 1e-4, 1e-4) <= 1);
  for (auto* v : {&y, &dx}) REQUIRE(tail_intact(*v, rows * dim));
  REQUIRE(tail_intact(rstd, rows));
  REQUIRE(tail_intact(dw, dim));

  // RoPE on q rows with padding, positions up to 8191.
  const RopeParams p{rows, heads, head_dim, heads * head_dim + 3, 100000.0};
  std::vector<int32_t> pos(rows);
  for (int64_t r = 0; r < rows; ++r) pos[r] = int32_t((r * 4) % 8192);
  const size_t nr = rows * p.row_stride;
  const auto r0 = padded_random(nr, 21);
  auto rf = r0, rb = r0;
  {
    OnDevice<int32_t> pd(pos);
    OnDevice<float> fd(rf), bd(rb);
    rope_forward_cuda(fd.ptr, pd.ptr, p, nullptr);
    rope_backward_cuda(bd.ptr, pd.ptr, p, nullptr);
    fd.back(), bd.back();
  }
  Vec ref_f = to_double(r0, nr), ref_b = to_double(r0, nr);
  rope_apply(ref_f, pos, p, 1.0);
  rope_apply(ref_b, pos, p, -1.0);
  REQUIRE(worst_ratio("gpu rope forward", rf.data(), ref_f.data(), nr, 1e-6, 1e-6) <= 1);
  REQUIRE(worst_ratio("gpu rope backward", rb.data(), ref_b.data(), nr, 1e-6, 1e-6) <= 1);
  REQUIRE(tail_intact(rf, nr));
  REQUIRE(tail_intact(rb, nr));

  // SwiGLU flat, and the residual add.
  const int64_t n = rows * ffn;
  auto g = padded_random(n, 31, 3.f), u = padded_random(n, 32), d = padded_random(n, 33);
  auto o = padded_sentinels(n), dg = padded_sentinels(n), du = padded_sentinels(n);
  auto acc = padded_random(n, 34);
  const auto acc0 = acc;
  {
    OnDevice<float> gd(g), ud(u), dd(d), od(o), dgd(dg), dud(du), ad(acc);
    swiglu_forward_cuda(gd.ptr, ud.ptr, od.ptr, 1, n, n, n, nullptr);
    swiglu_backward_cuda(gd.ptr, ud.ptr, dd.ptr, dgd.ptr, dud.ptr, 1, n, n, n, nullptr);
    add_inplace_cuda(ad.ptr, gd.ptr, n, nullptr);
    od.back(), dgd.back(), dud.back(), ad.back();
  }
  Vec ro, rdg, rdu;
  retort::test::tk::swiglu_forward(to_double(g, n), to_double(u, n), ro);
  retort::test::tk::swiglu_backward(to_double(g, n), to_double(u, n), to_double(d, n), rdg, rdu);
  REQUIRE(worst_ratio("gpu swiglu out", o.data(), ro.data(), n, 1e-6, 1e-6) <= 1);
  REQUIRE(worst_ratio("gpu swiglu dgate", dg.data(), rdg.data(), n, 1e-6, 1e-6) <= 1);
  REQUIRE(worst_ratio("gpu swiglu dup", du.data(), rdu.data(), n, 1e-6, 1e-6) <= 1);
  for (auto* v : {&o, &dg, &du}) REQUIRE(tail_intact(*v, n));
  for (int64_t i = 0; i < n; ++i) REQUIRE(acc[i] == acc0[i] + g[i]);
  REQUIRE(tail_intact(acc, n));
}

namespace {
struct AttnRun {
  std::vector<float> out, lse, dq, dk, dv;
};
// Forward and backward of attention on the device for host q/k/v/dout; outputs come back with
// their sentinel tails.
AttnRun attention_on_device(const AttentionShape& s, std::vector<float>& q, std::vector<float>& k,
                            std::vector<float>& v, std::vector<float>& dout) {
  AttnRun r;
  r.out = padded_sentinels(s.batch * s.q_len * s.out_stride);
  r.lse = padded_sentinels(s.batch * s.n_heads * s.q_len);
  r.dq = padded_sentinels(s.batch * s.q_len * s.q_stride);
  r.dk = padded_sentinels(s.batch * s.kv_len * s.kv_stride);
  r.dv = r.dk;
  OnDevice<float> qd(q), kd(k), vd(v), dod(dout), od(r.out), ld(r.lse), dqd(r.dq), dkd(r.dk), dvd(r.dv);
  attention_forward_cuda(qd.ptr, kd.ptr, vd.ptr, od.ptr, ld.ptr, s, nullptr);
  attention_backward_cuda(qd.ptr, kd.ptr, vd.ptr, od.ptr, ld.ptr, dod.ptr, dqd.ptr, dkd.ptr, dvd.ptr, s, nullptr);
  od.back(), ld.back(), dqd.back(), dkd.back(), dvd.back();
  return r;
}
}  // namespace

TEST_CASE("cuda attention matches the reference (GQA, KV-cache offset, head_dim 64 and 128)",
          "[gpu][transformer][attention]") {
  struct Case { int64_t batch, q_len, kv_len, q_start, heads, kv_heads, head_dim; };
  for (auto c : {Case{2, 300, 300, 0, 9, 3, 64}, Case{1, 200, 200, 0, 4, 1, 128}, Case{2, 37, 517, 480, 6, 2, 64}}) {
    AttentionShape s;
    s.batch = c.batch, s.q_len = c.q_len, s.kv_len = c.kv_len, s.q_start = c.q_start;
    s.n_heads = c.heads, s.n_kv_heads = c.kv_heads, s.head_dim = c.head_dim;
    s.scale = float(1 / std::sqrt(double(c.head_dim)));
    s.q_stride = c.heads * c.head_dim + 2, s.kv_stride = c.kv_heads * c.head_dim + 1;
    s.out_stride = c.heads * c.head_dim + 5;
    const size_t nq = c.batch * c.q_len * s.q_stride, nkv = c.batch * c.kv_len * s.kv_stride,
                 nout = c.batch * c.q_len * s.out_stride;
    auto q = padded_random(nq, 51), k = padded_random(nkv, 52), v = padded_random(nkv, 53),
         dout = padded_random(nout, 54);
    const AttnRun r = attention_on_device(s, q, k, v, dout);
    Vec ro, rlse, rdq, rdk, rdv;
    const Vec qv = to_double(q, nq), kv = to_double(k, nkv), vv = to_double(v, nkv);
    attention_forward(qv, kv, vv, s, ro, rlse);
    attention_backward(qv, kv, vv, to_double(dout, nout), s, rdq, rdk, rdv);
    CAPTURE(c.batch, c.q_len, c.kv_len, c.q_start, c.heads, c.kv_heads, c.head_dim);
    const int64_t qw = c.heads * c.head_dim, kw = c.kv_heads * c.head_dim;
    for (int64_t row = 0; row < c.batch * c.q_len; ++row) {
      REQUIRE(worst_ratio("gpu attention out", r.out.data() + row * s.out_stride, ro.data() + row * s.out_stride, qw,
                          2e-6, 2e-5) <= 1);
      REQUIRE(worst_ratio("gpu attention dq", r.dq.data() + row * s.q_stride, rdq.data() + row * s.q_stride, qw,
                          1e-5, 1e-4) <= 1);
      for (int64_t e = qw; e < s.q_stride; ++e) REQUIRE(r.dq[row * s.q_stride + e] == kSentinel);
    }
    for (int64_t row = 0; row < c.batch * c.kv_len; ++row) {
      REQUIRE(worst_ratio("gpu attention dk", r.dk.data() + row * s.kv_stride, rdk.data() + row * s.kv_stride, kw,
                          1e-5, 1e-4) <= 1);
      REQUIRE(worst_ratio("gpu attention dv", r.dv.data() + row * s.kv_stride, rdv.data() + row * s.kv_stride, kw,
                          1e-5, 1e-4) <= 1);
    }
    REQUIRE(worst_ratio("gpu attention lse", r.lse.data(), rlse.data(), rlse.size(), 2e-6, 2e-6) <= 1);
    for (auto* b : {&r.out, &r.dq}) REQUIRE(tail_intact(*b, b->size() - kPad));
    for (auto* b : {&r.lse, &r.dk, &r.dv}) REQUIRE(tail_intact(*b, b->size() - kPad));
  }
}

TEST_CASE("cuda attention: a sequence has the same bits alone or inside a batch", "[gpu][transformer][attention]") {
  AttentionShape s{4, 257, 257, 0, 9, 3, 64, 9 * 64, 3 * 64, 9 * 64, 0.125f};
  const size_t nq = s.batch * s.q_len * s.q_stride, nkv = s.batch * s.kv_len * s.kv_stride;
  auto q = random_normal(nq, 61), k = random_normal(nkv, 62), v = random_normal(nkv, 63), dout = random_normal(nq, 64);
  const AttnRun all = attention_on_device(s, q, k, v, dout);
  AttentionShape one = s;
  one.batch = 1;
  const size_t qs = s.q_len * s.q_stride, ks = s.kv_len * s.kv_stride;
  std::vector<float> q2(q.begin() + 2 * qs, q.begin() + 3 * qs), k2(k.begin() + 2 * ks, k.begin() + 3 * ks),
      v2(v.begin() + 2 * ks, v.begin() + 3 * ks), d2(dout.begin() + 2 * qs, dout.begin() + 3 * qs);
  const AttnRun alone = attention_on_device(one, q2, k2, v2, d2);
  REQUIRE(same_bits(alone.out.data(), all.out.data() + 2 * qs, qs));
  REQUIRE(same_bits(alone.lse.data(), all.lse.data() + 2 * s.n_heads * s.q_len, s.n_heads * s.q_len));
  REQUIRE(same_bits(alone.dq.data(), all.dq.data() + 2 * qs, qs));
  REQUIRE(same_bits(alone.dk.data(), all.dk.data() + 2 * ks, ks));
  REQUIRE(same_bits(alone.dv.data(), all.dv.data() + 2 * ks, ks));
}

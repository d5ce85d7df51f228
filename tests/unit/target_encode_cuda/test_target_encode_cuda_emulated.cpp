// The device target encoding (kernels/cuda/target_encode.cuh, the exact device source) on the
// SIMT emulator against the CPU encoder (core/lm/lm_targets.h encode_rows): dense and top-k ids
// and values bitwise, lse within a stated tolerance of the CPU's and of float64, sentinels after
// every output, rows with ties, and a non-finite row flagged.
#include "tests/simt/simt.h"
// The emulator's built-ins must come first.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <tuple>
#include <vector>

#include "core/lm/lm_targets.h"
#include "kernels/cuda/target_encode.cuh"
#include "tests/support/numeric.h"

using namespace retort;
using retort::test::random_normal;

namespace {
constexpr int kTail = 8;
constexpr uint32_t kSentinelId = 0xdeadbeefu;
constexpr float kSentinel = 12345.f;

struct DeviceTopk {
  std::vector<uint8_t> values;  // rows×k in the dtype
  std::vector<uint32_t> ids;
  std::vector<float> lse;
};

// The emulated kernel on logits [rows, V]; checks the sentinels after each output.
DeviceTopk run_topk(const std::vector<float>& logits, int64_t rows, int64_t V, int k, float T, DType dtype) {
  const size_t cells = static_cast<size_t>(rows * k), width = dtype_size(dtype);
  std::vector<uint8_t> values((cells + kTail) * width, 0xab);
  std::vector<uint32_t> ids(cells + kTail, kSentinelId);
  std::vector<float> lse(rows + kTail, kSentinel);
  kernels::gpu::enqueue_topk_lse(logits.data(), rows, V, k, T, dtype == DType::bf16, values.data(), ids.data(),
                                 lse.data(), nullptr);
  for (size_t i = cells * width; i < values.size(); ++i) REQUIRE(values[i] == 0xab);
  for (int i = 0; i < kTail; ++i) REQUIRE(ids[cells + i] == kSentinelId);
  for (int i = 0; i < kTail; ++i) REQUIRE(lse[rows + i] == kSentinel);
  values.resize(cells * width), ids.resize(cells), lse.resize(rows);
  return {values, ids, lse};
}

core::LmTargets cpu_encode(const std::vector<float>& logits, int64_t rows, int64_t V, core::TargetKind kind, int k,
                           float T, DType dtype) {
  core::LmTargets out = core::make_targets(kind, rows, V, k, dtype, T, 0);
  core::EncodeSpec spec;
  spec.kind = kind, spec.k = k, spec.dtype = dtype, spec.temperature = T;
  core::encode_rows(logits.data(), 0, rows, spec, out);
  return out;
}

// |device − cpu| ≤ 1e-6 + 2.4e-7·|cpu|: the two exps differ by ≤ 2 ulp per term (relative 2.4e-7
// on the sum, so ≤ 2.4e-7 absolute on its log), the double sums only in order, and each lse is
// rounded to float once (half an ulp of |lse| each side).
bool lse_close(float got, float ref) { return std::fabs(double(got) - ref) <= 1e-6 + 2.4e-7 * std::fabs(double(ref)); }

double lse_f64(const float* t, int64_t V, float T) {
  double m = t[0];
  for (int64_t j = 1; j < V; ++j) m = std::max(m, double(t[j]));
  double s = 0;
  for (int64_t j = 0; j < V; ++j) s += std::exp((double(t[j]) - m) / T);
  return m / T + std::log(s);
}
}  // namespace

TEST_CASE("emulated CUDA top-k + lse: ids and values bitwise the CPU encoder's, lse within tolerance",
          "[cuda][emulated][lm_targets]") {
  // V: tiny, off the 256-thread stride, a real vocabulary (SmolLM2's 49,152); k: 1 .. 128.
  for (auto [rows, V, k, T] : {std::tuple<int64_t, int64_t, int, float>{3, 1, 1, 1.f}, {5, 7, 7, 2.f},
                               {4, 300, 1, 1.f}, {6, 1000, 33, 0.7f}, {3, 4099, 128, 1.f}, {2, 49152, 128, 2.f},
                               {2, 49152, 1, 1.f}}) {
    auto logits = random_normal(rows * V, static_cast<uint32_t>(V + k), 3.f);
    // Ties (equal values at several ids, +0 and −0) in row 0 where V allows: the lower id first.
    if (V >= 300) {
      for (int64_t j : {10, 50, 200, 299}) logits[j] = 9.5f;
      logits[100] = 0.f, logits[20] = -0.f, logits[260] = 0.f;
    }
    for (DType dtype : {DType::f32, DType::bf16}) {
      CAPTURE(rows, V, k, T, dtype_name(dtype));
      const DeviceTopk dev = run_topk(logits, rows, V, k, T, dtype);
      const core::LmTargets cpu = cpu_encode(logits, rows, V, core::TargetKind::topk, k, T, dtype);
      REQUIRE(dev.ids == cpu.indices);
      REQUIRE(dev.values == cpu.values);
      for (int64_t r = 0; r < rows; ++r) {
        CAPTURE(r, dev.lse[r], cpu.lse[r]);
        REQUIRE(lse_close(dev.lse[r], cpu.lse[r]));
        REQUIRE(lse_close(dev.lse[r], static_cast<float>(lse_f64(logits.data() + r * V, V, T))));
      }
    }
  }
}

TEST_CASE("emulated CUDA top-k + lse: a row with a non-finite logit gets lse NaN, the others are unaffected",
          "[cuda][emulated][lm_targets]") {
  const int64_t rows = 3, V = 513;
  const int k = 4;
  for (float bad : {INFINITY, -INFINITY, NAN}) {
    auto logits = random_normal(rows * V, 7);
    logits[1 * V + 300] = bad;
    const DeviceTopk dev = run_topk(logits, rows, V, k, 1.f, DType::f32);
    REQUIRE(std::isnan(dev.lse[1]));
    for (int64_t r : {0, 2}) {
      std::vector<float> one(logits.begin() + r * V, logits.begin() + (r + 1) * V);
      const core::LmTargets cpu = cpu_encode(one, 1, V, core::TargetKind::topk, k, 1.f, DType::f32);
      REQUIRE(std::vector<uint32_t>(dev.ids.begin() + r * k, dev.ids.begin() + (r + 1) * k) == cpu.indices);
      REQUIRE(lse_close(dev.lse[r], cpu.lse[0]));
    }
  }
}

TEST_CASE("emulated CUDA dense targets: fp32 and bf16 rows bitwise the CPU encoder's", "[cuda][emulated][lm_targets]") {
  const int64_t rows = 5, V = 1031;
  auto logits = random_normal(rows * V, 11, 4.f);
  logits[3] = -0.f, logits[4] = 1e-40f, logits[5] = 3.4e38f;  // signed zero, subnormal, rounding up to inf in bf16
  for (DType dtype : {DType::f32, DType::bf16}) {
    CAPTURE(dtype_name(dtype));
    const size_t count = static_cast<size_t>(rows * V), width = dtype_size(dtype);
    std::vector<uint8_t> out((count + kTail) * width, 0xab);
    kernels::gpu::enqueue_dense_targets(logits.data(), static_cast<int64_t>(count), dtype == DType::bf16, out.data(),
                                        nullptr);
    for (size_t i = count * width; i < out.size(); ++i) REQUIRE(out[i] == 0xab);
    out.resize(count * width);
    REQUIRE(out == cpu_encode(logits, rows, V, core::TargetKind::dense, 0, 1.f, dtype).values);
  }
}

// The batch-invariant linear on a real device (kernels/cuda/linear_invariant_cuda.h) at teacher-
// like sizes: values vs a float64 reference, sentinel tails, a row's bits the same in batches of
// 1..N at any offset, the CPU kernel's bits when in is a multiple of 8 (the emulator test's
// claim, here on the hardware), and CudaCompute's batch-invariant mode running that kernel.
#include <cuda_runtime.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <tuple>
#include <vector>

#include "core/base/cuda_check.h"
#include "core/model/cuda_compute.h"
#include "kernels/cuda/linear_invariant_cuda.h"
#include "kernels/linear_invariant.h"
#include "tests/support/numeric.h"

using retort::test::random_normal;

namespace {
constexpr float kSentinel = 12345.f;
constexpr int kTail = 16;

float* to_device(const float* h, size_t n) {
  float* d = nullptr;
  RETORT_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&d), (n + kTail) * sizeof(float)));
  RETORT_CUDA_CHECK(cudaMemcpy(d, h, n * sizeof(float), cudaMemcpyHostToDevice));
  return d;
}
// Rows [first, first + rows) of x through the device kernel; y's sentinel tail checked.
std::vector<float> run(const std::vector<float>& x, int64_t first, int64_t rows, const float* dw, const float* db,
                       int64_t in, int64_t out) {
  float* dx = to_device(x.data() + first * in, static_cast<size_t>(rows * in));
  std::vector<float> y(static_cast<size_t>(rows * out) + kTail, kSentinel);
  float* dy = to_device(y.data(), y.size());
  retort::kernels::linear_forward_batch_invariant_cuda(dx, dw, db, dy, rows, in, out, nullptr);
  RETORT_CUDA_CHECK(cudaDeviceSynchronize());
  RETORT_CUDA_CHECK(cudaMemcpy(y.data(), dy, y.size() * sizeof(float), cudaMemcpyDeviceToHost));
  cudaFree(dx), cudaFree(dy);
  for (int i = 0; i < kTail; ++i) REQUIRE(y[rows * out + i] == kSentinel);
  y.resize(static_cast<size_t>(rows * out));
  return y;
}
}  // namespace

TEST_CASE("cuda batch-invariant linear: reference values and batch-independent bits", "[gpu][linear]") {
  // An MLP teacher's hidden layer (784 -> 1024) and SmolLM2-like q/kv (576 -> 576 and 576 -> 192)
  // and MLP up (576 -> 1536) shapes, plus an in with a k tail (203).
  for (auto [n, in, out] : {std::tuple<int64_t, int64_t, int64_t>{300, 784, 1024}, {257, 576, 576},
                            {257, 576, 192}, {130, 576, 1536}, {97, 203, 130}}) {
    const auto x = random_normal(n * in, 1), w = random_normal(out * in, 2, 0.05f), b = random_normal(out, 3, 0.5f);
    float* dw = to_device(w.data(), w.size());
    float* db = to_device(b.data(), b.size());
    const auto full = run(x, 0, n, dw, db, in, out);
    CAPTURE(n, in, out);
    for (int64_t r = 0; r < n; r += 7)  // every 7th row against float64
      for (int64_t o = 0; o < out; ++o) {
        double ref = b[o], mag = std::fabs(double(b[o]));
        for (int64_t k = 0; k < in; ++k) {
          const double p = double(x[r * in + k]) * w[o * in + k];
          ref += p, mag += std::fabs(p);
        }
        REQUIRE(retort::test::within_tolerance(full[r * out + o], ref, 1e-6 * (1 + mag), 0));
      }
    for (int64_t rows : {int64_t{1}, int64_t{2}, int64_t{31}, int64_t{32}, int64_t{33}, int64_t{64}, n - 1})
      for (int64_t first : {int64_t{0}, (n - rows) / 2, n - rows}) {
        const auto part = run(x, first, rows, dw, db, in, out);
        CAPTURE(rows, first);
        REQUIRE(std::memcmp(part.data(), full.data() + first * out, part.size() * sizeof(float)) == 0);
      }
    if (in % 8 == 0) {
      std::vector<float> cpu(static_cast<size_t>(n * out));
      retort::kernels::linear_forward_batch_invariant(x.data(), w.data(), b.data(), cpu.data(), n, in, out);
      REQUIRE(std::memcmp(cpu.data(), full.data(), cpu.size() * sizeof(float)) == 0);
    }
    cudaFree(dw), cudaFree(db);
  }
}

TEST_CASE("CudaCompute in batch-invariant mode runs the invariant kernel for every linear_forward",
          "[gpu][linear]") {
  const auto compute = retort::core::make_cuda_compute(0, /*batch_invariant=*/true);
  REQUIRE(compute->batch_invariant());
  REQUIRE(compute->name() == "cuda:0 (batch-invariant)");
  REQUIRE_FALSE(retort::core::make_cuda_compute(0)->batch_invariant());
  const int64_t rows = 45, in = 256, out = 300;
  const auto x = random_normal(rows * in, 4), w = random_normal(out * in, 5, 0.05f), b = random_normal(out, 6);
  auto* dx = static_cast<float*>(compute->allocate(x.size() * sizeof(float)));
  auto* dw = static_cast<float*>(compute->allocate(w.size() * sizeof(float)));
  auto* db = static_cast<float*>(compute->allocate(b.size() * sizeof(float)));
  auto* dy = static_cast<float*>(compute->allocate(static_cast<size_t>(rows * out) * sizeof(float)));
  compute->upload(dx, x.data(), x.size() * sizeof(float));
  compute->upload(dw, w.data(), w.size() * sizeof(float));
  compute->upload(db, b.data(), b.size() * sizeof(float));
  compute->linear_forward(dx, dw, db, dy, rows, in, out, /*batch_invariant=*/false);  // the mode decides
  std::vector<float> y(static_cast<size_t>(rows * out)), cpu(y.size());
  compute->download(y.data(), dy, y.size() * sizeof(float));
  retort::kernels::linear_forward_batch_invariant(x.data(), w.data(), b.data(), cpu.data(), rows, in, out);
  REQUIRE(std::memcmp(y.data(), cpu.data(), y.size() * sizeof(float)) == 0);  // in = 256: the CPU's bits
  for (float* p : {dx, dw, db, dy}) compute->release(p);
}

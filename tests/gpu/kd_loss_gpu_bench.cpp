// GPU benchmark of the fused distillation loss: one JSON line per shape with the median kernel
// time (CUDA events around kd_loss), effective GB/s on model bytes, and the device-to-device
// copy bandwidth measured in the same run. Exits 77 without a device.
#include <cuda_runtime.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <random>
#include <vector>

#include "core/base/cuda_check.h"
#include "core/base/dtype.h"
#include "kernels/kd_loss.h"

namespace {
using namespace retort::kernels;

template <typename F>
double median_ms(int repeats, F&& f) {
  cudaEvent_t a, b;
  RETORT_CUDA_CHECK(cudaEventCreate(&a));
  RETORT_CUDA_CHECK(cudaEventCreate(&b));
  f();  // warm-up
  std::vector<float> ms;
  for (int i = 0; i < repeats; ++i) {
    RETORT_CUDA_CHECK(cudaEventRecord(a));
    f();
    RETORT_CUDA_CHECK(cudaEventRecord(b));
    RETORT_CUDA_CHECK(cudaEventSynchronize(b));
    float t = 0;
    RETORT_CUDA_CHECK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return ms[ms.size() / 2];
}

void* device_fill(size_t bytes, std::mt19937& rng, retort::DType dtype, size_t count) {
  void* d = nullptr;
  RETORT_CUDA_CHECK(cudaMalloc(&d, bytes));
  std::normal_distribution<float> normal(0.0f, 2.0f);
  if (dtype == retort::DType::f32) {
    std::vector<float> h(count);
    for (auto& v : h) v = normal(rng);
    RETORT_CUDA_CHECK(cudaMemcpy(d, h.data(), bytes, cudaMemcpyHostToDevice));
  } else {
    std::vector<retort::bf16> h(count);
    for (auto& v : h) v = retort::float_to_bf16(normal(rng));
    RETORT_CUDA_CHECK(cudaMemcpy(d, h.data(), bytes, cudaMemcpyHostToDevice));
  }
  return d;
}

double copy_gbps() {
  const size_t bytes = size_t{1} << 30;
  void *a = nullptr, *b = nullptr;
  RETORT_CUDA_CHECK(cudaMalloc(&a, bytes));
  RETORT_CUDA_CHECK(cudaMalloc(&b, bytes));
  const double ms = median_ms(20, [&] { RETORT_CUDA_CHECK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice)); });
  cudaFree(a);
  cudaFree(b);
  return 2.0 * static_cast<double>(bytes) / (ms * 1e-3) / 1e9;
}

void bench_shape(int64_t rows, int64_t V, int64_t k, retort::DType dtype, Divergence div, double copy) {
  std::mt19937 rng(11);
  const size_t n = static_cast<size_t>(rows * V), es = retort::dtype_size(dtype);
  void* z = device_fill(n * es, rng, dtype, n);
  void* dz = nullptr;
  RETORT_CUDA_CHECK(cudaMalloc(&dz, n * es));
  std::vector<int32_t> labels_h(rows);
  for (int64_t r = 0; r < rows; ++r) labels_h[r] = static_cast<int32_t>((r * 7919) % V);
  int32_t* labels = nullptr;
  RETORT_CUDA_CHECK(cudaMalloc(&labels, rows * sizeof(int32_t)));
  RETORT_CUDA_CHECK(cudaMemcpy(labels, labels_h.data(), rows * sizeof(int32_t), cudaMemcpyHostToDevice));
  const auto dev = retort::Device::cuda;
  void *t = nullptr, *idx = nullptr, *val = nullptr, *lse = nullptr;
  TeacherLogits teacher;
  double teacher_bytes = 0;
  if (k == 0) {
    t = device_fill(n * es, rng, dtype, n);
    teacher = TeacherLogits::dense({t, dtype, rows, V, dev});
    teacher_bytes = static_cast<double>(n * es);
  } else {
    std::vector<uint32_t> idx_h(rows * k);
    for (int64_t i = 0; i < rows * k; ++i) idx_h[i] = static_cast<uint32_t>((i % k) * (V / k));
    RETORT_CUDA_CHECK(cudaMalloc(&idx, idx_h.size() * 4));
    RETORT_CUDA_CHECK(cudaMemcpy(idx, idx_h.data(), idx_h.size() * 4, cudaMemcpyHostToDevice));
    val = device_fill(rows * k * 4, rng, retort::DType::f32, rows * k);
    std::vector<float> lse_h(rows, 12.0f);
    RETORT_CUDA_CHECK(cudaMalloc(&lse, rows * 4));
    RETORT_CUDA_CHECK(cudaMemcpy(lse, lse_h.data(), rows * 4, cudaMemcpyHostToDevice));
    teacher = TeacherLogits::topk({idx, retort::DType::u32, rows, k, dev}, {val, retort::DType::f32, rows, k, dev},
                                  {lse, retort::DType::f32, rows, 1, dev});
    teacher_bytes = static_cast<double>(rows * k * 8 + rows * 4);
  }
  KdLossParams params;
  params.divergence = div;
  params.temperature = 2.0f;
  params.alpha = 0.5f;
  const retort::TensorView zv{z, dtype, rows, V, dev}, dzv{dz, dtype, rows, V, dev};
  const double ms = median_ms(50, [&] { kd_loss(zv, teacher, labels, dzv, params); });
  const double bytes = 2.0 * static_cast<double>(n * es) + teacher_bytes + rows * 4.0;
  const double gbps = bytes / (ms * 1e-3) / 1e9;
  std::cout << nlohmann::json{{"bench", "kd_loss_gpu"}, {"rows", rows}, {"V", V}, {"k", k},
                              {"teacher", k ? "topk" : "dense"}, {"dtype", retort::dtype_name(dtype)},
                              {"divergence", divergence_name(div)}, {"median_ms", ms}, {"gbps", gbps},
                              {"copy_gbps", copy}, {"pct_copy", 100.0 * gbps / copy}}
                   .dump()
            << std::endl;
  for (void* p : {z, dz, t, idx, val, lse, static_cast<void*>(labels)}) cudaFree(p);
}
}  // namespace

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("skipped: no GPU\n");
    return 77;
  }
  try {
    const double copy = copy_gbps();
    bench_shape(256, 32000, 0, retort::DType::f32, Divergence::fkl, copy);
    bench_shape(4096, 32000, 0, retort::DType::f32, Divergence::fkl, copy);
    bench_shape(4096, 32000, 0, retort::DType::bf16, Divergence::fkl, copy);
    for (Divergence d : {Divergence::rkl, Divergence::jsd, Divergence::tvd})
      bench_shape(4096, 32000, 0, retort::DType::bf16, d, copy);
    bench_shape(512, 128256, 0, retort::DType::bf16, Divergence::fkl, copy);
    bench_shape(512, 128256, 64, retort::DType::bf16, Divergence::fkl, copy);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kd_loss_gpu_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}

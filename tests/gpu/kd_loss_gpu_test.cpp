// kd_loss on a real CUDA device (through the kd_loss() dispatch) with the same checks as the
// CPU and emulated tests, at full sizes. Buffers travel with their sentinel bytes both ways.
#include <cuda_runtime.h>

#include "core/base/cuda_check.h"
#include "tests/unit/kernels/kd_loss_checks.h"

namespace {
using namespace retort::kernels;
using namespace retort::kernels::test;

// A device copy of `bytes` host bytes (payload + sentinels), copied back on request.
struct DeviceCopy {
  void* device = nullptr;
  void* host = nullptr;
  size_t bytes = 0;
  DeviceCopy(const void* h, size_t n) : host(const_cast<void*>(h)), bytes(n) {
    if (!h) return;
    RETORT_CUDA_CHECK(cudaMalloc(&device, n));
    RETORT_CUDA_CHECK(cudaMemcpy(device, h, n, cudaMemcpyHostToDevice));
  }
  ~DeviceCopy() { cudaFree(device); }
  DeviceCopy(const DeviceCopy&) = delete;
  DeviceCopy& operator=(const DeviceCopy&) = delete;
  void copy_back() {
    if (device) RETORT_CUDA_CHECK(cudaMemcpy(host, device, bytes, cudaMemcpyDeviceToHost));
  }
  retort::TensorView on_device(retort::TensorView v) const {
    v.data = device;
    v.device = retort::Device::cuda;
    return v;
  }
};

const Caller device_call = [](const retort::TensorView& z, const TeacherLogits& t, const int32_t* labels,
                              const retort::TensorView& dz, const KdLossParams& params, const KdLossMetrics& metrics) {
  const bool dense = t.kind == TeacherLogits::Kind::dense;
  DeviceCopy dz_d(dz.data, dz.bytes() + kSentinelBytes), z_d(z.data, z.bytes() + kSentinelBytes);
  DeviceCopy logits_d(dense ? t.logits.data : nullptr, t.logits.bytes() + kSentinelBytes);
  DeviceCopy idx_d(dense ? nullptr : t.indices.data, t.indices.bytes() + kSentinelBytes);
  DeviceCopy val_d(dense ? nullptr : t.values.data, t.values.bytes() + kSentinelBytes);
  DeviceCopy lse_d(dense ? nullptr : t.lse.data, t.lse.bytes() + kSentinelBytes);
  DeviceCopy labels_d(labels, static_cast<size_t>(z.rows) * sizeof(int32_t));
  DeviceCopy ent_d(metrics.teacher_entropy, static_cast<size_t>(z.rows) * 4 + kSentinelBytes);
  DeviceCopy agree_d(metrics.top1_agree, static_cast<size_t>(z.rows) * 2 + kSentinelBytes);
  const TeacherLogits teacher = dense ? TeacherLogits::dense(logits_d.on_device(t.logits))
                                      : TeacherLogits::topk(idx_d.on_device(t.indices), val_d.on_device(t.values),
                                                            lse_d.on_device(t.lse));
  KdLossMetrics m;
  m.teacher_entropy = static_cast<float*>(ent_d.device);
  m.top1_agree = static_cast<uint8_t*>(agree_d.device);
  const KdLossResult r = kd_loss(z_d.on_device(z), teacher, static_cast<const int32_t*>(labels_d.device),
                                 dz_d.on_device(dz), params, m);
  dz_d.copy_back();
  ent_d.copy_back();
  agree_d.copy_back();
  return r;
};
}  // namespace

TEST_CASE("kd_loss cuda device: random shapes match the float64 reference", "[kd_loss][gpu]") {
  check_random_shapes(device_call, Limits{.max_rows = 17, .max_vocab = 40000, .iterations = 64});
}
TEST_CASE("kd_loss cuda device: finite differences", "[kd_loss][gpu]") { check_finite_difference(device_call); }
TEST_CASE("kd_loss cuda device: identities", "[kd_loss][gpu]") { check_identities(device_call); }
TEST_CASE("kd_loss cuda device: edge cases", "[kd_loss][gpu]") { check_edge_cases(device_call, Limits{}); }

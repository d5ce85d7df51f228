// kd_loss_cuda: the device implementation of kernels/kd_loss.h. Allocates the small workspace
// on the stream, enqueues the kernels of kd_loss.cuh and copies the totals back.
#include <cuda_runtime.h>

#include "core/base/cuda_check.h"
#include "kernels/cuda/kd_loss.cuh"
#include "kernels/kd_loss.h"

namespace retort::kernels {

KdLossResult kd_loss_cuda(const TensorView& student, const TeacherLogits& teacher, const int32_t* labels,
                          const TensorView& dz, const KdLossParams& params, const KdLossMetrics& metrics,
                          void* stream) {
  const gpu::KdLaunchArgs args = gpu::kd_launch_args(student, teacher, labels, dz, params, metrics);
  const auto s = static_cast<cudaStream_t>(stream);
  void* workspace = nullptr;
  RETORT_CUDA_CHECK(cudaMallocAsync(&workspace, gpu::kd_workspace_bytes(student.rows), s));
  gpu::KdTotals totals{};
  try {
    gpu::kd_enqueue(args, workspace, s);
    RETORT_CUDA_CHECK(cudaMemcpyAsync(&totals, workspace, sizeof totals, cudaMemcpyDeviceToHost, s));
  } catch (...) {
    cudaFreeAsync(workspace, s);
    throw;
  }
  RETORT_CUDA_CHECK(cudaFreeAsync(workspace, s));
  RETORT_CUDA_CHECK(cudaStreamSynchronize(s));
  return gpu::kd_result_from_totals(totals, student.cols);
}

}  // namespace retort::kernels

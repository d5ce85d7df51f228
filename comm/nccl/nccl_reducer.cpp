// NCCL backend of the gradient reducer: each complete bucket is all-reduced with ncclAvg on the
// reducer's own stream, which first waits on an event recorded on the compute stream at
// mark_ready time (so the reduction overlaps the rest of backward). wait() makes the compute
// stream wait for the last bucket; the host never blocks. bf16 wire: cast, reduce, cast back.
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <memory>
#include <vector>

#include "comm/buckets.h"
#include "comm/nccl/bf16_cast.h"
#include "comm/nccl/nccl_comm.h"
#include "comm/nccl/nccl_reducer.h"
#include "comm/nccl_check.h"
#include "core/base/cuda_check.h"

namespace retort::comm {
namespace {

class NcclReducer final : public GradReducer {
 public:
  NcclReducer(MPI_Comm comm, float* grads, size_t count, const ReducerConfig& config)
      : nccl_(comm), grads_(grads), plan_(count, config.bucket_bytes), config_(config),
        compute_(static_cast<cudaStream_t>(config.compute_stream)) {
    if (config.wire != DType::f32 && config.wire != DType::bf16)
      RETORT_INPUT_ERROR(fmt::format("comm.grad_dtype {} is not fp32 or bf16", dtype_name(config.wire)));
    RETORT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    ready_.resize(static_cast<size_t>(plan_.buckets()));
    for (cudaEvent_t& e : ready_) RETORT_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    RETORT_CUDA_CHECK(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
    if (config.wire == DType::bf16) RETORT_CUDA_CHECK(cudaMalloc(&wire_, count * sizeof(uint16_t)));
  }

  ~NcclReducer() override {
    // Work still queued means an error path: abort NCCL rather than wait on a peer.
    if (cudaStreamQuery(stream_) != cudaSuccess) nccl_.abort();
    for (cudaEvent_t e : ready_) cudaEventDestroy(e);
    cudaEventDestroy(done_);
    if (wire_) cudaFree(wire_);
    cudaStreamDestroy(stream_);
  }

  void mark_ready(size_t offset, size_t count) override {
    plan_.mark(offset, count);
    launch_ready();
  }

  void progress() override {}  // NCCL kernels progress on their own stream

  void wait() override {
    for (int b = 0; b < plan_.buckets(); ++b)
      if (!plan_.complete(b))
        RETORT_RUNTIME_ERROR(fmt::format("reducer: wait() with bucket {} [{}, {}) not fully marked ({} elements left)",
                                         b, plan_.begin(b), plan_.end(b), plan_.remaining(b)));
    launch_ready();
    RETORT_CUDA_CHECK(cudaEventRecord(done_, stream_));
    RETORT_CUDA_CHECK(cudaStreamWaitEvent(compute_, done_, 0));
    plan_.reset();
  }

  int bucket_count() const override { return plan_.buckets(); }
  size_t bucket_begin(int bucket) const override { return plan_.begin(bucket); }
  size_t bucket_end(int bucket) const override { return plan_.end(bucket); }

 private:
  void launch_ready() {
    for (int b = plan_.next_launchable(); b >= 0; b = plan_.next_launchable()) {
      const size_t begin = plan_.begin(b), n = plan_.end(b) - begin;
      cudaEvent_t ready = ready_[static_cast<size_t>(b)];
      RETORT_CUDA_CHECK(cudaEventRecord(ready, compute_));
      RETORT_CUDA_CHECK(cudaStreamWaitEvent(stream_, ready, 0));
      if (config_.wire == DType::bf16) {
        cast_f32_to_bf16(grads_ + begin, wire_ + begin, n, stream_);
        RETORT_NCCL_CHECK(ncclAllReduce(wire_ + begin, wire_ + begin, n, ncclBfloat16, ncclAvg, nccl_.get(), stream_));
        cast_bf16_to_f32(wire_ + begin, grads_ + begin, n, stream_);
      } else {
        RETORT_NCCL_CHECK(ncclAllReduce(grads_ + begin, grads_ + begin, n, ncclFloat32, ncclAvg, nccl_.get(), stream_));
      }
    }
  }

  NcclComm nccl_;
  float* grads_;
  BucketPlan plan_;
  ReducerConfig config_;
  cudaStream_t compute_;
  cudaStream_t stream_ = nullptr;
  std::vector<cudaEvent_t> ready_;
  cudaEvent_t done_ = nullptr;
  uint16_t* wire_ = nullptr;
};

}  // namespace

std::unique_ptr<GradReducer> make_nccl_reducer(MPI_Comm comm, float* device_grads, size_t count,
                                               const ReducerConfig& config) {
  return std::make_unique<NcclReducer>(comm, device_grads, count, config);
}

}  // namespace retort::comm

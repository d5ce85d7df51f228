// NCCL transport of the gradient reducer: each released bucket is all-reduced with ncclAvg on
// the reducer's own stream, which first waits on an event recorded on the compute stream at
// release time (so the reduction overlaps the rest of backward). complete() makes the compute
// stream wait for the last bucket; the host never blocks. bf16 wire: cast, reduce, cast back.
#include "comm/nccl/nccl_reducer.h"

#include <cuda_runtime.h>

#include "comm/nccl/bf16_cast.h"
#include "comm/nccl/nccl_comm.h"
#include "comm/nccl_check.h"
#include "core/base/cuda_check.h"

namespace retort::comm {
namespace {

class NcclReduction final : public BucketReduction {
 public:
  NcclReduction(MPI_Comm comm, float* grads, std::vector<BucketRange> buckets, const ReducerConfig& config)
      : nccl_(comm), grads_(grads), buckets_(std::move(buckets)), wire_type_(config.wire),
        compute_(static_cast<cudaStream_t>(config.compute_stream)) {
    RETORT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    ready_.resize(buckets_.size());
    for (cudaEvent_t& e : ready_) RETORT_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    RETORT_CUDA_CHECK(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
    if (wire_type_ == DType::bf16) RETORT_CUDA_CHECK(cudaMalloc(&wire_, buckets_.front().end * sizeof(uint16_t)));
  }

  ~NcclReduction() override {
    // Work still queued means an error path: abort NCCL rather than wait on a peer.
    if (cudaStreamQuery(stream_) != cudaSuccess) nccl_.abort();
    for (cudaEvent_t e : ready_) cudaEventDestroy(e);
    cudaEventDestroy(done_);
    if (wire_) cudaFree(wire_);
    cudaStreamDestroy(stream_);
  }

  void release(int n) override {
    for (; launched_ < n; ++launched_) {
      const BucketRange r = buckets_[static_cast<size_t>(launched_)];
      const size_t begin = r.begin, count = r.end - r.begin;
      cudaEvent_t ready = ready_[static_cast<size_t>(launched_)];
      RETORT_CUDA_CHECK(cudaEventRecord(ready, compute_));
      RETORT_CUDA_CHECK(cudaStreamWaitEvent(stream_, ready, 0));
      if (wire_type_ == DType::bf16) {
        cast_f32_to_bf16(grads_ + begin, wire_ + begin, count, stream_);
        RETORT_NCCL_CHECK(ncclAllReduce(wire_ + begin, wire_ + begin, count, ncclBfloat16, ncclAvg, nccl_.get(), stream_));
        cast_bf16_to_f32(wire_ + begin, grads_ + begin, count, stream_);
      } else {
        RETORT_NCCL_CHECK(ncclAllReduce(grads_ + begin, grads_ + begin, count, ncclFloat32, ncclAvg, nccl_.get(), stream_));
      }
    }
  }

  void complete(double) override {
    RETORT_CUDA_CHECK(cudaEventRecord(done_, stream_));
    RETORT_CUDA_CHECK(cudaStreamWaitEvent(compute_, done_, 0));
    launched_ = 0;
  }

 private:
  NcclComm nccl_;
  float* grads_;
  std::vector<BucketRange> buckets_;
  DType wire_type_;
  cudaStream_t compute_;
  cudaStream_t stream_ = nullptr;
  std::vector<cudaEvent_t> ready_;
  cudaEvent_t done_ = nullptr;
  uint16_t* wire_ = nullptr;
  int launched_ = 0;  // buckets of this step already queued
};

}  // namespace

std::unique_ptr<BucketReduction> make_nccl_reduction(MPI_Comm comm, float* device_grads,
                                                     std::vector<BucketRange> buckets, const ReducerConfig& config) {
  return std::make_unique<NcclReduction>(comm, device_grads, std::move(buckets), config);
}

}  // namespace retort::comm

// Data parallelism for a model's flat gradient buffer: the bucketed reducer from comm/ fed by
// the backward hook (averaging over ranks), plus a small sum all-reduce for metrics. With one
// rank it does nothing. Student loops (supervised and distillation) share it. The gradients it
// reduces are the model's device_grads() (host memory on the CPU).
#pragma once
#include <memory>

#include "comm/collectives.h"
#include "comm/reducer.h"
#include "core/config/config.h"
#include "core/model/network.h"

namespace retort::core {

class DataParallel {
 public:
  // Collective over `ranks` (every rank passes a model of the same layout). comm.bucket_mb (0 =
  // 16 MB on the CPU, 25 MB on CUDA) and comm.grad_dtype (the wire type of gradients) come from
  // `config`. A host-memory model is reduced over MPI; a CUDA model's device gradients with NCCL
  // on the model's stream.
  DataParallel(comm::Group ranks, Network& model, const CommConfig& config, double timeout_s);
  int rank() const { return rank_; }
  int size() const { return size_; }
  // Pass to Model::backward: starts reducing buckets while backward still runs.
  GradReadyHook hook();
  // Completes the reduction: the gradient buffer holds the average over ranks.
  void finish();
  // In-place sum over ranks of `values[n]` (float64).
  void sum(double* values, int n) const;

 private:
  comm::Group ranks_;
  int rank_ = 0, size_ = 1;
  std::unique_ptr<comm::GradReducer> reducer_;
};

}  // namespace retort::core

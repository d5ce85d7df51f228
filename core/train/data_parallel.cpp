// DataParallel: wiring of comm::GradReducer (MPI for host gradients, NCCL for device ones) into
// the model's backward hook.
#include "core/train/data_parallel.h"

#include "comm/backends.h"

namespace retort::core {

DataParallel::DataParallel(comm::Group ranks, Network& model, const CommConfig& config, double timeout_s)
    : ranks_(ranks), rank_(ranks.rank()), size_(ranks.size()) {
  if (size_ > 1) {
    comm::ReducerConfig rc;
    const bool host = model.compute().host_memory();
    rc.bucket_bytes = config.bucket_mb > 0 ? static_cast<size_t>(config.bucket_mb * (1 << 20)) : (host ? 16u : 25u) << 20;
    rc.wire = parse_dtype(config.grad_dtype);
    rc.timeout_s = timeout_s;
    if (!host) rc.compute_stream = model.compute().stream();
    const std::span<float> grads = model.device_grads();
    reducer_ = comm::make_reducer(ranks_, host ? comm::Transport::mpi : comm::Transport::nccl, grads.data(),
                                  grads.size(), rc);
  }
}

GradReadyHook DataParallel::hook() {
  if (!reducer_) return {};
  return [this](int64_t offset, int64_t count) {
    reducer_->mark_ready(static_cast<size_t>(offset), static_cast<size_t>(count));
  };
}

void DataParallel::finish() {
  if (reducer_) reducer_->wait();
}

void DataParallel::sum(double* values, int n) const {
  if (size_ > 1) ranks_.sum(values, n);
}

}  // namespace retort::core

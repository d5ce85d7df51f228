// DataParallel: wiring of comm::GradReducer (MPI for host gradients, NCCL for device ones) into
// the model's backward hook.
#include "core/train/data_parallel.h"

#include "comm/mpi_check.h"
#include "core/base/error.h"
#ifdef RETORT_HAVE_CUDA
#include "comm/nccl/nccl_reducer.h"
#endif

namespace retort::core {

DataParallel::DataParallel(MPI_Comm comm, Network& model, const CommConfig& config, double timeout_s) : comm_(comm) {
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
  if (size_ > 1) {
    comm::ReducerConfig rc;
    const bool host = model.compute().host_memory();
    rc.bucket_bytes = config.bucket_mb > 0 ? static_cast<size_t>(config.bucket_mb * (1 << 20)) : (host ? 16u : 25u) << 20;
    rc.wire = parse_dtype(config.grad_dtype);
    rc.timeout_s = timeout_s;
    const std::span<float> grads = model.device_grads();
    if (host) {
      reducer_ = comm::make_mpi_reducer(comm_, grads.data(), grads.size(), rc);
    } else {
#ifdef RETORT_HAVE_CUDA
      rc.compute_stream = model.compute().stream();
      reducer_ = comm::make_nccl_reducer(comm_, grads.data(), grads.size(), rc);
#else
      RETORT_RUNTIME_ERROR("a model outside host memory in a build without CUDA");
#endif
    }
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
  if (size_ > 1) RETORT_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_DOUBLE, MPI_SUM, comm_));
}

}  // namespace retort::core

// DataParallel: wiring of comm::GradReducer into the model's backward hook.
#include "core/train/data_parallel.h"

#include "comm/mpi_check.h"

namespace retort::core {

DataParallel::DataParallel(MPI_Comm comm, Model& model, const CommConfig& config, double timeout_s) : comm_(comm) {
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
  if (size_ > 1) {
    comm::ReducerConfig rc;
    if (config.bucket_mb > 0) rc.bucket_bytes = static_cast<size_t>(config.bucket_mb * (1 << 20));
    rc.wire = parse_dtype(config.grad_dtype);
    rc.timeout_s = timeout_s;
    reducer_ = comm::make_mpi_reducer(comm_, model.grads().data(), model.grads().size(), rc);
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

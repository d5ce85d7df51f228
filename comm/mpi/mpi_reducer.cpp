// MPI backend of the gradient reducer: one MPI_Iallreduce per bucket, started in bucket order
// as soon as the bucket is complete, progressed with MPI_Test, averaged when it completes.
// bf16 wire: the bucket is rounded to bf16 and summed with a bf16 user op (fp32 adds).
#include <fmt/format.h>

#include <climits>
#include <vector>

#include "comm/buckets.h"
#include "comm/mpi/request_wait.h"
#include "comm/mpi_check.h"
#include "comm/reducer.h"

namespace retort::comm {
namespace {

// inout[i] = bf16(in[i] + inout[i]), the sum done in fp32 (commutative, so deterministic for a
// fixed algorithm and rank count).
void bf16_sum(void* in, void* inout, int* len, MPI_Datatype*) {
  const bf16* a = static_cast<const bf16*>(in);
  bf16* b = static_cast<bf16*>(inout);
  for (int i = 0; i < *len; ++i) b[i] = float_to_bf16(bf16_to_float(a[i]) + bf16_to_float(b[i]));
}

class MpiReducer final : public GradReducer {
 public:
  MpiReducer(MPI_Comm comm, float* grads, size_t count, const ReducerConfig& config)
      : comm_(comm), grads_(grads), plan_(count, config.bucket_bytes), config_(config) {
    if (config.wire != DType::f32 && config.wire != DType::bf16)
      RETORT_INPUT_ERROR(fmt::format("comm.grad_dtype {} is not fp32 or bf16", dtype_name(config.wire)));
    if (plan_.elements_per_bucket() > static_cast<size_t>(INT_MAX))
      RETORT_INPUT_ERROR(fmt::format("comm bucket of {} bytes exceeds MPI's element count limit", config.bucket_bytes));
    RETORT_MPI_CHECK(MPI_Comm_size(comm, &ranks_));
    requests_.assign(static_cast<size_t>(plan_.buckets()), MPI_REQUEST_NULL);
    finished_.assign(static_cast<size_t>(plan_.buckets()), false);
    if (config.wire == DType::bf16) {
      wire_.resize(count);
      RETORT_MPI_CHECK(MPI_Op_create(&bf16_sum, 1, &bf16_op_));
    }
  }

  ~MpiReducer() override {
    // A collective still in flight means an error path (the job is about to abort): waiting
    // could hang on a dead peer and freeing is not allowed for collectives, so the request and
    // the wire buffer MPI may still write are left alone.
    bool pending = false;
    for (MPI_Request& r : requests_) pending = pending || r != MPI_REQUEST_NULL;
    if (pending) {
      new std::vector<bf16>(std::move(wire_));  // deliberately leaked, see above
      return;
    }
    if (bf16_op_ != MPI_OP_NULL) MPI_Op_free(&bf16_op_);
  }

  void mark_ready(size_t offset, size_t count) override {
    plan_.mark(offset, count);
    launch_ready();
    progress();
  }

  void progress() override {
    for (int b = first_unfinished_; b < plan_.launched(); ++b)
      if (!finished_[static_cast<size_t>(b)] && test_request(requests_[static_cast<size_t>(b)])) finish(b);
    while (first_unfinished_ < plan_.launched() && finished_[static_cast<size_t>(first_unfinished_)]) ++first_unfinished_;
  }

  void wait() override {
    for (int b = 0; b < plan_.buckets(); ++b)
      if (!plan_.complete(b))
        RETORT_RUNTIME_ERROR(fmt::format("reducer: wait() with bucket {} [{}, {}) not fully marked ({} elements left)",
                                         b, plan_.begin(b), plan_.end(b), plan_.remaining(b)));
    launch_ready();
    const auto deadline = deadline_after(config_.timeout_s);
    for (int b = 0; b < plan_.buckets(); ++b) {
      if (finished_[static_cast<size_t>(b)]) continue;
      wait_request(requests_[static_cast<size_t>(b)], MPI_STATUS_IGNORE, deadline, config_.timeout_s,
                   [&] { return fmt::format("reducer: all-reduce of bucket {} [{}, {}) did not complete", b,
                                            plan_.begin(b), plan_.end(b)); });
      finish(b);
    }
    plan_.reset();
    finished_.assign(finished_.size(), false);
    first_unfinished_ = 0;
  }

  int bucket_count() const override { return plan_.buckets(); }
  size_t bucket_begin(int bucket) const override { return plan_.begin(bucket); }
  size_t bucket_end(int bucket) const override { return plan_.end(bucket); }

 private:
  void launch_ready() {
    for (int b = plan_.next_launchable(); b >= 0; b = plan_.next_launchable()) {
      const size_t begin = plan_.begin(b);
      const int n = static_cast<int>(plan_.end(b) - begin);
      MPI_Request& request = requests_[static_cast<size_t>(b)];
      if (config_.wire == DType::bf16) {
        for (size_t i = begin; i < begin + static_cast<size_t>(n); ++i) wire_[i] = float_to_bf16(grads_[i]);
        RETORT_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, wire_.data() + begin, n, MPI_UINT16_T, bf16_op_, comm_, &request));
      } else {
        RETORT_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, grads_ + begin, n, MPI_FLOAT, MPI_SUM, comm_, &request));
      }
    }
  }

  // The sum of bucket b arrived: leave the average in the gradient buffer.
  void finish(int b) {
    const size_t begin = plan_.begin(b), end = plan_.end(b);
    const float ranks = static_cast<float>(ranks_);
    if (config_.wire == DType::bf16) {
      for (size_t i = begin; i < end; ++i) grads_[i] = bf16_to_float(wire_[i]) / ranks;
    } else {
      for (size_t i = begin; i < end; ++i) grads_[i] /= ranks;
    }
    finished_[static_cast<size_t>(b)] = true;
  }

  MPI_Comm comm_;
  float* grads_;
  BucketPlan plan_;
  ReducerConfig config_;
  int ranks_ = 1;
  std::vector<MPI_Request> requests_;
  std::vector<bool> finished_;
  int first_unfinished_ = 0;
  std::vector<bf16> wire_;
  MPI_Op bf16_op_ = MPI_OP_NULL;
};

}  // namespace

std::unique_ptr<GradReducer> make_mpi_reducer(MPI_Comm comm, float* grads, size_t count, const ReducerConfig& config) {
  return std::make_unique<MpiReducer>(comm, grads, count, config);
}

}  // namespace retort::comm

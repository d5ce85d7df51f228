// MPI backend of the gradient reducer: the bucket plan decides which buckets may start (in bucket
// order, as soon as complete); a communication thread (reduce_thread.h) all-reduces and averages
// them with a blocking ring of MPI_Sendrecv while the caller goes on with backward.
#include <fmt/format.h>

#include <climits>
#include <memory>
#include <vector>

#include "comm/buckets.h"
#include "comm/mpi/reduce_thread.h"
#include "comm/reducer.h"
#include "core/base/error.h"

namespace retort::comm {
namespace {

std::vector<BucketRange> bucket_ranges(const BucketPlan& plan) {
  std::vector<BucketRange> ranges;
  for (int b = 0; b < plan.buckets(); ++b) ranges.push_back({plan.begin(b), plan.end(b)});
  return ranges;
}

class MpiReducer final : public GradReducer {
 public:
  MpiReducer(MPI_Comm comm, float* grads, size_t count, const ReducerConfig& config)
      : plan_(count, config.bucket_bytes), timeout_s_(config.timeout_s) {
    if (plan_.elements_per_bucket() > static_cast<size_t>(INT_MAX))
      RETORT_INPUT_ERROR(fmt::format("comm bucket of {} bytes exceeds MPI's element count limit", config.bucket_bytes));
    thread_ = std::make_unique<ReduceThread>(comm, grads, bucket_ranges(plan_), config.wire);
  }

  void mark_ready(size_t offset, size_t count) override {
    plan_.mark(offset, count);
    release_complete();
  }

  void progress() override {}  // the communication thread makes progress on its own

  void wait() override {
    for (int b = 0; b < plan_.buckets(); ++b)
      if (!plan_.complete(b))
        RETORT_RUNTIME_ERROR(fmt::format("reducer: wait() with bucket {} [{}, {}) not fully marked ({} elements left)",
                                         b, plan_.begin(b), plan_.end(b), plan_.remaining(b)));
    release_complete();
    thread_->wait_all(deadline_after(timeout_s_), timeout_s_);
    plan_.reset();
  }

  int bucket_count() const override { return plan_.buckets(); }
  size_t bucket_begin(int bucket) const override { return plan_.begin(bucket); }
  size_t bucket_end(int bucket) const override { return plan_.end(bucket); }

 private:
  // Hands the thread every bucket that may start now (bucket order, so all ranks agree).
  void release_complete() {
    const int before = plan_.launched();
    while (plan_.next_launchable() >= 0) {
    }
    if (plan_.launched() > before) thread_->release(plan_.launched());
  }

  BucketPlan plan_;
  double timeout_s_;
  std::unique_ptr<ReduceThread> thread_;
};

}  // namespace

std::unique_ptr<GradReducer> make_mpi_reducer(MPI_Comm comm, float* grads, size_t count, const ReducerConfig& config) {
  return std::make_unique<MpiReducer>(comm, grads, count, config);
}

}  // namespace retort::comm

// The transport-independent gradient reducer: marks, in-order releases, wait()'s checks.
#include "comm/bucket_reducer.h"

#include <fmt/format.h>

#include "core/base/error.h"

namespace retort::comm {
namespace {

class BucketReducer final : public GradReducer {
 public:
  BucketReducer(BucketPlan plan, const ReducerConfig& config, std::unique_ptr<BucketReduction> reduction)
      : plan_(std::move(plan)), timeout_s_(config.timeout_s), reduction_(std::move(reduction)) {}

  void mark_ready(size_t offset, size_t count) override {
    plan_.mark(offset, count);
    release_complete();
  }

  void progress() override {}  // both transports progress on their own (thread, stream)

  void wait() override {
    for (int b = 0; b < plan_.buckets(); ++b)
      if (!plan_.complete(b))
        RETORT_RUNTIME_ERROR(fmt::format("reducer: wait() with bucket {} [{}, {}) not fully marked ({} elements left)",
                                         b, plan_.begin(b), plan_.end(b), plan_.remaining(b)));
    release_complete();
    reduction_->complete(timeout_s_);
    plan_.reset();
  }

  int bucket_count() const override { return plan_.buckets(); }
  size_t bucket_begin(int bucket) const override { return plan_.begin(bucket); }
  size_t bucket_end(int bucket) const override { return plan_.end(bucket); }

 private:
  // Releases every bucket that may start now (bucket order, so all ranks agree).
  void release_complete() {
    const int before = plan_.launched();
    while (plan_.next_launchable() >= 0) {
    }
    if (plan_.launched() > before) reduction_->release(plan_.launched());
  }

  BucketPlan plan_;
  double timeout_s_;
  std::unique_ptr<BucketReduction> reduction_;
};

}  // namespace

void validate_reducer_config(const ReducerConfig& config) {
  if (config.wire != DType::f32 && config.wire != DType::bf16)
    RETORT_INPUT_ERROR(fmt::format("comm.grad_dtype {} is not fp32 or bf16", dtype_name(config.wire)));
}

std::unique_ptr<GradReducer> make_bucket_reducer(BucketPlan plan, const ReducerConfig& config,
                                                 std::unique_ptr<BucketReduction> reduction) {
  return std::make_unique<BucketReducer>(std::move(plan), config, std::move(reduction));
}

}  // namespace retort::comm

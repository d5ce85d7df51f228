// The reducer written once (comm/bucket_reducer.h) over a recording BucketReduction, no MPI:
// buckets are released in bucket order and only when complete, wait() releases the rest and
// completes the step once with the configured deadline, refuses a step not fully marked (naming
// the bucket), and the next step starts from no marks.
#include <catch2/catch.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "comm/bucket_reducer.h"
#include "core/base/error.h"

using namespace retort;
using namespace retort::comm;

namespace {

struct Calls {
  std::vector<int> releases;        // the n of every release(n)
  std::vector<double> completions;  // the timeout of every complete()
};

class Recording final : public BucketReduction {
 public:
  explicit Recording(Calls& calls) : calls_(calls) {}
  void release(int n) override { calls_.releases.push_back(n); }
  void complete(double timeout_s) override { calls_.completions.push_back(timeout_s); }

 private:
  Calls& calls_;
};

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.message();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("bucket reducer: releases in bucket order, completes once per step", "[comm][reducer]") {
  Calls calls;
  ReducerConfig config;
  config.bucket_bytes = 10 * sizeof(float);  // buckets [25, 35) [15, 25) [5, 15) [0, 5)
  config.timeout_s = 7;
  auto reducer = make_bucket_reducer(BucketPlan(35, config.bucket_bytes), config, std::make_unique<Recording>(calls));
  REQUIRE(reducer->bucket_count() == 4);
  CHECK(reducer->bucket_begin(0) == 25);
  CHECK(reducer->bucket_end(3) == 5);

  for (int step = 0; step < 2; ++step) {
    calls = {};
    reducer->mark_ready(0, 5);  // the last bucket, before the first: nothing may start
    CHECK(calls.releases.empty());
    reducer->mark_ready(30, 5);
    reducer->mark_ready(25, 5);  // bucket 0 complete
    CHECK(calls.releases == std::vector<int>{1});
    reducer->mark_ready(5, 10);  // bucket 2 complete, bucket 1 not yet
    CHECK(calls.releases == std::vector<int>{1});
    reducer->progress();
    reducer->mark_ready(15, 10);  // buckets 1, 2 and 3 may all start, in one release
    CHECK(calls.releases == std::vector<int>{1, 4});
    CHECK(calls.completions.empty());
    reducer->wait();
    CHECK(calls.releases == std::vector<int>{1, 4});  // nothing left to release
    CHECK(calls.completions == std::vector<double>{7});
  }
}

TEST_CASE("bucket reducer: wait() on a step not fully marked names the bucket", "[comm][reducer]") {
  Calls calls;
  ReducerConfig config;
  config.bucket_bytes = 10 * sizeof(float);
  auto reducer = make_bucket_reducer(BucketPlan(35, config.bucket_bytes), config, std::make_unique<Recording>(calls));
  reducer->mark_ready(25, 10);
  reducer->mark_ready(0, 12);
  CHECK(message_of([&] { reducer->wait(); }) ==
        "reducer: wait() with bucket 1 [15, 25) not fully marked (10 elements left)");
  CHECK(calls.completions.empty());
  CHECK(message_of([&] { reducer->mark_ready(20, 10); }) ==
        "reducer: ready range [20, 30) overlaps [25, 35) already marked this step");
}

TEST_CASE("bucket reducer: the gradient wire type is fp32 or bf16", "[comm][reducer]") {
  ReducerConfig config;
  CHECK_NOTHROW(validate_reducer_config(config));
  config.wire = DType::bf16;
  CHECK_NOTHROW(validate_reducer_config(config));
  config.wire = DType::u32;
  CHECK(message_of([&] { validate_reducer_config(config); }) == "comm.grad_dtype u32 is not fp32 or bf16");
}

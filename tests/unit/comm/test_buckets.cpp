// Bucket plan: reverse-order bucket ranges for bucket sizes that do and do not divide the
// buffer, in-order launch, and the errors for double marks and out-of-range marks.
#include <catch2/catch.hpp>

#include "comm/buckets.h"
#include "core/base/error.h"

using namespace retort;
using namespace retort::comm;

TEST_CASE("buckets cover the buffer from its end, the last one short", "[comm][buckets]") {
  const BucketPlan p(10, 16);  // 4 elements per bucket
  REQUIRE(p.buckets() == 3);
  CHECK(p.begin(0) == 6);
  CHECK(p.end(0) == 10);
  CHECK(p.begin(1) == 2);
  CHECK(p.end(1) == 6);
  CHECK(p.begin(2) == 0);
  CHECK(p.end(2) == 2);
  CHECK(BucketPlan(10, 1).elements_per_bucket() == 1);   // 1 byte -> one element
  CHECK(BucketPlan(10, 1).buckets() == 10);
  CHECK(BucketPlan(10, 7).elements_per_bucket() == 1);   // not a multiple of 4 bytes
  CHECK(BucketPlan(10, 1000).buckets() == 1);
}

TEST_CASE("buckets launch in order once complete", "[comm][buckets]") {
  BucketPlan p(10, 16);
  p.mark(0, 2);  // the last bucket is complete but bucket 0 is not: nothing may start
  CHECK(p.complete(2));
  CHECK(p.next_launchable() == -1);
  p.mark(7, 3);
  CHECK(p.remaining(0) == 1);
  p.mark(6, 1);
  CHECK(p.next_launchable() == 0);
  CHECK(p.next_launchable() == -1);
  p.mark(2, 4);
  CHECK(p.next_launchable() == 1);
  CHECK(p.next_launchable() == 2);
  CHECK(p.next_launchable() == -1);
  p.reset();
  CHECK(p.remaining(0) == 4);
  CHECK(p.launched() == 0);
}

TEST_CASE("buckets reject overlapping and out-of-range marks", "[comm][buckets]") {
  BucketPlan p(10, 16);
  p.mark(3, 4);
  try {
    p.mark(6, 2);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.message() == "reducer: ready range [6, 8) overlaps [3, 7) already marked this step");
  }
  CHECK_THROWS_AS(p.mark(1, 3), Error);
  CHECK_NOTHROW(p.mark(7, 3));
  CHECK_THROWS_AS(p.mark(9, 2), Error);
  CHECK_THROWS_AS(BucketPlan(0, 4), Error);
  CHECK_THROWS_AS(BucketPlan(4, 0), Error);
}

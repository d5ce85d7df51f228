// The bucket plan of the gradient reducer (pure, shared by the MPI and NCCL backends): buckets
// of whole fp32 elements in reverse parameter order, marks of ready ranges, and the in-order
// launch rule (bucket i may start only after buckets 0..i-1 started, on every rank alike).
#pragma once
#include <cstddef>
#include <map>
#include <vector>

namespace retort::comm {

// A bucket's elements [begin, end) of the gradient buffer.
struct BucketRange {
  size_t begin = 0, end = 0;
};

class BucketPlan {
 public:
  // `bucket_bytes` is rounded down to whole fp32 elements (at least one element per bucket).
  BucketPlan(size_t count, size_t bucket_bytes);

  size_t count() const { return count_; }
  size_t elements_per_bucket() const { return per_bucket_; }
  int buckets() const { return static_cast<int>(remaining_.size()); }
  // Bucket 0 ends at `count`; the last bucket starts at 0 (and may be shorter).
  size_t begin(int bucket) const;
  size_t end(int bucket) const;
  std::vector<BucketRange> ranges() const;  // every bucket, in bucket order

  // Marks [offset, offset + n) ready. Throws a runtime error when out of range or when an
  // element is marked twice in one step.
  void mark(size_t offset, size_t n);
  bool complete(int bucket) const { return remaining_[static_cast<size_t>(bucket)] == 0; }
  size_t remaining(int bucket) const { return remaining_[static_cast<size_t>(bucket)]; }
  // The next bucket allowed to start, or -1: returns it and advances when it is complete.
  int next_launchable();
  int launched() const { return launched_; }
  // Clears marks and launches for the next step.
  void reset();

 private:
  size_t count_ = 0;
  size_t per_bucket_ = 1;
  std::vector<size_t> remaining_;
  std::map<size_t, size_t> marked_;  // begin -> end of the ranges marked this step
  int launched_ = 0;
};

}  // namespace retort::comm

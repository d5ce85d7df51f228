// Bucket plan arithmetic and ready-range bookkeeping.
#include "comm/buckets.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

#include "core/base/error.h"

namespace retort::comm {

BucketPlan::BucketPlan(size_t count, size_t bucket_bytes)
    : count_(count), per_bucket_(std::max<size_t>(1, bucket_bytes / sizeof(float))) {
  if (count == 0) RETORT_INPUT_ERROR("gradient reducer over an empty buffer");
  if (bucket_bytes == 0) RETORT_INPUT_ERROR("comm bucket size must be >= 1 byte");
  remaining_.resize((count + per_bucket_ - 1) / per_bucket_);
  reset();
}

size_t BucketPlan::end(int bucket) const { return count_ - static_cast<size_t>(bucket) * per_bucket_; }
size_t BucketPlan::begin(int bucket) const {
  const size_t e = end(bucket);
  return e > per_bucket_ ? e - per_bucket_ : 0;
}

std::vector<BucketRange> BucketPlan::ranges() const {
  std::vector<BucketRange> all;
  for (int b = 0; b < buckets(); ++b) all.push_back({begin(b), end(b)});
  return all;
}

void BucketPlan::mark(size_t offset, size_t n) {
  if (n == 0) return;
  if (offset > count_ || n > count_ - offset)
    RETORT_RUNTIME_ERROR(fmt::format("reducer: ready range [{}, {}) is outside the gradient buffer of {} elements",
                                     offset, offset + n, count_));
  auto next = marked_.lower_bound(offset + n);  // first range starting at/after our end
  if (next != marked_.begin() && std::prev(next)->second > offset) {
    const auto& [b, e] = *std::prev(next);
    RETORT_RUNTIME_ERROR(fmt::format("reducer: ready range [{}, {}) overlaps [{}, {}) already marked this step",
                                     offset, offset + n, b, e));
  }
  marked_.emplace(offset, offset + n);
  const int first = static_cast<int>((count_ - (offset + n)) / per_bucket_);  // holds the range's end
  const int last = static_cast<int>((count_ - 1 - offset) / per_bucket_);     // holds its start
  for (int b = first; b <= last; ++b) {
    const size_t overlap = std::min(end(b), offset + n) - std::max(begin(b), offset);
    remaining_[static_cast<size_t>(b)] -= overlap;
  }
}

int BucketPlan::next_launchable() {
  if (launched_ >= buckets() || !complete(launched_)) return -1;
  return launched_++;
}

void BucketPlan::reset() {
  for (int b = 0; b < buckets(); ++b) remaining_[static_cast<size_t>(b)] = end(b) - begin(b);
  marked_.clear();
  launched_ = 0;
}

}  // namespace retort::comm

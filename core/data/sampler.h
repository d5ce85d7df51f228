// The deterministic sampler: a per-epoch permutation from (seed, epoch); step s of an epoch is
// the global batch perm[s·B, (s+1)·B) (the last partial batch is dropped), split across S ranks
// in contiguous, balanced slices. The global sample order is the same for every S, and
// ids(epoch, step, rank, S) is a pure function: the sampler's state is only (epoch, step).
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace retort::core {

class Sampler {
 public:
  // Throws an input error unless 0 < global_batch <= num_samples.
  Sampler(uint64_t seed, int64_t num_samples, int64_t global_batch);
  int64_t num_samples() const { return n_; }
  int64_t global_batch() const { return batch_; }
  int64_t steps_per_epoch() const { return n_ / batch_; }

  // Rows [first, second) of the global batch that `rank` of `ranks` trains on.
  static std::pair<int64_t, int64_t> rank_rows(int64_t global_batch, int rank, int ranks);

  // Sample ids of (epoch, step within the epoch) for `rank` of `ranks`.
  std::vector<int64_t> ids(int64_t epoch, int64_t step, int rank, int ranks) const;
  // The permutation of epoch `epoch` (cached: consecutive calls for one epoch are cheap).
  const std::vector<int64_t>& permutation(int64_t epoch) const;

 private:
  uint64_t seed_;
  int64_t n_, batch_;
  mutable int64_t cached_epoch_ = -1;
  mutable std::vector<int64_t> cached_;
};

}  // namespace retort::core

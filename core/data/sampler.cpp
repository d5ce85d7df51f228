// Sampler: Fisher-Yates permutation keyed by (seed, epoch) and the per-rank batch split.
#include "core/data/sampler.h"

#include <string>

#include "core/base/error.h"
#include "kernels/dropout.h"

namespace retort::core {

Sampler::Sampler(uint64_t seed, int64_t num_samples, int64_t global_batch)
    : seed_(seed), n_(num_samples), batch_(global_batch) {
  if (global_batch <= 0 || global_batch > num_samples)
    RETORT_INPUT_ERROR("train.batch_size " + std::to_string(global_batch) +
                       " must be in [1, " + std::to_string(num_samples) + "] (training samples)");
}

std::pair<int64_t, int64_t> Sampler::rank_rows(int64_t global_batch, int rank, int ranks) {
  RETORT_CHECK(ranks > 0 && rank >= 0 && rank < ranks, "bad rank " + std::to_string(rank));
  return {global_batch * rank / ranks, global_batch * (rank + 1) / ranks};
}

const std::vector<int64_t>& Sampler::permutation(int64_t epoch) const {
  if (epoch == cached_epoch_) return cached_;
  cached_.resize(static_cast<size_t>(n_));
  for (int64_t i = 0; i < n_; ++i) cached_[i] = i;
  const uint64_t key = kernels::mix64(kernels::mix64(seed_ ^ 0x5a3b1e5ull) ^ static_cast<uint64_t>(epoch));
  for (int64_t i = n_ - 1; i > 0; --i) {
    const uint64_t h = kernels::mix64(key ^ static_cast<uint64_t>(i));
    const auto j = static_cast<int64_t>((static_cast<unsigned __int128>(h) * (i + 1)) >> 64);
    std::swap(cached_[i], cached_[j]);
  }
  cached_epoch_ = epoch;
  return cached_;
}

std::vector<int64_t> Sampler::ids(int64_t epoch, int64_t step, int rank, int ranks) const {
  RETORT_CHECK(epoch >= 0 && step >= 0 && step < steps_per_epoch(),
               "sampler step " + std::to_string(step) + " outside epoch " + std::to_string(epoch));
  const auto [first, last] = rank_rows(batch_, rank, ranks);
  const std::vector<int64_t>& perm = permutation(epoch);
  const int64_t base = step * batch_;
  return std::vector<int64_t>(perm.begin() + base + first, perm.begin() + base + last);
}

}  // namespace retort::core

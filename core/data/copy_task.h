// The synthetic copy task of the language-model tests and smoke runs: sequence w of a split is
// L = T/2 symbols drawn from [2, vocab) by (seed, split, w, position), the separator 1, and the
// same L symbols again (T + 1 tokens). Only the copy is predictable, so targets before it are
// not counted: first_counted_target() = L.
#pragma once
#include <cstdint>
#include <span>

namespace retort::core {

class CopyTask {
 public:
  static constexpr int32_t kSeparator = 1;
  // Input error unless seq_len is even and >= 2, vocab >= 3 and num_windows >= 1.
  CopyTask(uint64_t seed, uint64_t split, int64_t vocab, int64_t seq_len, int64_t num_windows);
  int64_t num_windows() const { return windows_; }
  int64_t seq_len() const { return 2 * half_; }
  int64_t first_counted_target() const { return half_; }
  // tokens_out[ids.size(), T + 1].
  void gather(std::span<const int64_t> ids, int32_t* tokens_out) const;

 private:
  uint64_t key_;
  int64_t vocab_, half_, windows_;
};

}  // namespace retort::core

// Fixed-length training windows over one split of token shards (memory mapped). With T the
// sequence length and the split's shards read as one concatenated stream of N tokens, window w
// is tokens [w·T, w·T + T + 1): inputs are its first T tokens, targets its last T, and
// consecutive windows share one token, so their inputs never overlap. num_windows() =
// floor((N − 1) / T). Training permutes window ids with the Sampler; evaluation walks windows
// 0, 1, ..., num_windows() − 1 of the validation split.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/data/token_shards.h"

namespace retort::core {

class SequenceDataset {
 public:
  // Opens split `split` ("train" | "val") of the shard directory `dir` (validated, see
  // open_token_split). Input error when seq_len < 1 or the split holds fewer than T + 1 tokens.
  SequenceDataset(const std::string& dir, const std::string& split, int64_t seq_len,
                  const TokenShardExpect& expect = {});
  int64_t seq_len() const { return seq_len_; }
  int64_t num_tokens() const { return offsets_.back(); }
  int64_t num_windows() const { return (num_tokens() - 1) / seq_len_; }
  int64_t vocab_size() const { return vocab_size_; }
  // Copies the windows `ids` into tokens_out[ids.size(), T + 1] (row-major). Runtime error for
  // an id outside [0, num_windows()).
  void gather(std::span<const int64_t> ids, int32_t* tokens_out) const;

 private:
  int64_t seq_len_;
  int64_t vocab_size_ = 0;
  std::vector<TokenShard> shards_;
  std::vector<int64_t> offsets_;  // offsets_[s] = first stream position of shard s; back() = N
};

}  // namespace retort::core

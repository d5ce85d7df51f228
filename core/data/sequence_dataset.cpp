// Window gathering across shard boundaries of the concatenated token stream.
#include "core/data/sequence_dataset.h"

#include <algorithm>

#include "core/base/error.h"

namespace retort::core {

SequenceDataset::SequenceDataset(const std::string& dir, const std::string& split, int64_t seq_len,
                                 const TokenShardExpect& expect)
    : seq_len_(seq_len), shards_(open_token_split(dir, split, expect)) {
  if (seq_len < 1) RETORT_INPUT_ERROR("sequence length " + std::to_string(seq_len) + " must be at least 1");
  offsets_.push_back(0);
  for (const TokenShard& s : shards_) offsets_.push_back(offsets_.back() + s.tokens());
  if (!shards_.empty()) vocab_size_ = static_cast<int64_t>(shards_.front().header().vocab_size);
  if (num_tokens() < seq_len + 1)
    RETORT_INPUT_ERROR(dir + ": split " + split + " holds " + std::to_string(num_tokens()) +
                       " tokens, fewer than one window of " + std::to_string(seq_len + 1));
}

void SequenceDataset::gather(std::span<const int64_t> ids, int32_t* tokens_out) const {
  const int64_t row = seq_len_ + 1;
  for (size_t r = 0; r < ids.size(); ++r) {
    const int64_t w = ids[r];
    RETORT_CHECK(w >= 0 && w < num_windows(), "window " + std::to_string(w) + " of " + std::to_string(num_windows()));
    int64_t pos = w * seq_len_, left = row;
    int32_t* out = tokens_out + static_cast<int64_t>(r) * row;
    // The shard holding `pos`: the last one whose first position is <= pos.
    auto s = static_cast<size_t>(std::upper_bound(offsets_.begin(), offsets_.end(), pos) - offsets_.begin() - 1);
    while (left > 0) {
      const int64_t in_shard = std::min(left, offsets_[s + 1] - pos);
      shards_[s].copy(pos - offsets_[s], in_shard, out);
      out += in_shard;
      pos += in_shard;
      left -= in_shard;
      ++s;
    }
  }
}

}  // namespace retort::core

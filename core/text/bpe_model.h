// The BPE merge loop over one pre-tokenized piece: the piece's bytes start as byte-level
// symbols; a min-heap over adjacent pairs keyed by (merge rank, position) merges the best pair
// until none is left (O(n log n) per piece), as Hugging Face tokenizers' BPE does. Results of
// pieces shorter than 256 bytes are kept in a sharded, thread-safe word cache.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace retort::core {

struct BpeMerge {
  std::string left, right;  // byte-level symbols; left + right must be in the vocabulary
};

class BpeModel {
 public:
  // vocab[id] = token in the byte-level alphabet ("" for an unused id). Merges in rank order;
  // a repeated merge keeps its last rank. unk_id >= 0 stands for bytes the vocabulary lacks
  // (else they are dropped). ignore_merges: a piece that is a whole vocabulary entry is that
  // entry. Throws an input error naming `what` for a merge whose parts or result are not tokens.
  BpeModel(const std::vector<std::string>& vocab, const std::vector<BpeMerge>& merges, int32_t unk_id,
           bool ignore_merges, const std::string& what);

  // Appends the ids of `piece` (raw bytes) to `out`. Thread-safe.
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using WordMap = std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>>;
  struct CacheShard {
    mutable std::shared_mutex mutex;
    WordMap words;
  };
  static constexpr size_t kCacheShards = 64;
  static constexpr size_t kCachePerShard = 4096;
  static constexpr size_t kCachedPieceBytes = 256;

  void merge(std::string_view piece, std::vector<int32_t>& out) const;

  std::array<int32_t, 256> byte_ids_;  // id of each byte's symbol, -1 when not in the vocabulary
  int32_t unk_id_;
  bool ignore_merges_;
  // (left id << 32 | right id) -> (rank, merged id)
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;
  // raw bytes of each token -> id (for ignore_merges)
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> raw_tokens_;
  mutable std::array<CacheShard, kCacheShards> cache_;
};

}  // namespace retort::core

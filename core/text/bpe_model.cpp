// Vocabulary/merge tables and the heap-driven merge loop of byte-level BPE.
#include "core/text/bpe_model.h"

#include <algorithm>
#include <functional>

#include "core/base/error.h"
#include "core/text/byte_level.h"

namespace retort::core {
namespace {

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

struct Symbol {
  int32_t id;
  int32_t prev, next;  // neighbours in the piece, -1 at the ends
  bool alive;
};

struct Candidate {
  int32_t rank, pos, merged_id;
  bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

}  // namespace

BpeModel::BpeModel(const std::vector<std::string>& vocab, const std::vector<BpeMerge>& merges, int32_t unk_id,
                   bool ignore_merges, const std::string& what)
    : unk_id_(unk_id), ignore_merges_(ignore_merges) {
  std::unordered_map<std::string_view, int32_t> ids;
  ids.reserve(vocab.size());
  for (size_t id = 0; id < vocab.size(); ++id) {
    if (vocab[id].empty()) continue;
    ids.emplace(vocab[id], static_cast<int32_t>(id));
    std::string raw;
    if (byte_level_decode(vocab[id], raw)) raw_tokens_.emplace(std::move(raw), static_cast<int32_t>(id));
  }
  const auto& symbols = byte_level_symbols();
  for (int b = 0; b < 256; ++b) {
    const auto it = ids.find(symbols[b]);
    byte_ids_[b] = it == ids.end() ? -1 : it->second;
  }
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const BpeMerge& m = merges[rank];
    const auto left = ids.find(m.left), right = ids.find(m.right);
    const auto merged = ids.find(m.left + m.right);
    if (left == ids.end() || right == ids.end() || merged == ids.end())
      RETORT_INPUT_ERROR(what + ": merge " + std::to_string(rank) + " '" + m.left + " " + m.right +
                         "' uses or makes a token that is not in the vocabulary");
    merges_.insert_or_assign(pair_key(left->second, right->second),
                             std::pair<int32_t, int32_t>(static_cast<int32_t>(rank), merged->second));
  }
}

void BpeModel::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  if (ignore_merges_) {
    const auto it = raw_tokens_.find(piece);
    if (it != raw_tokens_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  if (piece.size() >= kCachedPieceBytes) {
    merge(piece, out);
    return;
  }
  CacheShard& shard = cache_[std::hash<std::string_view>{}(piece) % kCacheShards];
  {
    std::shared_lock lock(shard.mutex);
    const auto it = shard.words.find(piece);
    if (it != shard.words.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = out.size();
  merge(piece, out);
  std::unique_lock lock(shard.mutex);
  if (shard.words.size() < kCachePerShard)
    shard.words.emplace(std::string(piece), std::vector<int32_t>(out.begin() + static_cast<std::ptrdiff_t>(first), out.end()));
}

void BpeModel::merge(std::string_view piece, std::vector<int32_t>& out) const {
  thread_local std::vector<Symbol> symbols;
  thread_local std::vector<Candidate> heap;  // a min-heap by (rank, position)
  symbols.clear();
  heap.clear();
  for (const char c : piece) {
    const int32_t id = byte_ids_[static_cast<unsigned char>(c)];
    const int32_t use = id >= 0 ? id : unk_id_;
    if (use < 0) continue;  // no symbol and no unknown token: the byte is dropped
    const auto n = static_cast<int32_t>(symbols.size());
    symbols.push_back({use, n - 1, n + 1, true});
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  const std::greater<> min_first;
  const auto push_pair = [&](int32_t pos) {
    if (pos < 0 || symbols[pos].next < 0) return;
    const auto it = merges_.find(pair_key(symbols[pos].id, symbols[symbols[pos].next].id));
    if (it == merges_.end()) return;
    heap.push_back({it->second.first, pos, it->second.second});
    std::push_heap(heap.begin(), heap.end(), min_first);
  };
  for (int32_t pos = 0; pos + 1 < static_cast<int32_t>(symbols.size()); ++pos) push_pair(pos);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), min_first);
    const Candidate top = heap.back();
    heap.pop_back();
    Symbol& left = symbols[top.pos];
    if (!left.alive || left.next < 0) continue;
    // Stale when the pair at this position no longer makes the token it was pushed for.
    const auto it = merges_.find(pair_key(left.id, symbols[left.next].id));
    if (it == merges_.end() || it->second.second != top.merged_id) continue;
    Symbol& right = symbols[left.next];
    left.id = top.merged_id;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    push_pair(left.prev);
    push_pair(top.pos);
  }
  for (const Symbol& s : symbols)
    if (s.alive) out.push_back(s.id);
}

}  // namespace retort::core

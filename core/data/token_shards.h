// Token shards: files of token ids with a versioned 64-byte header (magic, version, id width,
// vocab size, tokenizer hash, token and document counts, XXH3-64 of the payload) and ids as
// little-endian uint16 when the vocabulary fits, else uint32; a directory of them has a
// manifest.json listing each split's shards in order. Readers mmap and validate everything.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace retort::core {

inline constexpr char kTokenShardMagic[8] = {'R', 'T', 'T', 'O', 'K', 'E', 'N', 'S'};
inline constexpr uint32_t kTokenShardVersion = 1;

struct TokenShardHeader {
  char magic[8];
  uint32_t version;
  uint32_t id_bytes;         // 2 or 4
  uint64_t vocab_size;
  uint64_t tokenizer_hash;   // Tokenizer::content_hash()
  uint64_t token_count;
  uint64_t document_count;
  uint64_t payload_checksum;  // XXH3-64 of the token_count * id_bytes payload bytes
  uint64_t reserved;          // 0
};
static_assert(sizeof(TokenShardHeader) == 64);

// id width of a vocabulary: 2 bytes when every id fits uint16, else 4.
uint32_t token_id_bytes(int64_t vocab_size);

// Writes one shard: streamed to `path`.tmp, header completed and renamed by finish().
class TokenShardWriter {
 public:
  TokenShardWriter(std::string path, int64_t vocab_size, uint64_t tokenizer_hash);
  ~TokenShardWriter();
  TokenShardWriter(const TokenShardWriter&) = delete;
  TokenShardWriter& operator=(const TokenShardWriter&) = delete;
  // Appends one document's ids (each must be < vocab_size; checked).
  void append_document(std::span<const int32_t> ids);
  int64_t tokens() const { return static_cast<int64_t>(header_.token_count); }
  int64_t documents() const { return static_cast<int64_t>(header_.document_count); }
  // Completes the header and publishes the file; runtime error when writing fails.
  void finish();

 private:
  std::string path_;
  TokenShardHeader header_{};
  struct State;
  std::unique_ptr<State> state_;
};

// What a reader requires of a shard (unset: anything).
struct TokenShardExpect {
  std::optional<int64_t> vocab_size;
  std::optional<uint64_t> tokenizer_hash;
};

// A read-only, memory-mapped shard.
class TokenShard {
 public:
  // Validates magic, version, id width, reserved, size against the token count, checksum and
  // `expect`: each violation is an input error naming the file.
  static TokenShard open(const std::string& path, const TokenShardExpect& expect = {});
  const TokenShardHeader& header() const { return header_; }
  const std::string& path() const { return path_; }
  int64_t tokens() const { return static_cast<int64_t>(header_.token_count); }
  // Copies ids [begin, begin + count) into out (as int32).
  void copy(int64_t begin, int64_t count, int32_t* out) const;

 private:
  struct Mapping;
  std::string path_;
  TokenShardHeader header_{};
  std::shared_ptr<const Mapping> mapping_;
  const uint8_t* payload_ = nullptr;
};

// A split ("train" / "val") of a shard directory, as manifest.json lists it.
struct TokenSplitManifest {
  std::vector<std::string> shards;  // file names relative to the directory, in stream order
  int64_t tokens = 0, documents = 0;
};
struct TokenShardManifest {
  std::string tokenizer;          // the path it was made with (information)
  uint64_t tokenizer_hash = 0;
  int64_t vocab_size = 0;
  int32_t separator_id = -1;      // the token that ends every document (the tokenizer's EOS)
  uint64_t seed = 0;
  double val_fraction = 0;
  TokenSplitManifest train, val;
};
void write_token_manifest(const std::string& dir, const TokenShardManifest& manifest);
// Input error naming dir/manifest.json when missing or malformed.
TokenShardManifest read_token_manifest(const std::string& dir);

// The shards of `split` of `dir`, opened and validated against the manifest (vocab size,
// tokenizer hash, counts) and `expect`.
std::vector<TokenShard> open_token_split(const std::string& dir, const std::string& split,
                                         const TokenShardExpect& expect = {});

}  // namespace retort::core

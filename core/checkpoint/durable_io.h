// Durable file primitives for checkpoints: write + fsync, atomic replace (temporary file, fsync,
// rename, fsync of the directory), whole-file reads, and XXH3-64 as a hex string.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace retort::core {

// Writes `bytes` to `path` (created or truncated) and fsyncs it. Runtime error naming the file.
void write_file_synced(const std::string& path, std::span<const uint8_t> bytes);
// Writes `path` atomically: `path.tmp` is written and fsynced, renamed over `path`, and the
// directory is fsynced. Readers see the old or the new content, never a mix.
void write_file_atomic(const std::string& path, std::span<const uint8_t> bytes);
void fsync_directory(const std::string& dir);
// Whole file; input error naming the file when it cannot be read.
std::vector<uint8_t> read_file(const std::string& path);
// XXH3-64 as 16 lowercase hex digits.
std::string xxh3_hex(std::span<const uint8_t> bytes);

}  // namespace retort::core

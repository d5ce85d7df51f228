// IDX reading through zlib's gz* API (which reads raw files transparently).
#include "core/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <memory>

#include "core/base/error.h"

namespace retort::core {
namespace {

// Largest array accepted (Fashion-MNIST's training images are 47 MB), and the first read's size.
constexpr int64_t kMaxIdxBytes = int64_t{1} << 32;
constexpr int64_t kFirstChunk = int64_t{1} << 20;

struct GzClose {
  void operator()(gzFile f) const { gzclose(f); }
};
using GzHandle = std::unique_ptr<gzFile_s, GzClose>;

// Reads up to `n` bytes; returns how many were read, throws on a decompression error.
int64_t read_some(gzFile f, uint8_t* dst, int64_t n, const std::string& path) {
  int64_t total = 0;
  while (total < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<int64_t>(n - total, 1 << 30));
    const int got = gzread(f, dst + total, chunk);
    if (got < 0) {
      int code = 0;
      const char* msg = gzerror(f, &code);
      RETORT_INPUT_ERROR(path + ": corrupt compressed data (" + std::string(msg) + ")");
    }
    if (got == 0) break;
    total += got;
  }
  // A truncated gzip stream reports its error only after the short read.
  int code = 0;
  const char* msg = gzerror(f, &code);
  if (code != Z_OK && code != Z_STREAM_END)
    RETORT_INPUT_ERROR(path + ": corrupt or truncated compressed data (" + std::string(msg) + ")");
  return total;
}

}  // namespace

IdxArray read_idx(const std::string& path, int expected_rank) {
  GzHandle f(gzopen(path.c_str(), "rb"));
  if (!f) RETORT_INPUT_ERROR(path + ": cannot open IDX file");
  uint8_t magic[4];
  if (read_some(f.get(), magic, 4, path) != 4) RETORT_INPUT_ERROR(path + ": truncated IDX header");
  if (magic[0] != 0 || magic[1] != 0)
    RETORT_INPUT_ERROR(path + ": not an IDX file (bad magic bytes)");
  if (magic[2] != 0x08)
    RETORT_INPUT_ERROR(path + ": IDX element type " + std::to_string(magic[2]) +
                       " is not unsigned byte (0x08)");
  if (magic[3] != expected_rank)
    RETORT_INPUT_ERROR(path + ": IDX file has " + std::to_string(magic[3]) +
                       " dimensions, expected " + std::to_string(expected_rank));
  IdxArray out;
  int64_t count = 1;
  for (int d = 0; d < expected_rank; ++d) {
    uint8_t b[4];
    if (read_some(f.get(), b, 4, path) != 4) RETORT_INPUT_ERROR(path + ": truncated IDX header");
    const int64_t dim = (int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) | (int64_t{b[2]} << 8) | b[3];
    if (dim <= 0 || dim > (1 << 28))
      RETORT_INPUT_ERROR(path + ": IDX dimension " + std::to_string(d) + " is " +
                         std::to_string(dim));
    out.dims.push_back(dim);
    count *= dim;
    if (count > kMaxIdxBytes)
      RETORT_INPUT_ERROR(path + ": IDX array of " + std::to_string(count) + "+ bytes is implausibly large (limit " +
                         std::to_string(kMaxIdxBytes) + ")");
  }
  // The header is not trusted with the allocation: the buffer grows only as data arrives, so
  // a small file promising gigabytes fails as truncated having allocated about its real size.
  int64_t got = 0;
  while (got < count) {
    const int64_t want = std::min(count, std::max<int64_t>(kFirstChunk, 2 * got));
    out.data.resize(static_cast<size_t>(want));
    const int64_t n = read_some(f.get(), out.data.data() + got, want - got, path);
    got += n;
    if (got < want) break;
  }
  out.data.resize(static_cast<size_t>(got));
  if (got != count)
    RETORT_INPUT_ERROR(path + ": truncated: header promises " + std::to_string(count) +
                       " data bytes, file has " + std::to_string(got));
  uint8_t extra;
  if (read_some(f.get(), &extra, 1, path) != 0)
    RETORT_INPUT_ERROR(path + ": trailing bytes after the " + std::to_string(count) +
                       " data bytes the header promises");
  return out;
}

}  // namespace retort::core

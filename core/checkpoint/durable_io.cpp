// POSIX implementation of the durable file primitives.
#include "core/checkpoint/durable_io.h"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/base/error.h"

namespace retort::core {
namespace {
std::string errno_text() { return std::strerror(errno); }
}  // namespace

void write_file_synced(const std::string& path, std::span<const uint8_t> bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) RETORT_RUNTIME_ERROR("cannot create " + path + ": " + errno_text());
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = errno_text();
      ::close(fd);
      RETORT_RUNTIME_ERROR("cannot write " + path + ": " + why);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const std::string why = errno_text();
    ::close(fd);
    RETORT_RUNTIME_ERROR("cannot fsync " + path + ": " + why);
  }
  if (::close(fd) != 0) RETORT_RUNTIME_ERROR("cannot close " + path + ": " + errno_text());
}

void fsync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) RETORT_RUNTIME_ERROR("cannot open directory " + dir + ": " + errno_text());
  const int rc = ::fsync(fd);
  const std::string why = errno_text();
  ::close(fd);
  if (rc != 0) RETORT_RUNTIME_ERROR("cannot fsync directory " + dir + ": " + why);
}

void write_file_atomic(const std::string& path, std::span<const uint8_t> bytes) {
  const std::string tmp = path + ".tmp";
  write_file_synced(tmp, bytes);
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    RETORT_RUNTIME_ERROR("cannot rename " + tmp + " to " + path + ": " + errno_text());
  const auto parent = std::filesystem::path(path).parent_path();
  fsync_directory(parent.empty() ? "." : parent.string());
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) RETORT_INPUT_ERROR("cannot open " + path + ": " + errno_text());
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) RETORT_INPUT_ERROR("cannot read " + path);
  return out;
}

std::string xxh3_hex(std::span<const uint8_t> bytes) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                static_cast<unsigned long long>(XXH3_64bits(bytes.data(), bytes.size())));
  return hex;
}

}  // namespace retort::core

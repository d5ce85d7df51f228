// flock-based run-directory lock (see run_lock.h).
#include "core/train/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/base/error.h"

namespace retort::core {
namespace fs = std::filesystem;
namespace {

std::string this_holder() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "unknown-host");
  return std::string(host) + " " + std::to_string(::getpid());
}

std::string read_holder(int fd) {
  char buf[512] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string text(buf, n > 0 ? static_cast<size_t>(n) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\0')) text.pop_back();
  return text;
}

}  // namespace

std::string run_lock_path(const std::string& dir) { return (fs::path(dir) / ".retort.lock").string(); }

RunLock RunLock::acquire(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) RETORT_INPUT_ERROR("run.out_dir: cannot create " + dir + ": " + ec.message());
  const std::string path = run_lock_path(dir);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) RETORT_INPUT_ERROR("run.out_dir: cannot open lock file " + path + ": " + std::strerror(errno));
  RunLock lock;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    const std::string holder = read_holder(fd);
    ::close(fd);
    if (err != EWOULDBLOCK)
      RETORT_INPUT_ERROR("run.out_dir: cannot lock " + path + ": " + std::strerror(err));
    const char* owner = std::getenv(kRunLockOwnerEnv);
    if (owner != nullptr && *owner != '\0' && holder == owner) return lock;  // our launcher's lock
    const auto space = holder.find(' ');
    const std::string who = space == std::string::npos
                                ? "'" + holder + "'"
                                : "host " + holder.substr(0, space) + ", PID " + holder.substr(space + 1);
    RETORT_INPUT_ERROR("run.out_dir: " + dir + " is in use by another job (" + who + ", lock " + path +
                       "); wait for it to end or use another run.out_dir");
  }
  lock.fd_ = fd;
  lock.holder_ = this_holder();
  const std::string line = lock.holder_ + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, line.data(), line.size(), 0) != static_cast<ssize_t>(line.size()))
    RETORT_RUNTIME_ERROR("cannot write lock file " + path + ": " + std::strerror(errno));
  return lock;
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

RunLock::RunLock(RunLock&& other) noexcept : fd_(other.fd_), holder_(std::move(other.holder_)) { other.fd_ = -1; }

RunLock& RunLock::operator=(RunLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    holder_ = std::move(other.holder_);
    other.fd_ = -1;
  }
  return *this;
}

}  // namespace retort::core

// Shared by the libFuzzer targets: the input as a file (the readers under test take paths), and
// the rule every decoder must follow: bad input ends in retort::Error, nothing else escapes.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/base/error.h"

namespace retort::fuzz {

// A per-process scratch directory in memory-backed /dev/shm (or the temp dir).
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    std::filesystem::path base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    auto d = base / ("retort-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline std::string write_input(const std::string& name, const uint8_t* data, size_t size) {
  const auto path = scratch_dir() / name;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                 static_cast<std::streamsize>(size));
  return path.string();
}

// Runs `decode`; a retort::Error (with a message) is the expected way to refuse input. Any other
// exception (std::bad_alloc, a raw JSON or filesystem exception, std::out_of_range) is a finding:
// it aborts, so libFuzzer records the input as a crash.
template <typename Fn>
void expect_clean_errors(const char* target, Fn&& decode) {
  try {
    decode();
  } catch (const retort::Error& e) {
    if (e.message().empty()) {
      std::fprintf(stderr, "%s: retort::Error without a message\n", target);
      std::abort();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: escaped exception (not retort::Error): %s\n", target, e.what());
    std::abort();
  }
}

}  // namespace retort::fuzz

// CopyTask: counter-based symbols, so a sequence depends only on (seed, split, window id).
#include "core/data/copy_task.h"

#include <fmt/format.h>

#include "core/base/error.h"
#include "kernels/dropout.h"

namespace retort::core {

CopyTask::CopyTask(uint64_t seed, uint64_t split, int64_t vocab, int64_t seq_len, int64_t num_windows)
    : key_(kernels::mix64(kernels::mix64(seed ^ 0xc0b1c0b1ull) ^ split)),
      vocab_(vocab),
      half_(seq_len / 2),
      windows_(num_windows) {
  if (seq_len < 2 || seq_len % 2 != 0)
    RETORT_INPUT_ERROR(fmt::format("data.seq_len must be even and >= 2 for copy_task (got {})", seq_len));
  if (vocab < 3) RETORT_INPUT_ERROR(fmt::format("copy_task needs student.vocab_size >= 3 (got {})", vocab));
  if (num_windows < 1) RETORT_INPUT_ERROR("copy_task needs at least one sequence");
}

void CopyTask::gather(std::span<const int64_t> ids, int32_t* tokens_out) const {
  const int64_t width = 2 * half_ + 1;
  const auto symbols = static_cast<uint64_t>(vocab_ - 2);
  for (size_t r = 0; r < ids.size(); ++r) {
    if (ids[r] < 0 || ids[r] >= windows_)
      RETORT_RUNTIME_ERROR(fmt::format("copy_task: sequence {} outside [0, {})", ids[r], windows_));
    int32_t* row = tokens_out + static_cast<int64_t>(r) * width;
    const uint64_t base = kernels::mix64(key_ ^ static_cast<uint64_t>(ids[r]));
    for (int64_t i = 0; i < half_; ++i) {
      const uint64_t h = kernels::mix64(base + static_cast<uint64_t>(i) * 0x9e3779b97f4a7c15ull);
      row[i] = static_cast<int32_t>(2 + static_cast<uint64_t>((static_cast<unsigned __int128>(h) * symbols) >> 64));
      row[half_ + 1 + i] = row[i];
    }
    row[half_] = kSeparator;
  }
}

}  // namespace retort::core

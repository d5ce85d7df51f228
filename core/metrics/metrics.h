// Run telemetry: a metrics writer that appends one JSON object per line to
// <out_dir>/metrics.jsonl, and a progress line that redraws on a TTY and prints plain lines otherwise.
#pragma once
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <string>

namespace retort::core {

class MetricsWriter {
 public:
  MetricsWriter() = default;  // disabled: writes nothing (non-zero ranks)
  // Opens `path` for appending (creating parent directories). Throws a runtime error on failure.
  // A restarted run resumes from its last checkpoint, behind the steps the killed run had already
  // logged: on the first write of a record with a "step", existing records whose step is >= that
  // step (and torn lines a kill left) are dropped, so no step appears twice.
  explicit MetricsWriter(const std::string& path);
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;
  MetricsWriter(MetricsWriter&& other) noexcept;
  MetricsWriter& operator=(MetricsWriter&& other) noexcept;

  bool enabled() const { return file_ != nullptr; }
  // Appends `record` plus a wall-clock "time" field as one line and flushes.
  void write(const nlohmann::json& record);

 private:
  void drop_records_from(int64_t step);

  std::FILE* file_ = nullptr;
  std::string path_;
  bool first_write_ = true;
};

// One human progress line on stderr: "step 120/4680 (epoch 1) loss 0.4321 | 5300 samples/s | ETA 3m12s".
// On a TTY it redraws in place (mode auto|always); otherwise it prints a plain line each `update`.
class Progress {
 public:
  Progress(int64_t total_steps, const std::string& mode, bool enabled);
  void update(int64_t step, int64_t epoch, double loss, double samples_per_s);
  void finish();

 private:
  int64_t total_;
  bool enabled_;
  bool redraw_;
  bool dirty_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// "3m12s", "1h02m", "45s".
std::string format_duration(double seconds);

}  // namespace retort::core

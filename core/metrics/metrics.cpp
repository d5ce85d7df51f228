// MetricsWriter and Progress implementations.
#include "core/metrics/metrics.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/base/error.h"

namespace retort::core {

MetricsWriter::MetricsWriter(const std::string& path) : path_(path) {
  const auto parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  file_ = std::fopen(path.c_str(), "a");
  if (!file_) RETORT_RUNTIME_ERROR("cannot open metrics file " + path + ": " + std::strerror(errno));
}

MetricsWriter::~MetricsWriter() {
  if (file_) std::fclose(file_);
}

MetricsWriter::MetricsWriter(MetricsWriter&& other) noexcept
    : file_(other.file_), path_(std::move(other.path_)), first_write_(other.first_write_) {
  other.file_ = nullptr;
}

MetricsWriter& MetricsWriter::operator=(MetricsWriter&& other) noexcept {
  if (this != &other) {
    if (file_) std::fclose(file_);
    file_ = other.file_;
    path_ = std::move(other.path_);
    first_write_ = other.first_write_;
    other.file_ = nullptr;
  }
  return *this;
}

void MetricsWriter::drop_records_from(int64_t step) {
  std::ifstream in(path_);
  std::ostringstream kept;
  bool dropped = false;
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    const bool superseded = j.is_discarded() || !j.is_object() ||
                            (j.contains("step") && j["step"].is_number() && j["step"].get<double>() >= static_cast<double>(step));
    if (superseded) {
      dropped = true;
    } else {
      kept << line << "\n";
    }
  }
  if (!dropped) return;
  // Replace the file atomically (a kill now leaves the old or the new one), then append to it.
  const std::string tmp = path_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << kept.str();
    out.flush();
    if (!out) RETORT_RUNTIME_ERROR("cannot write " + tmp + ": " + std::strerror(errno));
  }
  std::fclose(file_);
  file_ = nullptr;
  std::error_code ec;
  std::filesystem::rename(tmp, path_, ec);
  if (ec) RETORT_RUNTIME_ERROR("cannot replace " + path_ + ": " + ec.message());
  file_ = std::fopen(path_.c_str(), "a");
  if (!file_) RETORT_RUNTIME_ERROR("cannot open metrics file " + path_ + ": " + std::strerror(errno));
}

void MetricsWriter::write(const nlohmann::json& record) {
  if (!file_) return;
  if (first_write_) {
    first_write_ = false;
    if (record.contains("step") && record["step"].is_number_integer()) drop_records_from(record["step"].get<int64_t>());
  }
  nlohmann::json line = record;
  line["time"] = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string text = line.dump() + "\n";
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size() || std::fflush(file_) != 0)
    RETORT_RUNTIME_ERROR(std::string("cannot write metrics.jsonl: ") + std::strerror(errno));
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%lds", s);
  return buf;
}

Progress::Progress(int64_t total_steps, const std::string& mode, bool enabled)
    : total_(total_steps),
      enabled_(enabled && mode != "never"),
      redraw_(mode == "always" || (mode == "auto" && isatty(STDERR_FILENO))) {}

void Progress::update(int64_t step, int64_t epoch, double loss, double samples_per_s) {
  if (!enabled_) return;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double eta = step > 0 ? elapsed / static_cast<double>(step) * static_cast<double>(total_ - step) : NAN;
  std::fprintf(stderr, "%sstep %lld/%lld (epoch %lld) loss %.4f | %.0f samples/s | ETA %s%s",
               redraw_ ? "\r\033[K" : "", static_cast<long long>(step), static_cast<long long>(total_),
               static_cast<long long>(epoch), loss, samples_per_s, format_duration(eta).c_str(),
               redraw_ ? "" : "\n");
  std::fflush(stderr);
  dirty_ = redraw_;
}

void Progress::finish() {
  if (dirty_) std::fprintf(stderr, "\n");
  dirty_ = false;
}

}  // namespace retort::core

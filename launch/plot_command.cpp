// `retort plot`: line charts of metrics.jsonl runs as SVG, one panel per requested field with one
// curve per run (records lacking the x or y field are skipped; a resumed run's repeated steps keep
// the last value).
#include <algorithm>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/metrics/svg_plot.h"
#include "launch/commands.h"

namespace retort::launch {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

struct Run {
  std::string path;
  std::string label;
  std::vector<json> records;
};

// A run directory stands for its metrics.jsonl.
std::string metrics_path(const std::string& arg) {
  return fs::is_directory(arg) ? (fs::path(arg) / "metrics.jsonl").string() : arg;
}

std::string default_label(const std::string& path) {
  const fs::path p(path);
  const std::string dir = p.parent_path().filename().string();
  return dir.empty() ? p.filename().string() : dir;
}

std::vector<json> read_records(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) RETORT_INPUT_ERROR("retort plot: cannot open metrics file '" + path + "'");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<json> records;
  size_t begin = 0;
  for (int line = 1; begin < text.size(); ++line) {
    const size_t end = text.find('\n', begin);
    const bool complete = end != std::string::npos;
    const std::string row = text.substr(begin, complete ? end - begin : std::string::npos);
    begin = complete ? end + 1 : text.size();
    if (row.find_first_not_of(" \t\r") == std::string::npos) continue;
    json record = json::parse(row, nullptr, false);
    if (record.is_discarded() || !record.is_object()) {
      if (!complete) {  // a run still writing its last line
        log::warn("retort plot: {}:{}: skipping an unfinished last line", path, line);
        break;
      }
      RETORT_INPUT_ERROR(fmt::format("retort plot: {}:{}: not a JSON object", path, line));
    }
    records.push_back(std::move(record));
  }
  return records;
}

bool has_number(const json& record, const std::string& key) {
  const auto it = record.find(key);
  return it != record.end() && it->is_number();
}

bool any_has(const Run& run, const std::string& key) {
  return std::any_of(run.records.begin(), run.records.end(), [&](const json& r) { return has_number(r, key); });
}

std::string fields_seen(const Run& run) {
  std::set<std::string> keys;
  for (const json& r : run.records)
    for (auto it = r.begin(); it != r.end(); ++it)
      if (it->is_number()) keys.insert(it.key());
  std::string out;
  for (const std::string& k : keys) out += (out.empty() ? "" : ", ") + k;
  return out.empty() ? "none" : out;
}

// The run's (x, y) points for field `y_key`, ordered by x; a repeated x keeps its last value.
core::PlotSeries series_of(const Run& run, const std::string& x_key, const std::string& y_key) {
  std::map<double, double> points;
  for (const json& r : run.records) {
    if (!has_number(r, y_key)) continue;
    if (!has_number(r, x_key))
      RETORT_INPUT_ERROR(fmt::format("retort plot: {}: a record with '{}' has no numeric '{}' field (fields: {})",
                                     run.path, y_key, x_key, fields_seen(run)));
    points[r[x_key].get<double>()] = r[y_key].get<double>();
  }
  core::PlotSeries s;
  s.label = run.label;
  for (const auto& [x, y] : points) {
    s.x.push_back(x);
    s.y.push_back(y);
  }
  return s;
}

}  // namespace

int run_plot(const PlotOptions& options) {
  if (options.metrics_files.empty()) RETORT_INPUT_ERROR("retort plot: no metrics file given");
  if (!options.labels.empty() && options.labels.size() != options.metrics_files.size())
    RETORT_INPUT_ERROR(fmt::format("retort plot: {} --label values for {} metrics files (give one per file or none)",
                                   options.labels.size(), options.metrics_files.size()));
  std::vector<Run> runs;
  for (size_t i = 0; i < options.metrics_files.size(); ++i) {
    Run run;
    run.path = metrics_path(options.metrics_files[i]);
    run.label = options.labels.empty() ? default_label(run.path) : options.labels[i];
    run.records = read_records(run.path);
    runs.push_back(std::move(run));
  }
  const bool defaults = options.y_keys.empty();
  const std::vector<std::string> wanted = defaults ? std::vector<std::string>{"loss", "test_accuracy"} : options.y_keys;

  core::PlotFigure figure;
  figure.title = options.title;
  for (const std::string& key : wanted) {
    const bool somewhere = std::any_of(runs.begin(), runs.end(), [&](const Run& r) { return any_has(r, key); });
    if (!somewhere) {
      if (defaults) continue;
      RETORT_INPUT_ERROR(fmt::format("retort plot: no record of {} has a numeric field '{}' (fields in {}: {})",
                                     runs.size() == 1 ? "'" + runs[0].path + "'" : "the given metrics files", key,
                                     runs[0].path, fields_seen(runs[0])));
    }
    core::PlotPanel panel;
    panel.x_label = options.x_key;
    panel.y_label = key;
    for (const Run& run : runs) {
      core::PlotSeries s = series_of(run, options.x_key, key);
      if (s.x.empty()) {
        log::warn("retort plot: {} has no '{}' records", run.path, key);
        s.label += " (no data)";
      }
      panel.series.push_back(std::move(s));
    }
    figure.panels.push_back(std::move(panel));
  }
  if (figure.panels.empty())
    RETORT_INPUT_ERROR(fmt::format("retort plot: '{}' has neither 'loss' nor 'test_accuracy' records (fields: {}); "
                                   "choose fields with --y",
                                   runs[0].path, fields_seen(runs[0])));
  core::write_svg(figure, options.output);
  log::info("wrote {} ({} panel{}, {} run{})", options.output, figure.panels.size(),
            figure.panels.size() == 1 ? "" : "s", runs.size(), runs.size() == 1 ? "" : "s");
  return 0;
}

}  // namespace retort::launch

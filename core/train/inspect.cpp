// Human-readable listing of safetensors tensors (shape, count, min/max/mean) and manifests.
#include "core/train/inspect.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "core/base/error.h"
#include "core/checkpoint/checkpoint.h"
#include "core/checkpoint/durable_io.h"
#include "core/checkpoint/safetensors.h"

namespace retort::core {
namespace fs = std::filesystem;
namespace {

void print_tensors(const std::string& path, std::ostream& out) {
  // A device or a pipe (e.g. /dev/zero) has no end to read to.
  if (!fs::is_regular_file(path)) RETORT_INPUT_ERROR(path + ": not a regular file (give a .safetensors file or a checkpoint directory)");
  const SafetensorsFile file = parse_safetensors(read_file(path), path);
  out << path << " (" << file.bytes.size() << " bytes, " << file.tensors.size() << " tensors)\n";
  for (const auto& [k, v] : file.metadata) out << "  metadata " << k << " = " << v << "\n";
  for (const auto& [name, t] : file.tensors) {
    double lo = 0, hi = 0, sum = 0;
    if (!t.data.empty()) {
      lo = *std::min_element(t.data.begin(), t.data.end());
      hi = *std::max_element(t.data.begin(), t.data.end());
      for (float v : t.data) sum += v;
    }
    out << fmt::format("  {:<24} F32 {:<14} {:>10} elems  min {:+.5g}  max {:+.5g}  mean {:+.5g}\n",
                       name, nlohmann::json(t.shape).dump(), t.data.size(), lo, hi,
                       t.data.empty() ? 0.0 : sum / static_cast<double>(t.data.size()));
  }
}

}  // namespace

void inspect_checkpoint(const std::string& path, std::ostream& out) {
  fs::path p(path);
  if (p.filename() == "manifest.json") p = p.parent_path();
  if (!fs::is_directory(p)) {
    print_tensors(path, out);
    return;
  }
  const nlohmann::json manifest = read_verified_manifest(p.string());
  out << "checkpoint " << p.string() << " (all file checksums verified)\n"
      << manifest.dump(2) << "\n";
  for (const auto& [name, info] : manifest.at("files").items()) print_tensors((p / name).string(), out);
}

}  // namespace retort::core

// Listings of GGUF files and HF directories (readers from core/checkpoint, mapping from lm_import).
#include "core/lm/model_inspect.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/base/error.h"
#include "core/checkpoint/durable_io.h"
#include "core/checkpoint/gguf.h"
#include "core/checkpoint/safetensors.h"
#include "core/lm/hf_config.h"
#include "core/lm/lm_import.h"

namespace retort::core {
namespace fs = std::filesystem;
namespace {

std::string value_text(const GgufValue& v) {
  switch (v.type) {
    case GgufType::boolean:
      return v.u ? "true" : "false";
    case GgufType::u8: case GgufType::u16: case GgufType::u32: case GgufType::u64:
      return std::to_string(v.u);
    case GgufType::i8: case GgufType::i16: case GgufType::i32: case GgufType::i64:
      return std::to_string(v.i);
    case GgufType::f32: case GgufType::f64:
      return fmt::format("{}", v.f);
    case GgufType::string:
      return nlohmann::json(v.s.size() > 80 ? v.s.substr(0, 80) + "..." : v.s).dump();
    case GgufType::array: {
      std::string s = fmt::format("array of {} [{}]", gguf_type_name(v.elem_type), v.items.size());
      for (size_t k = 0; k < std::min<size_t>(v.items.size(), 4); ++k) s += (k ? ", " : ": ") + value_text(v.items[k]);
      return v.items.size() > 4 ? s + ", ..." : s;
    }
  }
  return "?";
}

// The config line: the LlamaConfig, or why it cannot be had.
template <typename F>
void print_config(std::ostream& out, F&& config) {
  try {
    out << "  llama config " << to_json(config()).dump() << "\n";
  } catch (const Error& e) {
    out << "  not importable: " << e.message() << "\n";
  }
}

void inspect_gguf(const std::string& path, std::ostream& out) {
  const GgufFile f = open_gguf(path);
  out << fmt::format("{} (GGUF version {}, alignment {}, {} metadata keys, {} tensors)\n", path, f.version(),
                     f.alignment(), f.metadata().size(), f.tensors().size());
  for (const auto& [key, v] : f.metadata()) out << fmt::format("  metadata {} = {}\n", key, value_text(v));
  print_config(out, [&] { return llama_config_from_gguf(f); });
  for (const GgufTensorInfo& t : f.tensors())
    out << fmt::format("  {:<32} {:<6} shape {:<14} {:>10} bytes\n", t.name, ggml_type_name(t.type),
                       nlohmann::json(t.shape()).dump(), t.n_bytes);
}

void inspect_hf_dir(const fs::path& dir, std::ostream& out) {
  const std::string config_path = (dir / "config.json").string();
  const auto bytes = read_file(config_path);
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(bytes.begin(), bytes.end());
  } catch (const nlohmann::json::exception& e) {
    RETORT_INPUT_ERROR(fmt::format("{}: not valid JSON ({})", config_path, e.what()));
  }
  out << dir.string() << " (Hugging Face model directory)\n  config.json " << config.dump() << "\n";
  print_config(out, [&] { return llama_config_from_hf(config, config_path); });
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& p : files) {
    const SafetensorsFile file = parse_safetensors_any(read_file(p.string()), p.string());
    out << fmt::format("  {} ({} tensors)\n", p.filename().string(), file.tensors.size());
    for (const auto& [name, t] : file.tensors)
      out << fmt::format("    {:<48} {:<4} shape {}\n", name, safetensors_dtype_name(t.dtype),
                         nlohmann::json(t.shape).dump());
  }
}

}  // namespace

bool is_foreign_model(const std::string& path) {
  const fs::path p(path);
  if (fs::is_directory(p)) return fs::exists(p / "config.json");
  if (p.extension() == ".gguf") return true;
  char magic[4] = {};
  std::ifstream(path, std::ios::binary).read(magic, 4);
  return std::memcmp(magic, "GGUF", 4) == 0;
}

void inspect_foreign_model(const std::string& path, std::ostream& out) {
  if (fs::is_directory(path)) {
    inspect_hf_dir(path, out);
  } else {
    inspect_gguf(path, out);
  }
}

}  // namespace retort::core

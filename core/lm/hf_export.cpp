// export_hf: tensors in hf_tensor_shapes order into one fp32 model.safetensors (metadata
// format=pt, as transformers' save_pretrained writes), then config.json.
#include "core/lm/hf_export.h"

#include <fmt/format.h>

#include <filesystem>

#include "core/base/error.h"
#include "core/checkpoint/durable_io.h"
#include "core/checkpoint/safetensors.h"
#include "core/lm/hf_config.h"

namespace retort::core {
namespace fs = std::filesystem;

HfExportSummary export_hf(const ImportedLm& lm, const std::string& out_dir, const TokenizerExport& tokenizer) {
  validate(lm.config, out_dir);
  std::vector<NamedTensor> tensors;
  HfExportSummary summary;
  const auto shapes = hf_tensor_shapes(lm.config);
  for (const auto& [name, shape] : shapes) {
    auto it = lm.tensors.find(name);
    if (it == lm.tensors.end()) RETORT_INPUT_ERROR(fmt::format("{}: the model has no tensor {}", out_dir, name));
    int64_t numel = 1;
    for (int64_t d : shape) numel *= d;
    if (static_cast<int64_t>(it->second.size()) != numel)
      RETORT_INPUT_ERROR(fmt::format("{}: tensor {} has {} values, shape {} needs {}", out_dir, name,
                                     it->second.size(), nlohmann::json(shape).dump(), numel));
    tensors.push_back({name, shape, it->second});
    summary.parameters += numel;
  }
  if (lm.tensors.size() != shapes.size())
    RETORT_INPUT_ERROR(fmt::format("{}: the model has {} tensors, its config {}", out_dir, lm.tensors.size(),
                                   shapes.size()));
  if (fs::exists(out_dir) && !(fs::is_directory(out_dir) && fs::is_empty(out_dir)))
    RETORT_INPUT_ERROR(out_dir + ": exists and is not an empty directory (refusing to overwrite)");
  fs::create_directories(out_dir);
  const auto image = encode_safetensors(tensors, {{"format", "pt"}});
  write_file_atomic((fs::path(out_dir) / "model.safetensors").string(), image);
  nlohmann::json config = hf_config_from_llama(lm.config);
  if (tokenizer) config.update(tokenizer(out_dir));
  const std::string text = config.dump(2) + "\n";
  write_file_atomic((fs::path(out_dir) / "config.json").string(),
                    std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  summary.architecture = config.at("architectures")[0].get<std::string>();
  summary.tensors = static_cast<int64_t>(tensors.size());
  summary.bytes = static_cast<int64_t>(image.size());
  return summary;
}

}  // namespace retort::core

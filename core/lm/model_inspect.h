// `retort inspect` for model files people bring: a GGUF file (metadata, tensors with their
// ggml types and shapes, the LlamaConfig it maps to) or a Hugging Face model directory
// (config.json, its LlamaConfig, every tensor's dtype and shape per file).
#pragma once
#include <ostream>
#include <string>

namespace retort::core {

// Whether `path` is a .gguf file (by magic or extension) or a directory with config.json.
bool is_foreign_model(const std::string& path);
// Prints the listing; the config line says why Retort would refuse the model, if it would.
void inspect_foreign_model(const std::string& path, std::ostream& out);

}  // namespace retort::core

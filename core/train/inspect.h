// `retort inspect FILE`: prints a weights file's or checkpoint's tensors and metadata/manifest.
#pragma once
#include <ostream>
#include <string>

namespace retort::core {

// `path` is a .safetensors file, a checkpoint directory or its manifest.json. Checkpoints are
// verified first (checksums); input error naming the file when anything is wrong.
void inspect_checkpoint(const std::string& path, std::ostream& out);

}  // namespace retort::core

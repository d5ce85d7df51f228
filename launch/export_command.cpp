// `retort export hf SOURCE OUT_DIR`: a Retort LM (weights file or checkpoint, or any model
// core::import_lm reads) written as a Hugging Face model directory.
#include <fmt/format.h>

#include "core/lm/hf_export.h"
#include "core/lm/lm_import.h"
#include "launch/commands.h"

namespace retort::launch {

int run_export_hf(const ExportOptions& options) {
  const core::ImportedLm lm = core::import_lm(options.source);
  const core::HfExportSummary s = core::export_hf(lm, options.out_dir);
  fmt::print("wrote {}: config.json ({}), model.safetensors ({} tensors, {} parameters, fp32, {} bytes) from {} {}\n",
             options.out_dir, s.architecture, s.tensors, s.parameters, s.bytes, lm.kind, options.source);
  return 0;
}

}  // namespace retort::launch

// `retort export hf SOURCE OUT_DIR`: a Retort LM (weights file or checkpoint, or any model
// core::import_lm reads) written as a Hugging Face model directory.
#include <fmt/format.h>

#include "core/lm/hf_export.h"
#include "core/lm/lm_import.h"
#include "core/lm/tokenizer_export.h"
#include "launch/commands.h"

namespace retort::launch {

int run_export_hf(const ExportOptions& options) {
  const core::ImportedLm lm = core::import_lm(options.source);
  const core::TokenizerForExport tokenizer = core::tokenizer_for_export(options.source, lm);
  const core::HfExportSummary s = core::export_hf(lm, options.out_dir, tokenizer.write);
  fmt::print("wrote {}: config.json ({}), model.safetensors ({} tensors, {} parameters, fp32, {} bytes) from {} {}\n",
             options.out_dir, s.architecture, s.tensors, s.parameters, s.bytes, lm.kind, options.source);
  fmt::print("tokenizer: {}{}\n", tokenizer.write ? "wrote " : "none (", tokenizer.write ? tokenizer.note : tokenizer.note + ")");
  return 0;
}

}  // namespace retort::launch

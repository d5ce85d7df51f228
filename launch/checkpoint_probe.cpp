// Finds and describes the newest verifying checkpoint for the supervisor's restart log.
#include "launch/checkpoint_probe.h"

#include "core/base/error.h"
#include "core/checkpoint/checkpoint.h"

namespace retort::launch {

std::string newest_good_checkpoint(const std::string& checkpoints_dir) {
  const auto all = core::CheckpointStore(checkpoints_dir, 1).list();
  std::string skipped;
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    try {
      const auto manifest = core::read_verified_manifest(*it);
      return "step " + std::to_string(manifest.at("step").get<long long>()) + " (" + *it + ")" + skipped;
    } catch (const std::exception& e) {
      const auto* err = dynamic_cast<const Error*>(&e);
      skipped += "; skipped " + *it + ": " + (err ? err->message() : std::string(e.what()));
    }
  }
  return "none in " + checkpoints_dir + " (a restart starts from step 0)" + skipped;
}

}  // namespace retort::launch

// Checkpoints: model weights as safetensors (self-describing: the model spec rides in the
// metadata), optimizer state as a second safetensors file, and a JSON manifest (config hash,
// step, epoch, RNG state, metrics so far, XXH3-64 per file). A checkpoint is the directory
// <dir>/step-NNNNNNNN, made atomically (written as *.tmp, fsynced, renamed, parent fsynced).
// Fault hook: RETORT_FAULT_CKPT_BEFORE_RENAME=K makes the process _exit(99) after writing the
// first checkpoint whose step >= K, just before its rename (for failure tests).
#pragma once
#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/checkpoint/safetensors.h"
#include "core/model/model.h"
#include "core/optim/optimizer.h"

namespace retort::core {

// Where training stands: `step` optimizer steps are done; the next step is (epoch, step_in_epoch).
// All randomness is counter-based from (seed, epoch, sample id), so this is the whole RNG state.
struct TrainState {
  int64_t step = 0;
  int64_t epoch = 0;
  int64_t step_in_epoch = 0;
  nlohmann::json metrics = nlohmann::json::array();  // eval records so far
};

// The model's weights as a safetensors image (tensor names from the layout, spec in metadata).
std::vector<uint8_t> encode_model(const Network& model);
// Writes final.safetensors-style weights atomically.
void save_model(const Network& model, const std::string& path);
// Copies validated weights from a parsed file into `model` (names, shapes must match).
void load_weights(Network& model, const SafetensorsFile& file, const std::string& what);
// Builds the model a weights file describes and loads it. Accepts a .safetensors file or a
// checkpoint directory (or its manifest.json), which is verified first.
std::unique_ptr<Model> load_model(const std::string& path);

class CheckpointStore {
 public:
  // `dir` is the checkpoints folder (created on save); `keep` >= 1 newest are kept.
  CheckpointStore(std::string dir, int64_t keep);
  const std::string& dir() const { return dir_; }
  // Writes the checkpoint of `state` and prunes old ones; returns its directory.
  std::string save(const Network& model, Optimizer& optimizer, const TrainState& state,
                   uint64_t config_hash, uint64_t seed);
  // Checkpoint directories, oldest first.
  std::vector<std::string> list() const;
  // Restores the newest checkpoint that verifies (falling back to older ones, with a warning
  // naming what failed) into model and optimizer; nullopt when there is none. Throws an input
  // error if checkpoints exist but none verifies, or one was written by another config.
  std::optional<TrainState> restore_latest(Network& model, Optimizer& optimizer,
                                           uint64_t config_hash);

 private:
  std::string dir_;
  int64_t keep_;
};

// Verifies a checkpoint directory completely (manifest fields, file sizes and XXH3, safetensors
// structure, tensors against `model`'s layout, optimizer state against `optimizer`, config hash)
// and only then loads it. Input error naming the directory and the failed check.
TrainState load_checkpoint(const std::string& dir, Network& model, Optimizer* optimizer,
                           uint64_t config_hash);

// The manifest of a checkpoint directory, with every listed file's size and XXH3 verified.
nlohmann::json read_verified_manifest(const std::string& dir);

}  // namespace retort::core

// What every trainable model of the engine is, whatever its architecture (the MLP of model.h,
// the Llama transformer of core/lm/llama_model.h): one flat parameter buffer and one flat
// gradient buffer in its Compute's memory, laid out by a ParamLayout. Optimizer, gradient
// reducer and checkpoints see only this.
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>

#include "core/model/compute.h"
#include "core/model/mirrored_buffer.h"
#include "core/model/param_layout.h"

namespace retort::core {

// Called during backward with (offset, count) of a parameter range whose gradient is final.
// Ranges are reported in decreasing offset order and together tile [0, num_params()).
using GradReadyHook = std::function<void(int64_t offset, int64_t count)>;

class Network {
 public:
  virtual ~Network() = default;
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  // "mlp" or "llama".
  virtual std::string arch() const = 0;
  // The full description checkpoints store ("retort.model" metadata and the manifest); building
  // a network of the same arch from it gives the same layout.
  virtual nlohmann::json spec_json() const = 0;
  // Deterministic initialisation from the seed (the layout's per-tensor inits by default).
  virtual void initialize(uint64_t seed) { layout_.initialize(params_.host_for_writing(), seed); }
  // Weight constraints applied after each optimizer step (none by default).
  virtual void apply_constraints() {}
  // Strings recorded in the weights file's metadata beside the spec (e.g. the tokenizer hash of
  // a language model's data: "retort.tokenizer_hash").
  std::map<std::string, std::string>& file_metadata() { return file_metadata_; }
  const std::map<std::string, std::string>& file_metadata() const { return file_metadata_; }

  const ParamLayout& layout() const { return layout_; }
  int64_t num_params() const { return layout_.total(); }
  Compute& compute() const { return *compute_; }
  const std::shared_ptr<Compute>& compute_ptr() const { return compute_; }

  // Host views of the flat buffers (checkpoints, initialisation, tests). On a device they are
  // copies kept coherent lazily: writes through params() reach the device before its next use.
  std::span<float> params() { return params_.host_for_writing(); }
  std::span<const float> params() const { return params_.host(); }
  std::span<float> grads() { return grads_.host_for_writing(); }
  // The flat buffers in compute memory (the same as the host views on the CPU), for the
  // optimizer, the gradient reducer and the kernels.
  std::span<float> device_params() { return {params_.device_for_writing(), params_.size()}; }
  std::span<float> device_grads() { return {grads_.device_for_writing(), grads_.size()}; }

 protected:
  explicit Network(std::shared_ptr<Compute> compute) : compute_(std::move(compute)) {}
  // Subclass constructors fill layout_ first, then call this once.
  void allocate_buffers() {
    params_ = MirroredBuffer(compute_, static_cast<size_t>(layout_.total()));
    grads_ = MirroredBuffer(compute_, static_cast<size_t>(layout_.total()));
  }

  std::shared_ptr<Compute> compute_;
  ParamLayout layout_;
  MirroredBuffer params_, grads_;
  std::map<std::string, std::string> file_metadata_;
};

}  // namespace retort::core

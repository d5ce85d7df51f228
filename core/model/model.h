// A model: a sequence of layers over one flat parameter buffer and one flat gradient buffer,
// both in its Compute's memory (host or device). Forward maps host x[rows, in] to logits[rows,
// classes] in compute memory; backward writes all gradients and reports each layer's finished
// parameter range (in reverse order) so a reducer can start early.
#pragma once
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "core/model/compute.h"
#include "core/model/layer.h"
#include "core/model/mirrored_buffer.h"
#include "core/model/model_spec.h"

namespace retort::core {

// Called during backward with (offset, count) of a parameter range whose gradient is final.
using GradReadyHook = std::function<void(int64_t offset, int64_t count)>;

class Model {
 public:
  // Builds the layers of `spec` (validated) and zero-filled flat buffers on `compute`.
  explicit Model(ModelSpec spec, std::shared_ptr<Compute> compute = cpu_compute());
  const ModelSpec& spec() const { return spec_; }
  const ParamLayout& layout() const { return layout_; }
  int64_t in_features() const { return spec_.in_features; }
  int64_t classes() const { return spec_.classes; }
  int64_t num_params() const { return layout_.total(); }
  Compute& compute() const { return *compute_; }
  const std::shared_ptr<Compute>& compute_ptr() const { return compute_; }

  // Host views of the flat buffers (checkpoints, initialisation, tests). On a device they are
  // copies kept coherent lazily: writes through params() reach the device before its next use.
  std::span<float> params() { return params_.host_for_writing(); }
  std::span<const float> params() const { return params_.host(); }
  std::span<float> grads() { return grads_.host_for_writing(); }
  // The flat buffers in compute memory (the same as the host views on the CPU), for the
  // optimizer and the gradient reducer.
  std::span<float> device_params() { return {params_.device_for_writing(), params_.size()}; }
  std::span<float> device_grads() { return {grads_.device_for_writing(), grads_.size()}; }
  const std::vector<std::unique_ptr<Layer>>& layers() const { return layers_; }

  void initialize(uint64_t seed);
  // Host x[ctx.rows, in] -> logits[ctx.rows, classes] in compute memory (valid until the next
  // forward).
  const float* forward(const float* x, const BatchContext& ctx);
  // A [rows, classes] buffer in compute memory for the loss gradient of the last forward's
  // batch (the objective writes it, backward reads it).
  float* dlogits() { return dlogits_.data(); }
  // After forward with the same x and ctx: grads = d(loss)/d(params) for dlogits[rows, classes]
  // in compute memory.
  void backward(const float* dlogits, const BatchContext& ctx, const GradReadyHook& ready = {});
  void apply_constraints();

 private:
  struct Range {
    int64_t offset = 0, count = 0;
  };
  void ensure_rows(int64_t rows);

  ModelSpec spec_;
  std::shared_ptr<Compute> compute_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<Range> ranges_;         // per layer: its parameters (ranges tile the buffer)
  std::vector<bool> needs_input_grad_;  // per layer: some earlier layer has parameters
  ParamLayout layout_;
  MirroredBuffer params_, grads_;
  int64_t capacity_rows_ = 0;
  std::vector<ComputeBuffer> outputs_;  // per layer: y[capacity, out]
  ComputeBuffer grad_a_, grad_b_;       // ping-pong activation gradients
  ComputeBuffer input_copy_;            // x in compute memory (only when it is not host memory)
  ComputeBuffer dlogits_;               // [capacity, classes]
  const float* input_ = nullptr;
};

}  // namespace retort::core

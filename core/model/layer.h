// The layer interface of the engine. Activations are 2-D row-major [rows, features] (rows =
// samples, or tokens for sequence models); a layer declares its parameters into the model's
// ParamLayout and then reads/writes them only through the flat buffers it is bound to. All
// pointers a layer sees (activations, parameters, gradients) are in its Compute's memory, and
// every kernel it runs goes through that Compute.
#pragma once
#include <cstdint>
#include <string>

#include "core/model/compute.h"
#include "core/model/param_layout.h"

namespace retort::core {

// What a layer may know about the batch beyond its activations. Randomness (dropout) is keyed
// by (seed, epoch, sample id, layer site) so it never depends on rank count or restarts.
struct BatchContext {
  int64_t rows = 0;
  bool training = false;
  const uint64_t* sample_ids = nullptr;  // [rows] global dataset ids; required when training
  uint64_t seed = 0;
  uint64_t epoch = 0;
  // Inference only: compute every row with a fixed operation order, so a sample's output does
  // not depend on the other rows of the batch (teacher logits; see kernels/linear_invariant.h).
  bool batch_invariant = false;
};

class Layer {
 public:
  virtual ~Layer() = default;
  virtual std::string kind() const = 0;
  virtual int64_t in_features() const = 0;
  virtual int64_t out_features() const = 0;
  virtual bool has_params() const { return false; }
  // Called once, in model order: append this layer's tensors to the layout.
  virtual void declare(ParamLayout&) {}
  // Called once the flat buffers exist: remember pointers into them and the Compute that runs
  // this layer's kernels (the CPU until then). Overrides call Layer::bind.
  virtual void bind(const ParamLayout&, float* /*params*/, float* /*grads*/, Compute& compute) {
    compute_ = &compute;
  }
  // x[rows, in] -> y[rows, out].
  virtual void forward(const float* x, float* y, const BatchContext& ctx) = 0;
  // Given the forward input x, output y and dy[rows, out]: accumulate parameter gradients
  // into the bound gradient buffer and write dx[rows, in] unless dx is null.
  virtual void backward(const float* x, const float* y, const float* dy, float* dx,
                        const BatchContext& ctx) = 0;
  // Weight constraints applied after each optimizer step (max-norm).
  virtual void apply_constraints() {}

 protected:
  Compute& compute() const { return *compute_; }

 private:
  Compute* compute_ = cpu_compute().get();  // the CPU compute lives as long as the process
};

}  // namespace retort::core

// A model: a sequence of layers over one flat parameter buffer and one flat gradient buffer.
// Forward maps x[rows, in] to logits[rows, classes]; backward writes all gradients and reports
// each layer's finished parameter range (in reverse order) so a reducer can start early.
#pragma once
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "core/base/tensor.h"
#include "core/model/layer.h"
#include "core/model/model_spec.h"

namespace retort::core {

// Called during backward with (offset, count) of a parameter range whose gradient is final.
using GradReadyHook = std::function<void(int64_t offset, int64_t count)>;

class Model {
 public:
  // Builds the layers of `spec` (validated) and zero-filled flat buffers.
  explicit Model(ModelSpec spec);
  const ModelSpec& spec() const { return spec_; }
  const ParamLayout& layout() const { return layout_; }
  int64_t in_features() const { return spec_.in_features; }
  int64_t classes() const { return spec_.classes; }
  int64_t num_params() const { return layout_.total(); }
  std::span<float> params() { return params_.as<float>(); }
  std::span<const float> params() const { return params_.as<float>(); }
  std::span<float> grads() { return grads_.as<float>(); }
  const std::vector<std::unique_ptr<Layer>>& layers() const { return layers_; }

  void initialize(uint64_t seed);
  // x[ctx.rows, in] -> logits[ctx.rows, classes] (valid until the next forward).
  const float* forward(const float* x, const BatchContext& ctx);
  // After forward with the same x and ctx: grads = d(loss)/d(params) for dlogits[rows, classes].
  void backward(const float* dlogits, const BatchContext& ctx, const GradReadyHook& ready = {});
  void apply_constraints();

 private:
  struct Range {
    int64_t offset = 0, count = 0;
  };
  void ensure_rows(int64_t rows);

  ModelSpec spec_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<Range> ranges_;         // per layer: its parameters (ranges tile the buffer)
  std::vector<bool> needs_input_grad_;  // per layer: some earlier layer has parameters
  ParamLayout layout_;
  HostBuffer params_, grads_;
  int64_t capacity_rows_ = 0;
  std::vector<HostBuffer> outputs_;   // per layer: y[capacity, out]
  HostBuffer grad_a_, grad_b_;        // ping-pong activation gradients
  const float* input_ = nullptr;
};

}  // namespace retort::core

// The MLP: a sequence of layers over the Network's flat parameter and gradient buffers (in its
// Compute's memory, host or device). Forward maps host x[rows, in] to logits[rows, classes] in
// compute memory; backward writes all gradients and reports each layer's finished parameter
// range (in reverse order) so a reducer can start early.
#pragma once
#include <memory>
#include <vector>

#include "core/model/compute.h"
#include "core/model/layer.h"
#include "core/model/model_spec.h"
#include "core/model/network.h"

namespace retort::core {

class Model : public Network {
 public:
  // Builds the layers of `spec` (validated) and zero-filled flat buffers on `compute`.
  explicit Model(ModelSpec spec, std::shared_ptr<Compute> compute = cpu_compute());
  std::string arch() const override { return "mlp"; }
  nlohmann::json spec_json() const override { return to_json(spec_); }
  const ModelSpec& spec() const { return spec_; }
  int64_t in_features() const { return spec_.in_features; }
  int64_t classes() const { return spec_.classes; }
  const std::vector<std::unique_ptr<Layer>>& layers() const { return layers_; }

  // Host x[ctx.rows, in] -> logits[ctx.rows, classes] in compute memory (valid until the next
  // forward).
  const float* forward(const float* x, const BatchContext& ctx);
  // A [rows, classes] buffer in compute memory for the loss gradient of the last forward's
  // batch (the objective writes it, backward reads it).
  float* dlogits() { return dlogits_.data(); }
  // After forward with the same x and ctx: grads = d(loss)/d(params) for dlogits[rows, classes]
  // in compute memory.
  void backward(const float* dlogits, const BatchContext& ctx, const GradReadyHook& ready = {});
  void apply_constraints() override;

 private:
  struct Range {
    int64_t offset = 0, count = 0;
  };
  void ensure_rows(int64_t rows);

  ModelSpec spec_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<Range> ranges_;         // per layer: its parameters (ranges tile the buffer)
  std::vector<bool> needs_input_grad_;  // per layer: some earlier layer has parameters
  int64_t capacity_rows_ = 0;
  std::vector<ComputeBuffer> outputs_;  // per layer: y[capacity, out]
  ComputeBuffer grad_a_, grad_b_;       // ping-pong activation gradients
  ComputeBuffer input_copy_;            // x in compute memory (only when it is not host memory)
  ComputeBuffer dlogits_;               // [capacity, classes]
  const float* input_ = nullptr;
};

}  // namespace retort::core

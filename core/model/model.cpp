// Model: builds the MLP layer stack, owns the flat buffers and runs forward/backward on its Compute.
#include "core/model/model.h"

#include <algorithm>

#include "core/base/error.h"
#include "core/model/elementwise_layers.h"
#include "core/model/linear_layer.h"

namespace retort::core {
namespace {

std::vector<std::unique_ptr<Layer>> build_mlp(const ModelSpec& spec) {
  const ModelConfig& m = spec.config;
  const auto act = m.activation == "gelu" ? kernels::Activation::gelu : kernels::Activation::relu;
  const auto init = m.init == "xavier" ? WeightInit::xavier : WeightInit::kaiming;
  std::vector<std::unique_ptr<Layer>> layers;
  if (m.input_dropout > 0)
    layers.push_back(std::make_unique<DropoutLayer>(m.input_dropout, spec.in_features, 0));
  int64_t in = spec.in_features;
  for (size_t i = 0; i < m.hidden.size(); ++i) {
    const int64_t h = m.hidden[i];
    layers.push_back(std::make_unique<LinearLayer>("fc" + std::to_string(i + 1), in, h, init,
                                                   m.max_norm));
    layers.push_back(std::make_unique<ActivationLayer>(act, h));
    if (m.dropout > 0) layers.push_back(std::make_unique<DropoutLayer>(m.dropout, h, i + 1));
    in = h;
  }
  layers.push_back(std::make_unique<LinearLayer>("fc" + std::to_string(m.hidden.size() + 1), in,
                                                 spec.classes, init, m.max_norm));
  return layers;
}

}  // namespace

Model::Model(ModelSpec spec, std::shared_ptr<Compute> compute)
    : Network(std::move(compute)), spec_(std::move(spec)) {
  validate(spec_, "model");
  layers_ = build_mlp(spec_);
  bool earlier_params = false;
  for (auto& layer : layers_) {
    const size_t first = layout_.tensors().size();
    layer->declare(layout_);
    Range r;
    if (layout_.tensors().size() > first) {
      const ParamTensor& last = layout_.tensors().back();
      r.offset = layout_.tensor(first).offset;
      r.count = last.offset + last.numel - r.offset;
    }
    ranges_.push_back(r);
    needs_input_grad_.push_back(earlier_params);
    earlier_params = earlier_params || layer->has_params();
  }
  // Ranges tile [0, total) so a reducer sees every element (alignment padding included).
  int64_t next_begin = layout_.total();
  for (size_t n = layers_.size(); n-- > 0;) {
    if (ranges_[n].count == 0) continue;
    ranges_[n].count = next_begin - ranges_[n].offset;
    next_begin = ranges_[n].offset;
  }
  for (auto& r : ranges_) {
    if (r.count == 0) continue;
    r.count += r.offset;  // the first parameter range starts at 0
    r.offset = 0;
    break;
  }
  allocate_buffers();
  for (auto& layer : layers_)
    layer->bind(layout_, params_.device_for_writing(), grads_.device_for_writing(), *compute_);
}

void Model::ensure_rows(int64_t rows) {
  if (rows <= capacity_rows_) return;
  outputs_.clear();
  int64_t widest = spec_.in_features;
  for (auto& layer : layers_) {
    outputs_.emplace_back(compute_, static_cast<size_t>(rows * layer->out_features()));
    widest = std::max(widest, layer->out_features());
  }
  grad_a_ = ComputeBuffer(compute_, static_cast<size_t>(rows * widest));
  grad_b_ = ComputeBuffer(compute_, static_cast<size_t>(rows * widest));
  if (!compute_->host_memory()) input_copy_ = ComputeBuffer(compute_, static_cast<size_t>(rows * spec_.in_features));
  dlogits_ = ComputeBuffer(compute_, static_cast<size_t>(rows * spec_.classes));
  capacity_rows_ = rows;
}

const float* Model::forward(const float* x, const BatchContext& ctx) {
  RETORT_CHECK(ctx.rows > 0, "forward needs at least one row");
  ensure_rows(ctx.rows);
  input_ = x;
  if (!compute_->host_memory()) {
    compute_->upload(input_copy_.data(), x, static_cast<size_t>(ctx.rows * spec_.in_features) * sizeof(float));
    input_ = input_copy_.data();
  }
  params_.device_for_reading();  // a newer host copy (initialisation, a restore) goes up first
  const float* in = input_;
  for (size_t i = 0; i < layers_.size(); ++i) {
    float* out = outputs_[i].data();
    layers_[i]->forward(in, out, ctx);
    in = out;
  }
  return in;
}

void Model::backward(const float* dlogits, const BatchContext& ctx, const GradReadyHook& ready) {
  RETORT_CHECK(input_ != nullptr && ctx.rows <= capacity_rows_, "backward without forward");
  params_.device_for_reading();
  compute_->zero(grads_.device_for_writing(), grads_.size() * sizeof(float));
  const float* dy = dlogits;
  float* buffers[2] = {grad_a_.data(), grad_b_.data()};
  for (size_t n = layers_.size(); n-- > 0;) {
    const float* x = n == 0 ? input_ : outputs_[n - 1].data();
    const float* y = outputs_[n].data();
    float* dx = needs_input_grad_[n] ? buffers[n % 2] : nullptr;
    layers_[n]->backward(x, y, dy, dx, ctx);
    if (ranges_[n].count > 0 && ready) ready(ranges_[n].offset, ranges_[n].count);
    if (!dx) break;
    dy = dx;
  }
}

void Model::apply_constraints() {
  params_.device_for_writing();
  for (auto& layer : layers_) layer->apply_constraints();
}

}  // namespace retort::core

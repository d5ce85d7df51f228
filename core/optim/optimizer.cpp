// Optimizer: clipping factor from the deterministic global norm, then one fused update, both
// on the optimizer's Compute.
#include "core/optim/optimizer.h"

#include <cmath>

#include "core/base/error.h"

namespace retort::core {

void validate(const OptimConfig& o) {
  if (o.name != "sgd" && o.name != "adamw")
    RETORT_INPUT_ERROR("optim.name must be sgd or adamw, got '" + o.name + "'");
  if (!(o.lr > 0)) RETORT_INPUT_ERROR("optim.lr must be > 0");
  if (!(o.momentum >= 0 && o.momentum < 1)) RETORT_INPUT_ERROR("optim.momentum must be in [0, 1)");
  if (o.nesterov && o.name == "sgd" && o.momentum == 0)
    RETORT_INPUT_ERROR("optim.nesterov needs optim.momentum > 0");
  if (!(o.weight_decay >= 0)) RETORT_INPUT_ERROR("optim.weight_decay must be >= 0");
  if (!(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1))
    RETORT_INPUT_ERROR("optim.beta1 and optim.beta2 must be in [0, 1)");
  if (!(o.eps > 0)) RETORT_INPUT_ERROR("optim.eps must be > 0");
  if (!(o.clip_grad_norm >= 0)) RETORT_INPUT_ERROR("optim.clip_grad_norm must be >= 0");
}

Optimizer::Optimizer(const OptimConfig& config, int64_t num_params, std::shared_ptr<Compute> compute)
    : config_(config), n_(num_params), compute_(std::move(compute)) {
  validate(config_);
  const size_t count = static_cast<size_t>(n_);
  if (config_.name == "adamw" || config_.momentum > 0) m_ = MirroredBuffer(compute_, count);
  if (config_.name == "adamw") v_ = MirroredBuffer(compute_, count);
}

Optimizer::StepInfo Optimizer::step(std::span<float> params, std::span<const float> grads,
                                    double lr) {
  RETORT_CHECK(static_cast<int64_t>(params.size()) == n_ && static_cast<int64_t>(grads.size()) == n_,
               "optimizer buffers do not match the model");
  StepInfo info;
  info.grad_norm = std::sqrt(compute_->sum_squares(grads.data(), n_));
  if (!std::isfinite(info.grad_norm)) {
    info.applied = false;
    return info;
  }
  if (config_.clip_grad_norm > 0 && info.grad_norm > config_.clip_grad_norm)
    info.clip_scale = config_.clip_grad_norm / (info.grad_norm + 1e-6);
  const float scale = static_cast<float>(info.clip_scale);
  ++steps_done_;
  if (config_.name == "sgd") {
    float* m = m_.size() ? m_.device_for_writing() : nullptr;
    compute_->sgd_update(params.data(), grads.data(), m, n_,
                        static_cast<float>(lr), static_cast<float>(config_.momentum),
                        static_cast<float>(config_.weight_decay), config_.nesterov, scale);
  } else {
    compute_->adamw_update(params.data(), grads.data(), m_.device_for_writing(), v_.device_for_writing(), n_,
                          static_cast<float>(lr),
                          static_cast<float>(config_.beta1), static_cast<float>(config_.beta2),
                          static_cast<float>(config_.eps),
                          static_cast<float>(config_.weight_decay), steps_done_, scale);
  }
  return info;
}

std::vector<Optimizer::State> Optimizer::state() {
  std::vector<State> s;
  if (m_.size()) s.push_back({config_.name == "sgd" ? "momentum" : "exp_avg", m_.host_for_writing()});
  if (v_.size()) s.push_back({"exp_avg_sq", v_.host_for_writing()});
  return s;
}

}  // namespace retort::core

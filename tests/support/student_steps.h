// Test support for device-vs-CPU student checks: a few training steps of one student's task on
// a given Compute, the way StudentTrainer::train_step runs them on a single rank (the sampler's
// batches of epoch 0, forward + objective, backward, optimizer), and the weights they end with.
#pragma once
#include <catch2/catch.hpp>

#include <memory>
#include <utility>
#include <vector>

#include "core/optim/optimizer.h"
#include "core/train/student_task.h"

namespace retort::core::test {

struct StudentSteps {
  std::vector<double> losses;  // per step: the objective's loss sum
  std::vector<float> params;   // the weights after the last step (host copy)
};

inline StudentSteps train_student_steps(const Config& cfg, std::shared_ptr<Compute> compute, Objective& objective,
                                        int64_t steps) {
  auto task = make_student_task(cfg, compute);
  task->initialize(static_cast<uint64_t>(cfg.run.seed));
  Network& net = task->network();
  Optimizer optimizer(cfg.optim, net.num_params(), compute);
  const Sampler sampler(static_cast<uint64_t>(cfg.run.seed), task->num_samples(), cfg.train.batch_size);
  const float grad_scale = 1.0f / static_cast<float>(cfg.train.batch_size * task->loss_terms_per_sample());
  StudentSteps out;
  for (int64_t step = 0; step < steps; ++step) {
    const auto ids = sampler.ids(0, step, 0, 1);
    const StepBatch batch{step, 0, ids, nullptr, static_cast<int64_t>(ids.size())};
    out.losses.push_back(task->forward_loss(objective, batch, grad_scale).loss_sum);
    task->backward({});
    REQUIRE(optimizer.step(net.device_params(), net.device_grads(), cfg.optim.lr).applied);
  }
  objective.finish(steps);
  const std::span<const float> p = std::as_const(net).params();
  out.params.assign(p.begin(), p.end());
  return out;
}

}  // namespace retort::core::test

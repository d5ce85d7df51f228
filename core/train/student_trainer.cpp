// StudentTrainer: the training loop of every student rank (supervised or distillation).
#include "core/train/student_trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/checkpoint/durable_io.h"
#include "core/optim/schedule.h"
#include "core/train/device.h"
#include "core/train/mlp_task.h"

namespace retort::core {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

void write_json_file(const std::string& path, const nlohmann::json& j) {
  const std::string text = j.dump(2) + "\n";
  write_file_atomic(path, std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

// A checkpoint interrupted between write and rename (crash, full disk) leaves a `*.tmp`
// directory; it never counts as a checkpoint and is removed when the next run starts.
void remove_partial_checkpoints(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".tmp") continue;
    log::warn("removing the partial checkpoint {} (its write was interrupted)", entry.path().string());
    fs::remove_all(entry.path(), ec);
  }
}

}  // namespace

StepPlan plan_steps(const TrainConfig& train, const Sampler& sampler) {
  StepPlan p;
  p.steps_per_epoch = sampler.steps_per_epoch();
  p.total_steps = train.epochs * p.steps_per_epoch;
  if (train.max_steps > 0) p.total_steps = std::min(p.total_steps, train.max_steps);
  return p;
}

void validate_training(const Config& c) {
  validate_task(c);
  validate_device(c);
  validate(c.data);
  validate(c.optim);
  validate(c.schedule);
}

StudentTrainer::StudentTrainer(const Config& config, comm::Group students)
    : cfg_(config),
      seed_(static_cast<uint64_t>(config.run.seed)),
      task_(make_student_task(config, make_compute(config, students))),
      optimizer_(config.optim, task_->network().num_params(), task_->network().compute_ptr()),
      sampler_(seed_, task_->num_samples(), config.train.batch_size),
      plan_(plan_steps(config.train, sampler_)),
      dp_(students, task_->network(), config.comm, config.train.step_timeout_s),
      store_((fs::path(config.run.out_dir) / "checkpoints").string(), config.train.keep_checkpoints) {
  if (dp_.size() > cfg_.train.batch_size)
    RETORT_INPUT_ERROR(fmt::format("train.batch_size {} is smaller than the number of students {}",
                                   cfg_.train.batch_size, dp_.size()));
  task_->initialize(seed_);
  if (dp_.rank() == 0) metrics_ = MetricsWriter((fs::path(cfg_.run.out_dir) / "metrics.jsonl").string());
  const auto [first, last] = Sampler::rank_rows(cfg_.train.batch_size, dp_.rank(), dp_.size());
  rows_ = last - first;
  if (dp_.rank() == 0) remove_partial_checkpoints(store_.dir());
  if (cfg_.run.resume == "auto") {
    if (auto restored = store_.restore_latest(task_->network(), optimizer_, cfg_.hash)) {
      state_ = *restored;
      log::info("resumed from step {} (epoch {}) in {}", state_.step, state_.epoch, store_.dir());
    }
  } else if (!store_.list().empty()) {
    RETORT_INPUT_ERROR("run.resume: never, but " + store_.dir() + " already holds checkpoints");
  }
}

int StudentTrainer::run(Objective& objective, int64_t stop_after_step, const nlohmann::json& extra_summary) {
  Progress progress(plan_.total_steps, cfg_.logging.progress, dp_.rank() == 0);
  const auto start = Clock::now();
  const int64_t first_step = state_.step;
  auto window_start = Clock::now();
  double window[4] = {0, 0, 0, 0};  // loss sum, correct, loss terms, samples (summed over students when logged)
  while (state_.step < plan_.total_steps) {
    const double lr = learning_rate(cfg_.schedule, cfg_.optim.lr, state_.step, plan_.total_steps);
    const StepResult step = train_step(objective, lr);
    if (!step.skipped) {
      window[0] += step.loss_sum;
      window[1] += static_cast<double>(step.correct);
      window[2] += static_cast<double>(rows_ * task_->loss_terms_per_sample());
      window[3] += static_cast<double>(rows_);
    }
    advance();
    const bool last = state_.step == plan_.total_steps;
    const bool preempted = step.stop && !last;
    const bool stop = (stop_after_step > 0 && state_.step == stop_after_step) || preempted;
    if ((cfg_.train.log_every_steps > 0 && state_.step % cfg_.train.log_every_steps == 0) || last) {
      dp_.sum(window, 4);
      const double secs = std::chrono::duration<double>(Clock::now() - window_start).count();
      const double sps = window[3] / std::max(secs, 1e-9);
      const double loss = window[0] / std::max(window[2], 1.0);
      nlohmann::json record = {{"kind", "train"}, {"step", state_.step}, {"epoch", state_.epoch},
                               {"loss", loss}, {"accuracy", window[1] / std::max(window[2], 1.0)},
                               {"lr", lr}, {"grad_norm", last_grad_norm_}, {"samples_per_s", sps},
                               {"skipped_steps", skipped_steps_}, {"allreduce_wait_s", window_allreduce_s_}};
      if (task_->tokens_per_sample() > 0) record["tokens_per_s"] = sps * static_cast<double>(task_->tokens_per_sample());
      window_allreduce_s_ = 0;
      objective.report(record, secs);
      metrics_.write(record);
      progress.update(state_.step, state_.epoch, loss, sps);
      window[0] = window[1] = window[2] = window[3] = 0;
      window_start = Clock::now();
    }
    if (!last && cfg_.train.eval_every_steps > 0 && state_.step % cfg_.train.eval_every_steps == 0) run_eval();
    if (!last && ((cfg_.train.checkpoint_every_steps > 0 && state_.step % cfg_.train.checkpoint_every_steps == 0) ||
                  stop))
      save_checkpoint();
    if (stop && !last) {
      progress.finish();
      objective.finish(state_.step);
      if (preempted) {
        if (dp_.rank() == 0)
          log::warn("stop requested (SIGUSR1/SIGTERM): checkpointed after step {}; exiting with code {} (resume continues)",
                    state_.step, kExitPreempted);
        return kExitPreempted;
      }
      return 0;
    }
  }
  progress.finish();
  objective.finish(state_.step);
  beat("final evaluation and checkpoint");
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  const EvalResult final_eval = run_eval();
  save_checkpoint();
  if (dp_.rank() == 0) {
    save_model(task_->network(), (fs::path(cfg_.run.out_dir) / "final.safetensors").string());
    const int64_t steps_here = state_.step - first_step;
    nlohmann::json summary = final_eval.to_json();
    summary["steps"] = state_.step;
    summary["steps_this_run"] = steps_here;
    summary["skipped_steps"] = skipped_steps_;
    summary["epochs"] = static_cast<double>(state_.step) / static_cast<double>(plan_.steps_per_epoch);
    summary["wall_s"] = wall;
    summary["samples_per_s"] = static_cast<double>(steps_here * cfg_.train.batch_size) / std::max(wall, 1e-9);
    if (task_->tokens_per_sample() > 0)
      summary["tokens_per_s"] = summary["samples_per_s"].get<double>() * static_cast<double>(task_->tokens_per_sample());
    summary["students"] = dp_.size();
    summary["params"] = task_->network().num_params();
    summary["allreduce_wait_s"] = allreduce_wait_s_;
    const nlohmann::json objective_summary = objective.summary(wall);
    for (const auto& [key, value] : objective_summary.items()) summary[key] = value;
    for (const auto& [key, value] : extra_summary.items()) summary[key] = value;
    write_json_file((fs::path(cfg_.run.out_dir) / "summary.json").string(), summary);
    if (final_eval.per_token)
      log::info("done: {} steps, validation perplexity {:.4f} (loss {:.4f}), token accuracy {:.4f}, {:.1f} s",
                state_.step, std::exp(final_eval.loss), final_eval.loss, final_eval.accuracy, wall);
    else
      log::info("done: {} steps, test accuracy {:.4f} ({} errors), test loss {:.4f}, {:.1f} s", state_.step,
                final_eval.accuracy, final_eval.errors, final_eval.loss, wall);
  }
  return 0;
}

Model& StudentTrainer::model() const {
  auto* mlp = dynamic_cast<MlpTask*>(task_.get());
  if (!mlp) RETORT_INPUT_ERROR("this job needs an MLP student (student.arch mlp)");
  return mlp->model();
}

const DataSplits& StudentTrainer::data() const {
  auto* mlp = dynamic_cast<MlpTask*>(task_.get());
  if (!mlp) RETORT_INPUT_ERROR("this job needs an MLP student's image data (student.arch mlp)");
  return mlp->data();
}

StudentTrainer::StepResult StudentTrainer::train_step(Objective& objective, double lr) {
  ids_ = sampler_.ids(state_.epoch, state_.step_in_epoch, dp_.rank(), dp_.size());
  // d(mean over the global batch's loss terms) on this rank, times S because the reducer averages.
  const float grad_scale = static_cast<float>(dp_.size()) /
                           static_cast<float>(cfg_.train.batch_size * task_->loss_terms_per_sample());
  const StepBatch batch{state_.step, state_.epoch, ids_, nullptr, rows_};
  beat("forward and loss (waiting for teacher logits)");
  const ObjectiveResult out = task_->forward_loss(objective, batch, grad_scale);

  // Every student must take the same decisions, so a non-finite input anywhere skips (or
  // aborts) the step everywhere, and a stop request anywhere stops everyone after this step.
  beat("agreeing on the step with the other students");
  double flags[2] = {out.nonfinite || !std::isfinite(out.loss_sum) ? 1.0 : 0.0, stop_requested() ? 1.0 : 0.0};
  dp_.sum(flags, 2);
  const bool stop = flags[1] > 0;
  const std::string where = fmt::format("step {} (epoch {})", state_.step, state_.epoch);
  if (flags[0] > 0) {
    if (cfg_.train.nan_policy == "abort")
      RETORT_RUNTIME_ERROR("non-finite teacher logits or loss at " + where + " (train.nan_policy=abort)");
    ++skipped_steps_;
    log::warn("non-finite teacher logits or loss at {}: step skipped on every student (train.nan_policy=skip)", where);
    return {0, 0, true, stop};
  }
  beat("backward and gradient all-reduce");
  task_->backward(dp_.hook());
  // What backward did not hide of the all-reduce: the wait for the last buckets.
  const auto reduce_start = std::chrono::steady_clock::now();
  dp_.finish();
  const double exposed = std::chrono::duration<double>(std::chrono::steady_clock::now() - reduce_start).count();
  window_allreduce_s_ += exposed;
  allreduce_wait_s_ += exposed;
  const auto info = optimizer_.step(task_->network().device_params(), task_->network().device_grads(), lr);
  last_grad_norm_ = info.grad_norm;
  if (!info.applied) {
    if (cfg_.train.nan_policy == "abort")
      RETORT_RUNTIME_ERROR("non-finite gradient norm at " + where + " (train.nan_policy=abort)");
    ++skipped_steps_;
    log::warn("non-finite gradient norm at {}: update skipped (train.nan_policy=skip)", where);
    return {0, 0, true, stop};
  }
  task_->network().apply_constraints();
  return {out.loss_sum, out.correct, false, stop};
}

void StudentTrainer::advance() {
  ++state_.step;
  if (++state_.step_in_epoch == plan_.steps_per_epoch) {
    state_.step_in_epoch = 0;
    ++state_.epoch;
  }
}

EvalResult StudentTrainer::run_eval() {
  beat("evaluating");
  EvalResult r;
  if (dp_.rank() == 0) {
    r = task_->evaluate(cfg_.train.eval_batch_size);
    nlohmann::json rec = r.to_json();
    rec["kind"] = "eval";
    rec["step"] = state_.step;
    rec["epoch"] = state_.epoch;
    metrics_.write(rec);
    state_.metrics.push_back(rec);
  }
  return r;
}

void StudentTrainer::save_checkpoint() {
  beat("writing a checkpoint");
  if (dp_.rank() == 0) store_.save(task_->network(), optimizer_, state_, cfg_.hash, seed_);
  // Nobody runs ahead of a checkpoint that is still being written.
  double token = 0;
  dp_.sum(&token, 1);
}

}  // namespace retort::core

// The supervised training loop: sampler -> batch -> forward -> softmax-CE -> backward with
// bucketed all-reduce -> optimizer -> constraints; eval, metrics, checkpoints, exact resume.
#include "core/train/supervised.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <vector>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/checkpoint/checkpoint.h"
#include "core/checkpoint/durable_io.h"
#include "core/data/dataset.h"
#include "core/data/sampler.h"
#include "core/metrics/metrics.h"
#include "core/model/model.h"
#include "core/optim/optimizer.h"
#include "core/optim/schedule.h"
#include "core/train/data_parallel.h"
#include "core/train/evaluate.h"
#include "kernels/softmax_xent.h"

namespace retort::core {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

void validate_train(const Config& c) {
  if (c.device != "cpu")
    RETORT_INPUT_ERROR("device: '" + c.device + "' is not supported by the training engine (cpu)");
  if (c.train.epochs <= 0) RETORT_INPUT_ERROR("train.epochs must be > 0");
  if (c.train.max_steps < 0) RETORT_INPUT_ERROR("train.max_steps must be >= 0");
  if (c.train.eval_every_steps < 0 || c.train.checkpoint_every_steps < 0 || c.train.log_every_steps < 0)
    RETORT_INPUT_ERROR("train.*_every_steps must be >= 0");
  if (c.train.nan_policy != "abort" && c.train.nan_policy != "skip")
    RETORT_INPUT_ERROR("train.nan_policy must be abort or skip, got '" + c.train.nan_policy + "'");
  if (c.run.resume != "auto" && c.run.resume != "never")
    RETORT_INPUT_ERROR("run.resume must be auto or never, got '" + c.run.resume + "'");
  validate(c.data);
  validate(c.optim);
  validate(c.schedule);
}

void write_json_file(const std::string& path, const nlohmann::json& j) {
  const std::string text = j.dump(2) + "\n";
  write_file_atomic(path, std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

// Everything one rank needs to run training steps.
class SupervisedRun {
 public:
  SupervisedRun(const Config& config, comm::World& world)
      : cfg_(config),
        seed_(static_cast<uint64_t>(config.run.seed)),
        data_(load_fashion_mnist(config.data, seed_)),
        model_(ModelSpec{config.student, data_.train.features(), data_.train.classes}),
        optimizer_(config.optim, model_.num_params()),
        sampler_(seed_, data_.train.size, config.train.batch_size),
        dp_(world.comm(), model_, config.comm.bucket_mb),
        store_((fs::path(config.run.out_dir) / "checkpoints").string(), config.train.keep_checkpoints) {
    if (dp_.size() > cfg_.train.batch_size)
      RETORT_INPUT_ERROR("train.batch_size " + std::to_string(cfg_.train.batch_size) +
                         " is smaller than the number of ranks " + std::to_string(dp_.size()));
    total_steps_ = cfg_.train.epochs * sampler_.steps_per_epoch();
    if (cfg_.train.max_steps > 0) total_steps_ = std::min(total_steps_, cfg_.train.max_steps);
    model_.initialize(seed_);
    if (dp_.rank() == 0) metrics_ = MetricsWriter((fs::path(cfg_.run.out_dir) / "metrics.jsonl").string());
    const auto [first, last] = Sampler::rank_rows(cfg_.train.batch_size, dp_.rank(), dp_.size());
    rows_ = last - first;
    x_.resize(static_cast<size_t>(rows_ * model_.in_features()));
    y_.resize(static_cast<size_t>(rows_));
    ids_.resize(static_cast<size_t>(rows_));
    dlogits_.resize(static_cast<size_t>(rows_ * model_.classes()));
  }

  int run(const SupervisedOptions& options) {
    if (cfg_.run.resume == "auto") {
      if (auto restored = store_.restore_latest(model_, optimizer_, cfg_.hash)) {
        state_ = *restored;
        log::info("resumed from step {} (epoch {}) in {}", state_.step, state_.epoch, store_.dir());
      }
    }
    Progress progress(total_steps_, cfg_.logging.progress, dp_.rank() == 0);
    const auto start = Clock::now();
    const int64_t first_step = state_.step;
    auto window_start = Clock::now();
    double window[3] = {0, 0, 0};  // loss sum, correct, samples (this rank)
    while (state_.step < total_steps_) {
      const double lr = learning_rate(cfg_.schedule, cfg_.optim.lr, state_.step, total_steps_);
      const auto step_result = train_step(lr);
      window[0] += step_result.loss_sum;
      window[1] += static_cast<double>(step_result.correct);
      window[2] += static_cast<double>(rows_);
      advance();
      const bool last = state_.step == total_steps_;
      const bool stop = options.stop_after_step > 0 && state_.step == options.stop_after_step;
      if ((cfg_.train.log_every_steps > 0 && state_.step % cfg_.train.log_every_steps == 0) || last) {
        dp_.sum(window, 3);
        const double secs = std::chrono::duration<double>(Clock::now() - window_start).count();
        const double sps = window[2] / std::max(secs, 1e-9);
        const double loss = window[0] / std::max(window[2], 1.0);
        metrics_.write({{"kind", "train"}, {"step", state_.step}, {"epoch", state_.epoch},
                        {"loss", loss}, {"accuracy", window[1] / std::max(window[2], 1.0)},
                        {"lr", lr}, {"grad_norm", last_grad_norm_}, {"samples_per_s", sps}});
        progress.update(state_.step, state_.epoch, loss, sps);
        window[0] = window[1] = window[2] = 0;
        window_start = Clock::now();
      }
      if (!last && cfg_.train.eval_every_steps > 0 && state_.step % cfg_.train.eval_every_steps == 0)
        run_eval();
      if (!last && ((cfg_.train.checkpoint_every_steps > 0 &&
                     state_.step % cfg_.train.checkpoint_every_steps == 0) || stop))
        save_checkpoint();
      if (stop && !last) {
        progress.finish();
        return 0;
      }
    }
    progress.finish();
    const double wall = std::chrono::duration<double>(Clock::now() - start).count();
    const EvalResult final_eval = run_eval();
    save_checkpoint();
    if (dp_.rank() == 0) {
      save_model(model_, (fs::path(cfg_.run.out_dir) / "final.safetensors").string());
      const int64_t steps_here = state_.step - first_step;
      nlohmann::json summary = final_eval.to_json();
      summary["steps"] = state_.step;
      summary["steps_this_run"] = steps_here;
      summary["epochs"] = static_cast<double>(state_.step) / static_cast<double>(sampler_.steps_per_epoch());
      summary["wall_s"] = wall;
      summary["samples_per_s"] = static_cast<double>(steps_here * cfg_.train.batch_size) / std::max(wall, 1e-9);
      summary["ranks"] = dp_.size();
      summary["params"] = model_.num_params();
      write_json_file((fs::path(cfg_.run.out_dir) / "summary.json").string(), summary);
      log::info("done: {} steps, test accuracy {:.4f} ({} errors), test loss {:.4f}, {:.1f} s",
                state_.step, final_eval.accuracy, final_eval.errors, final_eval.loss, wall);
    }
    return 0;
  }

 private:
  struct StepResult {
    double loss_sum = 0;
    int64_t correct = 0;
  };

  StepResult train_step(double lr) {
    const std::vector<int64_t> ids = sampler_.ids(state_.epoch, state_.step_in_epoch, dp_.rank(), dp_.size());
    gather_batch(data_.train, ids, x_.data(), y_.data(), cfg_.data.jitter_px, seed_,
                 static_cast<uint64_t>(state_.epoch));
    for (int64_t i = 0; i < rows_; ++i) ids_[i] = static_cast<uint64_t>(ids[i]);
    BatchContext ctx{rows_, true, ids_.data(), seed_, static_cast<uint64_t>(state_.epoch)};
    const float* logits = model_.forward(x_.data(), ctx);
    // d(mean over the global batch) on this rank, times S because the reducer averages.
    const float grad_scale = static_cast<float>(dp_.size()) / static_cast<float>(cfg_.train.batch_size);
    const auto xent = kernels::softmax_xent(logits, y_.data(), dlogits_.data(), rows_,
                                            model_.classes(), grad_scale);
    model_.backward(dlogits_.data(), ctx, dp_.hook());
    dp_.finish();
    const auto info = optimizer_.step(model_.params(), model_.grads(), lr);
    last_grad_norm_ = info.grad_norm;
    if (!info.applied) {
      const std::string what = "non-finite gradient norm at step " + std::to_string(state_.step) +
                               " (epoch " + std::to_string(state_.epoch) + ", rank " +
                               std::to_string(dp_.rank()) + ")";
      if (cfg_.train.nan_policy == "abort") RETORT_RUNTIME_ERROR(what);
      log::warn("{}: update skipped (train.nan_policy=skip)", what);
    }
    model_.apply_constraints();
    return {xent.loss_sum, xent.correct};
  }

  void advance() {
    ++state_.step;
    if (++state_.step_in_epoch == sampler_.steps_per_epoch()) {
      state_.step_in_epoch = 0;
      ++state_.epoch;
    }
  }

  EvalResult run_eval() {
    EvalResult r;
    if (dp_.rank() == 0) {
      r = evaluate(model_, data_.test, cfg_.train.eval_batch_size);
      nlohmann::json rec = r.to_json();
      rec["kind"] = "eval";
      rec["step"] = state_.step;
      rec["epoch"] = state_.epoch;
      metrics_.write(rec);
      state_.metrics.push_back(rec);
    }
    return r;
  }

  void save_checkpoint() {
    if (dp_.rank() == 0) store_.save(model_, optimizer_, state_, cfg_.hash, seed_);
    // Nobody runs ahead of a checkpoint that is still being written.
    double token = 0;
    dp_.sum(&token, 1);
  }

  const Config& cfg_;
  uint64_t seed_;
  DataSplits data_;
  Model model_;
  Optimizer optimizer_;
  Sampler sampler_;
  DataParallel dp_;
  CheckpointStore store_;
  MetricsWriter metrics_;
  TrainState state_;
  int64_t total_steps_ = 0;
  int64_t rows_ = 0;
  double last_grad_norm_ = 0;
  std::vector<float> x_, dlogits_;
  std::vector<int32_t> y_;
  std::vector<uint64_t> ids_;
};

}  // namespace

int run_supervised(const Config& config, comm::World& world, const SupervisedOptions& options) {
  validate_train(config);
  if (config.teacher.present)
    RETORT_INPUT_ERROR("run_supervised: the config has a teacher: section (use the distillation job)");
  SupervisedRun run(config, world);
  return run.run(options);
}

}  // namespace retort::core

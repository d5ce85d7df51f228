// The student training loop shared by supervised training and distillation, for every task
// (MLP classification, language models): sampler -> batch -> forward -> objective (loss +
// gradient) -> backward with bucketed all-reduce -> optimizer -> constraints; evaluation,
// metrics, checkpoints and exact resume. Runs on the students' communicator.
#pragma once
#include <nlohmann/json.hpp>

#include "comm/collectives.h"
#include "core/checkpoint/checkpoint.h"
#include "core/config/config.h"
#include "core/data/dataset.h"
#include "core/data/sampler.h"
#include "core/metrics/metrics.h"
#include "core/model/model.h"
#include "core/train/student_task.h"
#include "core/optim/optimizer.h"
#include "core/train/data_parallel.h"
#include "core/train/evaluate.h"
#include "core/train/objective.h"
#include "core/train/run_control.h"

namespace retort::core {

// The run's step schedule, computed identically wherever it is needed (students, teachers).
struct StepPlan {
  int64_t steps_per_epoch = 0;
  int64_t total_steps = 0;
  int64_t epoch_of(int64_t step) const { return step / steps_per_epoch; }
  int64_t step_in_epoch(int64_t step) const { return step % steps_per_epoch; }
};
StepPlan plan_steps(const TrainConfig& train, const Sampler& sampler);

// Input error naming the key when the train/data/optim/schedule sections cannot run.
void validate_training(const Config& config);

class StudentTrainer {
 public:
  // Collective over `students`: loads the data, builds and initialises the model and, with
  // run.resume: auto, restores the newest checkpoint that verifies.
  StudentTrainer(const Config& config, comm::Group students);
  int64_t start_step() const { return state_.step; }
  const StepPlan& plan() const { return plan_; }
  Network& network() const { return task_->network(); }
  // The MLP task's model and data (distillation of MLPs); input error for other tasks.
  Model& model() const;
  const DataSplits& data() const;
  int rank() const { return dp_.rank(); }
  int ranks() const { return dp_.size(); }
  int64_t rows_per_rank() const { return rows_; }

  // Progress beats go to `watchdog` (may be null).
  void set_watchdog(Watchdog* watchdog) { watchdog_ = watchdog; }

  // Trains to the end (or to `stop_after_step` > 0, checkpointing there), returning 0. On rank 0
  // writes metrics.jsonl, final.safetensors and summary.json (+ `extra_summary` fields). A stop
  // request (SIGUSR1/SIGTERM on any student) is agreed by all students at the end of the step in
  // progress: they checkpoint and return kExitPreempted.
  int run(Objective& objective, int64_t stop_after_step, const nlohmann::json& extra_summary = {});

 private:
  struct StepResult {
    double loss_sum = 0;
    int64_t correct = 0;
    bool skipped = false;
    bool stop = false;  // a stop was requested on some student
  };
  void beat(const char* phase) {
    if (watchdog_) watchdog_->beat(state_.step, phase);
  }
  StepResult train_step(Objective& objective, double lr);
  void advance();
  EvalResult run_eval();
  void save_checkpoint();

  const Config cfg_;  // a copy: the caller's Config may be a temporary
  uint64_t seed_;
  std::unique_ptr<StudentTask> task_;
  Optimizer optimizer_;
  Sampler sampler_;
  StepPlan plan_;
  DataParallel dp_;
  CheckpointStore store_;
  MetricsWriter metrics_;
  TrainState state_;
  int64_t rows_ = 0;
  int64_t skipped_steps_ = 0;
  double last_grad_norm_ = 0;
  double window_allreduce_s_ = 0, allreduce_wait_s_ = 0;  // exposed all-reduce time (this rank)
  Watchdog* watchdog_ = nullptr;
  std::vector<int64_t> ids_;
};

}  // namespace retort::core

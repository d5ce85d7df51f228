// The teacher side of LM distillation: a Llama-family teacher (teacher.checkpoint: a Retort LM
// checkpoint or weights file, a Hugging Face directory or a GGUF file) run inference-only in the
// Compute's batch-invariant mode over the same token windows and sampler as the students, its
// head chunk by chunk into per-token targets (dense | top-k + lse | sampled), delivered online
// through the channel or offline into the LM targets cache.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "comm/channel.h"
#include "comm/placement.h"
#include "core/config/config.h"
#include "core/data/sampler.h"
#include "core/lm/llama_model.h"
#include "core/lm/lm_targets.h"
#include "core/train/lm_task.h"
#include "core/train/student_trainer.h"

namespace retort::core {

// What every target message / cache record of a job is made of; the student side builds the same
// description from its config and the receiver (channel or cache reader) checks each field.
struct LmTargetsSpec {
  TargetKind kind = TargetKind::topk;
  int32_t k = 0;               // topk: k; sampled: n draws; dense: 0
  DType dtype = DType::bf16;   // of dense/topk values and sampled log-probabilities
  float temperature = 1;       // the targets were made at this T
  uint64_t seed = 0;           // sampled: the draws' seed
  int64_t vocab = 0;           // the student's (= tokenizer's) vocabulary; ≤ the teacher's head rows
  int64_t seq_len = 0;         // tokens per window
  uint64_t tokenizer_hash = 0; // of the data's tokenizer (0: synthetic data without one)
};
// The spec this job's config asks for (vocab / seq_len / tokenizer hash from the data).
LmTargetsSpec lm_targets_spec(const Config& cfg, int64_t vocab, uint64_t tokenizer_hash);
// The same from the config and the data alone (a student's side: no teacher is loaded).
LmTargetsSpec lm_job_targets_spec(const Config& cfg);
// What LmTeacherPool::data_fingerprint / teacher_fingerprint return, without a pool: the
// training windows of `cfg` (`windows` of them) and the weights at `checkpoint`.
std::string lm_data_fingerprint(const Config& cfg, int64_t windows, uint64_t tokenizer_hash);
std::string lm_teacher_fingerprint(const std::string& checkpoint);

struct LmTeacherStats {
  int64_t windows_served = 0;
  int64_t messages = 0;
  double forward_s = 0;
  double send_wait_s = 0;
  int max_in_flight = 0;
};

class LmTeacherPool {
 public:
  // Loads the teacher and the training windows; checks the tokenizer hashes of teacher and data
  // and the vocabularies (a teacher head larger than the tokenizer's vocabulary needs
  // distill.vocab_truncate: true): input errors naming both sides. The teacher and its head run
  // on `compute` (batch-invariant mode: a window's targets never depend on the others).
  explicit LmTeacherPool(const Config& cfg, std::shared_ptr<Compute> compute = cpu_compute_batch_invariant());
  const LmTargetsSpec& spec() const { return spec_; }
  int64_t train_windows() const;         // windows of the training split (cache records)
  const StepPlan& plan() const { return plan_; }
  std::string data_fingerprint() const;     // identifies the training windows
  std::string teacher_fingerprint() const;  // identifies the teacher's weights
  LlamaModel& model() { return *model_; }

  // Targets of training windows `ids` (rows = ids.size() · seq_len, window-major), through
  // forwards of distill.teacher_batch windows (all at once when 0); each window's targets
  // depend only on the window (batch-invariant forward, draws keyed by (seed, window id,
  // position)), never on how windows are grouped.
  void compute(std::span<const int64_t> ids, LmTargets& out);
  // Seconds compute() spent so far in the trunk's forward and in the head + target encoding.
  double trunk_seconds() const { return trunk_s_; }
  double head_seconds() const { return head_s_; }

  struct ServeHooks {
    std::function<void(int64_t step, const char* phase)> beat;
    std::function<void(int64_t step, const LmTeacherStats&)> after_step;
    std::function<int64_t()> students_end;  // -1, or the step the students stopped after
  };
  // Online: for steps [first_step, end_step), the windows of every student this teacher serves.
  LmTeacherStats serve(const comm::RoleTable& table, int teacher, int64_t first_step, int64_t end_step,
                       comm::TeacherChannel& channel, const ServeHooks& hooks);

 private:
  const Config cfg_;  // a copy: the pool outlives a temporary Config it may be built from
  TokenSplits data_;
  LmTargetsSpec spec_;
  Sampler sampler_;
  StepPlan plan_;
  ChunkedHead head_;  // the teacher's head, chunk by chunk into targets
  std::unique_ptr<LlamaModel> model_;
  std::vector<int32_t> windows_, inputs_, positions_;  // one compute(): [w, T + 1], [w·T], [w·T]
  std::vector<int64_t> sample_ids_;                    // [w·T]: each token's window id
  double trunk_s_ = 0, head_s_ = 0;                    // compute()'s two parts, summed
};

}  // namespace retort::core

// The teacher side of a distillation job: the teacher model (loaded from its self-describing
// checkpoint, inference only, batch-invariant forward), the same data and sampler as the
// students, and the two ways to deliver logits: online through the channel, step by step in
// serving order, or offline into a logits cache.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "comm/channel.h"
#include "comm/placement.h"
#include "core/config/config.h"
#include "core/data/dataset.h"
#include "core/data/sampler.h"
#include "core/distill/logits_cache.h"
#include "core/distill/teacher_logits.h"
#include "core/model/model.h"
#include "core/train/evaluate.h"
#include "core/train/student_trainer.h"

namespace retort::core {

// Identifies the data a cache was computed from, and the teacher weights.
std::string data_fingerprint(const Config& cfg);
std::string teacher_fingerprint(const std::string& checkpoint);
// The cache description this job needs (vocab from the teacher or student model).
CacheSpec expected_cache_spec(const Config& cfg, int64_t samples, int64_t vocab, const std::string& teacher_checkpoint_fp);

struct TeacherStats {
  int64_t rows_served = 0;
  int64_t messages = 0;
  double forward_s = 0;
  double send_wait_s = 0;
  int max_in_flight = 0;
};

class TeacherPool {
 public:
  // Loads the teacher (teacher.checkpoint), the training data (the students' samples, normalised
  // with the teacher's own training statistics) and the sampler; checks that the teacher fits
  // the data (input error naming teacher.checkpoint otherwise). The teacher runs on `compute`
  // (a device Compute: logits are downloaded, then encoded on the host); its forwards are
  // batch-invariant on any Compute (BatchContext::batch_invariant).
  explicit TeacherPool(const Config& cfg, std::shared_ptr<Compute> compute = cpu_compute());
  const StepPlan& plan() const { return plan_; }
  const DataSplits& data() const { return data_; }
  Model& model() { return *model_; }
  TeacherEncoding encoding() const;

  // Logits of `ids` (with the students' augmentation of `epoch`), encoded. `poison` replaces the
  // first logit with NaN (fault injection for tests of train.nan_policy).
  void compute(const std::vector<int64_t>& ids, int64_t epoch, bool augment, EncodedLogits& out, bool poison = false);

  // Online: for steps [first_step, end_step), every student this teacher serves at that
  // step, in table order; then end-of-stream. Returns what it did.
  // Optional hooks of the serving loop.
  struct ServeHooks {
    std::function<void(int64_t step, const char* phase)> beat;        // watchdog progress
    std::function<void(int64_t step, const TeacherStats&)> after_step;
    std::function<int64_t()> students_end;  // -1, or the step the students stopped after
  };
  TeacherStats serve(const comm::RoleTable& table, int teacher, int64_t first_step, int64_t end_step,
                     comm::TeacherChannel& channel, const ServeHooks& hooks);

  // Offline: writes shards teacher, teacher + teachers, ... of the cache, ending early when
  // `stop_before_shard()` is true before one; returns the entries of the shards written.
  std::vector<nlohmann::json> write_cache_shards(const std::string& dir, const CacheSpec& spec, int teacher, int teachers,
                                                 const std::function<bool()>& stop_before_shard);

  EvalResult evaluate_teacher();

 private:
  const Config cfg_;  // a copy: the caller's Config may be a temporary
  uint64_t seed_;
  std::unique_ptr<Model> model_;  // before data_: the data is normalised as the teacher was trained
  DataSplits data_;
  Sampler sampler_;
  StepPlan plan_;
  int students_;
  int64_t nan_fault_step_ = -1;  // RETORT_FAULT_NAN_TEACHER_STEP: poison the logits of that step
  std::vector<float> x_, logits_;
  std::vector<int32_t> y_;
};

}  // namespace retort::core

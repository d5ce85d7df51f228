// Teacher inference for distillation: batch-invariant forward over the students' exact samples,
// online serving through the logits channel, and offline cache shards.
#include "core/distill/teacher_pool.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <limits>
#include <span>
#include <utility>
#include <filesystem>
#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/checkpoint/checkpoint.h"
#include "core/checkpoint/durable_io.h"

namespace retort::core {
namespace fs = std::filesystem;
namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
}  // namespace

std::string data_fingerprint(const Config& cfg) {
  return fmt::format("{} dir={} train_fraction={} seed={} normalize={}", cfg.data.dataset, cfg.data.dir,
                     cfg.data.train_fraction, cfg.run.seed, cfg.data.normalize);
}

std::string teacher_fingerprint(const std::string& checkpoint) {
  if (fs::is_directory(checkpoint)) return "checkpoint " + read_verified_manifest(checkpoint).dump();
  return "xxh3 " + xxh3_hex(read_file(checkpoint));
}

CacheSpec expected_cache_spec(const Config& cfg, int64_t samples, int64_t vocab, const std::string& teacher_fp) {
  CacheSpec s;
  s.samples = samples;
  s.vocab = vocab;
  s.topk = cfg.distill.topk;
  s.dtype = parse_dtype(cfg.distill.wire_dtype);
  s.temperature = cfg.distill.temperature;
  s.shard_rows = 4096;
  s.data_fingerprint = data_fingerprint(cfg);
  s.teacher_fingerprint = teacher_fp;
  return s;
}

namespace {

// The teacher's weights on `compute`: loaded on the host, then copied into a model built there
// when `compute` is another one (a device).
std::unique_ptr<Model> load_teacher(const Config& cfg, const std::shared_ptr<Compute>& compute) {
  if (cfg.teacher.checkpoint.empty()) RETORT_INPUT_ERROR("teacher.checkpoint: required to run teachers");
  if (!fs::exists(cfg.teacher.checkpoint))
    RETORT_INPUT_ERROR("teacher.checkpoint: '" + cfg.teacher.checkpoint +
                       "' does not exist (train the teacher first, e.g. retort train examples/fashion_mnist/teacher.yaml)");
  std::unique_ptr<Model> loaded = load_model(cfg.teacher.checkpoint);
  if (loaded->compute_ptr() == compute) return loaded;
  auto placed = std::make_unique<Model>(loaded->spec(), compute);
  const std::span<const float> weights = std::as_const(*loaded).params();
  std::copy(weights.begin(), weights.end(), placed->params().begin());
  return placed;
}

}  // namespace

TeacherPool::TeacherPool(const Config& cfg, std::shared_ptr<Compute> compute)
    : cfg_(cfg),
      seed_(static_cast<uint64_t>(cfg.run.seed)),
      model_(load_teacher(cfg, compute)),
      data_([&] {
        const InputStats teacher_stats{model_->spec().input_mean, model_->spec().input_std};
        return load_fashion_mnist(cfg.data, seed_, &teacher_stats);
      }()),
      sampler_(seed_, data_.train.size, cfg.train.batch_size),
      plan_(plan_steps(cfg.train, sampler_)),
      students_(static_cast<int>(cfg.cluster.students)) {
  if (const char* fault = std::getenv("RETORT_FAULT_NAN_TEACHER_STEP")) {
    nan_fault_step_ = std::atoll(fault);
    log::warn("fault injection: teacher logits of step {} will be NaN (RETORT_FAULT_NAN_TEACHER_STEP)", nan_fault_step_);
  }
  if (model_->in_features() != data_.train.features() || model_->classes() != data_.train.classes)
    RETORT_INPUT_ERROR(fmt::format("teacher.checkpoint: the teacher maps {} inputs to {} classes, the data has {} and {}",
                                   model_->in_features(), model_->classes(), data_.train.features(), data_.train.classes));
  if (cfg.distill.topk > model_->classes())
    RETORT_INPUT_ERROR(fmt::format("distill.topk: {} is larger than the teacher's {} classes", cfg.distill.topk,
                                   model_->classes()));
}

TeacherEncoding TeacherPool::encoding() const {
  return {cfg_.distill.topk, parse_dtype(cfg_.distill.wire_dtype), static_cast<float>(cfg_.distill.temperature)};
}

void TeacherPool::compute(const std::vector<int64_t>& ids, int64_t epoch, bool augment, EncodedLogits& out,
                          bool poison) {
  const int64_t rows = static_cast<int64_t>(ids.size());
  x_.resize(static_cast<size_t>(rows * model_->in_features()));
  y_.resize(static_cast<size_t>(rows));
  gather_batch(data_.train, ids, x_.data(), y_.data(), augment ? cfg_.data.jitter_px : 0, seed_,
               static_cast<uint64_t>(epoch));
  // Forward in chunks of at most distill.teacher_batch rows (all at once when 0).
  const int64_t chunk = cfg_.distill.teacher_batch > 0 ? cfg_.distill.teacher_batch : std::max<int64_t>(rows, 1);
  logits_.resize(static_cast<size_t>(rows * model_->classes()));
  for (int64_t first = 0; first < rows; first += chunk) {
    BatchContext ctx;
    ctx.rows = std::min(chunk, rows - first);
    ctx.training = false;
    ctx.batch_invariant = true;
    const float* logits = model_->forward(x_.data() + first * model_->in_features(), ctx);  // compute memory
    float* host = logits_.data() + first * model_->classes();
    const size_t count = static_cast<size_t>(ctx.rows * model_->classes());
    if (model_->compute().host_memory()) std::copy(logits, logits + count, host);
    else model_->compute().download(host, logits, count * sizeof(float));
  }
  if (poison && rows > 0) logits_[0] = std::numeric_limits<float>::quiet_NaN();
  out.encode(logits_.data(), rows, model_->classes(), encoding());
}

TeacherStats TeacherPool::serve(const comm::RoleTable& table, int teacher, int64_t first_step, int64_t end_step,
                                comm::TeacherChannel& channel, const ServeHooks& hooks) {
  TeacherStats stats;
  EncodedLogits encoded;
  std::vector<int> served;
  std::vector<int64_t> ids;
  for (int64_t step = first_step; step < end_step; ++step) {
    if (hooks.students_end) {
      // Students that stopped early (preemption, --stop-after-step) need nothing past their end.
      if (const int64_t stopped = hooks.students_end(); stopped >= 0) end_step = std::min(end_step, stopped);
      if (step >= end_step) break;
    }
    if (hooks.beat) hooks.beat(step, "computing and sending teacher logits");
    const int64_t epoch = plan_.epoch_of(step);
    served.clear();
    for (int student : table.students_of(teacher))
      if (table.teacher_for(student, step) == teacher) served.push_back(student);
    // With distill.teacher_batch > 0 the rows of every student served at this step go through
    // one forward (batch-invariant, so grouping never changes a sample's logits).
    const size_t group = cfg_.distill.teacher_batch > 0 ? served.size() : 1;
    for (size_t g = 0; g < served.size(); g += group) {
      const size_t g_end = std::min(served.size(), g + group);
      ids.clear();
      std::vector<int64_t> rows_of(g_end - g);
      for (size_t i = g; i < g_end; ++i) {
        const auto student_ids = sampler_.ids(epoch, plan_.step_in_epoch(step), served[i], students_);
        rows_of[i - g] = static_cast<int64_t>(student_ids.size());
        ids.insert(ids.end(), student_ids.begin(), student_ids.end());
      }
      const auto t0 = Clock::now();
      compute(ids, epoch, true, encoded, step == nan_fault_step_);
      stats.forward_s += seconds_since(t0);
      int64_t first = 0;
      for (size_t i = g; i < g_end; ++i) {
        const auto t1 = Clock::now();
        comm::LogitsPayload payload = encoded.payload(first, rows_of[i - g]);
        payload.temperature = encoding().temperature;  // the T its top-k lse was made at
        channel.send(served[i], step, payload);
        stats.send_wait_s += seconds_since(t1);
        first += rows_of[i - g];
        ++stats.messages;
      }
      stats.rows_served += first;
    }
    channel.progress();
    stats.max_in_flight = channel.stats().max_in_flight;
    if (hooks.after_step) hooks.after_step(step, stats);
  }
  if (hooks.beat) hooks.beat(end_step, "waiting for students to consume the last logits");
  channel.finish();
  stats.max_in_flight = channel.stats().max_in_flight;
  return stats;
}

std::vector<nlohmann::json> TeacherPool::write_cache_shards(const std::string& dir, const CacheSpec& spec, int teacher,
                                                            int teachers, const std::function<bool()>& stop_before_shard) {
  std::vector<nlohmann::json> entries;
  EncodedLogits encoded;
  for (int64_t shard = teacher; shard < shard_count(spec); shard += teachers) {
    if (stop_before_shard()) break;
    const int64_t first = shard * spec.shard_rows, last = std::min(spec.samples, first + spec.shard_rows);
    std::vector<int64_t> ids(static_cast<size_t>(last - first));
    for (int64_t i = first; i < last; ++i) ids[static_cast<size_t>(i - first)] = i;
    compute(ids, 0, false, encoded);
    entries.push_back(write_shard(dir, spec, shard, encoded));
    log::info("cache shard {} (samples {}..{}) written", shard, first, last - 1);
  }
  return entries;
}

EvalResult TeacherPool::evaluate_teacher() { return evaluate(*model_, data_.test, cfg_.train.eval_batch_size); }

}  // namespace retort::core

// LmTeacherPool: the LM teacher (imported once, batch-invariant CPU compute), the students'
// token windows and sampler, per-token targets through the chunked head, online serving.
#include "core/distill/lm_teacher_pool.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <utility>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/checkpoint/checkpoint.h"
#include "core/checkpoint/durable_io.h"
#include "core/data/token_shards.h"
#include "core/distill/lm_wire.h"
#include "core/lm/lm_import.h"
#include "core/lm/tokenizer_export.h"

namespace retort::core {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

TargetKind target_kind_of(DistillTargets t) {
  switch (t) {
    case DistillTargets::dense: return TargetKind::dense;
    case DistillTargets::topk: return TargetKind::topk;
    case DistillTargets::sampled: return TargetKind::sampled;
  }
  RETORT_RUNTIME_ERROR("unknown distill.targets");
}

// The data's tokenizer hash (token shards); 0 for the synthetic copy task.
uint64_t data_tokenizer_hash(const Config& cfg) {
  return cfg.data.dataset == "tokens" ? read_token_manifest(cfg.data.dir).tokenizer_hash : 0;
}

ImportedLm import_teacher(const Config& cfg) {
  const std::string& path = cfg.teacher.checkpoint;
  if (path.empty()) RETORT_INPUT_ERROR("teacher.checkpoint: required to run an LM teacher");
  if (!fs::exists(path))
    RETORT_INPUT_ERROR("teacher.checkpoint: '" + path + "' does not exist (train the teacher first with retort train)");
  return import_lm(path);
}

// Teacher vs data: the same tokenizer (where both sides say which) and a head covering exactly
// the data's vocabulary (a larger, padded head only with distill.vocab_truncate).
void check_teacher_fits(const Config& cfg, const ImportedLm& teacher, int64_t data_vocab, uint64_t data_hash) {
  const std::string& path = cfg.teacher.checkpoint;
  const std::string data = cfg.data.dataset == "tokens" ? "data.dir " + cfg.data.dir : "data.dataset " + cfg.data.dataset;
  const std::string teacher_hash = model_tokenizer_hash(path, teacher);
  if (cfg.data.dataset != "tokens") {
    log::info("teacher tokenizer not checked: {} has no tokenizer", data);
  } else if (teacher_hash.empty()) {
    log::info("teacher tokenizer not checked: teacher.checkpoint {} ({}) records no tokenizer hash", path, teacher.kind);
  } else if (teacher_hash != fmt::format("{:016x}", data_hash)) {
    RETORT_INPUT_ERROR(fmt::format("teacher.checkpoint {} uses tokenizer {}, but {} was tokenized with {:016x}", path,
                                   teacher_hash, data, data_hash));
  }
  const int64_t head = teacher.config.vocab_size;
  if (head < data_vocab)
    RETORT_INPUT_ERROR(fmt::format("teacher.checkpoint {}: the teacher's head has {} rows, fewer than the {} tokens of "
                                   "the vocabulary of {}",
                                   path, head, data_vocab, data));
  if (head > data_vocab && !cfg.distill.vocab_truncate)
    RETORT_INPUT_ERROR(fmt::format("teacher.checkpoint {}: the teacher's head has {} rows, the vocabulary of {} has {} "
                                   "(a padded embedding?): set distill.vocab_truncate: true to distil over the first {}",
                                   path, head, data, data_vocab, data_vocab));
  if (head > data_vocab)
    log::info("distill.vocab_truncate: using the first {} of the teacher's {} head rows", data_vocab, head);
  if (teacher.config.max_seq_len < cfg.data.seq_len)
    RETORT_INPUT_ERROR(fmt::format("teacher.checkpoint {}: max_seq_len {} is shorter than data.seq_len {}", path,
                                   teacher.config.max_seq_len, cfg.data.seq_len));
}

}  // namespace

LmTargetsSpec lm_targets_spec(const Config& cfg, int64_t vocab, uint64_t tokenizer_hash) {
  LmTargetsSpec s;
  s.kind = target_kind_of(cfg.distill.target_kind);
  s.k = s.kind == TargetKind::topk      ? static_cast<int32_t>(cfg.distill.topk)
        : s.kind == TargetKind::sampled ? static_cast<int32_t>(cfg.distill.samples)
                                        : 0;
  s.dtype = parse_dtype(cfg.distill.wire_dtype);
  s.temperature = static_cast<float>(cfg.distill.temperature);
  s.seed = s.kind == TargetKind::sampled ? static_cast<uint64_t>(cfg.run.seed) : 0;
  s.vocab = vocab;
  s.seq_len = cfg.data.seq_len;
  s.tokenizer_hash = tokenizer_hash;
  return s;
}

LmTeacherPool::LmTeacherPool(const Config& cfg, std::shared_ptr<Compute> compute)
    : cfg_(cfg),
      data_(load_token_splits(cfg)),
      spec_(lm_targets_spec(cfg, data_.train.vocab, data_tokenizer_hash(cfg))),
      sampler_(static_cast<uint64_t>(cfg.run.seed), data_.train.count, cfg.train.batch_size),
      plan_(plan_steps(cfg.train, sampler_)),
      head_(compute, static_cast<size_t>(cfg.train.head_chunk_mb * (1 << 20))) {
  ImportedLm teacher = import_teacher(cfg);
  check_teacher_fits(cfg, teacher, spec_.vocab, spec_.tokenizer_hash);
  if (spec_.kind != TargetKind::dense && spec_.k > spec_.vocab)
    RETORT_INPUT_ERROR(fmt::format("distill.{}: {} is larger than the vocabulary of {} tokens",
                                   spec_.kind == TargetKind::topk ? "topk" : "samples", spec_.k, spec_.vocab));
  model_ = std::make_unique<LlamaModel>(teacher.config, std::move(compute));
  model_->load_tensors(teacher.tensors, "teacher.checkpoint " + cfg.teacher.checkpoint);
  log::info("LM teacher {} ({}, {} parameters, head {} x {}): {} targets{} at temperature {}", cfg.teacher.checkpoint,
            teacher.kind, model_->num_params(), teacher.config.vocab_size, teacher.config.dim,
            target_kind_name(spec_.kind),
            spec_.k ? fmt::format(" ({} {})", spec_.kind == TargetKind::sampled ? "n" : "k", spec_.k) : std::string(),
            spec_.temperature);
}

int64_t LmTeacherPool::train_windows() const { return data_.train.count; }

std::string LmTeacherPool::data_fingerprint() const {
  return lm_data_fingerprint(cfg_, data_.train.count, spec_.tokenizer_hash);
}

std::string LmTeacherPool::teacher_fingerprint() const { return lm_teacher_fingerprint(cfg_.teacher.checkpoint); }

LmTargetsSpec lm_job_targets_spec(const Config& cfg) {
  return lm_targets_spec(cfg, load_token_splits(cfg).train.vocab, data_tokenizer_hash(cfg));
}

std::string lm_data_fingerprint(const Config& c, int64_t windows, uint64_t tokenizer_hash) {
  // Token shards' windows are fixed by window id (one cache serves every run seed); the copy
  // task's are generated from run.seed.
  const std::string source = c.data.dataset == "tokens"
                                 ? fmt::format("dir={} tokenizer={:016x}", c.data.dir, tokenizer_hash)
                                 : fmt::format("vocab={} train_size={} seed={}", c.student.vocab_size,
                                               c.data.copy_train_size, c.run.seed);
  return fmt::format("{} {} seq_len={} windows={}", c.data.dataset, source, c.data.seq_len, windows);
}

std::string lm_teacher_fingerprint(const std::string& checkpoint) {
  const fs::path path = checkpoint;
  if (fs::is_directory(path) && fs::exists(path / "manifest.json"))
    return "checkpoint " + read_verified_manifest(path.string()).dump();
  if (!fs::is_directory(path)) return "xxh3 " + xxh3_hex(read_file(path.string()));
  // A Hugging Face directory: every regular file's name and content hash, in name order.
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(path))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::string fp = "hf";
  for (const auto& f : files) fp += fmt::format(" {}={}", f.filename().string(), xxh3_hex(read_file(f.string())));
  return fp;
}

void LmTeacherPool::compute(std::span<const int64_t> ids, LmTargets& out) {
  const int64_t windows = static_cast<int64_t>(ids.size()), T = spec_.seq_len, rows = windows * T;
  windows_.resize(static_cast<size_t>(windows * (T + 1)));
  data_.train.gather(ids, windows_.data());
  inputs_.resize(static_cast<size_t>(rows));
  sample_ids_.resize(static_cast<size_t>(rows));
  positions_.resize(static_cast<size_t>(rows));
  for (int64_t w = 0; w < windows; ++w)
    for (int64_t t = 0; t < T; ++t) {
      inputs_[w * T + t] = windows_[w * (T + 1) + t];
      sample_ids_[w * T + t] = ids[w];
      positions_[w * T + t] = static_cast<int32_t>(t);
    }
  EncodeSpec enc;
  enc.kind = spec_.kind;
  enc.k = spec_.k;
  enc.dtype = spec_.dtype;
  enc.temperature = spec_.temperature;
  enc.seed = spec_.seed;
  enc.sample_ids = sample_ids_.data();
  enc.positions = positions_.data();
  out = make_targets(spec_.kind, rows, spec_.vocab, spec_.k, spec_.dtype, spec_.temperature, spec_.seed);
  // distill.teacher_batch windows per forward (all of them when 0).
  const int64_t group = cfg_.distill.teacher_batch > 0 ? std::min(cfg_.distill.teacher_batch, windows) : windows;
  for (int64_t w0 = 0; w0 < windows; w0 += group) {
    const int64_t n = std::min(group, windows - w0);
    const auto t0 = Clock::now();
    const float* hidden = model_->forward(inputs_.data() + w0 * T, LmBatch{n, T, false});
    const auto t1 = Clock::now();
    trunk_s_ += std::chrono::duration<double>(t1 - t0).count();
    // The head's first spec_.vocab rows (all of them unless distill.vocab_truncate cut a padded head).
    encode_targets_into(head_, hidden, model_->head_weight(), n * T, model_->config().dim, enc, out, w0 * T);
    head_s_ += seconds_since(t1);
  }
}

LmTeacherStats LmTeacherPool::serve(const comm::RoleTable& table, int teacher, int64_t first_step, int64_t end_step,
                                    comm::TeacherChannel& channel, const ServeHooks& hooks) {
  LmTeacherStats stats;
  LmTargets targets;
  const int students = table.students();
  for (int64_t step = first_step; step < end_step; ++step) {
    if (hooks.students_end) {
      // Students that stopped early (preemption, --stop-after-step) need nothing past their end.
      if (const int64_t stopped = hooks.students_end(); stopped >= 0) end_step = std::min(end_step, stopped);
      if (step >= end_step) break;
    }
    if (hooks.beat) hooks.beat(step, "computing and sending LM teacher targets");
    const int64_t epoch = plan_.epoch_of(step);
    for (int student : table.students_of(teacher)) {
      if (table.teacher_for(student, step) != teacher) continue;
      const std::vector<int64_t> ids = sampler_.ids(epoch, plan_.step_in_epoch(step), student, students);
      const auto t0 = Clock::now();
      compute(ids, targets);
      stats.forward_s += seconds_since(t0);
      const auto t1 = Clock::now();
      channel.send(student, step, lm_payload(targets, spec_.tokenizer_hash));
      stats.send_wait_s += seconds_since(t1);
      stats.windows_served += static_cast<int64_t>(ids.size());
      ++stats.messages;
      channel.progress();
    }
    stats.max_in_flight = channel.stats().max_in_flight;
    if (hooks.after_step) hooks.after_step(step, stats);
  }
  if (hooks.beat) hooks.beat(end_step, "waiting for students to consume the last LM targets");
  channel.finish();
  stats.max_in_flight = channel.stats().max_in_flight;
  return stats;
}

}  // namespace retort::core

// Job drivers: `retort train` with a teacher section (online pool + students, or students
// reading the cache) and `retort teach` (the pool writing the cache).
#include "core/distill/run_distill.h"

#include <chrono>
#include <filesystem>
#include <functional>
#include <fmt/format.h>

#include "comm/backends.h"
#include "comm/collectives.h"
#include "comm/roles.h"
#include "core/base/error.h"
#include "core/base/log.h"
#include "core/distill/device_channel.h"
#include "core/distill/distill_objective.h"
#include "core/distill/lm_cache.h"
#include "core/distill/lm_distill_objective.h"
#include "core/distill/lm_online_source.h"
#include "core/distill/lm_teach.h"
#include "core/distill/lm_teacher_pool.h"
#include "core/distill/lm_wire.h"
#include "core/distill/teach_stop.h"
#include "core/distill/teacher_pool.h"
#include "core/lm/llama_model.h"
#include "core/metrics/metrics.h"
#include "core/train/device.h"
#include "core/train/run_control.h"
#include "core/train/student_trainer.h"

#include <thread>

namespace retort::core {
namespace fs = std::filesystem;
namespace {

void validate_distill(const Config& cfg) {
  if (!cfg.teacher.present) RETORT_INPUT_ERROR("run_distill: the config has no teacher: section");
  validate_training(cfg);
  if (cfg.teacher.source == "cache" && cfg.data.jitter_px > 0)
    RETORT_INPUT_ERROR("data.jitter_px: cached teacher logits are per image, so teacher.source: cache needs jitter_px 0");
}

// Student rank 0 tells every teacher after how many steps the students stopped (the end of the
// run, --stop-after-step or a preemption), so no teacher computes logits nobody will read.
constexpr int kStudentsEndTag = 0x5e7d;

comm::RolesConfig roles_config(const Config& cfg) {
  comm::RolesConfig rc;
  rc.teachers = static_cast<int>(cfg.cluster.teachers);
  rc.students = static_cast<int>(cfg.cluster.students);
  rc.placement = cfg.cluster.placement == "round-robin" ? comm::Placement::round_robin : comm::Placement::node_local;
  rc.emulate_nodes = static_cast<int>(cfg.cluster.emulate_nodes);
  return rc;
}

comm::ChannelConfig channel_config(const Config& cfg, int64_t first_step, int64_t rows, int64_t vocab) {
  comm::ChannelConfig cc;
  cc.transport = comm::parse_transport(cfg.logits_transport());
  cc.lookahead = static_cast<int>(cfg.distill.lookahead);
  const auto kind = cfg.distill.topk ? comm::PayloadKind::topk : comm::PayloadKind::dense;
  const DType dtype = parse_dtype(cfg.distill.wire_dtype);
  cc.max_payload_bytes = comm::payload_layout(kind, dtype, rows, vocab, cfg.distill.topk).bytes;
  cc.timeout_s = cfg.train.step_timeout_s;
  cc.first_step = first_step;
  cc.expect.rows = rows;
  cc.expect.vocab = vocab;
  cc.expect.kind = kind;
  cc.expect.k = cfg.distill.topk;
  cc.expect.dtype = dtype;
  cc.expect.temperature = static_cast<float>(cfg.distill.temperature);  // MLP top-k lse is made at T
  cc.expect.tokenizer_hash = 0;
  return cc;
}

bool is_lm(const Config& cfg) { return cfg.student.arch == "llama"; }

bool device_logits(const Config& cfg) { return comm::parse_transport(cfg.logits_transport()) == comm::Transport::nccl; }

// A teacher's channel: over NCCL its slots are device buffers, so the (host-encoded) targets are
// uploaded to the teacher's device first, on its stream.
std::unique_ptr<comm::TeacherChannel> teacher_channel(const Config& cfg, const comm::Roles& roles,
                                                      comm::ChannelConfig cc, const std::shared_ptr<Compute>& compute) {
  if (!device_logits(cfg)) return comm::make_teacher_channel(roles, cc);
  cc.compute_stream = compute->stream();
  return upload_payloads(compute, comm::make_teacher_channel(roles, cc));
}

// A student's channel: over NCCL the received payloads stay in the slots' device buffers, read
// there by the loss on `compute`'s stream.
std::unique_ptr<comm::StudentChannel> student_channel(const Config& cfg, const comm::Roles& roles,
                                                      comm::ChannelConfig cc, const std::shared_ptr<Compute>& compute) {
  if (device_logits(cfg)) cc.compute_stream = compute->stream();
  return comm::make_student_channel(roles, cc);
}

// An LM job's channel: messages of `windows` windows per student step, every field checked.
comm::ChannelConfig lm_channel_config(const Config& cfg, int64_t first_step, const LmTargetsSpec& spec, int64_t windows) {
  comm::ChannelConfig cc;
  cc.transport = comm::parse_transport(cfg.logits_transport());
  cc.lookahead = static_cast<int>(cfg.distill.lookahead);
  cc.max_payload_bytes = lm_payload_bytes(spec, windows * spec.seq_len);
  cc.timeout_s = cfg.train.step_timeout_s;
  cc.first_step = first_step;
  cc.expect = lm_payload_expect(spec, windows * spec.seq_len);
  return cc;
}

// The students' end notice (students_end hook of both pools): -1 until student rank 0 sent it.
class StudentsEndNotice {
 public:
  explicit StudentsEndNotice(const comm::Roles& roles)
      : receive_(roles.world(), roles.table().student_rank(0), kStudentsEndTag) {}
  int64_t poll() { return receive_.poll().value_or(-1); }

 private:
  comm::Int64Receive receive_;
};

int run_lm_teacher_rank(const Config& cfg, comm::World& world, const comm::Roles& roles, const DistillOptions& options) {
  Watchdog watchdog(cfg.train.step_timeout_s, fmt::format("teacher {} (rank {})", roles.index(), roles.rank()),
                    abort_job_on_expiry(world));
  const std::shared_ptr<Compute> compute = make_teacher_compute(cfg);
  LmTeacherPool pool(cfg, compute);
  int64_t first_step = 0;
  comm::Group(roles.world()).broadcast(first_step, roles.table().student_rank(0));
  const int64_t end_step = options.stop_after_step > 0 ? std::min(options.stop_after_step, pool.plan().total_steps)
                                                       : pool.plan().total_steps;
  const int64_t windows = cfg.train.batch_size / cfg.cluster.students;
  auto channel = teacher_channel(cfg, roles, lm_channel_config(cfg, first_step, pool.spec(), windows), compute);
  MetricsWriter metrics((fs::path(cfg.run.out_dir) / fmt::format("teacher-{}.metrics.jsonl", roles.index())).string());
  const auto start = std::chrono::steady_clock::now();
  StudentsEndNotice notice(roles);
  LmTeacherPool::ServeHooks hooks;
  hooks.beat = [&](int64_t step, const char* phase) { watchdog.beat(step, phase); };
  hooks.after_step = [&](int64_t step, const LmTeacherStats& s) {
    if ((step + 1) % cfg.train.log_every_steps != 0 && step + 1 != end_step) return;
    const comm::ChannelStats cs = channel->stats();
    metrics.write({{"kind", "teacher"}, {"teacher", roles.index()}, {"step", step + 1},
                   {"windows_served", s.windows_served}, {"tokens_served", s.windows_served * cfg.data.seq_len},
                   {"messages", s.messages}, {"forward_s", s.forward_s}, {"send_wait_s", s.send_wait_s},
                   {"wire_bytes", cs.bytes}, {"queue_depth", cs.in_flight}, {"max_in_flight", s.max_in_flight},
                   {"lookahead", cfg.distill.lookahead}});
  };
  hooks.students_end = [&] { return notice.poll(); };
  const LmTeacherStats stats = pool.serve(roles.table(), roles.index(), first_step, end_step, *channel, hooks);
  watchdog.beat(end_step, "waiting for the students' end notice");
  int64_t students_end = -1;
  while ((students_end = notice.poll()) < 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log::info("teacher {}: served {} windows in {} messages, forward {:.1f} s of {:.1f} s, max {} in flight (lookahead {})",
            roles.index(), stats.windows_served, stats.messages, stats.forward_s, wall, stats.max_in_flight,
            cfg.distill.lookahead);
  const bool preempted = students_end < pool.plan().total_steps && options.stop_after_step == 0;
  return preempted ? kExitPreempted : 0;
}

// The LM student's targets spec: the data's vocabulary and tokenizer, checked against its head.
LmTargetsSpec lm_student_spec(const Config& cfg, const StudentTrainer& trainer) {
  const LmTargetsSpec spec = lm_job_targets_spec(cfg);
  const auto& model = dynamic_cast<const LlamaModel&>(trainer.network());
  if (model.config().vocab_size != spec.vocab)
    RETORT_INPUT_ERROR(fmt::format("the student's head has {} rows, but the teacher's targets cover the data's "
                                   "vocabulary of {}: distil into a student with vocab_size {}",
                                   model.config().vocab_size, spec.vocab, spec.vocab));
  return spec;
}

// Teacher index 0 measures the teacher once; every rank learns the result.
nlohmann::json share_teacher_eval(const comm::Roles& roles, TeacherPool* pool) {
  double values[3] = {0, 0, 0};
  if (pool && roles.index() == 0) {
    const EvalResult r = pool->evaluate_teacher();
    values[0] = r.accuracy, values[1] = static_cast<double>(r.errors), values[2] = r.loss;
    log::info("teacher: test accuracy {:.4f} ({} errors), test loss {:.4f}", r.accuracy, r.errors, r.loss);
  }
  comm::Group(roles.world()).broadcast(values, 3, roles.table().teacher_rank(0));
  return {{"teacher_test_accuracy", values[0]}, {"teacher_test_errors", static_cast<int64_t>(values[1])},
          {"teacher_test_loss", values[2]}};
}

int run_teacher_rank(const Config& cfg, comm::World& world, const comm::Roles& roles, const DistillOptions& options) {
  Watchdog watchdog(cfg.train.step_timeout_s, fmt::format("teacher {} (rank {})", roles.index(), roles.rank()),
                    abort_job_on_expiry(world));
  const std::shared_ptr<Compute> compute = make_teacher_compute(cfg);
  TeacherPool pool(cfg, compute);
  share_teacher_eval(roles, &pool);
  int64_t first_step = 0;
  comm::Group(roles.world()).broadcast(first_step, roles.table().student_rank(0));
  const int64_t end_step = options.stop_after_step > 0 ? std::min(options.stop_after_step, pool.plan().total_steps)
                                                       : pool.plan().total_steps;
  const int64_t rows = cfg.train.batch_size / cfg.cluster.students;
  auto channel = teacher_channel(cfg, roles, channel_config(cfg, first_step, rows, pool.model().classes()), compute);
  MetricsWriter metrics((fs::path(cfg.run.out_dir) / fmt::format("teacher-{}.metrics.jsonl", roles.index())).string());
  const auto start = std::chrono::steady_clock::now();
  auto log_step = [&](int64_t step, const TeacherStats& s) {
    if ((step + 1) % cfg.train.log_every_steps != 0 && step + 1 != end_step) return;
    const comm::ChannelStats cs = channel->stats();
    metrics.write({{"kind", "teacher"}, {"teacher", roles.index()}, {"step", step + 1}, {"rows_served", s.rows_served},
                   {"messages", s.messages}, {"forward_s", s.forward_s}, {"send_wait_s", s.send_wait_s},
                   {"queue_depth", cs.in_flight}, {"max_in_flight", s.max_in_flight}, {"lookahead", cfg.distill.lookahead}});
  };
  StudentsEndNotice notice(roles);
  TeacherPool::ServeHooks hooks;
  hooks.beat = [&](int64_t step, const char* phase) { watchdog.beat(step, phase); };
  hooks.after_step = log_step;
  hooks.students_end = [&] { return notice.poll(); };
  const TeacherStats stats = pool.serve(roles.table(), roles.index(), first_step, end_step, *channel, hooks);
  watchdog.beat(end_step, "waiting for the students' end notice");
  int64_t students_end = -1;
  while ((students_end = notice.poll()) < 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log::info("teacher {}: served {} rows in {} messages, forward {:.1f} s of {:.1f} s, max {} in flight (lookahead {})",
            roles.index(), stats.rows_served, stats.messages, stats.forward_s, wall, stats.max_in_flight,
            cfg.distill.lookahead);
  // Students that stopped before the end without being asked to (--stop-after-step) were
  // preempted: the teacher reports the same documented exit code.
  const bool preempted = students_end < pool.plan().total_steps && options.stop_after_step == 0;
  return preempted ? kExitPreempted : 0;
}

// Student rank 0 tells every teacher after how many steps the students stopped.
std::function<void(int64_t)> end_announcer(const comm::Roles& roles, const StudentTrainer& trainer) {
  return [&roles, &trainer](int64_t end_step) {
    if (trainer.rank() != 0) return;
    for (int t = 0; t < roles.table().teachers(); ++t)
      comm::Group(roles.world()).send(end_step, roles.table().teacher_rank(t), kStudentsEndTag);
  };
}

// Online (roles: the LM teacher pool over the channel) or offline (the LM targets cache).
int run_lm_student_rank(const Config& cfg, const comm::Roles* roles, StudentTrainer& trainer,
                        const DistillOptions& options) {
  const LmTargetsSpec spec = lm_student_spec(cfg, trainer);
  std::unique_ptr<LmTargetSource> source;
  if (roles) {
    int64_t first_step = trainer.start_step();
    comm::Group(roles->world()).broadcast(first_step, roles->table().student_rank(0));
    const std::shared_ptr<Compute> compute = trainer.network().compute_ptr();
    auto channel =
        student_channel(cfg, *roles, lm_channel_config(cfg, first_step, spec, trainer.rows_per_rank()), compute);
    // The LM targets are read on the host (LmOnlineSource): a device channel's payloads come down.
    if (device_logits(cfg)) channel = download_payloads(compute, std::move(channel));
    source = make_lm_online_source(std::move(channel), spec, end_announcer(*roles, trainer));
  } else {
    if (cfg.teacher.checkpoint.empty())
      RETORT_INPUT_ERROR("teacher.checkpoint: required with teacher.source: cache (the cache must be of this teacher)");
    const int64_t windows = load_token_splits(cfg).train.count;
    source = make_lm_cache_source(std::make_unique<LmCacheReader>(
        cfg.teacher.cache_dir, spec, lm_data_fingerprint(cfg, windows, spec.tokenizer_hash),
        lm_teacher_fingerprint(cfg.teacher.checkpoint)));
  }
  LmDistillObjective objective(cfg.distill, std::move(source));
  const int rc = trainer.run(objective, options.stop_after_step);
  const nlohmann::json s = objective.source().stats();
  const double tokens =
      static_cast<double>(std::max<int64_t>(1, s.value("messages", int64_t{0}) * trainer.rows_per_rank() * spec.seq_len));
  log::info("student {}: received {} messages, {:.1f} bytes/token, waited {:.2f} s for teacher targets", trainer.rank(),
            s.value("messages", int64_t{0}), s.value("bytes", int64_t{0}) / tokens, s.value("wait_s", 0.0));
  return rc;
}

int run_student_rank(const Config& cfg, comm::World& world, const comm::Roles* roles, comm::Group students,
                     const DistillOptions& options) {
  Watchdog watchdog(cfg.train.step_timeout_s, fmt::format("student (rank {})", world.rank()), abort_job_on_expiry(world));
  StudentTrainer trainer(cfg, students);
  trainer.set_watchdog(&watchdog);
  if (is_lm(cfg)) return run_lm_student_rank(cfg, roles, trainer, options);
  const int64_t vocab = trainer.model().classes();
  nlohmann::json extra;
  std::unique_ptr<TeacherSource> source;
  if (roles) {
    extra = share_teacher_eval(*roles, nullptr);
    int64_t first_step = trainer.start_step();
    comm::Group(roles->world()).broadcast(first_step, roles->table().student_rank(0));
    const std::shared_ptr<Compute> compute = trainer.model().compute_ptr();
    source = make_online_source(
        student_channel(cfg, *roles, channel_config(cfg, first_step, trainer.rows_per_rank(), vocab), compute), vocab,
        end_announcer(*roles, trainer), device_logits(cfg) ? compute->device() : Device::cpu);
  } else {
    const CacheSpec expected = expected_cache_spec(cfg, trainer.data().train.size, vocab,
                                                   teacher_fingerprint(cfg.teacher.checkpoint));
    source = make_cache_source(std::make_unique<LogitsCacheReader>(cfg.teacher.cache_dir, expected));
  }
  DistillObjective objective(cfg.distill, std::move(source), trainer.model().compute_ptr());
  const int rc = trainer.run(objective, options.stop_after_step, extra);
  const nlohmann::json s = objective.source().stats();
  const double samples = static_cast<double>(std::max<int64_t>(1, s.value("messages", int64_t{0}) * trainer.rows_per_rank()));
  log::info("student {}: received {} messages, {:.1f} bytes/sample, waited {:.2f} s for teacher logits",
            trainer.rank(), s.value("messages", int64_t{0}), s.value("bytes", int64_t{0}) / samples, s.value("wait_s", 0.0));
  return rc;
}

}  // namespace

int run_distill(const Config& cfg, comm::World& world, const DistillOptions& options) {
  validate_distill(cfg);
  if (!cfg.online_teachers()) {
    log::set_identity(world.size() > 1 ? world.rank() : -1, "student");
    return run_student_rank(cfg, world, nullptr, world.comm(), options);
  }
  comm::Roles roles(world, roles_config(cfg));
  log::set_identity(world.rank(), comm::role_name(roles.role()));
  roles.print_table(comm::parse_transport(cfg.logits_transport()), comm::parse_transport(cfg.gradient_transport()));
  if (roles.is_teacher()) return is_lm(cfg) ? run_lm_teacher_rank(cfg, world, roles, options)
                                            : run_teacher_rank(cfg, world, roles, options);
  return run_student_rank(cfg, world, &roles, roles.students(), options);
}

int run_cached_students(const Config& cfg, comm::World& world, comm::Group students, const DistillOptions& options) {
  validate_distill(cfg);
  if (cfg.online_teachers()) RETORT_INPUT_ERROR("run_cached_students: the config has online teachers (teacher.source: cache needed)");
  return run_student_rank(cfg, world, nullptr, students, options);
}

void check_teach_world_size(const Config& cfg, int world_size) {
  if (cfg.cluster.teachers != world_size)
    RETORT_INPUT_ERROR(fmt::format("{}: cluster.teachers: retort teach runs {} teacher ranks, but the MPI world has {}",
                                   cfg.source_file, cfg.cluster.teachers, world_size));
}

int run_teach(const Config& cfg, comm::World& world) {
  if (!cfg.teacher.present || cfg.teacher.cache_dir.empty())
    RETORT_INPUT_ERROR("teacher.cache_dir: retort teach needs a teacher: section with cache_dir (where to write the cache)");
  validate_training(cfg);
  if (is_lm(cfg)) return run_lm_teach(cfg, world);
  log::set_identity(world.size() > 1 ? world.rank() : -1, "teacher");
  TeacherPool pool(cfg);
  const CacheSpec spec = expected_cache_spec(cfg, pool.data().train.size, pool.model().classes(),
                                             teacher_fingerprint(cfg.teacher.checkpoint));
  fs::create_directories(cfg.teacher.cache_dir);
  TeachStop stop(cfg.teacher.cache_dir, world);  // a stop signal ends the job at a shard boundary, exit 75
  const auto start = std::chrono::steady_clock::now();
  const std::vector<nlohmann::json> mine =
      pool.write_cache_shards(cfg.teacher.cache_dir, spec, world.rank(), world.size(), [&] { return stop.requested(); });
  if (stop.any_rank_stopped(mine.size())) return kExitPreempted;
  // Rank 0 collects every rank's index entries (as JSON text) and writes index.json last, so a
  // cache without its index is visibly incomplete.
  const std::vector<std::string> texts = comm::Group(world.comm()).gather(nlohmann::json(mine).dump(), 0);
  if (world.rank() != 0) return 0;
  std::vector<nlohmann::json> entries(static_cast<size_t>(shard_count(spec)));
  for (const std::string& text : texts)
    for (const auto& e : nlohmann::json::parse(text))
      entries[static_cast<size_t>(e.at("first").get<int64_t>() / spec.shard_rows)] = e;
  write_cache_index(cfg.teacher.cache_dir, spec, entries);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log::info("wrote {}/index.json: {} samples in {} shards ({}), {:.1f} s", cfg.teacher.cache_dir, spec.samples,
            entries.size(), spec.topk ? fmt::format("top-{}", spec.topk) : std::string("dense"), wall);
  return 0;
}

}  // namespace retort::core

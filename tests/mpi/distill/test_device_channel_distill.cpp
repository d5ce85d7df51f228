// The GPU distillation path without a GPU (issue #15): a teacher on a device Compute, its
// targets uploaded to device memory and sent through the channel protocol over device-buffer
// slots (the NCCL slot transport's shape, tests/mpi/distill/fake_device_slots.h), and a student
// on a device Compute whose loss reads them in device memory. N ranks: teachers 0..N-2 (taking
// turns by step), student N-1.
// The contract checked: the fake device runs the CPU kernels, so the student's weights after
// several steps are bitwise those of the CPU path (CPU teacher, MPI host slots, CPU student);
// with the CUDA batch-invariant linear on the SIMT emulator as the teacher they are bitwise too,
// since every teacher layer's input width is a multiple of 8 (the invariant kernels' shared
// contract, kernels/linear_invariant.h). For an LM teacher (the CPU-kernel fake device) the
// student's received targets are bitwise those of the CPU teacher.
#include "tests/unit/transformer_cuda/emulated_cuda_compute.h"
// The emulator's built-ins must come first.
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <mpi.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include "comm/channel_protocol.h"
#include "comm/mpi/mpi_slots.h"
#include "comm/roles.h"
#include "comm/world.h"
#include "core/checkpoint/checkpoint.h"
#include "core/config/load.h"
#include "core/distill/device_channel.h"
#include "core/distill/distill_objective.h"
#include "core/distill/lm_online_source.h"
#include "core/distill/lm_teacher_pool.h"
#include "core/distill/lm_wire.h"
#include "core/distill/teacher_pool.h"
#include "core/distill/teacher_source.h"
#include "tests/mpi/distill/fake_device_slots.h"
#include "tests/support/student_steps.h"
#include "tests/support/tiny_llama.h"
#include "tests/unit/engine_compute/fake_device_compute.h"

using namespace retort;
using namespace retort::core;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kSteps = 4;

// Every rank but the last is a teacher; one student.
comm::RolesConfig teachers_and_a_student(int world_size) {
  comm::RolesConfig rc;
  rc.teachers = world_size - 1;
  rc.students = 1;
  return rc;
}

// Where the channel's payloads live: host buffers (MPI slots) or a device Compute's memory.
struct Ends {
  std::shared_ptr<Compute> teacher, student;
  bool device_slots = false;
};

comm::ChannelConfig mlp_channel(const Config& cfg, int64_t vocab) {
  comm::ChannelConfig cc;
  cc.lookahead = 2;
  const auto kind = cfg.distill.topk ? comm::PayloadKind::topk : comm::PayloadKind::dense;
  const DType dtype = parse_dtype(cfg.distill.wire_dtype);
  cc.max_payload_bytes = comm::payload_layout(kind, dtype, cfg.train.batch_size, vocab, cfg.distill.topk).bytes;
  cc.timeout_s = 60;
  cc.expect.rows = cfg.train.batch_size;
  cc.expect.vocab = vocab;
  cc.expect.kind = kind;
  cc.expect.k = cfg.distill.topk;
  cc.expect.dtype = dtype;
  return cc;
}

std::unique_ptr<comm::TeacherChannel> teacher_channel(const comm::Roles& roles, const comm::ChannelConfig& cc,
                                                      const Ends& ends) {
  if (!ends.device_slots)
    return comm::make_protocol_teacher_channel(roles, cc, comm::make_mpi_send_slots(), "");
  auto slots = std::make_unique<test::FakeDeviceSendSlots>(ends.teacher, cc.max_payload_bytes);
  return upload_payloads(ends.teacher, comm::make_protocol_teacher_channel(roles, cc, std::move(slots), " (device)"));
}

std::unique_ptr<comm::StudentChannel> student_channel(const comm::Roles& roles, const comm::ChannelConfig& cc,
                                                      const Ends& ends) {
  if (!ends.device_slots) return comm::make_protocol_student_channel(roles, cc, comm::make_mpi_recv_slots(cc), "");
  auto slots = std::make_unique<test::FakeDeviceRecvSlots>(ends.student, cc.max_payload_bytes);
  return comm::make_protocol_student_channel(roles, cc, std::move(slots), " (device)");
}

// The MLP job of every variant: Fashion-MNIST subset, teacher 784 -> 96 -> 40 -> 10.
Config mlp_job(const fs::path& dir, int64_t topk, int64_t teachers) {
  Config cfg;
  cfg.run.seed = 3;
  cfg.data.train_fraction = 0.02;
  cfg.train.batch_size = 32;
  cfg.cluster.teachers = teachers;
  cfg.cluster.students = 1;
  cfg.teacher.present = true;
  cfg.teacher.checkpoint = (dir / "teacher.safetensors").string();
  cfg.distill.topk = topk;
  cfg.distill.targets = topk ? "topk" : "dense";
  cfg.distill.wire_dtype = topk ? "bf16" : "fp32";
  cfg.distill.alpha = 0.25;
  return cfg;
}

// The teachers serve kSteps steps; the student trains kSteps steps on them (its result).
test::StudentSteps run_mlp(const comm::Roles& roles, const Config& cfg, const Ends& ends) {
  if (roles.is_teacher()) {
    TeacherPool pool(cfg, ends.teacher);
    auto channel = teacher_channel(roles, mlp_channel(cfg, pool.model().classes()), ends);
    pool.serve(roles.table(), roles.index(), 0, kSteps, *channel, {});
    return {};
  }
  const int64_t vocab = 10;
  auto source = make_online_source(student_channel(roles, mlp_channel(cfg, vocab), ends), vocab, {},
                                   ends.device_slots ? Device::cuda : Device::cpu);
  DistillObjective objective(cfg.distill, std::move(source), ends.student);
  return test::train_student_steps(cfg, ends.student, objective, kSteps);
}

fs::path shared_dir(const comm::World& world, const std::string& name) {
  int64_t tag = world.rank() == 0 ? static_cast<int64_t>(getpid()) : 0;
  MPI_Bcast(&tag, 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
  return fs::temp_directory_path() / fmt::format("retort-{}-{}", name, tag);
}

}  // namespace

TEST_CASE("MLP: device teacher -> device-slot channel -> device student equals the CPU path bitwise",
          "[distill][device][mpi]") {
  comm::World world(nullptr, nullptr);
  REQUIRE(world.size() >= 2);
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) FAIL("Fashion-MNIST is missing (launch/setup.sh installs it)");
  const fs::path dir = shared_dir(world, "device-channel-mlp");
  if (world.rank() == 0) {
    fs::create_directories(dir);
    ModelConfig tm;
    tm.hidden = {96, 40};
    Model teacher(ModelSpec{tm, 784, 10});
    teacher.initialize(11);
    save_model(teacher, (dir / "teacher.safetensors").string());
  }
  MPI_Barrier(MPI_COMM_WORLD);
  comm::Roles roles(world, teachers_and_a_student(world.size()));

  for (const int64_t topk : {int64_t{0}, int64_t{3}}) {
    CAPTURE(topk);
    const Config cfg = mlp_job(dir, topk, world.size() - 1);
    const test::StudentSteps cpu = run_mlp(roles, cfg, {cpu_compute_batch_invariant(), cpu_compute(), false});

    auto fake_teacher = std::make_shared<test::FakeDeviceCompute>(/*batch_invariant=*/true);
    auto fake_student = std::make_shared<test::FakeDeviceCompute>();
    const test::StudentSteps fake = run_mlp(roles, cfg, {fake_teacher, fake_student, true});

    auto emulated_teacher = std::make_shared<test::EmulatedCudaCompute>(/*batch_invariant=*/true);
    auto fake_student2 = std::make_shared<test::FakeDeviceCompute>();
    const test::StudentSteps emulated = run_mlp(roles, cfg, {emulated_teacher, fake_student2, true});

    if (roles.is_teacher()) {
      // This teacher's steps (teachers take turns): its host-encoded targets went up to the device.
      int64_t served = 0;
      for (int64_t step = 0; step < kSteps; ++step) served += roles.table().teacher_for(0, step) == roles.index();
      REQUIRE(served > 0);
      REQUIRE(fake_teacher->uploads >= served);
      REQUIRE(emulated_teacher->invariant_linears == 3 * served);
      continue;
    }
    REQUIRE(fake_student->device_teachers == kSteps);  // the loss read the targets in device memory
    REQUIRE(fake_student2->device_teachers == kSteps);
    REQUIRE(cpu.losses.size() == static_cast<size_t>(kSteps));
    REQUIRE(fake.losses == cpu.losses);
    REQUIRE(emulated.losses == cpu.losses);
    REQUIRE(fake.params.size() == cpu.params.size());
    REQUIRE(std::memcmp(fake.params.data(), cpu.params.data(), cpu.params.size() * sizeof(float)) == 0);
    REQUIRE(std::memcmp(emulated.params.data(), cpu.params.data(), cpu.params.size() * sizeof(float)) == 0);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (world.rank() == 0) fs::remove_all(dir);
}

namespace {

// Every field of the targets the student received, as bytes, step after step.
void append_targets(std::vector<uint8_t>& out, const LmTargets& t) {
  auto add = [&out](const void* p, size_t bytes) {
    const auto* b = static_cast<const uint8_t*>(p);
    out.insert(out.end(), b, b + bytes);
  };
  const int64_t fields[] = {static_cast<int64_t>(t.kind), t.rows, t.vocab, t.k};
  add(fields, sizeof fields);
  add(t.values.data(), t.values.size());
  add(t.indices.data(), t.indices.size() * sizeof(uint32_t));
  add(t.lse.data(), t.lse.size() * sizeof(float));
  add(t.counts.data(), t.counts.size() * sizeof(uint16_t));
  add(t.log_probs.data(), t.log_probs.size() * sizeof(float));
}

// Rank 0: the LM pool serves kSteps steps; rank 1: the targets it received (downloaded from the
// device slots by download_payloads when they are device memory).
std::vector<uint8_t> run_lm(const comm::Roles& roles, const Config& cfg, const Ends& ends) {
  const LmTargetsSpec spec = lm_job_targets_spec(cfg);
  const int64_t rows = cfg.train.batch_size * cfg.data.seq_len;
  comm::ChannelConfig cc;
  cc.lookahead = 2;
  cc.max_payload_bytes = lm_payload_bytes(spec, rows);
  cc.timeout_s = 60;
  cc.expect = lm_payload_expect(spec, rows);
  std::vector<uint8_t> received;
  if (roles.is_teacher()) {
    LmTeacherPool pool(cfg, ends.teacher);
    auto channel = teacher_channel(roles, cc, ends);
    pool.serve(roles.table(), roles.index(), 0, kSteps, *channel, {});
    return received;
  }
  auto channel = student_channel(roles, cc, ends);
  if (ends.device_slots) channel = download_payloads(ends.student, std::move(channel));
  auto source = make_lm_online_source(std::move(channel), spec, {});
  const Sampler sampler(static_cast<uint64_t>(cfg.run.seed), cfg.data.copy_train_size, cfg.train.batch_size);
  for (int64_t step = 0; step < kSteps; ++step) {
    const auto ids = sampler.ids(0, step, 0, 1);
    append_targets(received, source->fetch(step, ids));
  }
  source->close(kSteps);
  return received;
}

}  // namespace

TEST_CASE("LM: device teacher -> device-slot channel -> student targets equal the CPU path bitwise",
          "[distill][device][mpi][lm]") {
  comm::World world(nullptr, nullptr);
  REQUIRE(world.size() >= 2);
  const fs::path dir = shared_dir(world, "device-channel-lm");
  const std::string teacher = (dir / "teacher.safetensors").string();
  if (world.rank() == 0) {
    fs::create_directories(dir);
    test::save_tiny_llama_teacher(teacher);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  comm::Roles roles(world, teachers_and_a_student(world.size()));
  for (const char* distill : {"targets: dense", "targets: topk, topk: 3", "targets: sampled, samples: 5"}) {
    CAPTURE(distill);
    const Config cfg = test::tiny_copy_distill_job(teacher, distill, world.size() - 1, 1, 4);
    const auto cpu = run_lm(roles, cfg, {cpu_compute_batch_invariant(), cpu_compute(), false});
    auto fake_teacher = std::make_shared<test::FakeDeviceCompute>(/*batch_invariant=*/true);
    auto fake_student = std::make_shared<test::FakeDeviceCompute>();
    const auto fake = run_lm(roles, cfg, {fake_teacher, fake_student, true});
    if (roles.is_teacher()) {
      REQUIRE(fake_teacher->uploads > 0);
      continue;
    }
    REQUIRE(fake_student->downloads >= kSteps);  // the targets came from the student's device slots
    REQUIRE(!cpu.empty());
    REQUIRE(fake == cpu);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (world.rank() == 0) fs::remove_all(dir);
}

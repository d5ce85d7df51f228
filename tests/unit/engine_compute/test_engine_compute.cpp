// The engine's one dispatch point without a GPU: a model and optimizer on a separate-memory
// Compute (fake_device_compute.h) must train bitwise like the CPU ones, hand only device
// pointers to kernels, keep host views coherent lazily; device selection and validation.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "core/base/error.h"
#include "core/config/load.h"
#include "core/model/model.h"
#include "core/optim/optimizer.h"
#include "core/train/device.h"
#include "tests/unit/engine_compute/fake_device_compute.h"

using namespace retort::core;
using retort::core::test::FakeDeviceCompute;

namespace {

ModelSpec teacher_like_spec() {  // the teacher's shape in small: dropout, max-norm
  ModelSpec s;
  s.config.hidden = {24, 16};
  s.config.input_dropout = 0.2;
  s.config.dropout = 0.5;
  s.config.max_norm = 0.9;
  s.in_features = 20;
  s.classes = 7;
  return s;
}

struct Batch {
  std::vector<float> x;
  std::vector<int32_t> y;
  std::vector<uint64_t> ids;
};

Batch make_batch(int64_t rows, int64_t in, int64_t classes, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> n;
  Batch b;
  for (int64_t i = 0; i < rows * in; ++i) b.x.push_back(n(g));
  for (int64_t r = 0; r < rows; ++r) {
    b.y.push_back(static_cast<int32_t>(g() % classes));
    b.ids.push_back(1000 + seed * 64 + static_cast<uint64_t>(r));
  }
  return b;
}

// `steps` steps of forward, softmax-CE, backward, optimizer, max-norm on the model's Compute;
// returns the loss sums.
std::vector<double> train(Model& model, Optimizer& opt, int steps, int64_t rows) {
  std::vector<double> losses;
  for (int s = 0; s < steps; ++s) {
    const Batch b = make_batch(rows, model.in_features(), model.classes(), static_cast<uint32_t>(s));
    BatchContext ctx{rows, true, b.ids.data(), 7, static_cast<uint64_t>(s / 2)};
    const float* logits = model.forward(b.x.data(), ctx);
    const auto r = model.compute().softmax_xent(logits, b.y.data(), model.dlogits(), rows, model.classes(),
                                                1.f / static_cast<float>(rows));
    losses.push_back(r.loss_sum);
    model.backward(model.dlogits(), ctx);
    const auto info = opt.step(model.device_params(), model.device_grads(), 0.05);
    REQUIRE(info.applied);
    model.apply_constraints();
  }
  return losses;
}

std::vector<float> copy_of(std::span<const float> s) { return {s.begin(), s.end()}; }

}  // namespace

TEST_CASE("a model on a separate-memory compute trains bitwise like the CPU model", "[engine][compute]") {
  for (const std::string optimizer : {"sgd", "adamw"}) {
    auto fake = std::make_shared<FakeDeviceCompute>();
    Model cpu(teacher_like_spec()), dev(teacher_like_spec(), fake);
    cpu.initialize(3);
    dev.initialize(3);
    OptimConfig oc;
    oc.name = optimizer;
    oc.weight_decay = 0.01;
    oc.clip_grad_norm = 0.5;
    Optimizer cpu_opt(oc, cpu.num_params()), dev_opt(oc, dev.num_params(), fake);
    const auto cpu_losses = train(cpu, cpu_opt, 6, 9);
    const auto dev_losses = train(dev, dev_opt, 6, 9);
    REQUIRE(cpu_losses == dev_losses);
    REQUIRE(copy_of(std::as_const(cpu).params()) == copy_of(std::as_const(dev).params()));
    REQUIRE(copy_of(cpu.grads()) == copy_of(dev.grads()));
    auto cs = cpu_opt.state(), ds = dev_opt.state();
    REQUIRE(cs.size() == ds.size());
    for (size_t i = 0; i < cs.size(); ++i) REQUIRE(copy_of(cs[i].data) == copy_of(ds[i].data));
    // Evaluation mode (no dropout) through the same path.
    const Batch b = make_batch(5, cpu.in_features(), cpu.classes(), 99);
    BatchContext ctx;
    ctx.rows = 5;
    const auto rc = cpu.compute().softmax_xent(cpu.forward(b.x.data(), ctx), b.y.data(), nullptr, 5, 7, 1.f);
    const auto rd = dev.compute().softmax_xent(dev.forward(b.x.data(), ctx), b.y.data(), nullptr, 5, 7, 1.f);
    REQUIRE(rc.loss_sum == rd.loss_sum);
    REQUIRE(rc.correct == rd.correct);
  }
}

TEST_CASE("logits and dlogits live in compute memory; host x is uploaded", "[engine][compute]") {
  auto fake = std::make_shared<FakeDeviceCompute>();
  Model m(teacher_like_spec(), fake);
  m.initialize(1);
  const Batch b = make_batch(4, m.in_features(), m.classes(), 1);
  BatchContext ctx{4, true, b.ids.data(), 1, 0};
  const int uploads = fake->uploads;
  const float* logits = m.forward(b.x.data(), ctx);
  REQUIRE(fake->on_device(logits, 4 * 7 * sizeof(float)));
  REQUIRE(fake->on_device(m.dlogits(), 4 * 7 * sizeof(float)));
  REQUIRE(fake->uploads == uploads + 2);  // the initialised parameters, then x
  m.forward(b.x.data(), ctx);
  REQUIRE(fake->uploads == uploads + 3);  // only x: the parameters are current on the device
}

TEST_CASE("host views are coherent lazily: one transfer per change of side", "[engine][compute]") {
  auto fake = std::make_shared<FakeDeviceCompute>();
  Model m(teacher_like_spec(), fake);
  m.initialize(5);
  const std::vector<float> init = copy_of(std::as_const(m).params());
  const Batch b = make_batch(3, m.in_features(), m.classes(), 2);
  BatchContext ctx{3, false, nullptr, 0, 0};
  m.forward(b.x.data(), ctx);  // uploads
  const int down = fake->downloads;
  REQUIRE(copy_of(std::as_const(m).params()) == init);  // in sync: no download
  REQUIRE(fake->downloads == down);
  // A device-side change (as an optimizer step makes) is seen by the next host read, once.
  float* p = m.device_params().data();
  fake->sgd_update(p, p, nullptr, m.num_params(), 0.5f, 0.f, 0.f, false, 1.f);  // p -= 0.5·p
  const auto after = copy_of(std::as_const(m).params());
  REQUIRE(fake->downloads == down + 1);
  for (size_t i = 0; i < init.size(); ++i) REQUIRE(after[i] == init[i] - 0.5f * init[i]);
  copy_of(std::as_const(m).params());
  REQUIRE(fake->downloads == down + 1);
  // A host-side write (a checkpoint restore) reaches the device before the next forward.
  auto host = m.params();
  std::copy(init.begin(), init.end(), host.begin());
  Model ref(teacher_like_spec());
  ref.initialize(5);
  const float* a = m.forward(b.x.data(), ctx);
  std::vector<float> got(3 * 7);
  fake->download(got.data(), a, got.size() * sizeof(float));
  const float* r = ref.forward(b.x.data(), ctx);
  REQUIRE(got == std::vector<float>(r, r + 3 * 7));
}

TEST_CASE("optimizer state written through the host view is used by the next step", "[engine][compute][optim]") {
  auto fake = std::make_shared<FakeDeviceCompute>();
  OptimConfig oc;  // sgd, momentum 0.9, nesterov
  const int64_t n = 37;
  Optimizer dev(oc, n, fake), cpu(oc, n);
  std::vector<float> m0(n);
  for (int64_t i = 0; i < n; ++i) m0[i] = 0.01f * static_cast<float>(i);
  std::copy(m0.begin(), m0.end(), dev.state()[0].data.begin());
  std::copy(m0.begin(), m0.end(), cpu.state()[0].data.begin());
  retort::core::ComputeBuffer p(fake, n), g(fake, n);
  std::vector<float> hp(n, 1.f), hg(n);
  for (int64_t i = 0; i < n; ++i) hg[i] = 0.1f * static_cast<float>(i % 5) - 0.2f;
  fake->upload(p.data(), hp.data(), n * sizeof(float));
  fake->upload(g.data(), hg.data(), n * sizeof(float));
  dev.step({p.data(), p.size()}, {g.data(), g.size()}, 0.1);
  cpu.step(hp, hg, 0.1);
  std::vector<float> got(n);
  fake->download(got.data(), p.data(), n * sizeof(float));
  REQUIRE(got == hp);
  REQUIRE(copy_of(dev.state()[0].data) == copy_of(cpu.state()[0].data));
}

TEST_CASE("the local GPU is the node-local rank modulo the visible devices", "[engine][device]") {
  REQUIRE(local_device_index(0, 4, 0) == 0);
  REQUIRE(local_device_index(5, 4, 9) == 1);
  REQUIRE(local_device_index(3, 1, 3) == 0);
  REQUIRE_THROWS_WITH(local_device_index(0, 0, 6), Catch::Contains("rank 6") && Catch::Contains("no CUDA device"));
}

TEST_CASE("device: is validated with the key named", "[engine][device]") {
  Config c;
  REQUIRE_NOTHROW(validate_device(c));
  REQUIRE(make_compute(c, MPI_COMM_SELF) == cpu_compute());  // cpu needs no MPI call
  c.device = "tpu";
  REQUIRE_THROWS_WITH(validate_device(c), Catch::Contains("device:") && Catch::Contains("tpu"));
  c.device = "cuda";
#ifdef RETORT_HAVE_CUDA
  REQUIRE_NOTHROW(validate_device(c));
  c.transport = "nccl";
  REQUIRE_NOTHROW(validate_device(c));
  c.transport = "mpi";
  REQUIRE_THROWS_WITH(validate_device(c), Catch::Contains("transport: mpi"));
  c.transport = "auto";
  c.teacher.present = true;  // distillation: CUDA students and teachers
  REQUIRE_NOTHROW(validate_device(c));
  c.transport = "nccl";
  REQUIRE_NOTHROW(validate_device(c));
  c.teacher.source = "cache";
  REQUIRE_NOTHROW(validate_device(c));
  c.teacher.source = "online";
  c.teacher.device = "cpu";  // CPU teachers' logits cannot go over the NCCL logits channel
  REQUIRE_THROWS_WITH(validate_device(c), Catch::Contains("transport: nccl carries the teacher logits between GPUs") &&
                                              Catch::Contains("teacher.device is cpu"));
  c.transport = "auto";
  REQUIRE_NOTHROW(validate_device(c));
  c.teacher.device = "auto";
#else
  REQUIRE_THROWS_WITH(validate_device(c), Catch::Contains("no CUDA"));
#endif
  try {
    c.device = "tpu";
    validate_device(c);
    FAIL("no error");
  } catch (const retort::Error& e) {
    REQUIRE(e.kind() == retort::ErrorKind::input);
  }
}

TEST_CASE("transport: auto resolves per pair; nccl is refused where an end is on the CPU", "[engine][device][transport]") {
  Config c;
  REQUIRE(std::string(c.gradient_transport()) == "mpi");
  REQUIRE(std::string(c.logits_transport()) == "mpi");
  c.teacher.present = true;
  c.device = "cuda";  // GPU students, teachers on the job's device: NCCL for logits and gradients
  REQUIRE(c.teacher_device() == "cuda");
  REQUIRE(std::string(c.gradient_transport()) == "nccl");
  REQUIRE(std::string(c.logits_transport()) == "nccl");
  c.teacher.device = "cpu";  // CPU teachers feeding GPU students: logits over MPI
  REQUIRE(std::string(c.logits_transport()) == "mpi");
  REQUIRE(std::string(c.gradient_transport()) == "nccl");
  c.teacher.device = "cuda";
  c.device = "cpu";  // GPU teachers feeding CPU students: everything over MPI
  REQUIRE(std::string(c.logits_transport()) == "mpi");
  REQUIRE(std::string(c.gradient_transport()) == "mpi");
  c.device = "cuda";
  c.teacher.source = "cache";  // no online teachers, no logits channel
  REQUIRE(std::string(c.logits_transport()) == "mpi");

  // The refusals, as `retort config check` prints them (file, line:column, key).
  const std::string teacher = "run: {name: x}\nteacher: {checkpoint: t.safetensors}\n";
  REQUIRE_THROWS_WITH(load_config_text("transport: nccl\n" + teacher, "a.yaml"),
                      Catch::StartsWith("a.yaml:1:12: transport: nccl needs device: cuda"));
  REQUIRE_THROWS_WITH(load_config_text("run: {name: x}\ndevice: cuda\ntransport: nccl\nteacher: {checkpoint: t, device: cpu}\n", "b.yaml"),
                      Catch::StartsWith("b.yaml:3:12: transport: nccl carries the teacher logits between GPUs, but "
                                        "teacher.device is cpu: use transport: auto (logits over mpi, gradients over "
                                        "nccl) or teacher.device: cuda"));
  REQUIRE_NOTHROW(load_config_text("device: cuda\ntransport: nccl\n" + teacher, "c.yaml"));
  REQUIRE_NOTHROW(load_config_text("run: {name: x}\ndevice: cuda\ntransport: auto\nteacher: {checkpoint: t, device: cpu}\n", "d.yaml"));
  REQUIRE_THROWS_WITH(load_config_text("run: {name: x}\nteacher: {checkpoint: t, device: tpu}\n", "e.yaml"),
                      Catch::Contains("teacher.device") && Catch::Contains("tpu"));
  Config d;
  d.teacher.present = true;
  d.teacher.device = "cuda";
#ifndef RETORT_HAVE_CUDA
  REQUIRE_THROWS_WITH(validate_device(d), Catch::StartsWith("teacher.device: cuda, but this build has no CUDA (configure "
                                                            "with RETORT_CUDA=ON and nvcc present)"));
#else
  REQUIRE_NOTHROW(validate_device(d));  // GPU teachers, CPU students
#endif
  d.transport = "nccl";
  REQUIRE_THROWS_WITH(validate_device(d), Catch::StartsWith("transport: nccl needs device: cuda"));
}

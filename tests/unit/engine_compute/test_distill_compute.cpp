// The distillation objective on a separate-memory Compute (fake_device_compute.h): logits and
// dlogits in device memory, the teacher staged by the Compute. Loss, gradient and metrics must
// be bitwise those of the CPU path (which is the kernel call plus the grad_scale loop it always
// was), for dense and top-k teachers and every divergence; a few distillation steps of a model
// and optimizer train bitwise alike.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <tuple>
#include <utility>
#include <vector>

#include "core/distill/distill_objective.h"
#include "core/model/model.h"
#include "core/optim/optimizer.h"
#include "tests/support/numeric.h"
#include "tests/unit/engine_compute/fake_device_compute.h"

using namespace retort::core;
using retort::core::test::FakeDeviceCompute;
namespace kernels = retort::kernels;

namespace {


// Teacher logits of sample id i: a fixed function of i, so any batch sees the same rows.
class FixedTeacherSource final : public TeacherSource {
 public:
  FixedTeacherSource(int64_t vocab, const TeacherEncoding& enc) : vocab_(vocab), enc_(enc) {}
  kernels::TeacherLogits fetch(int64_t /*step*/, std::span<const int64_t> ids) override {
    std::vector<float> rows;
    for (int64_t id : ids) {
      const std::vector<float> r = retort::test::random_normal(static_cast<size_t>(vocab_), static_cast<uint32_t>(id), 3.f);
      rows.insert(rows.end(), r.begin(), r.end());
    }
    encoded_.encode(rows.data(), static_cast<int64_t>(ids.size()), vocab_, enc_);
    ++fetches_;
    return to_kernel_view(encoded_.payload());
  }
  nlohmann::json stats() const override { return {{"messages", fetches_}, {"bytes", 0}}; }
  void close(int64_t /*end_step*/) override {}

 private:
  int64_t vocab_;
  TeacherEncoding enc_;
  EncodedLogits encoded_;
  int64_t fetches_ = 0;
};

std::unique_ptr<TeacherSource> source_for(const DistillConfig& d, int64_t vocab) {
  TeacherEncoding enc;
  enc.topk = d.topk;
  enc.dtype = d.wire_dtype == "bf16" ? retort::DType::bf16 : retort::DType::f32;
  enc.temperature = static_cast<float>(d.temperature);
  return std::make_unique<FixedTeacherSource>(vocab, enc);
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace

TEST_CASE("the distillation objective on device memory equals the CPU one bitwise", "[engine][compute][distill]") {
  const int64_t rows = 6, vocab = 11;
  const float grad_scale = 1.f / 24.f;
  const auto [divergence, topk, tail, wire, alpha] = GENERATE(table<const char*, int64_t, const char*, const char*, double>({
      {"fkl", 0, "bucket", "fp32", 0.1},
      {"rkl", 0, "bucket", "fp32", 0.0},
      {"jsd", 0, "bucket", "bf16", 0.3},
      {"tvd", 0, "bucket", "fp32", 0.1},
      {"fkl", 4, "bucket", "fp32", 0.1},
      {"rkl", 4, "bucket", "bf16", 0.1},
      {"jsd", 3, "renormalize", "fp32", 0.0},
      {"tvd", 4, "renormalize", "fp32", 0.5},
  }));
  CAPTURE(divergence, topk, tail, wire, alpha);
  DistillConfig d;
  d.divergence = divergence;
  d.topk = topk;
  d.tail = tail;
  d.wire_dtype = wire;
  d.alpha = alpha;
  d.temperature = 2.0;

  auto fake = std::make_shared<FakeDeviceCompute>();
  DistillObjective on_cpu(d, source_for(d, vocab)), on_device(d, source_for(d, vocab), fake);

  const std::vector<int64_t> ids = {3, 14, 15, 92, 65, 35};
  std::vector<int32_t> labels(rows);
  for (int64_t r = 0; r < rows; ++r) labels[static_cast<size_t>(r)] = static_cast<int32_t>((ids[r] * 7) % vocab);
  const StepBatch batch{0, 0, ids, labels.data(), rows};
  const std::vector<float> logits = retort::test::random_normal(static_cast<size_t>(rows * vocab), 99, 2.f);

  // CPU path.
  std::vector<float> cpu_dlogits(logits.size(), -1.f);
  const ObjectiveResult cpu = on_cpu.compute(batch, logits.data(), vocab, grad_scale, cpu_dlogits.data());

  // The CPU path is the kernel call followed by the grad_scale loop (what the objective did before
  // it went through a Compute).
  {
    auto source = source_for(d, vocab);
    const kernels::TeacherLogits t = source->fetch(0, ids);
    std::vector<float> ref(logits.size());
    const retort::TensorView z{const_cast<float*>(logits.data()), retort::DType::f32, rows, vocab, retort::Device::cpu};
    const retort::TensorView dz{ref.data(), retort::DType::f32, rows, vocab, retort::Device::cpu};
    const kernels::KdLossResult r = kernels::kd_loss(z, t, labels.data(), dz, kd_params_from(d));
    for (float& g : ref) g *= grad_scale;
    REQUIRE(same_bits(cpu.loss_sum, r.loss));
    REQUIRE(same_bits(cpu_dlogits, ref));
  }

  // Device path: logits and dlogits in fake-device memory.
  ComputeBuffer dev_logits(fake, logits.size()), dev_dlogits(fake, logits.size());
  fake->upload(dev_logits.data(), logits.data(), dev_logits.bytes());
  const int downloads = fake->downloads;
  const ObjectiveResult dev = on_device.compute(batch, dev_logits.data(), vocab, grad_scale, dev_dlogits.data());
  // The entropy and agreement metrics and the logits for the accuracy count come to the host by
  // download (the fake's memory is readable host memory, so a direct read would go unnoticed).
  REQUIRE(fake->downloads == downloads + 3);
  std::vector<float> dev_dlogits_host(logits.size());
  fake->download(dev_dlogits_host.data(), dev_dlogits.data(), dev_dlogits.bytes());

  REQUIRE(std::isfinite(cpu.loss_sum));
  REQUIRE(cpu.loss_sum > 0);
  REQUIRE(!cpu.nonfinite);
  REQUIRE(same_bits(dev.loss_sum, cpu.loss_sum));
  REQUIRE(dev.correct == cpu.correct);
  REQUIRE(dev.nonfinite == cpu.nonfinite);
  REQUIRE(same_bits(dev_dlogits_host, cpu_dlogits));
  REQUIRE(std::any_of(cpu_dlogits.begin(), cpu_dlogits.end(), [](float g) { return g != 0.f; }));

  // The window metrics (kd, ce, teacher agreement and entropy) come out the same.
  nlohmann::json cpu_record, dev_record;
  on_cpu.report(cpu_record, 1.0);
  on_device.report(dev_record, 1.0);
  for (const char* key : {"kd", "ce", "teacher_agreement", "teacher_entropy"}) {
    CAPTURE(key);
    REQUIRE(same_bits(dev_record.at(key).get<double>(), cpu_record.at(key).get<double>()));
  }
  REQUIRE(cpu_record.at("teacher_entropy").get<double>() > 0);
}

TEST_CASE("the device kd_loss reads teacher logits already in device memory where they are", "[engine][compute][distill]") {
  auto fake = std::make_shared<FakeDeviceCompute>();
  const int64_t rows = 2, vocab = 5;
  std::vector<float> host_z(rows * vocab), host_t(rows * vocab);
  for (size_t i = 0; i < host_z.size(); ++i) host_z[i] = 0.3f * static_cast<float>(i % 7) - 1.f, host_t[i] = 0.2f * static_cast<float>(i % 5);
  ComputeBuffer z(fake, rows * vocab), dz(fake, rows * vocab), t(fake, rows * vocab);
  fake->upload(z.data(), host_z.data(), z.bytes());
  fake->upload(t.data(), host_t.data(), t.bytes());
  const auto on_device = kernels::TeacherLogits::dense(
      retort::TensorView{t.data(), retort::DType::f32, rows, vocab, retort::Device::cuda});
  const auto on_host = kernels::TeacherLogits::dense(
      retort::TensorView{host_t.data(), retort::DType::f32, rows, vocab, retort::Device::cpu});
  const int uploads = fake->uploads;
  const auto a = fake->kd_loss(z.data(), on_device, nullptr, dz.data(), rows, vocab, kernels::KdLossParams{}, 1.f, {});
  REQUIRE(fake->uploads == uploads);  // read in place: nothing staged
  REQUIRE(fake->device_teachers == 1);
  const auto b = fake->kd_loss(z.data(), on_host, nullptr, dz.data(), rows, vocab, kernels::KdLossParams{}, 1.f, {});
  REQUIRE(fake->uploads == uploads + 1);  // a host teacher is staged
  REQUIRE(a.loss == b.loss);
  // A view that says device but points at host memory is a bug the fake device catches.
  const auto mislabeled = kernels::TeacherLogits::dense(
      retort::TensorView{host_t.data(), retort::DType::f32, rows, vocab, retort::Device::cuda});
  REQUIRE_THROWS_WITH(fake->kd_loss(z.data(), mislabeled, nullptr, dz.data(), rows, vocab, kernels::KdLossParams{}, 1.f, {}),
                      Catch::Contains("teacher all on the host or all on the device"));
}

TEST_CASE("a few distillation steps on device memory train bitwise like the CPU", "[engine][compute][distill]") {
  ModelSpec spec;
  spec.config.hidden = {16};
  spec.config.dropout = 0.25;
  spec.in_features = 12;
  spec.classes = 9;
  OptimConfig oc;
  oc.name = "adamw";
  DistillConfig d;
  d.topk = 4;
  d.divergence = "jsd";

  auto fake = std::make_shared<FakeDeviceCompute>();
  Model cpu(spec), dev(spec, fake);
  cpu.initialize(5);
  dev.initialize(5);
  Optimizer cpu_opt(oc, cpu.num_params()), dev_opt(oc, dev.num_params(), fake);
  DistillObjective cpu_obj(d, source_for(d, spec.classes)), dev_obj(d, source_for(d, spec.classes), fake);
  const int64_t rows = 5;
  const int uploads_before = fake->uploads;
  for (int step = 0; step < 4; ++step) {
    std::vector<int64_t> ids;
    std::vector<uint64_t> keys;
    std::vector<int32_t> labels;
    for (int64_t r = 0; r < rows; ++r) {
      ids.push_back(step * 10 + r);
      keys.push_back(static_cast<uint64_t>(500 + step * 10 + r));
      labels.push_back(static_cast<int32_t>((step + r) % spec.classes));
    }
    const std::vector<float> x = retort::test::random_normal(static_cast<size_t>(rows * spec.in_features), static_cast<uint32_t>(7 + step));
    const StepBatch batch{step, 0, ids, labels.data(), rows};
    double losses[2];
    int i = 0;
    for (auto [model, opt, obj] : {std::tuple{&cpu, &cpu_opt, &cpu_obj}, std::tuple{&dev, &dev_opt, &dev_obj}}) {
      BatchContext ctx{rows, true, keys.data(), 3, static_cast<uint64_t>(step)};
      const float* logits = model->forward(x.data(), ctx);
      const ObjectiveResult r = obj->compute(batch, logits, spec.classes, 1.f / rows, model->dlogits());
      REQUIRE(!r.nonfinite);
      losses[i++] = r.loss_sum;
      model->backward(model->dlogits(), ctx);
      REQUIRE(opt->step(model->device_params(), model->device_grads(), 0.01).applied);
    }
    CAPTURE(step);
    REQUIRE(same_bits(losses[0], losses[1]));
  }
  REQUIRE(fake->uploads > uploads_before);
  const std::span<const float> a = std::as_const(cpu).params(), b = std::as_const(dev).params();
  REQUIRE(std::memcmp(a.data(), b.data(), a.size_bytes()) == 0);
}

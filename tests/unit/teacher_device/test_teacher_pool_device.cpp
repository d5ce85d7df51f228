// TeacherPool on a device Compute: the teacher's weights are placed in device memory, its
// forward runs there (batch-invariant through BatchContext) and the logits are downloaded before
// encoding. On the fake device (the CPU kernels behind separate, checked memory) the encoded
// records equal the CPU teacher's bitwise, for dense and top-k targets, grouped or alone. With
// the CUDA batch-invariant linear on the SIMT emulator they equal them bitwise too, for any layer
// width (the kernels' shared contract, k tails included).
#include "tests/unit/transformer_cuda/emulated_cuda_compute.h"
// The emulator's built-ins must come first.
#include <catch2/catch.hpp>

#include <cmath>

#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "core/checkpoint/checkpoint.h"
#include "core/distill/teacher_pool.h"
#include "tests/unit/engine_compute/fake_device_compute.h"

using namespace retort::core;
namespace fs = std::filesystem;

namespace {
// A teacher 784 -> hidden -> 10 saved where the job's teacher.checkpoint points.
Config teacher_job(const fs::path& dir, std::vector<int64_t> hidden) {
  fs::remove_all(dir);
  fs::create_directories(dir);
  Config cfg;
  cfg.data.train_fraction = 0.02;
  cfg.train.batch_size = 64;
  cfg.teacher.present = true;
  cfg.teacher.checkpoint = (dir / "teacher.safetensors").string();
  ModelConfig tm;
  tm.hidden = std::move(hidden);
  Model teacher(ModelSpec{tm, 784, 10});
  teacher.initialize(11);
  save_model(teacher, cfg.teacher.checkpoint);
  return cfg;
}
std::vector<std::byte> records(const EncodedLogits& e) {
  std::vector<std::byte> out(e.row_bytes() * static_cast<size_t>(e.rows()));
  for (int64_t r = 0; r < e.rows(); ++r) e.copy_row_out(r, out.data() + static_cast<size_t>(r) * e.row_bytes());
  return out;
}
}  // namespace

TEST_CASE("an MLP teacher on the fake device encodes the CPU teacher's logits bitwise", "[distill][device]") {
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) FAIL("Fashion-MNIST is missing (launch/setup.sh installs it)");
  const fs::path dir = fs::temp_directory_path() / "retort-teacher-device-test";
  Config cfg = teacher_job(dir, {96, 40});

  for (const int64_t topk : {int64_t{0}, int64_t{3}}) {
    cfg.distill.topk = topk;
    cfg.distill.wire_dtype = topk ? "bf16" : "fp32";
    TeacherPool cpu(cfg);
    auto fake = std::make_shared<test::FakeDeviceCompute>();
    TeacherPool dev(cfg, fake);
    REQUIRE(&dev.model().compute() == fake.get());
    const std::vector<int64_t> ids = {5, 0, 17, 3, 99, 42, 7, 8, 1000, 64};
    EncodedLogits a, b;
    cpu.compute(ids, 2, /*augment=*/true, a);
    const int downloads_before = fake->downloads;
    dev.compute(ids, 2, /*augment=*/true, b);
    REQUIRE(fake->downloads > downloads_before);  // the logits came back from the device
    CAPTURE(topk);
    REQUIRE(a.rows() == b.rows());
    REQUIRE(a.k() == b.k());
    REQUIRE(records(a) == records(b));
    // One sample alone on the device: its record is the one it had in the batch.
    EncodedLogits one;
    dev.compute({ids[4]}, 2, true, one);
    const auto all = records(b), single = records(one);
    REQUIRE(std::memcmp(single.data(), all.data() + 4 * b.row_bytes(), b.row_bytes()) == 0);
  }
  fs::remove_all(dir);
}

TEST_CASE("an MLP teacher on the emulated CUDA invariant linear matches the CPU teacher", "[distill][device][cuda]") {
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) FAIL("Fashion-MNIST is missing (launch/setup.sh installs it)");
  const fs::path dir = fs::temp_directory_path() / "retort-teacher-emulated-cuda-test";
  const std::vector<int64_t> ids = {5, 0, 17, 3, 99, 42, 7, 8, 1000, 64, 2, 33};
  {  // widths 784, 96, 40: every input width a multiple of 8 -> the CPU bits (dense f32 records)
    const Config cfg = teacher_job(dir, {96, 40});
    TeacherPool cpu(cfg);
    auto emulated = std::make_shared<test::EmulatedCudaCompute>(/*batch_invariant=*/true);
    TeacherPool dev(cfg, emulated);
    EncodedLogits a, b, one;
    cpu.compute(ids, 1, true, a);
    dev.compute(ids, 1, true, b);
    REQUIRE(emulated->invariant_linears == 3);  // every layer on the emulated kernel
    REQUIRE(records(a) == records(b));
    dev.compute({ids[7]}, 1, true, one);
    const auto all = records(b), single = records(one);
    REQUIRE(std::memcmp(single.data(), all.data() + 7 * b.row_bytes(), b.row_bytes()) == 0);
  }
  {  // widths 784, 100, 37: k tails (100 % 8, 37 % 8) rounded product-then-add on both -> the CPU bits
    const Config cfg = teacher_job(dir, {100, 37});
    TeacherPool cpu(cfg);
    TeacherPool dev(cfg, std::make_shared<test::EmulatedCudaCompute>(true));
    EncodedLogits a, b;
    cpu.compute(ids, 1, true, a);
    dev.compute(ids, 1, true, b);
    REQUIRE(records(a) == records(b));
  }
  fs::remove_all(dir);
}

// TeacherPool on a device Compute: the teacher's weights are placed in device memory, its
// forward runs there (batch-invariant through BatchContext) and the logits are downloaded before
// encoding. On the fake device (the CPU kernels behind separate, checked memory) the encoded
// records equal the CPU teacher's bitwise, for dense and top-k targets, grouped or alone.
#include <catch2/catch.hpp>

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
std::vector<std::byte> records(const EncodedLogits& e) {
  std::vector<std::byte> out(e.row_bytes() * static_cast<size_t>(e.rows()));
  for (int64_t r = 0; r < e.rows(); ++r) e.copy_row_out(r, out.data() + static_cast<size_t>(r) * e.row_bytes());
  return out;
}
}  // namespace

TEST_CASE("an MLP teacher on the fake device encodes the CPU teacher's logits bitwise", "[distill][device]") {
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) FAIL("Fashion-MNIST is missing (launch/setup.sh installs it)");
  const fs::path dir = fs::temp_directory_path() / "retort-teacher-device-test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  Config cfg;
  cfg.data.train_fraction = 0.02;
  cfg.train.batch_size = 64;
  cfg.teacher.present = true;
  cfg.teacher.checkpoint = (dir / "teacher.safetensors").string();
  ModelConfig tm;
  tm.hidden = {96, 40};  // 784 -> 96 -> 40 -> 10: input widths on and off a multiple of 8
  Model teacher(ModelSpec{tm, 784, 10});
  teacher.initialize(11);
  save_model(teacher, cfg.teacher.checkpoint);

  for (const int64_t topk : {int64_t{0}, int64_t{3}}) {
    cfg.distill.topk = topk;
    cfg.distill.wire_dtype = topk ? "bf16" : "f32";
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

// The LM teacher pool on a small random Llama saved as Retort weights, over the copy task:
// targets of a group of windows equal those of each window alone (bitwise, top-k and sampled),
// also through distill.teacher_batch windows per forward,
// the vocabulary guards (padded head needs distill.vocab_truncate, a smaller head is refused),
// and distill.targets resolution and refusals at config load.
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>

#include "core/base/error.h"
#include "core/checkpoint/checkpoint.h"
#include "core/config/load.h"
#include "core/distill/lm_teacher_pool.h"

using namespace retort;
using namespace retort::core;
namespace fs = std::filesystem;

namespace {

// This process's teacher files, removed when the tests end.
struct TeacherDir {
  fs::path path = fs::temp_directory_path() / fmt::format("retort-lm-teachers-{}", getpid());
  TeacherDir() { fs::create_directories(path); }
  ~TeacherDir() { fs::remove_all(path); }
};

// A random teacher with a head of `vocab` rows, saved once per vocab.
std::string teacher_file(int64_t vocab) {
  static const TeacherDir dir;
  const fs::path path = dir.path / fmt::format("teacher-{}.safetensors", vocab);
  if (!fs::exists(path)) {
    LlamaConfig c;
    c.vocab_size = vocab, c.dim = 16, c.n_layers = 1, c.n_heads = 2, c.n_kv_heads = 1, c.ffn_dim = 32;
    c.max_seq_len = 8;
    LlamaModel model(c);
    model.initialize(17);
    save_model(model, path.string());
  }
  return path.string();
}

Config job(const std::string& teacher, const std::string& distill) {
  return load_config_text(fmt::format(R"(
run: {{name: t, seed: 4}}
data: {{dataset: copy_task, seq_len: 8, copy_train_size: 64}}
student: {{arch: llama, vocab_size: 12, dim: 16, n_layers: 1, n_heads: 2}}
teacher: {{checkpoint: {}}}
cluster: {{teachers: 1, students: 2}}
distill: {{{}}}
train: {{batch_size: 8, epochs: 1}}
)", teacher, distill), "job.yaml");
}

std::string input_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::input);
    return e.message();
  }
  return "no error";
}

}  // namespace

TEST_CASE("lm teacher pool: a window's targets never depend on the windows beside it", "[lm_distill]") {
  for (const char* distill : {"topk: 5, temperature: 2", "targets: sampled, samples: 6, wire_dtype: bf16"}) {
    INFO(distill);
    const Config cfg = job(teacher_file(12), distill);
    LmTeacherPool pool(cfg);
    CHECK(pool.spec().vocab == 12);
    CHECK(pool.spec().seq_len == 8);
    CHECK(pool.train_windows() == 64);
    const std::vector<int64_t> group = {5, 2, 9};
    LmTargets together;
    pool.compute(group, together);
    together.validate("together");
    CHECK(together.rows == 24);
    const int64_t width = together.slots();
    for (size_t w = 0; w < group.size(); ++w) {
      LmTargets alone;
      pool.compute(std::span<const int64_t>(&group[w], 1), alone);
      const size_t cells = static_cast<size_t>(8 * width), at = w * cells;
      CHECK(std::equal(alone.indices.begin(), alone.indices.end(), together.indices.begin() + at));
      if (together.kind == TargetKind::topk) {
        const size_t vb = dtype_size(together.dtype);
        CHECK(std::memcmp(alone.values.data(), together.values.data() + at * vb, cells * vb) == 0);
        CHECK(std::memcmp(alone.lse.data(), together.lse.data() + w * 8, 8 * 4) == 0);
      } else {
        CHECK(std::equal(alone.counts.begin(), alone.counts.end(), together.counts.begin() + at));
        CHECK(std::memcmp(alone.log_probs.data(), together.log_probs.data() + at, cells * 4) == 0);
      }
    }
  }
}

TEST_CASE("lm teacher pool: teacher head vs the data's vocabulary", "[lm_distill]") {
  const std::string padded = teacher_file(16), small = teacher_file(10);
  const Config strict = job(padded, "topk: 4");
  CHECK(input_error_of([&] { LmTeacherPool pool(strict); }) ==
        fmt::format("teacher.checkpoint {}: the teacher's head has 16 rows, the vocabulary of data.dataset copy_task has "
                    "12 (a padded embedding?): set distill.vocab_truncate: true to distil over the first 12",
                    padded));
  const Config truncate = job(padded, "topk: 4, vocab_truncate: true");
  LmTeacherPool pool(truncate);
  LmTargets t;
  pool.compute(std::vector<int64_t>{1}, t);
  CHECK(t.vocab == 12);
  t.validate("truncated");
  const Config too_small = job(small, "topk: 4, vocab_truncate: true");
  CHECK(input_error_of([&] { LmTeacherPool p(too_small); }) ==
        fmt::format("teacher.checkpoint {}: the teacher's head has 10 rows, fewer than the 12 tokens of the vocabulary "
                    "of data.dataset copy_task",
                    small));
}

TEST_CASE("config: distill.targets resolves from distill.topk and refuses what cannot work", "[lm_distill]") {
  const std::string t = teacher_file(12);
  CHECK(job(t, "topk: 4").distill.target_kind == DistillTargets::topk);
  CHECK(job(t, "topk: 0").distill.target_kind == DistillTargets::dense);
  CHECK(job(t, "targets: sampled").distill.target_kind == DistillTargets::sampled);
  CHECK(job(t, "targets: sampled").distill.samples == 16);
  CHECK(job(t, "topk: 4").distill.targets == "topk");
  CHECK_THROWS_WITH(job(t, "targets: topk"), Catch::Contains("distill.targets: topk needs distill.topk > 0"));
  CHECK_THROWS_WITH(job(t, "targets: dense, topk: 3"),
                    Catch::Contains("distill.targets: dense targets, but distill.topk is 3 (top-k)"));
  CHECK_THROWS_WITH(job(t, "targets: sampled, divergence: rkl"),
                    Catch::Contains("sampled targets estimate only fkl (jsd with beta 0), but distill.divergence is rkl"));
  CHECK(job(t, "targets: sampled, divergence: jsd, beta: 0").distill.target_kind == DistillTargets::sampled);
  CHECK_THROWS_WITH(load_config_text("run: {name: m}\nteacher: {checkpoint: x}\ndistill: {targets: sampled}\n", "m.yaml"),
                    Catch::Contains("sampled targets are per token of a language model"));
}

TEST_CASE("lm teacher pool: distill.teacher_batch windows per forward give the same targets, bitwise", "[lm_distill]") {
  for (const char* kind : {"topk: 5, temperature: 2", "targets: sampled, samples: 6, wire_dtype: bf16"}) {
    const std::vector<int64_t> ids = {7, 0, 33, 12, 5};
    LmTargets all;
    LmTeacherPool(job(teacher_file(12), kind)).compute(ids, all);
    for (int batch : {1, 2, 5, 9}) {
      INFO(kind << ", teacher_batch " << batch);
      LmTargets grouped;
      LmTeacherPool pool(job(teacher_file(12), fmt::format("{}, teacher_batch: {}", kind, batch)));
      pool.compute(ids, grouped);
      CHECK(grouped.rows == all.rows);
      CHECK(grouped.indices == all.indices);
      CHECK(grouped.values == all.values);
      CHECK(grouped.lse == all.lse);
      CHECK(grouped.counts == all.counts);
      REQUIRE(grouped.log_probs.size() == all.log_probs.size());
      if (!all.log_probs.empty())  // bitwise (log p may be -inf); no memcmp of an empty vector's null data()
        CHECK(std::memcmp(grouped.log_probs.data(), all.log_probs.data(), all.log_probs.size() * 4) == 0);
      // Targets passed in again (here moved from) are remade: fewer windows after more.
      LmTargets taken = std::move(grouped);
      pool.compute(std::span<const int64_t>(ids).subspan(1, 2), grouped);
      CHECK(grouped.rows == 16);
      CHECK(std::equal(grouped.indices.begin(), grouped.indices.end(), all.indices.begin() + 8 * all.slots()));
    }
  }
}

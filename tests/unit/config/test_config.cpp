// Config loading: defaults, overrides, the resolved print, and one exact error message per
// mistake users make (table-driven).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "core/base/error.h"
#include "core/config/load.h"
#include "core/config/schema.h"

using retort::core::Config;
using retort::core::load_config;
using retort::core::load_config_text;

namespace {
std::string input_error(const std::string& text, const std::vector<std::string>& sets = {}) {
  try {
    load_config_text(text, "cfg.yaml", sets);
  } catch (const retort::Error& e) {
    CHECK(e.kind() == retort::ErrorKind::input);
    CHECK(e.exit_code() == 2);
    return e.message();
  }
  return "(no error)";
}
const std::string kMinimal = "run:\n  name: t\n";
}  // namespace

TEST_CASE("a minimal config gets every default") {
  const Config cfg = load_config_text(kMinimal, "cfg.yaml");
  const Config defaults;
  CHECK(cfg.run.name == "t");
  CHECK(cfg.run.out_dir == "runs/t");
  CHECK(cfg.distill.temperature == defaults.distill.temperature);
  CHECK(cfg.student.hidden == defaults.student.hidden);
  CHECK_FALSE(cfg.teacher.present);
  CHECK(cfg.world_size() == 1);
}

TEST_CASE("values and --set overrides are applied, --set wins") {
  const Config cfg = load_config_text(
      "run: {name: a, seed: 7}\ndistill: {temperature: 2.5, topk: 5}\nteacher: {checkpoint: t.safetensors}\n"
      "student: {hidden: [30, 30]}\n",
      "cfg.yaml", {"distill.temperature=20", "train.batch_size=64", "device=cpu", "student.hidden=[5, 6, 7]"});
  CHECK(cfg.run.seed == 7);
  CHECK(cfg.distill.temperature == 20.0);
  CHECK(cfg.distill.topk == 5);
  CHECK(cfg.train.batch_size == 64);
  CHECK(cfg.teacher.present);
  CHECK(cfg.world_size() == 2);
  CHECK(cfg.student.hidden == std::vector<int64_t>{5, 6, 7});
}

TEST_CASE("the resolved YAML loads back to the same config") {
  const Config a = load_config_text("run: {name: r}\ndistill: {divergence: jsd, beta: 0.25}\nteacher: {source: cache, cache_dir: c}\n", "a.yaml");
  const std::string yaml = retort::core::to_yaml(a);
  const Config b = load_config_text(yaml, "b.yaml");
  CHECK(retort::core::to_yaml(b) == yaml);
  CHECK(b.hash == a.hash);
  CHECK(b.distill.divergence == "jsd");
  CHECK(yaml.find("temperature:") != std::string::npos);
}

TEST_CASE("names with every printable oddity survive the resolved YAML") {
  // Quotes, comment and mapping markers, edge spaces, non-ASCII text and Unicode line separators.
  for (const std::string name : {"a #b", "#a", "- a", "a: b", "'a", "\"a\"", " a", "a ", "caf\xc3\xa9",
                                 "a\xe2\x80\xa8" "b", "a\xc2\x85", "\xc2\xa0" "a", "$run", "[a]", "{a}", "~", "null",
                                 "true", "0x10", "1e3"}) {
    INFO(name);
    Config a;
    a.run.name = name;
    const Config b = load_config_text(retort::core::to_yaml(a), "a.yaml");
    CHECK(b.run.name == name);
    CHECK(b.run.out_dir == "runs/" + name);
    const std::string yaml = retort::core::to_yaml(b);
    CHECK(retort::core::to_yaml(load_config_text(yaml, "b.yaml")) == yaml);
  }
}

TEST_CASE("the config hash covers the keys that change weights and only those") {
  const std::string base = "run: {name: r}\nteacher: {checkpoint: t}\n";
  const uint64_t h = load_config_text(base, "a.yaml").hash;
  CHECK(load_config_text(base, "a.yaml", {"cluster.teachers=3", "run.out_dir=/elsewhere", "logging.level=debug",
                                          "train.step_timeout_s=9", "distill.lookahead=7", "teacher.source=cache",
                                          "teacher.cache_dir=c"}).hash == h);
  CHECK(load_config_text(base, "a.yaml", {"distill.temperature=2"}).hash != h);
  CHECK(load_config_text(base, "a.yaml", {"cluster.students=2", "train.batch_size=128"}).hash != h);
  CHECK(load_config_text(base, "a.yaml", {"run.seed=2"}).hash != h);
  CHECK(load_config_text("run: {name: r}\n", "a.yaml").hash != h);  // supervised vs distillation
}

TEST_CASE("every schema key has documentation and appears in docs") {
  const std::string md = retort::core::config_docs_markdown();
  for (const auto& f : retort::core::schema()) {
    INFO(f.path);
    CHECK_FALSE(f.doc.empty());
    CHECK(md.find("`" + f.path + "`") != std::string::npos);
  }
}

TEST_CASE("each user mistake gives one exact message") {
  struct Case {
    const char* what;
    std::string text;
    std::vector<std::string> sets;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"unknown key with suggestion", kMinimal + "distill:\n  temprature: 2\n", {},
       "cfg.yaml:4:3: distill.temprature: unknown key (did you mean 'distill.temperature'?)"},
      {"unknown section", kMinimal + "optimiser:\n  lr: 1\n", {}, "cfg.yaml:3:1: optimiser: unknown key (did you mean 'optim'?)"},
      {"unknown key through --set", kMinimal, {"train.batchsize=4"},
       "--set train.batchsize=4: train.batchsize: unknown key (did you mean 'train.batch_size'?)"},
      {"wrong type", kMinimal + "train:\n  batch_size: lots\n", {},
       "cfg.yaml:4:15: train.batch_size: expected an integer, got 'lots'"},
      {"wrong type bool", kMinimal + "optim: {nesterov: maybe}\n", {},
       "cfg.yaml:3:19: optim.nesterov: expected true or false, got 'maybe'"},
      {"list where a scalar belongs", kMinimal + "distill:\n  alpha: [1, 2]\n", {},
       "cfg.yaml:4:10: distill.alpha: expected a number, got a list"},
      {"out of range", kMinimal + "distill:\n  temperature: -1\n", {},
       "cfg.yaml:4:16: distill.temperature: value -1 is out of range (must be > 0 and <= 1000)"},
      {"out of range via --set", kMinimal, {"distill.alpha=1.5"},
       "--set distill.alpha=1.5: distill.alpha: value 1.5 is out of range (must be >= 0 and <= 1)"},
      {"bad choice", kMinimal + "device: gpu\n", {}, "cfg.yaml:3:9: device: 'gpu' is not one of cpu|cuda"},
      {"bad hidden width", kMinimal + "student:\n  hidden: [10, 0]\n", {},
       "cfg.yaml:4:16: student.hidden: value 0 is out of range (must be >= 1)"},
      {"missing required key", "train:\n  epochs: 1\n", {}, "cfg.yaml: run.name: required key is missing"},
      {"missing teacher checkpoint", kMinimal + "teacher:\n  source: online\n", {},
       "cfg.yaml: teacher.checkpoint: required when teacher.source is online"},
      {"malformed YAML", kMinimal + "train: [1, 2\n", {},
       "cfg.yaml:4:1: malformed YAML: end of sequence flow not found"},
      {"top level not a mapping", "- a\n- b\n", {}, "cfg.yaml: expected a mapping of sections at the top level"},
      {"section not a mapping", "run: 3\n", {}, "cfg.yaml:1:6: run: expected a mapping of keys, got 3"},
      {"path that does not exist", kMinimal + "data:\n  dir: /no/such/dir\n", {},
       "cfg.yaml:4:8: data.dir: path '/no/such/dir' does not exist"},
      {"path with a name longer than the file system allows", kMinimal + "data:\n  dir: /" + std::string(300, 'x') + "\n", {},
       "cfg.yaml:4:8: data.dir: path '/" + std::string(300, 'x') + "' cannot be checked: File name too long"},
      {"batch not divisible", kMinimal + "cluster: {students: 3}\ntrain: {batch_size: 128}\n", {},
       "cfg.yaml:4:21: train.batch_size: global batch 128 does not split evenly across 3 students"},
      {"default batch not divisible (no batch_size key to point at)", kMinimal + "cluster: {students: 3}\ntrain: {epochs: 1}\n", {},
       "cfg.yaml: train.batch_size: global batch 128 does not split evenly across 3 students"},
      {"empty file", "  \n\n", {}, "cfg.yaml: file is empty"},
      {"non-UTF-8", kMinimal + "# caf\xe9\n", {},
       "cfg.yaml: not valid UTF-8 (byte 0xe9 at offset 20); a config file is UTF-8 YAML"},
      {"garbage of 10 MB", std::string(10 << 20, 'x'), {},
       "cfg.yaml: file is 10.0 MiB; a config file is at most 1 MiB of YAML"},
      {"malformed --set", kMinimal, {"train.epochs"}, "--set train.epochs: expected key.path=value"},
      {"CR in a name (fuzz_config's finding)", "run:\n  name: fmnist-3#\r\r0\r\r \n", {},
       "cfg.yaml:2:9: run.name: control character 0x0d at offset 9 of the value; names and paths are printable text"},
      {"tab in a path through --set", kMinimal, {"run.out_dir=\"out\tdir\""},
       "--set run.out_dir=\"out\tdir\": run.out_dir: control character 0x09 at offset 3 of the value; names and "
       "paths are printable text"},
      {"the out_dir token in the name", "run: {name: \"a${run.name}\"}\n", {},
       "cfg.yaml:1:13: run.name: may not contain ${run.name}"},
      {"escape character in a path", kMinimal + "data: {dir: \"/data\\e[0m\"}\n", {},
       "cfg.yaml:3:13: data.dir: control character 0x1b at offset 5 of the value; names and paths are printable text"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    CHECK(input_error(c.text, c.sets) == c.message);
  }
}

TEST_CASE("world size must match the cluster shape") {
  const Config cfg = load_config_text(kMinimal + "teacher: {checkpoint: t}\ncluster: {teachers: 1, students: 2}\n", "cfg.yaml");
  REQUIRE_NOTHROW(retort::core::check_world_size(cfg, 3));
  try {
    retort::core::check_world_size(cfg, 4);
    FAIL("expected an error");
  } catch (const retort::Error& e) {
    CHECK(e.message() == "cfg.yaml: cluster: teachers (1) + students (2) = 3 ranks, but the MPI world has 4");
  }
}

TEST_CASE("a config file that does not exist, or a directory, is refused") {
  CHECK_THROWS_WITH(load_config("/no/such.yaml"), Catch::Contains("/no/such.yaml: config file does not exist"));
  CHECK_THROWS_WITH(load_config("/tmp"), Catch::Contains("/tmp: is a directory, not a config file"));
}

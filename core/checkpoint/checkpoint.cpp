// Checkpoint writing (atomic directory), verification, restore and pruning.
#include "core/checkpoint/checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "core/base/error.h"
#include "core/base/json_int.h"
#include "core/base/log.h"
#include "core/checkpoint/durable_io.h"

namespace retort::core {
namespace fs = std::filesystem;
namespace {

constexpr const char* kFormat = "retort-checkpoint-1";
constexpr const char* kModelFile = "model.safetensors";
constexpr const char* kOptimFile = "optim.safetensors";
constexpr const char* kManifest = "manifest.json";

std::string hex64(uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}

std::string step_dir_name(int64_t step) {
  char b[32];
  std::snprintf(b, sizeof b, "step-%08lld", static_cast<long long>(step));
  return b;
}

void maybe_fault_before_rename(int64_t step, const std::string& dir) {
  const char* env = std::getenv("RETORT_FAULT_CKPT_BEFORE_RENAME");
  if (!env || !*env) return;
  const long long at = std::atoll(env);
  if (at > 0 && step >= at) {
    std::fprintf(stderr, "retort: fault injected before renaming checkpoint %s\n", dir.c_str());
    std::fflush(stderr);
    ::_exit(99);
  }
}

std::vector<uint8_t> encode_optimizer(Optimizer& optimizer) {
  std::vector<NamedTensor> tensors;
  for (const auto& s : optimizer.state())
    tensors.push_back({s.name, {static_cast<int64_t>(s.data.size())}, s.data});
  return encode_safetensors(tensors, {{"retort.optimizer", optimizer.config().name},
                                      {"retort.steps_done", std::to_string(optimizer.steps_done())}});
}

void check_same_spec(const Network& model, const nlohmann::json& spec, const std::string& what) {
  if (spec != model.spec_json())
    RETORT_INPUT_ERROR(what + ": model spec " + spec.dump() + " does not match the configured " +
                       model.spec_json().dump());
}

// Verifies the optimizer file against `optimizer` and copies its state in.
void load_optimizer(Optimizer& optimizer, const SafetensorsFile& file, const std::string& what) {
  auto state = optimizer.state();
  if (file.tensors.size() != state.size())
    RETORT_INPUT_ERROR(what + ": optimizer state has " + std::to_string(file.tensors.size()) +
                       " tensors, the configured optimizer needs " + std::to_string(state.size()));
  for (const auto& s : state) {
    auto it = file.tensors.find(s.name);
    if (it == file.tensors.end() || it->second.data.size() != s.data.size())
      RETORT_INPUT_ERROR(what + ": optimizer state '" + s.name + "' missing or of the wrong size");
  }
  auto kind = file.metadata.find("retort.optimizer");
  if (kind == file.metadata.end() || kind->second != optimizer.config().name)
    RETORT_INPUT_ERROR(what + ": optimizer state is not for optimizer '" + optimizer.config().name + "'");
  auto steps = file.metadata.find("retort.steps_done");
  if (steps == file.metadata.end()) RETORT_INPUT_ERROR(what + ": no retort.steps_done metadata");
  for (const auto& s : state) {
    const auto& src = file.tensors.at(s.name).data;
    std::copy(src.begin(), src.end(), s.data.begin());
  }
  const std::string& text = steps->second;
  int64_t done = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), done);
  if (ec != std::errc() || end != text.data() + text.size() || done < 0)
    RETORT_INPUT_ERROR(what + ": retort.steps_done '" + text + "' is not a step count");
  optimizer.set_steps_done(done);
}

}  // namespace

std::vector<uint8_t> encode_model(const Network& model) {
  std::vector<NamedTensor> tensors;
  const auto params = model.params();
  for (const ParamTensor& t : model.layout().tensors())
    tensors.push_back({t.name, t.shape, params.subspan(static_cast<size_t>(t.offset),
                                                       static_cast<size_t>(t.numel))});
  std::map<std::string, std::string> metadata = model.file_metadata();
  metadata["retort.format"] = kFormat;
  metadata["retort.model"] = model.spec_json().dump();
  return encode_safetensors(tensors, metadata);
}

void save_model(const Network& model, const std::string& path) {
  const auto parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent);
  write_file_atomic(path, encode_model(model));
}

namespace {
void check_weights(const Network& model, const SafetensorsFile& file, const std::string& what) {
  const auto& tensors = model.layout().tensors();
  if (file.tensors.size() != tensors.size())
    RETORT_INPUT_ERROR(what + ": has " + std::to_string(file.tensors.size()) +
                       " tensors, the model has " + std::to_string(tensors.size()));
  for (const ParamTensor& t : tensors) {
    auto it = file.tensors.find(t.name);
    if (it == file.tensors.end()) RETORT_INPUT_ERROR(what + ": tensor '" + t.name + "' is missing");
    if (it->second.shape != t.shape)
      RETORT_INPUT_ERROR(what + ": tensor '" + t.name + "' has shape " +
                         nlohmann::json(it->second.shape).dump() + ", the model needs " +
                         nlohmann::json(t.shape).dump());
  }
}
// Before a model is allocated from a file's spec: the file must hold that many weights (a spec
// edited to `hidden: [400000]` would otherwise allocate gigabytes before the shape check).
void check_weight_count(const ModelSpec& spec, const SafetensorsFile& file, const std::string& what) {
  int64_t stored = 0;
  for (const auto& [name, t] : file.tensors) stored += static_cast<int64_t>(t.data.size());
  if (stored != parameter_count(spec))
    RETORT_INPUT_ERROR(what + ": holds " + std::to_string(stored) + " weights, but its model spec describes " +
                       std::to_string(parameter_count(spec)));
}
}  // namespace

void load_weights(Network& model, const SafetensorsFile& file, const std::string& what) {
  check_weights(model, file, what);
  const auto& tensors = model.layout().tensors();
  auto params = model.params();
  for (const ParamTensor& t : tensors) {
    const auto& src = file.tensors.at(t.name).data;
    std::copy(src.begin(), src.end(), params.begin() + t.offset);
  }
}

nlohmann::json read_verified_manifest(const std::string& dir) {
  const std::string path = (fs::path(dir) / kManifest).string();
  nlohmann::json m;
  try {
    const auto bytes = read_file(path);
    m = nlohmann::json::parse(bytes.begin(), bytes.end());
    if (m.at("format").get<std::string>() != kFormat)
      RETORT_INPUT_ERROR(path + ": unknown checkpoint format '" + m.at("format").get<std::string>() + "'");
    for (const auto& [name, info] : m.at("files").items()) {
      const std::string file = (fs::path(dir) / name).string();
      const auto data = read_file(file);
      if (static_cast<int64_t>(data.size()) != json_int64(info.at("bytes")))
        RETORT_INPUT_ERROR(file + ": size " + std::to_string(data.size()) + " differs from the manifest's " +
                           std::to_string(json_int64(info.at("bytes"))));
      if (xxh3_hex(data) != info.at("xxh3").get<std::string>())
        RETORT_INPUT_ERROR(file + ": XXH3-64 checksum does not match the manifest (corrupt file)");
    }
  } catch (const nlohmann::json::exception& e) {
    RETORT_INPUT_ERROR(path + ": malformed manifest (" + e.what() + ")");
  }
  return m;
}

TrainState load_checkpoint(const std::string& dir, Network& model, Optimizer* optimizer,
                           uint64_t config_hash) {
  const nlohmann::json m = read_verified_manifest(dir);
  TrainState state;
  SafetensorsFile weights, optim;
  try {
    if (m.at("config_hash").get<std::string>() != hex64(config_hash))
      RETORT_INPUT_ERROR(dir + ": written by a different config (hash " +
                         m.at("config_hash").get<std::string>() + ", this config " +
                         hex64(config_hash) + "); use a new run.out_dir, or move its checkpoints/ away to start over");
    check_same_spec(model, m.at("model"), dir);
    state.step = json_int64(m.at("step"));
    state.epoch = json_int64(m.at("epoch"));
    state.step_in_epoch = json_int64(m.at("step_in_epoch"));
    state.metrics = m.at("metrics");
    if (!m.at("files").contains(kModelFile) || !m.at("files").contains(kOptimFile))
      RETORT_INPUT_ERROR(dir + ": manifest does not list " + kModelFile + " and " + kOptimFile);
  } catch (const nlohmann::json::exception& e) {
    RETORT_INPUT_ERROR(dir + ": malformed manifest (" + e.what() + ")");
  }
  const std::string wpath = (fs::path(dir) / kModelFile).string();
  const std::string opath = (fs::path(dir) / kOptimFile).string();
  weights = parse_safetensors(read_file(wpath), wpath);
  optim = parse_safetensors(read_file(opath), opath);
  check_weights(model, weights, wpath);  // every check passes before anything is written
  if (optimizer) load_optimizer(*optimizer, optim, opath);
  load_weights(model, weights, wpath);
  return state;
}

CheckpointStore::CheckpointStore(std::string dir, int64_t keep) : dir_(std::move(dir)), keep_(keep) {
  if (keep_ < 1) RETORT_INPUT_ERROR("train.keep_checkpoints must be >= 1");
}

std::vector<std::string> CheckpointStore::list() const {
  std::vector<std::string> out;
  if (!fs::is_directory(dir_)) return out;
  for (const auto& e : fs::directory_iterator(dir_)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && name.rfind("step-", 0) == 0 && name.find('.') == std::string::npos)
      out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());  // fixed-width step numbers sort by step
  return out;
}

std::string CheckpointStore::save(const Network& model, Optimizer& optimizer, const TrainState& state,
                                  uint64_t config_hash, uint64_t seed) {
  fs::create_directories(dir_);
  const std::string name = step_dir_name(state.step);
  const std::string final_dir = (fs::path(dir_) / name).string();
  const std::string tmp_dir = final_dir + ".tmp";
  fs::remove_all(tmp_dir);
  fs::create_directories(tmp_dir);
  const auto weights = encode_model(model);
  const auto optim = encode_optimizer(optimizer);
  write_file_synced((fs::path(tmp_dir) / kModelFile).string(), weights);
  write_file_synced((fs::path(tmp_dir) / kOptimFile).string(), optim);
  nlohmann::json manifest = {
      {"format", kFormat},
      {"config_hash", hex64(config_hash)},
      {"step", state.step},
      {"epoch", state.epoch},
      {"step_in_epoch", state.step_in_epoch},
      {"rng", {{"kind", "counter"}, {"seed", seed}, {"epoch", state.epoch}, {"step", state.step}}},
      {"model", model.spec_json()},
      {"optimizer", {{"file", kOptimFile}, {"steps_done", optimizer.steps_done()}}},
      {"metrics", state.metrics},
      {"files",
       {{kModelFile, {{"bytes", weights.size()}, {"xxh3", xxh3_hex(weights)}}},
        {kOptimFile, {{"bytes", optim.size()}, {"xxh3", xxh3_hex(optim)}}}}}};
  const std::string text = manifest.dump(2) + "\n";
  write_file_synced((fs::path(tmp_dir) / kManifest).string(),
                    std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  fsync_directory(tmp_dir);
  maybe_fault_before_rename(state.step, final_dir);
  fs::remove_all(final_dir);
  fs::rename(tmp_dir, final_dir);
  fsync_directory(dir_);
  auto all = list();
  for (size_t i = 0; i + static_cast<size_t>(keep_) < all.size(); ++i) fs::remove_all(all[i]);
  return final_dir;
}

std::optional<TrainState> CheckpointStore::restore_latest(Network& model, Optimizer& optimizer,
                                                          uint64_t config_hash) {
  const auto all = list();
  std::string failures;
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    try {
      return load_checkpoint(*it, model, &optimizer, config_hash);
    } catch (const Error& e) {
      if (e.message().find("different config") != std::string::npos) throw;
      log::warn("skipping checkpoint that does not verify: {}", e.message());
      failures += "\n  " + e.message();
    }
  }
  if (!all.empty())
    RETORT_INPUT_ERROR("no checkpoint in " + dir_ + " verifies:" + failures);
  return std::nullopt;
}

std::unique_ptr<Model> load_model(const std::string& path) {
  fs::path p(path);
  if (p.filename() == kManifest) p = p.parent_path();
  if (fs::is_directory(p)) {
    if (!fs::exists(p / kManifest))
      RETORT_INPUT_ERROR(p.string() + ": a directory without " + kManifest + " is not a checkpoint; give a checkpoint "
                         "directory (RUN/checkpoints/step-N) or a weights file (e.g. RUN/final.safetensors)");
    const nlohmann::json m = read_verified_manifest(p.string());
    ModelSpec spec;
    try {
      spec = model_spec_from_json(m.at("model"), (p / kManifest).string());
    } catch (const nlohmann::json::exception& e) {
      RETORT_INPUT_ERROR((p / kManifest).string() + ": malformed manifest (" + e.what() + ")");
    }
    const std::string wpath = (p / kModelFile).string();
    const SafetensorsFile weights = parse_safetensors(read_file(wpath), wpath);
    check_weight_count(spec, weights, wpath);
    auto model = std::make_unique<Model>(spec);
    load_weights(*model, weights, wpath);
    return model;
  }
  auto file = parse_safetensors(read_file(path), path);
  auto it = file.metadata.find("retort.model");
  if (it == file.metadata.end())
    RETORT_INPUT_ERROR(path + ": no retort.model metadata: not a Retort weights file");
  nlohmann::json spec_json;
  try {
    spec_json = nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception& e) {
    RETORT_INPUT_ERROR(path + ": retort.model metadata is not JSON (" + e.what() + ")");
  }
  const ModelSpec spec = model_spec_from_json(spec_json, path);
  check_weight_count(spec, file, path);
  auto model = std::make_unique<Model>(spec);
  load_weights(*model, file, path);
  return model;
}

}  // namespace retort::core

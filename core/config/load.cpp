// Config loading and validation: file checks, YAML parse, --set overrides, schema walk,
// defaults, cross-key rules; plus resolved-YAML printing and the generated docs/config.md.
#include "core/config/load.h"

#include <xxhash.h>

#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/base/error.h"
#include "core/config/schema.h"

namespace retort::core {
namespace {

constexpr size_t kMaxConfigBytes = 1 << 20;

// Where a value came from, for messages: "file:line:col" or "--set key=value".
class Locator {
 public:
  Locator(std::string name, std::map<std::string, std::string> overrides)
      : name_(std::move(name)), overrides_(std::move(overrides)) {}
  std::string at(const std::string& path, const YAML::Node& node) const {
    if (auto it = overrides_.find(path); it != overrides_.end()) return "--set " + path + "=" + it->second;
    // A key the file does not have (a default broke a rule) is an invalid node: no position to give.
    if (!node.IsDefined()) return name_;
    const YAML::Mark m = node.Mark();
    if (m.is_null()) return name_;
    return fmt::format("{}:{}:{}", name_, m.line + 1, m.column + 1);
  }
  [[noreturn]] void fail(const std::string& path, const YAML::Node& node, const std::string& what) const {
    RETORT_INPUT_ERROR(at(path, node) + ": " + path + ": " + what);
  }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::map<std::string, std::string> overrides_;
};

// Returns the offset of the first byte that is not valid UTF-8, or npos.
size_t first_invalid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (len == 0 || (len > 1 && c < 0xc2 && len == 2) || i + len > s.size()) return i;
    for (size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return i;
    if (c == 0) return i;  // NUL never belongs in a text config
    i += len;
  }
  return std::string::npos;
}

void check_text(const std::string& text, const std::string& name) {
  if (text.size() > kMaxConfigBytes)
    RETORT_INPUT_ERROR(fmt::format("{}: file is {:.1f} MiB; a config file is at most 1 MiB of YAML", name,
                                   static_cast<double>(text.size()) / (1 << 20)));
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) RETORT_INPUT_ERROR(name + ": file is empty");
  if (const size_t bad = first_invalid_utf8(text); bad != std::string::npos)
    RETORT_INPUT_ERROR(fmt::format("{}: not valid UTF-8 (byte 0x{:02x} at offset {}); a config file is UTF-8 YAML",
                                   name, static_cast<unsigned char>(text[bad]), bad));
}

// Splits "a.b=value" and sets root[a][b] = YAML(value).
std::pair<std::string, std::string> apply_override(YAML::Node& root, const std::string& item) {
  const size_t eq = item.find('=');
  if (eq == std::string::npos || eq == 0)
    RETORT_INPUT_ERROR("--set " + item + ": expected key.path=value");
  const std::string path = item.substr(0, eq), value = item.substr(eq + 1);
  YAML::Node parsed;
  try {
    parsed = YAML::Load(value);
  } catch (const YAML::Exception& e) {
    RETORT_INPUT_ERROR("--set " + item + ": malformed YAML value: " + e.msg);
  }
  const size_t dot = path.find('.');
  if (dot == std::string::npos) {
    root[path] = parsed;
  } else {
    const std::string section = path.substr(0, dot), key = path.substr(dot + 1);
    if (root[section] && !root[section].IsMap())
      RETORT_INPUT_ERROR("--set " + item + ": '" + section + "' is not a mapping in the config");
    root[section][key] = parsed;
  }
  return {path, value};
}

// Names and paths become directory names, log lines and job names, where a control character is
// never meant (one is a file's stray CR or a paste), and to_yaml could not keep every one of them:
// a trailing CR before the emitter's newline reads back as a CR LF line break. So they are refused.
void refuse_control_characters(const Field& field, const YAML::Node& node, const Locator& loc) {
  const std::string& text = node.Scalar();
  for (size_t i = 0; i < text.size(); ++i)
    if (const auto c = static_cast<unsigned char>(text[i]); c < 0x20 || c == 0x7f)
      loc.fail(field.path, node, fmt::format("control character 0x{:02x} at offset {} of the value; names and paths "
                                             "are printable text", c, i));
}

void assign(Config& cfg, const Field& field, const YAML::Node& node, const Locator& loc) {
  if (node.IsNull()) loc.fail(field.path, node, "has no value (expected " + field.type_name() + ")");
  if (const std::string err = field.set(cfg, node); !err.empty()) loc.fail(field.path, node, err);
  if (field.type == FieldType::string || field.type == FieldType::path) refuse_control_characters(field, node, loc);
  if (field.type == FieldType::choice) {
    const std::string v = node.Scalar();
    if (std::find(field.choices.begin(), field.choices.end(), v) == field.choices.end()) {
      std::string all;
      for (const auto& c : field.choices) all += (all.empty() ? "" : "|") + c;
      loc.fail(field.path, node, "'" + v + "' is not one of " + all);
    }
  }
  if (field.min || field.max) {
    if (field.type == FieldType::int_list) {
      for (const auto& item : node)
        if (const auto why = field.check_range(item.as<double>()); !why.empty())
          loc.fail(field.path, item, "value " + item.Scalar() + " is out of range (" + why + ")");
    } else if (const auto why = field.check_range(node.as<double>()); !why.empty()) {
      loc.fail(field.path, node, "value " + node.Scalar() + " is out of range (" + why + ")");
    }
  }
  if (field.type == FieldType::int_list)
    for (const auto& item : node)
      if (item.as<int64_t>() < 1) loc.fail(field.path, item, "value " + item.Scalar() + " is out of range (must be >= 1)");
  if (field.must_exist) {
    std::error_code ec;  // a name too long, a parent that cannot be searched: refused like a missing path
    if (!std::filesystem::exists(node.Scalar(), ec))
      loc.fail(field.path, node, "path '" + node.Scalar() + "' " + (ec ? "cannot be checked: " + ec.message() : "does not exist"));
  }
}

void unknown_key(const std::string& path, const YAML::Node& key_node, const Locator& loc) {
  const std::string hint = suggest_key(path);
  loc.fail(path, key_node, "unknown key" + (hint.empty() ? std::string() : " (did you mean '" + hint + "'?)"));
}

void walk(Config& cfg, const YAML::Node& root, const Locator& loc, std::set<std::string>& seen) {
  for (const auto& kv : root) {
    const std::string key = kv.first.Scalar();
    if (is_section(key)) {
      if (key == "teacher") cfg.teacher.present = true;
      if (kv.second.IsNull()) continue;  // "teacher:" with every default
      if (!kv.second.IsMap()) loc.fail(key, kv.second, "expected a mapping of keys, got " + kv.second.Scalar());
      for (const auto& sub : kv.second) {
        const std::string path = key + "." + sub.first.Scalar();
        const Field* f = find_field(path);
        if (!f) unknown_key(path, sub.first, loc);
        assign(cfg, *f, sub.second, loc);
        seen.insert(path);
      }
    } else if (const Field* f = find_field(key)) {
      assign(cfg, *f, kv.second, loc);
      seen.insert(key);
    } else {
      unknown_key(key, kv.first, loc);
    }
  }
}

YAML::Node key_node(const YAML::Node& root, const char* section, const char* key) {
  return root[section] && root[section].IsMap() ? root[section][key] : YAML::Node();
}

// distill.targets -> distill.target_kind, and what each kind cannot be combined with.
void resolve_distill_targets(Config& cfg, const YAML::Node& root, const Locator& loc) {
  DistillConfig& d = cfg.distill;
  const YAML::Node at = key_node(root, "distill", "targets");
  if (d.targets == "auto") d.targets = d.topk > 0 ? "topk" : "dense";
  if (d.targets == "topk" && d.topk == 0) loc.fail("distill.targets", at, "topk needs distill.topk > 0");
  if (d.targets != "topk" && d.topk > 0)
    loc.fail("distill.targets", at, fmt::format("{} targets, but distill.topk is {} (top-k)", d.targets, d.topk));
  d.target_kind = d.targets == "topk" ? DistillTargets::topk
                  : d.targets == "sampled" ? DistillTargets::sampled
                                           : DistillTargets::dense;
  if (d.target_kind != DistillTargets::sampled) return;
  if (cfg.student.arch != "llama")
    loc.fail("distill.targets", at, "sampled targets are per token of a language model (student.arch llama); student.arch " +
                                        cfg.student.arch + " distils dense or topk targets");
  const bool fkl = d.divergence == "fkl" || (d.divergence == "jsd" && d.beta == 0);
  if (!fkl)
    loc.fail("distill.targets", at, "sampled targets estimate only fkl (jsd with beta 0), but distill.divergence is " +
                                        d.divergence + (d.divergence == "jsd" ? fmt::format(" with beta {}", d.beta) : ""));
}

void check_cross_rules(Config& cfg, const YAML::Node& root, const Locator& loc, const std::set<std::string>& seen) {
  for (const auto& f : schema())
    if (f.required && !seen.count(f.path)) RETORT_INPUT_ERROR(loc.name() + ": " + f.path + ": required key is missing");
  if (cfg.teacher.present && cfg.teacher.source == "cache" && cfg.teacher.cache_dir.empty())
    RETORT_INPUT_ERROR(loc.name() + ": teacher.cache_dir: required when teacher.source is cache");
  if (cfg.teacher.present && cfg.teacher.source == "online" && cfg.teacher.checkpoint.empty())
    RETORT_INPUT_ERROR(loc.name() + ": teacher.checkpoint: required when teacher.source is online");
  resolve_distill_targets(cfg, root, loc);
  if (cfg.transport == "nccl" && cfg.device != "cuda")
    loc.fail("transport", root["transport"], "nccl needs device: cuda");
  if (cfg.transport == "nccl" && cfg.online_teachers() && cfg.teacher_device() != "cuda")
    loc.fail("transport", root["transport"],
             "nccl carries the teacher logits between GPUs, but teacher.device is cpu: use transport: auto (logits "
             "over mpi, gradients over nccl) or teacher.device: cuda");
  if (cfg.train.batch_size % cfg.cluster.students != 0)
    loc.fail("train.batch_size", root["train"] ? root["train"]["batch_size"] : YAML::Node(),
             fmt::format("global batch {} does not split evenly across {} students", cfg.train.batch_size,
                         cfg.cluster.students));
  const std::string token = "${run.name}";
  // A name holding the token would substitute forever (and never resolve to a fixed out_dir).
  if (cfg.run.name.find(token) != std::string::npos)
    loc.fail("run.name", key_node(root, "run", "name"), "may not contain " + token);
  for (size_t pos; (pos = cfg.run.out_dir.find(token)) != std::string::npos;)
    cfg.run.out_dir.replace(pos, token.size(), cfg.run.name);
}

YAML::Node resolved_node(const Config& cfg) {
  YAML::Node root;
  for (const auto& f : schema()) {
    const size_t dot = f.path.find('.');
    if (dot == std::string::npos) {
      root[f.path] = f.get(cfg);
      continue;
    }
    const std::string section = f.path.substr(0, dot);
    if (section == "teacher" && !cfg.teacher.present) continue;
    root[section][f.path.substr(dot + 1)] = f.get(cfg);
  }
  return root;
}

}  // namespace

Config load_config_text(const std::string& text, const std::string& name, const std::vector<std::string>& overrides) {
  check_text(text, name);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    RETORT_INPUT_ERROR(fmt::format("{}:{}:{}: malformed YAML: {}", name, e.mark.line + 1, e.mark.column + 1, e.msg));
  } catch (const YAML::Exception& e) {
    RETORT_INPUT_ERROR(name + ": malformed YAML: " + e.msg);
  }
  if (!root.IsMap()) RETORT_INPUT_ERROR(name + ": expected a mapping of sections at the top level");
  std::map<std::string, std::string> from_cli;
  for (const auto& item : overrides) from_cli.insert(apply_override(root, item));
  Locator loc(name, std::move(from_cli));
  Config cfg;
  std::set<std::string> seen;
  walk(cfg, root, loc, seen);
  check_cross_rules(cfg, root, loc, seen);
  cfg.source_file = name;
  // The hash that checkpoints record: only keys that can change the weights, so a resume may
  // change where logs go, how ranks are launched or how many teachers serve.
  YAML::Node weight_keys;
  weight_keys["teacher.present"] = cfg.teacher.present;
  for (const auto& f : schema())
    if (f.affects_weights) weight_keys[f.path] = f.get(cfg);
  YAML::Emitter emitted;
  emitted << weight_keys;
  cfg.hash = XXH3_64bits(emitted.c_str(), emitted.size());
  return cfg;
}

Config load_config(const std::string& file, const std::vector<std::string>& overrides) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) RETORT_INPUT_ERROR(file + ": config file does not exist");
  if (std::filesystem::is_directory(file, ec)) RETORT_INPUT_ERROR(file + ": is a directory, not a config file");
  const auto size = std::filesystem::file_size(file, ec);
  if (!ec && size > kMaxConfigBytes)
    RETORT_INPUT_ERROR(fmt::format("{}: file is {:.1f} MiB; a config file is at most 1 MiB of YAML", file,
                                   static_cast<double>(size) / (1 << 20)));
  std::ifstream in(file, std::ios::binary);
  if (!in) RETORT_INPUT_ERROR(file + ": cannot read config file");
  std::ostringstream buf;
  buf << in.rdbuf();
  return load_config_text(buf.str(), file, overrides);
}

std::string to_yaml(const Config& cfg) {
  YAML::Emitter out;
  out << resolved_node(cfg);
  return std::string(out.c_str()) + "\n";
}

void check_world_size(const Config& cfg, int world_size) {
  const int64_t need = cfg.world_size();
  if (need == world_size) return;
  if (cfg.online_teachers())
    RETORT_INPUT_ERROR(fmt::format("{}: cluster: teachers ({}) + students ({}) = {} ranks, but the MPI world has {}",
                                   cfg.source_file, cfg.cluster.teachers, cfg.cluster.students, need, world_size));
  RETORT_INPUT_ERROR(fmt::format("{}: cluster.students: {} ranks configured, but the MPI world has {}",
                                 cfg.source_file, cfg.cluster.students, world_size));
}

std::string config_docs_markdown() {
  std::string md =
      "# Configuration reference\n\n"
      "<!-- Generated by `retort config docs` from core/config/schema.cpp; a test fails when this file is stale. -->\n\n"
      "A job is one YAML file of the sections below. Every key has a default except those marked\n"
      "**required**. Override any key on the command line with `--set key.path=value` (repeatable).\n"
      "`retort config check FILE` prints the fully resolved config or one error line naming the file,\n"
      "line:column and key. A `teacher:` section makes the job a distillation; without it `retort train`\n"
      "is plain supervised data-parallel training of the `student` model.\n\n"
      "Keys marked † cannot change the trained weights; they are left out of the config hash that\n"
      "checkpoints record, so a run may resume with other values (e.g. more teachers, another\n"
      "out_dir or log level). Changing any other key makes a resume refuse the checkpoint.\n";
  const Config defaults;
  std::string current;
  for (const auto& f : schema()) {
    const size_t dot = f.path.find('.');
    const std::string section = dot == std::string::npos ? "(top level)" : f.path.substr(0, dot);
    if (section != current) {
      md += "\n## " + section + "\n\n| key | type | default | allowed | description |\n|---|---|---|---|---|\n";
      current = section;
    }
    YAML::Emitter e;
    e << YAML::Flow << f.get(defaults);
    std::string def = f.required ? "**required**" : "`" + std::string(e.c_str()) + "`";
    if (def == "``" || def == "`~`") def = "(empty)";
    std::string allowed;
    if (!f.choices.empty())
      for (const auto& c : f.choices) allowed += (allowed.empty() ? "`" : ", `") + c + "`";
    else if (f.min || f.max) allowed = f.bounds_text();
    if (f.must_exist) allowed = "must exist";
    md += fmt::format("| `{}`{} | {} | {} | {} | {} |\n", f.path, f.affects_weights ? "" : " †", f.type_name(), def,
                      allowed, f.doc);
  }
  return md;
}

}  // namespace retort::core

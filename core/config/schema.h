// The config schema: every key of Config bound to its YAML path, type, default, allowed range
// or choices and its documentation. Loading, printing, --set overrides and docs/config.md all
// come from this one table.
#pragma once
#include <yaml-cpp/yaml.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/config/config.h"

namespace retort::core {

enum class FieldType { integer, number, boolean, string, choice, path, int_list };

struct Field {
  std::string path;      // "distill.temperature"
  FieldType type = FieldType::string;
  std::string doc;
  std::vector<std::string> choices;      // for FieldType::choice
  std::optional<double> min, max;        // inclusive bounds unless min_exclusive
  bool min_exclusive = false;
  bool required = false;
  bool must_exist = false;               // paths that must exist when the config is loaded
  // False for keys that cannot change the trained weights (where output goes, logging, how
  // ranks are launched, how many teachers): they are left out of the config hash, so a run may
  // resume with different values.
  bool affects_weights = true;
  std::function<YAML::Node(const Config&)> get;
  // Converts `node` and stores it; returns an error text ("expected an integer, got 'x'") or "".
  std::function<std::string(Config&, const YAML::Node&)> set;

  // Fluent setters used when the table is built.
  Field& with_range(std::optional<double> lo, std::optional<double> hi) { min = lo; max = hi; return *this; }
  Field& positive() { min = 0; min_exclusive = true; return *this; }
  Field& with_choices(std::vector<std::string> c) { type = FieldType::choice; choices = std::move(c); return *this; }
  Field& is_required() { required = true; return *this; }
  Field& existing_path() { type = FieldType::path; must_exist = true; return *this; }
  Field& operational() { affects_weights = false; return *this; }

  std::string type_name() const;
  // ">= 0 and <= 1", "> 0", "<= 4096"; "" when unbounded.
  std::string bounds_text() const;
  // "" when the value is allowed, else the reason ("must be > 0").
  std::string check_range(double value) const;
};

// The table, in documentation order. Section of a field = text before its first '.'.
const std::vector<Field>& schema();
const Field* find_field(const std::string& path);
// True when `name` is a section ("run", "distill", ...).
bool is_section(const std::string& name);
// The known key closest to `path` (Levenshtein), for "did you mean"; "" when none is close.
std::string suggest_key(const std::string& path);

}  // namespace retort::core

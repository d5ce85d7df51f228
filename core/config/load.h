// Loading a config: read and sanity-check the file, parse YAML, apply --set overrides,
// validate every key against the schema, fill defaults. Errors are input errors naming
// the file, line:column and the key path.
#pragma once
#include <string>
#include <vector>

#include "core/config/config.h"

namespace retort::core {

// `overrides` are "key.path=value" strings (value parsed as YAML).
Config load_config(const std::string& file, const std::vector<std::string>& overrides = {});
// Same from YAML text (file name used only in messages).
Config load_config_text(const std::string& text, const std::string& name,
                        const std::vector<std::string>& overrides = {});

// The fully resolved config as YAML (every key, defaults filled), in schema order.
std::string to_yaml(const Config& cfg);

// Throws an input error when the cluster shape does not match an MPI world of `world_size` ranks.
void check_world_size(const Config& cfg, int world_size);

// docs/config.md, generated from the schema.
std::string config_docs_markdown();

}  // namespace retort::core

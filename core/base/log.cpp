// Log line formatting and the process-wide identity/level.
#include "core/base/log.h"

#include <cstdio>
#include <mutex>

#include "core/base/error.h"

namespace retort::log {
namespace {
std::mutex g_mutex;
int g_rank = -1;
std::string g_role;
Level g_level = Level::info;
const char* level_tag(Level l) {
  switch (l) {
    case Level::debug: return "debug: ";
    case Level::info: return "";
    case Level::warn: return "warning: ";
    case Level::error: return "error: ";
  }
  return "";
}
}  // namespace

void set_identity(int rank, std::string role) {
  std::lock_guard lock(g_mutex);
  g_rank = rank;
  g_role = std::move(role);
}

void set_level(Level level) { g_level = level; }

Level parse_level(std::string_view name) {
  if (name == "debug") return Level::debug;
  if (name == "info") return Level::info;
  if (name == "warn") return Level::warn;
  if (name == "error") return Level::error;
  RETORT_INPUT_ERROR("unknown log level '" + std::string(name) + "' (expected debug|info|warn|error)");
}

void write(Level level, std::string_view message) {
  if (level < g_level) return;
  std::lock_guard lock(g_mutex);
  std::string prefix = "[retort";
  if (g_rank >= 0) prefix += " r" + std::to_string(g_rank);
  if (!g_role.empty()) prefix += " " + g_role;
  prefix += "] ";
  std::fprintf(stderr, "%s%s%.*s\n", prefix.c_str(), level_tag(level), static_cast<int>(message.size()),
               message.data());
  std::fflush(stderr);
}

}  // namespace retort::log

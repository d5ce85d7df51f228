// Rank-prefixed human log lines on stderr ("[retort r3 student] message") with a level filter.
#pragma once
#include <fmt/format.h>

#include <string>
#include <string_view>

namespace retort::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

// Set once per process (after MPI init): rank -1 means "no rank" (single process tools).
void set_identity(int rank, std::string role);
void set_level(Level level);
Level parse_level(std::string_view name);  // debug|info|warn|error; throws an input error
void write(Level level, std::string_view message);

template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::info, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::warn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::debug, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::error, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace retort::log

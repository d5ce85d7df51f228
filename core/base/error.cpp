// Implementation of retort::Error and the throw helpers used by the check macros.
#include "core/base/error.h"

#include <cstring>

namespace retort {
namespace {
std::string basename_of(const char* file) {
  if (!file) return {};
  const char* slash = std::strrchr(file, '/');
  return slash ? slash + 1 : file;
}
}  // namespace

Error::Error(ErrorKind kind, const std::string& message, const char* file, int line)
    : std::runtime_error(file ? message + " [" + basename_of(file) + ":" + std::to_string(line) + "]"
                              : message),
      kind_(kind),
      message_(message),
      where_(file ? basename_of(file) + ":" + std::to_string(line) : std::string()) {}

void throw_input(const std::string& message, const char* file, int line) {
  throw Error(ErrorKind::input, message, file, line);
}
void throw_runtime(const std::string& message, const char* file, int line) {
  throw Error(ErrorKind::runtime, message, file, line);
}

}  // namespace retort

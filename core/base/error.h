// Retort's one error type and the check macros that throw it. Every failure carries the
// category (which decides the exit code at main), a message naming the thing, and file:line.
#pragma once
#include <stdexcept>
#include <string>

namespace retort {

// Input errors are the user's to fix (bad config, bad file): exit code 2.
// Runtime errors are failures while running (peer died, disk full, NaN): exit code 1.
enum class ErrorKind { input, runtime };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message, const char* file = nullptr, int line = 0);
  ErrorKind kind() const noexcept { return kind_; }
  int exit_code() const noexcept { return kind_ == ErrorKind::input ? 2 : 1; }
  // The message without the source location (what users see).
  const std::string& message() const noexcept { return message_; }
  // "file:line" of the throw site, empty when unknown.
  const std::string& where() const noexcept { return where_; }

 private:
  ErrorKind kind_;
  std::string message_;
  std::string where_;
};

[[noreturn]] void throw_input(const std::string& message, const char* file, int line);
[[noreturn]] void throw_runtime(const std::string& message, const char* file, int line);

}  // namespace retort

#define RETORT_INPUT_ERROR(msg) ::retort::throw_input((msg), __FILE__, __LINE__)
#define RETORT_RUNTIME_ERROR(msg) ::retort::throw_runtime((msg), __FILE__, __LINE__)
// Internal invariant / precondition check: a failure is a runtime error naming the condition.
#define RETORT_CHECK(cond, msg)                                                                  \
  do {                                                                                           \
    if (!(cond)) ::retort::throw_runtime(std::string("check failed: " #cond ": ") + (msg),       \
                                         __FILE__, __LINE__);                                    \
  } while (0)

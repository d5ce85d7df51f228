// error_message(f): the user-facing message (without the source location) of the retort::Error
// that f throws, "(no error)" when it throws none; checks that the error is an input error.
#pragma once
#include <catch2/catch.hpp>

#include <string>

#include "core/base/error.h"

template <typename F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const retort::Error& e) {
    CHECK(e.kind() == retort::ErrorKind::input);
    return e.message();
  }
  return "(no error)";
}

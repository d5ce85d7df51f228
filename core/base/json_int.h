// Whole numbers read from JSON files other programs wrote. nlohmann::json's get<int64_t>() of a
// float outside the integer range (1e72) is undefined behaviour, not an exception (a long-fuzz
// finding), so integer fields of input files are read through these, which throw nlohmann's own
// type_error 302 instead: the readers' catch blocks already turn that into an input error.
#pragma once
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace retort {

// An integer in [-2^63, 2^63), or a float with such an integral value (8.0); anything else throws.
inline int64_t json_int64(const nlohmann::json& v) {
  constexpr double kTwo63 = 9223372036854775808.0;
  if (v.is_number_integer() && !(v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)))
    return v.get<int64_t>();
  if (v.is_number_float()) {
    const double x = v.get<double>();
    if (std::isfinite(x) && x == std::trunc(x) && x >= -kTwo63 && x < kTwo63) return static_cast<int64_t>(x);
  }
  throw nlohmann::json::type_error::create(
      302, "expected an integer below 2^63, got " + (v.is_number() ? v.dump() : std::string(v.type_name())), &v);
}

// A list of such integers.
inline std::vector<int64_t> json_int64_list(const nlohmann::json& v) {
  if (!v.is_array())
    throw nlohmann::json::type_error::create(302, std::string("expected a list of integers, got ") + v.type_name(), &v);
  std::vector<int64_t> out;
  out.reserve(v.size());
  for (const nlohmann::json& e : v) out.push_back(json_int64(e));
  return out;
}

}  // namespace retort

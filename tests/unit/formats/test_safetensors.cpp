// safetensors: F32/F16/BF16 tensors to fp32 (exact, against a float64 decode written here),
// the F32-only parser of Retort's own files, and each malformed header (overflowing shapes,
// overlaps, gaps, trailing bytes, offsets out of range, unknown dtypes) as an input error naming
// the file and the tensor.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>

#include "core/base/error.h"
#include "core/checkpoint/safetensors.h"
#include "tests/unit/formats/gguf_writer.h"
#include "tests/unit/formats/safetensors_image.h"

using namespace retort::core;
using nlohmann::json;

namespace {

using retort::test::safetensors_bytes;

json entry(const std::string& dtype, std::vector<int64_t> shape, uint64_t begin, uint64_t end) {
  return {{"dtype", dtype}, {"shape", shape}, {"data_offsets", {begin, end}}};
}

void require_error(const std::vector<uint8_t>& bytes, const std::vector<std::string>& fragments) {
  try {
    parse_safetensors_any(bytes, "bad.safetensors");
    FAIL("accepted");
  } catch (const retort::Error& e) {
    REQUIRE(e.kind() == retort::ErrorKind::input);
    INFO(e.message());
    REQUIRE(e.message().find("bad.safetensors") != std::string::npos);
    for (const auto& f : fragments) REQUIRE(e.message().find(f) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("safetensors F16 and BF16 tensors convert to fp32 exactly", "[safetensors]") {
  std::vector<uint8_t> data;
  for (uint32_t b = 0; b < 65536; ++b) retort::test::GgufWriter::put(data, static_cast<uint16_t>(b));
  const size_t half_bytes = data.size();
  data.insert(data.end(), data.begin(), data.end());  // the same bits again, read as BF16
  const std::vector<float> f32 = {1.5f, -2.25f, 3e-39f};
  for (float x : f32) retort::test::GgufWriter::put(data, x);
  json header = {{"h", entry("F16", {256, 256}, 0, half_bytes)},
                 {"b", entry("BF16", {65536}, half_bytes, 2 * half_bytes)},
                 {"f", entry("F32", {3}, 2 * half_bytes, 2 * half_bytes + 12)},
                 {"__metadata__", {{"format", "pt"}}}};
  const auto file = parse_safetensors_any(safetensors_bytes(header, data), "mixed.safetensors");
  REQUIRE(file.metadata.at("format") == "pt");
  const auto& h = file.tensors.at("h");
  REQUIRE(h.dtype == SafetensorsDtype::f16);
  REQUIRE(h.shape == std::vector<int64_t>{256, 256});
  REQUIRE(h.data.empty());
  const auto hv = tensor_to_float(h);
  const auto bv = tensor_to_float(file.tensors.at("b"));
  REQUIRE(hv.size() == 65536);
  for (uint32_t k = 0; k < 65536; ++k) {
    const double ref = retort::test::half_value(static_cast<uint16_t>(k));
    if (std::isnan(ref)) {
      REQUIRE(std::isnan(hv[k]));
    } else {
      REQUIRE(static_cast<double>(hv[k]) == ref);
    }
    // bf16 by definition: sign, 8-bit exponent (bias 127), 7-bit mantissa.
    const int sign = k >> 15, exponent = (k >> 7) & 0xff, mantissa = k & 0x7f;
    double bref = exponent == 0xff ? (mantissa ? NAN : INFINITY)
                  : exponent == 0  ? std::ldexp(mantissa / 128.0, -126)
                                   : std::ldexp(1.0 + mantissa / 128.0, exponent - 127);
    if (sign) bref = -bref;
    if (std::isnan(bref)) {
      REQUIRE(std::isnan(bv[k]));
    } else {
      REQUIRE(static_cast<double>(bv[k]) == bref);
    }
    const float direct = f16_to_float(static_cast<uint16_t>(k));
    REQUIRE(std::memcmp(&direct, &hv[k], 4) == 0);
  }
  REQUIRE(tensor_to_float(file.tensors.at("f")) == f32);
  REQUIRE(std::vector<float>(file.tensors.at("f").data.begin(), file.tensors.at("f").data.end()) == f32);
  // Retort's own-file parser keeps requiring F32.
  REQUIRE_THROWS_WITH(parse_safetensors(safetensors_bytes(header, data), "own.safetensors"),
                      Catch::Contains("own.safetensors: tensor 'b' has dtype BF16, expected F32"));
}

TEST_CASE("safetensors encode round trips through the multi-dtype parser", "[safetensors]") {
  const std::vector<float> a = {1, 2, 3, 4, 5, 6}, b = {-7};
  const auto bytes = encode_safetensors({{"a", {2, 3}, a}, {"b", {1}, b}}, {{"k", "v"}});
  const auto file = parse_safetensors_any(bytes, "rt");
  REQUIRE(tensor_to_float(file.tensors.at("a")) == a);
  REQUIRE(tensor_to_float(file.tensors.at("b")) == b);
  REQUIRE(file.tensors.at("a").dtype == SafetensorsDtype::f32);
}

TEST_CASE("malformed safetensors headers are input errors naming file and tensor", "[safetensors]") {
  const std::vector<uint8_t> four(4), eight(8);
  SECTION("element count overflow is checked, not undefined") {
    require_error(safetensors_bytes({{"x", entry("F32", {4611686018427387905}, 0, 4)}}, four),
                  {"tensor 'x'", "overflows 64 bits"});
    require_error(safetensors_bytes({{"y", entry("F32", {int64_t{1} << 32, int64_t{1} << 32}, 0, 4)}}, four),
                  {"tensor 'y'", "overflows 64 bits"});
  }
  SECTION("overlapping tensors") {
    require_error(safetensors_bytes({{"a", entry("F32", {2}, 0, 8)}, {"b", entry("F32", {1}, 4, 8)}}, eight),
                  {"tensor 'b' overlaps tensor 'a'"});
  }
  SECTION("gaps and trailing bytes") {
    require_error(safetensors_bytes({{"a", entry("F32", {1}, 4, 8)}}, eight), {"4 unused bytes before tensor 'a'"});
    require_error(safetensors_bytes({{"a", entry("F32", {1}, 0, 4)}}, eight),
                  {"4 trailing bytes after the last tensor 'a'"});
  }
  SECTION("offsets out of range or malformed") {
    require_error(safetensors_bytes({{"a", entry("F32", {4}, 0, 16)}}, eight), {"tensor 'a'", "outside the file"});
    require_error(safetensors_bytes({{"a", entry("F32", {0}, 8, 4)}}, eight), {"tensor 'a'", "outside the file"});
    json three = {{"a", {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {0, 4, 8}}}}};
    require_error(safetensors_bytes(three, eight), {"tensor 'a'", "outside the file"});
    require_error(safetensors_bytes({{"a", entry("F32", {3}, 0, 8)}}, eight), {"tensor 'a'", "does not match its shape"});
    require_error(safetensors_bytes({{"a", entry("F32", {-1}, 0, 4)}}, four), {"tensor 'a'", "negative dimension"});
    json no_shape = {{"a", {{"dtype", "F32"}, {"data_offsets", {0, 4}}}}};
    require_error(safetensors_bytes(no_shape, four), {"tensor 'a'", "malformed"});
  }
  SECTION("unknown dtypes") {
    require_error(safetensors_bytes({{"w", entry("F8_E4M3", {4}, 0, 4)}}, four), {"tensor 'w' has dtype F8_E4M3"});
    require_error(safetensors_bytes({{"w", entry("I64", {1}, 0, 8)}}, eight), {"tensor 'w' has dtype I64"});
  }
  SECTION("header length and JSON") {
    auto b = safetensors_bytes({{"a", entry("F32", {1}, 0, 4)}}, four);
    b[6] = 1;
    require_error(b, {"header length"});
    require_error({1, 2, 3}, {"too short"});
    require_error(safetensors_bytes(json::array({1}), {}), {"not an object"});
  }
}

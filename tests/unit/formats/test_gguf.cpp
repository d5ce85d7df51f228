// GGUF reader: metadata of every type, tensor infos and alignment, dequantization of each
// supported type against a float64 reference decoded here from the block layout, and every
// malformed file (written by the test) refused with an input error naming file and key/tensor.
#include <catch2/catch.hpp>

#include <filesystem>
#include <random>

#include "core/base/error.h"
#include "core/checkpoint/gguf.h"
#include "tests/support/numeric.h"
#include "tests/unit/formats/gguf_writer.h"

namespace fs = std::filesystem;
using namespace retort::core;
using retort::test::GgufWriter;
using retort::test::half_bits_near;
using retort::test::half_value;

namespace {

fs::path temp_file(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("retort_gguf_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}

// Input error whose message contains every fragment.
void require_input_error(const std::string& path, const std::vector<std::string>& fragments) {
  try {
    open_gguf(path);
    FAIL("open_gguf accepted " << path);
  } catch (const retort::Error& e) {
    REQUIRE(e.kind() == retort::ErrorKind::input);
    for (const auto& f : fragments) {
      INFO(e.message());
      REQUIRE(e.message().find(f) != std::string::npos);
    }
  }
}

std::vector<uint8_t> f32_bytes(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// Random blocks of a 32-weight format with sane fp16 scales, and their float64 values.
struct Blocks {
  std::vector<uint8_t> bytes;
  std::vector<double> ref;
  double scale = 0;  // largest |d * q| + |m| of any block (the tolerance's scale)
};

Blocks random_blocks(uint32_t type, int n_blocks, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<double> u(-0.05, 0.05);
  std::uniform_int_distribution<int> byte(0, 255);
  Blocks out;
  for (int b = 0; b < n_blocks; ++b) {
    const uint16_t d_bits = half_bits_near(u(g)), m_bits = half_bits_near(u(g));
    const double d = half_value(d_bits), m = half_value(m_bits);
    auto put16 = [&](uint16_t v) { GgufWriter::put(out.bytes, v); };
    std::vector<uint8_t> qs(16);
    for (auto& q : qs) q = static_cast<uint8_t>(byte(g));
    uint32_t qh = static_cast<uint32_t>(g());
    std::vector<int> q(32);
    double mm = 0;
    put16(d_bits);
    switch (type) {
      case ggml::Q8_0:
        for (int j = 0; j < 32; ++j) {
          const auto v = static_cast<int8_t>(byte(g));
          out.bytes.push_back(static_cast<uint8_t>(v));
          q[j] = v;
        }
        break;
      case ggml::Q4_0:
      case ggml::Q4_1:
        if (type == ggml::Q4_1) put16(m_bits), mm = m;
        out.bytes.insert(out.bytes.end(), qs.begin(), qs.end());
        for (int j = 0; j < 16; ++j) q[j] = qs[j] & 15, q[j + 16] = qs[j] >> 4;
        if (type == ggml::Q4_0)
          for (int& x : q) x -= 8;
        break;
      case ggml::Q5_0:
      case ggml::Q5_1:
        if (type == ggml::Q5_1) put16(m_bits), mm = m;
        GgufWriter::put(out.bytes, qh);
        out.bytes.insert(out.bytes.end(), qs.begin(), qs.end());
        for (int j = 0; j < 16; ++j) {
          q[j] = (qs[j] & 15) + 16 * ((qh >> j) & 1);
          q[j + 16] = (qs[j] >> 4) + 16 * ((qh >> (j + 16)) & 1);
        }
        if (type == ggml::Q5_0)
          for (int& x : q) x -= 16;
        break;
    }
    for (int j = 0; j < 32; ++j) {
      out.ref.push_back(d * q[j] + mm);
      out.scale = std::max(out.scale, std::abs(d * q[j]) + std::abs(mm));
    }
  }
  return out;
}

}  // namespace

TEST_CASE("gguf metadata of every type, tensor infos and alignment", "[gguf]") {
  for (uint32_t version : {2u, 3u}) {
    GgufWriter w;
    w.version = version;
    w.alignment = 64;
    w.u32("general.alignment", 64);
    w.str("general.architecture", "llama");
    w.u8("a.u8", 200);
    w.i8("a.i8", -100);
    w.u16("a.u16", 60000);
    w.i16("a.i16", -30000);
    w.i32("a.i32", -7);
    w.f32("a.f32", 0.5f);
    w.boolean("a.bool", true);
    w.u64("a.u64", uint64_t{1} << 40);
    w.i64("a.i64", -(int64_t{1} << 40));
    w.f64("a.f64", 1e-300);
    w.string_array("tokenizer.ggml.tokens", {"<s>", "", "héllo"});
    w.i32_array("tokenizer.ggml.token_type", {3, 1, -2});
    const std::vector<float> a = {1, 2, 3, 4, 5, 6};
    w.tensor("a", {3, 2}, ggml::F32, f32_bytes(a));
    w.tensor("b", {1}, ggml::F32, f32_bytes({7}));
    const auto path = temp_file("meta_v" + std::to_string(version) + ".gguf");
    w.write(path);

    const GgufFile f = open_gguf(path.string());
    REQUIRE(f.version() == version);
    REQUIRE(f.alignment() == 64);
    REQUIRE(f.metadata().size() == 14);
    REQUIRE(f.metadata()[1].first == "general.architecture");
    REQUIRE(f.get_string("general.architecture") == "llama");
    REQUIRE(f.get_u64("a.u8") == 200);
    REQUIRE(f.get_i64("a.i8") == -100);
    REQUIRE(f.get_u64("a.u16") == 60000);
    REQUIRE(f.get_i64("a.i16") == -30000);
    REQUIRE(f.get_i64("a.i32") == -7);
    REQUIRE(f.get_f64("a.f32") == 0.5);
    REQUIRE(f.get_bool("a.bool"));
    REQUIRE(f.get_u64("a.u64") == uint64_t{1} << 40);
    REQUIRE(f.get_i64("a.i64") == -(int64_t{1} << 40));
    REQUIRE(f.get_f64("a.f64") == 1e-300);
    REQUIRE(f.get_string_array("tokenizer.ggml.tokens") == std::vector<std::string>{"<s>", "", "héllo"});
    REQUIRE(f.get_i32_array("tokenizer.ggml.token_type") == std::vector<int32_t>{3, 1, -2});
    REQUIRE(f.find("absent") == nullptr);
    REQUIRE(f.find("a.u8")->type == GgufType::u8);

    REQUIRE(f.tensors().size() == 2);
    const GgufTensorInfo& t = *f.find_tensor("a");
    REQUIRE(t.dims == std::vector<uint64_t>{3, 2});
    REQUIRE(t.shape() == std::vector<int64_t>{2, 3});
    REQUIRE(t.n_elements == 6);
    REQUIRE(t.n_bytes == 24);
    REQUIRE(f.find_tensor("b")->offset == 64);  // aligned after a's 24 bytes
    REQUIRE(f.dequantize(t) == a);
    REQUIRE(f.dequantize(*f.find_tensor("b")) == std::vector<float>{7});
  }
}

TEST_CASE("gguf typed getters name the file and key", "[gguf]") {
  GgufWriter w;
  w.str("s", "x");
  w.i32("neg", -1);
  w.u64("big", ~uint64_t{0});
  w.i32_array("ints", {1});
  w.string_array("strs", {"a"});
  const auto path = temp_file("getters.gguf").string();
  w.write(path);
  const GgufFile f = open_gguf(path);
  auto input_error_with = [&](auto&& call, const std::string& fragment) {
    try {
      call();
      FAIL("no error");
    } catch (const retort::Error& e) {
      REQUIRE(e.kind() == retort::ErrorKind::input);
      INFO(e.message());
      REQUIRE(e.message().find(path) != std::string::npos);
      REQUIRE(e.message().find(fragment) != std::string::npos);
    }
  };
  input_error_with([&] { f.get_u64("missing.key"); }, "metadata missing.key is missing");
  input_error_with([&] { f.get_u64("s"); }, "metadata s is string, expected a non-negative integer");
  input_error_with([&] { f.get_u64("neg"); }, "metadata neg is i32");
  input_error_with([&] { f.get_i64("big"); }, "metadata big is u64");
  input_error_with([&] { f.get_f64("neg"); }, "expected f32 or f64");
  input_error_with([&] { f.get_string("neg"); }, "expected string");
  input_error_with([&] { f.get_bool("s"); }, "expected bool");
  input_error_with([&] { f.get_string_array("ints"); }, "metadata ints is array of i32, expected array of string");
  input_error_with([&] { f.get_i32_array("strs"); }, "expected array of integers");
}

TEST_CASE("gguf dequantization of each supported type", "[gguf]") {
  SECTION("F16 and BF16 are exact") {
    std::vector<uint8_t> f16, bf16;
    std::vector<double> f16_ref, bf16_ref;
    for (uint32_t b = 0; b < 65536; ++b) {
      GgufWriter::put(f16, static_cast<uint16_t>(b));
      GgufWriter::put(bf16, static_cast<uint16_t>(b));
      f16_ref.push_back(half_value(static_cast<uint16_t>(b)));
      const uint32_t u = b << 16;
      float x;
      std::memcpy(&x, &u, 4);
      bf16_ref.push_back(x);
    }
    GgufWriter w;
    w.tensor("h", {256, 256}, ggml::F16, f16);
    w.tensor("bh", {65536}, ggml::BF16, bf16);
    const auto path = temp_file("halves.gguf").string();
    w.write(path);
    const GgufFile f = open_gguf(path);
    const auto h = f.dequantize(*f.find_tensor("h"));
    const auto bh = f.dequantize(*f.find_tensor("bh"));
    for (size_t k = 0; k < 65536; ++k) {
      if (std::isnan(f16_ref[k])) {
        REQUIRE(std::isnan(h[k]));
      } else {
        REQUIRE(static_cast<double>(h[k]) == f16_ref[k]);
      }
      if (std::isnan(bf16_ref[k])) {
        REQUIRE(std::isnan(bh[k]));
      } else {
        REQUIRE(static_cast<double>(bh[k]) == bf16_ref[k]);
      }
    }
  }
  SECTION("block formats match d * q [+ m] within fp32 rounding") {
    for (uint32_t type : {ggml::Q8_0, ggml::Q4_0, ggml::Q4_1, ggml::Q5_0, ggml::Q5_1}) {
      INFO(ggml_type_name(type));
      const Blocks blocks = random_blocks(type, 6, 100 + type);  // 6 blocks: 2 rows of 96
      GgufWriter w;
      w.tensor("q", {96, 2}, type, blocks.bytes);
      const auto path = temp_file("quant_" + ggml_type_name(type) + ".gguf").string();
      w.write(path);
      const GgufFile f = open_gguf(path);
      const auto& info = *f.find_tensor("q");
      REQUIRE(info.n_bytes == blocks.bytes.size());
      const auto got = f.dequantize(info);
      REQUIRE(got.size() == 192);
      for (size_t k = 0; k < got.size(); ++k) {
        INFO("element " << k << " got " << got[k] << " ref " << blocks.ref[k]);
        REQUIRE(retort::test::within_tolerance(got[k], blocks.ref[k], 1.2e-7 * blocks.scale, 0));
      }
    }
  }
}

TEST_CASE("gguf files that are malformed are input errors naming file and key or tensor", "[gguf]") {
  auto base = [] {
    GgufWriter w;
    w.str("general.architecture", "llama");
    w.tensor("w", {32, 2}, ggml::F32, f32_bytes(std::vector<float>(64, 1.f)));
    return w;
  };
  const std::string path = temp_file("bad.gguf").string();
  auto check = [&](const std::vector<uint8_t>& bytes, const std::vector<std::string>& fragments) {
    GgufWriter::write_bytes(path, bytes);
    std::vector<std::string> all = fragments;
    all.push_back(path);
    require_input_error(path, all);
  };

  SECTION("bad magic") {
    auto b = base().bytes();
    b[0] = 'X';
    check(b, {"bad magic"});
    check({}, {"bad magic"});
  }
  SECTION("unknown versions") {
    for (uint32_t v : {1u, 4u}) {
      auto w = base();
      w.version = v;
      check(w.bytes(), {"GGUF version " + std::to_string(v) + " is not supported"});
    }
  }
  SECTION("unknown metadata value type and array element type") {
    auto w = base();
    w.raw_kv("odd.key", 13, {0, 0, 0, 0});
    check(w.bytes(), {"metadata odd.key has unknown value type 13"});
    auto w2 = base();
    std::vector<uint8_t> arr;
    GgufWriter::put(arr, uint32_t{42});
    GgufWriter::put(arr, uint64_t{0});
    w2.raw_kv("odd.array", 9, arr);
    check(w2.bytes(), {"metadata odd.array: unknown array element type 42"});
  }
  SECTION("counts and lengths larger than the file never allocate") {
    auto w = base();
    std::vector<uint8_t> arr;
    GgufWriter::put(arr, uint32_t{8});
    GgufWriter::put(arr, uint64_t{1} << 60);
    w.raw_kv("tokenizer.ggml.tokens", 9, arr);
    check(w.bytes(), {"truncated", "tokenizer.ggml.tokens", "array elements"});
    auto w2 = base();
    std::vector<uint8_t> str;
    GgufWriter::put(str, uint64_t{1} << 62);
    w2.raw_kv("general.name", 8, str);
    check(w2.bytes(), {"truncated", "general.name"});
    auto b = base().bytes();
    b[8 + 7] = 0x10;  // tensor count 2^60
    check(b, {"truncated", "tensors"});
    auto b2 = base().bytes();
    b2[16 + 7] = 0x10;  // metadata count 2^60
    check(b2, {"truncated", "metadata entries"});
  }
  SECTION("truncated file") {
    auto b = base().bytes();
    b.resize(40);  // inside the first key/value
    check(b, {"truncated file"});
    auto b2 = base().bytes();
    b2.resize(b2.size() - 4);  // inside the tensor data
    check(b2, {"tensor w", "outside the data section"});
  }
  SECTION("tensor data out of range, misaligned or overlapping") {
    auto w = base();
    w.tensor("far", {4}, ggml::F32, {}, 4096);
    check(w.bytes(), {"tensor far", "outside the data section"});
    auto w2 = base();
    w2.tensor("odd", {4}, ggml::F32, f32_bytes({1, 2, 3, 4}), 260);
    check(w2.bytes(), {"tensor odd", "not a multiple of the alignment 32"});
    auto w3 = base();
    w3.tensor("over", {4}, ggml::F32, f32_bytes({1, 2, 3, 4}), 224);
    w3.tensor("pad", {64}, ggml::F32, f32_bytes(std::vector<float>(64)));
    check(w3.bytes(), {"tensor over overlaps tensor w"});
  }
  SECTION("unknown ggml type, partial blocks, overflowing element counts") {
    auto w = base();
    w.tensor("t99", {32}, 99, std::vector<uint8_t>(32));
    check(w.bytes(), {"tensor t99", "unknown ggml tensor type 99"});
    auto w2 = base();
    w2.tensor("partial", {48, 2}, ggml::Q4_1, std::vector<uint8_t>(60));
    check(w2.bytes(), {"tensor partial", "whole number of Q4_1 blocks"});
    auto w3 = base();
    w3.tensor("huge", {uint64_t{1} << 40, uint64_t{1} << 40}, ggml::F32, {});
    check(w3.bytes(), {"tensor huge", "overflows 64 bits"});
    auto w4 = base();
    w4.tensor("huge_bytes", {uint64_t{1} << 62}, ggml::F32, {});
    check(w4.bytes(), {"tensor huge_bytes", "overflows 64 bits"});
  }
  SECTION("duplicates, bad alignment, bad bool") {
    auto w = base();
    w.str("general.architecture", "again");
    check(w.bytes(), {"metadata key general.architecture appears twice"});
    auto w2 = base();
    w2.tensor("w", {4}, ggml::F32, f32_bytes({1, 2, 3, 4}));
    check(w2.bytes(), {"tensor w appears twice"});
    GgufWriter w3;
    w3.u32("general.alignment", 24);
    check(w3.bytes(), {"general.alignment 24 is not a power of two"});
    GgufWriter w4;
    w4.raw_kv("flag", 7, {2});
    check(w4.bytes(), {"metadata flag: bool value 2"});
  }
}

TEST_CASE("gguf types Retort cannot dequantize are input errors naming tensor and type", "[gguf]") {
  GgufWriter w;
  w.tensor("blk.0.ffn_down.weight", {256}, 12 /* Q4_K */, std::vector<uint8_t>(144));
  const auto path = temp_file("q4k.gguf").string();
  w.write(path);
  const GgufFile f = open_gguf(path);
  const auto& t = f.tensors().at(0);
  REQUIRE(ggml_type_name(t.type) == "Q4_K");
  REQUIRE(ggml_type_name(99) == "type 99");
  try {
    f.dequantize(t);
    FAIL("Q4_K was dequantized");
  } catch (const retort::Error& e) {
    REQUIRE(e.kind() == retort::ErrorKind::input);
    REQUIRE_THAT(e.message(), Catch::Contains(path) && Catch::Contains("blk.0.ffn_down.weight") &&
                                  Catch::Contains("Q4_K cannot be dequantized"));
  }
}

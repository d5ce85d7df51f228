// Wire format: bitwise round trips of every kind/dtype, layout, and the exact error of every
// corrupted header field and of every expectation (both sides named).
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <xxhash.h>

#include <cstring>
#include <random>
#include <vector>

#include "comm/wire.h"
#include "core/base/error.h"

using namespace retort;
using namespace retort::comm;

namespace {

// Random logits in the layout the wire expects, owned by the test.
struct Sample {
  PayloadKind kind;
  DType dtype;
  int64_t rows, vocab, k;
  std::vector<std::byte> values;
  std::vector<uint32_t> indices;
  std::vector<float> lse;
  std::vector<uint16_t> counts;  // sampled
  float temperature = 2;
  uint64_t tokenizer_hash = 0x1234abcd5678ef00ull;
  uint64_t seed = 0;
  LogitsPayload payload() const {
    LogitsPayload p{kind, dtype, rows, vocab, k, values.data(), indices.empty() ? nullptr : indices.data(),
                    lse.empty() ? nullptr : lse.data()};
    p.counts = counts.empty() ? nullptr : counts.data();
    p.temperature = temperature;
    p.tokenizer_hash = tokenizer_hash;
    p.seed = seed;
    return p;
  }
};

Sample make_sample(PayloadKind kind, DType dtype, int64_t rows, int64_t vocab, int64_t k, unsigned seed) {
  std::mt19937 rng(seed);
  const bool sparse = kind != PayloadKind::dense;
  Sample s{kind, dtype, rows, vocab, sparse ? k : 0, {}, {}, {}, {}};
  const int64_t n = rows * (sparse ? k : vocab);
  // Sampled log-probabilities are fp32 whatever the dtype (the precision they were rounded to).
  s.values.resize(static_cast<size_t>(n) * (kind == PayloadKind::sampled ? 4 : dtype_size(dtype)));
  for (auto& b : s.values) b = static_cast<std::byte>(rng());
  if (sparse)
    for (int64_t i = 0; i < n; ++i) s.indices.push_back(static_cast<uint32_t>(rng() % vocab));
  if (kind == PayloadKind::topk)
    for (int64_t r = 0; r < rows; ++r) s.lse.push_back(std::uniform_real_distribution<float>(-5, 5)(rng));
  if (kind == PayloadKind::sampled) {
    for (int64_t i = 0; i < n; ++i) s.counts.push_back(static_cast<uint16_t>(rng() % 17));
    s.seed = 0x5eed0000u + seed;
  }
  return s;
}

WireExpect expect_of(int64_t step, int32_t student) {
  WireExpect e;
  e.peer_rank = 3;
  e.step = step;
  e.student = student;
  return e;
}

std::string error_of(std::vector<std::byte> message, const WireExpect& e, ErrorKind kind = ErrorKind::runtime) {
  try {
    decode(message, e);
  } catch (const Error& err) {
    CHECK(err.kind() == kind);
    return err.message();
  }
  return "no error";
}

void set_header(std::vector<std::byte>& m, const WireHeader& h) { std::memcpy(m.data(), &h, sizeof h); }
WireHeader header_of(const std::vector<std::byte>& m) {
  WireHeader h;
  std::memcpy(&h, m.data(), sizeof h);
  return h;
}

}  // namespace

TEST_CASE("wire: every kind and dtype round-trips bitwise", "[comm][wire]") {
  for (PayloadKind kind : {PayloadKind::dense, PayloadKind::topk, PayloadKind::sampled})
    for (DType dtype : {DType::f32, DType::bf16})
      for (int64_t rows : {1, 3, 8}) {
        const Sample s = make_sample(kind, dtype, rows, 37, 5, static_cast<unsigned>(rows * 7 + static_cast<int>(kind)));
        const auto message = encode(s.payload(), 41, 2);
        REQUIRE(message.size() == encoded_size(s.payload()));
        const TeacherView v = decode(message, expect_of(41, 2));
        CHECK(v.kind() == kind);
        CHECK(v.dtype() == dtype);
        CHECK(v.rows() == rows);
        CHECK(v.vocab() == 37);
        CHECK(v.header.step == 41);
        CHECK(!v.end_of_stream());
        CHECK(v.temperature() == 2.0f);
        CHECK(v.tokenizer_hash() == 0x1234abcd5678ef00ull);
        CHECK(v.seed() == s.seed);
        CHECK(std::memcmp(v.values, s.values.data(), s.values.size()) == 0);
        CHECK(reinterpret_cast<uintptr_t>(v.values) % (kind == PayloadKind::sampled ? 4 : dtype_size(dtype)) == 0);
        if (kind == PayloadKind::dense) {
          CHECK(v.indices == nullptr);
          CHECK(v.lse == nullptr);
          CHECK(v.counts == nullptr);
        } else {
          CHECK(v.k() == 5);
          CHECK(std::memcmp(v.indices, s.indices.data(), s.indices.size() * 4) == 0);
        }
        if (kind == PayloadKind::topk) {
          CHECK(std::memcmp(v.lse, s.lse.data(), s.lse.size() * 4) == 0);
          CHECK(reinterpret_cast<uintptr_t>(v.lse) % 4 == 0);
          CHECK(v.counts == nullptr);
        }
        if (kind == PayloadKind::sampled) {
          CHECK(std::memcmp(v.counts, s.counts.data(), s.counts.size() * 2) == 0);
          CHECK(reinterpret_cast<uintptr_t>(v.counts) % 2 == 0);
          CHECK(v.lse == nullptr);
        }
      }
}

TEST_CASE("wire: layout sizes follow the documented format", "[comm][wire]") {
  CHECK(payload_layout(PayloadKind::dense, DType::bf16, 3, 10, 0).bytes == 3 * 10 * 2);
  // top-k bf16, rows 3, k 5: 60 bytes of indices, 30 of values padded to 96, then 12 of lse.
  const PayloadLayout l = payload_layout(PayloadKind::topk, DType::bf16, 3, 10, 5);
  CHECK(l.indices == 0);
  CHECK(l.values == 60);
  CHECK(l.lse == 96);
  CHECK(l.bytes == 108);
  // sampled, rows 3, n 5: 60 bytes of ids, 30 of counts padded to 96, then 60 of fp32 log-probs.
  const PayloadLayout sl = payload_layout(PayloadKind::sampled, DType::bf16, 3, 10, 5);
  CHECK(sl.indices == 0);
  CHECK(sl.counts == 60);
  CHECK(sl.values == 96);
  CHECK(sl.bytes == 156);
  CHECK(sizeof(WireHeader) == 72);
  CHECK(sizeof(WireHeader) % 8 == 0);
  CHECK_THROWS_AS(payload_layout(PayloadKind::sampled, DType::f32, 2, 10, 11), Error);
  CHECK_THROWS_AS(payload_layout(PayloadKind::sampled, DType::f32, 2, 100000, 65536), Error);
  CHECK(payload_layout(PayloadKind::end_of_stream, DType::f32, 0, 0, 0).bytes == 0);
  CHECK_THROWS_AS(payload_layout(PayloadKind::topk, DType::f32, 2, 10, 11), Error);
  CHECK_THROWS_AS(payload_layout(PayloadKind::dense, DType::u32, 2, 10, 0), Error);
  CHECK_THROWS_AS(payload_layout(PayloadKind::dense, DType::f32, 0, 10, 0), Error);
}

TEST_CASE("wire: end-of-stream is accepted at or after the expected step", "[comm][wire]") {
  const WireHeader h = end_of_stream_header(9, 1);
  std::vector<std::byte> m(sizeof h);
  set_header(m, h);
  CHECK(decode(m, expect_of(9, 1)).end_of_stream());
  CHECK(decode(m, expect_of(4, 1)).end_of_stream());
  CHECK(error_of(m, expect_of(10, 1)) ==
        "logits message from rank 3 for step 10: end-of-stream for step 9, expected step >= 10");
}

TEST_CASE("wire: corrupted or mismatched messages fail with a message naming rank and step", "[comm][wire]") {
  const Sample s = make_sample(PayloadKind::topk, DType::f32, 4, 20, 3, 5);
  const auto good = encode(s.payload(), 7, 1);
  const std::string prefix = "logits message from rank 3 for step 7: ";

  SECTION("flipped payload byte") {
    auto m = good;
    m[sizeof(WireHeader) + 13] ^= std::byte{0x10};
    const uint64_t seed = XXH3_64bits(m.data(), 64);  // header bytes before the checksum field
    const uint64_t computed = XXH3_64bits_withSeed(m.data() + sizeof(WireHeader), m.size() - sizeof(WireHeader), seed);
    char expected[160];
    std::snprintf(expected, sizeof expected, "payload checksum mismatch (header 0x%016llx, computed 0x%016llx)",
                  static_cast<unsigned long long>(header_of(good).checksum), static_cast<unsigned long long>(computed));
    CHECK(error_of(m, expect_of(7, 1)) == prefix + expected);
  }
  SECTION("wrong version") {
    auto m = good;
    WireHeader h = header_of(m);
    h.version = 1;
    set_header(m, h);
    CHECK(error_of(m, expect_of(7, 1)) == prefix + "wire version 1, expected 2");
  }
  SECTION("wrong step") {
    CHECK(error_of(good, expect_of(7, 1)) == "no error");
    CHECK(error_of(good, expect_of(8, 1)) == "logits message from rank 3 for step 8: step 7, expected step 8");
  }
  SECTION("bad magic") {
    auto m = good;
    m[0] = std::byte{'X'};
    CHECK(error_of(m, expect_of(7, 1)) == prefix + "bad magic 0x474c5458, expected 0x474c5452");
  }
  SECTION("wrong student") {
    CHECK(error_of(good, expect_of(7, 0)) ==
          "logits message from rank 3 for step 7: addressed to student 1, expected student 0");
  }
  SECTION("every expectation names both sides (an input error: the two configs disagree)") {
    const auto input = ErrorKind::input;
    WireExpect e = expect_of(7, 1);
    e.payload = {4, 20, PayloadKind::topk, 3, DType::f32, 2.0f, 0x1234abcd5678ef00ull, std::nullopt};
    CHECK(error_of(good, e) == "no error");
    WireExpect x = e;
    x.payload.rows = 5;
    CHECK(error_of(good, x, input) == prefix + "the teacher sent 4 rows, this student expects 5");
    x = e;
    x.payload.vocab = 21;
    CHECK(error_of(good, x, input) == prefix + "the teacher's vocabulary is 20, this student's is 21");
    x = e;
    x.payload.kind = PayloadKind::sampled;
    CHECK(error_of(good, x, input) ==
          prefix + "the teacher sends top-k targets, this student distills from sampled targets");
    x = e;
    x.payload.k = 8;
    CHECK(error_of(good, x, input) == prefix + "the teacher sends top-3 targets, this student expects top-8");
    x = e;
    x.payload.dtype = DType::bf16;
    CHECK(error_of(good, x, input) == prefix + "the teacher's targets are fp32, this student expects bf16");
    x = e;
    x.payload.temperature = 4.0f;
    CHECK(error_of(good, x, input) ==
          prefix + "the teacher's targets were made at temperature 2, this student distills at 4");
    x = e;
    x.payload.tokenizer_hash = 0x99;
    CHECK(error_of(good, x, input) == prefix + "the teacher's tokenizer hash is 0x1234abcd5678ef00, this student's "
                                               "data tokenizer hash is 0x0000000000000099");
  }
  SECTION("the sampled draws' seed is checked") {
    const Sample sampled = make_sample(PayloadKind::sampled, DType::bf16, 2, 20, 4, 9);
    const auto m = encode(sampled.payload(), 7, 1);
    WireExpect e = expect_of(7, 1);
    e.payload.seed = sampled.seed;
    CHECK(error_of(m, e) == "no error");
    e.payload.seed = 1;
    CHECK(error_of(m, e, ErrorKind::input) ==
          prefix + fmt::format("the teacher's sampled draws use seed {}, this student expects seed 1", sampled.seed));
    e.payload.seed.reset();
    e.payload.k = 16;
    CHECK(error_of(m, e, ErrorKind::input) ==
          prefix + "the teacher sends sampled (n 4) targets, this student expects sampled (n 16)");
  }
  SECTION("a seed on a non-sampled message or a non-zero reserved field is corruption") {
    auto m = good;
    WireHeader h = header_of(m);
    h.seed = 5;
    h.checksum = message_checksum(h, m.data() + sizeof h, m.size() - sizeof h);
    set_header(m, h);
    CHECK(error_of(m, expect_of(7, 1)) == prefix + "top-k payload with seed 5 (expected 0)");
    h = header_of(good);
    h.reserved = 1;
    h.checksum = message_checksum(h, m.data() + sizeof h, m.size() - sizeof h);
    set_header(m, h);
    CHECK(error_of(m, expect_of(7, 1)) == prefix + "reserved header field 1, expected 0");
  }
  SECTION("decode_header applies the same expectations") {
    WireHeader h = header_of(good);
    h.checksum = message_checksum(h, nullptr, 0);
    WireExpect e = expect_of(7, 1);
    e.payload.temperature = 4.0f;
    try {
      decode_header(h, good.data() + sizeof h, e);
      FAIL("no error");
    } catch (const Error& err) {
      CHECK(err.kind() == ErrorKind::input);
      CHECK(err.message() == prefix + "the teacher's targets were made at temperature 2, this student distills at 4");
    }
  }
  SECTION("a flipped byte in the rows field no longer matches payload_bytes") {
    auto m = good;
    WireHeader h = header_of(m);
    h.rows = 5;
    set_header(m, h);
    CHECK(error_of(m, expect_of(7, 1)) ==
          prefix + "payload_bytes 112 does not match the top-k fp32 shape 5x20 k 3 (140 bytes)");
  }
  SECTION("truncated message") {
    auto m = good;
    m.pop_back();
    CHECK(error_of(m, expect_of(7, 1)) == prefix + "message of 183 bytes, header says 72 + 112 payload bytes");
    m.resize(10);
    CHECK(error_of(m, expect_of(7, 1)) == prefix + "message of 10 bytes is shorter than the 72-byte header");
  }
  SECTION("every single flipped bit anywhere is detected") {
    for (size_t i = 0; i < good.size(); ++i)
      for (int bit = 0; bit < 8; ++bit) {
        auto m = good;
        m[i] ^= static_cast<std::byte>(1 << bit);
        INFO("byte " << i << " bit " << bit);
        CHECK(error_of(m, expect_of(7, 1)) != "no error");
      }
  }
}

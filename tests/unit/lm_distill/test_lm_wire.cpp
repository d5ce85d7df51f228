// LM targets on the wire: every kind and dtype survives lm_payload -> encode -> decode ->
// lm_targets_from_view bitwise, and a message made for another spec is refused naming both sides.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "core/base/error.h"
#include "core/distill/lm_wire.h"
#include "tests/support/numeric.h"

using namespace retort;
using namespace retort::core;

namespace {

LmTargets encoded(TargetKind kind, DType dtype, int64_t rows, int64_t vocab, int32_t k) {
  const std::vector<float> logits = test::random_normal(static_cast<size_t>(rows * vocab), 7, 2.f);
  std::vector<int64_t> ids(static_cast<size_t>(rows));
  std::vector<int32_t> positions(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) ids[r] = 40 + r / 4, positions[r] = static_cast<int32_t>(r % 4);
  LmTargets t = make_targets(kind, rows, vocab, k, dtype, 2.f, kind == TargetKind::sampled ? 11 : 0);
  encode_rows(logits.data(), 0, rows, EncodeSpec{kind, k, dtype, 2.f, t.seed, ids.data(), positions.data()}, t);
  return t;
}

LmTargetsSpec spec_of(const LmTargets& t, int64_t seq_len) {
  LmTargetsSpec s;
  s.kind = t.kind, s.k = t.k, s.dtype = t.dtype, s.temperature = t.temperature, s.seed = t.seed;
  s.vocab = t.vocab, s.seq_len = seq_len, s.tokenizer_hash = 0xabcdef;
  return s;
}

comm::WireExpect expect_of(const LmTargetsSpec& spec, int64_t rows) {
  comm::WireExpect e;
  e.peer_rank = 0, e.step = 3, e.student = 1;
  e.payload = lm_payload_expect(spec, rows);
  return e;
}

std::string input_error_of(const std::vector<std::byte>& m, const comm::WireExpect& e) {
  try {
    comm::decode(m, e);
  } catch (const Error& err) {
    CHECK(err.kind() == ErrorKind::input);
    return err.message();
  }
  return "no error";
}

}  // namespace

TEST_CASE("lm wire: every target kind and dtype round-trips bitwise", "[lm_distill]") {
  for (TargetKind kind : {TargetKind::dense, TargetKind::topk, TargetKind::sampled})
    for (DType dtype : {DType::f32, DType::bf16}) {
      INFO(target_kind_name(kind) << " " << dtype_name(dtype));
      const LmTargets t = encoded(kind, dtype, 12, 29, kind == TargetKind::dense ? 0 : 5);
      const LmTargetsSpec spec = spec_of(t, 4);
      const auto message = comm::encode(lm_payload(t, spec.tokenizer_hash), 3, 1);
      CHECK(message.size() == sizeof(comm::WireHeader) + lm_payload_bytes(spec, 12));
      LmTargets got;
      lm_targets_from_view(comm::decode(message, expect_of(spec, 12)), got);
      got.validate("received");
      CHECK(got.kind == kind);
      CHECK(got.dtype == dtype);
      CHECK(got.temperature == 2.f);
      CHECK(got.seed == t.seed);
      CHECK(got.values == t.values);
      CHECK(got.indices == t.indices);
      CHECK(got.counts == t.counts);
      REQUIRE(got.lse.size() == t.lse.size());  // empty for some kinds: no memcmp of null data()
      CHECK((t.lse.empty() || std::memcmp(got.lse.data(), t.lse.data(), t.lse.size() * 4) == 0));
      REQUIRE(got.log_probs.size() == t.log_probs.size());
      CHECK((t.log_probs.empty() || std::memcmp(got.log_probs.data(), t.log_probs.data(), t.log_probs.size() * 4) == 0));
    }
}

TEST_CASE("lm wire: sampled bf16 targets carry log-probabilities rounded to bf16", "[lm_distill]") {
  const LmTargets t = encoded(TargetKind::sampled, DType::bf16, 8, 31, 6);
  const LmTargets f = encoded(TargetKind::sampled, DType::f32, 8, 31, 6);
  CHECK(t.indices == f.indices);  // the same draws
  CHECK(t.counts == f.counts);
  for (size_t i = 0; i < t.log_probs.size(); ++i) {
    if (f.counts[i] == 0) continue;
    CHECK(t.log_probs[i] == bf16_to_float(float_to_bf16(f.log_probs[i])));
  }
  LmTargets bad = t;
  for (size_t i = 0; i < bad.counts.size(); ++i)
    if (bad.counts[i]) {
      bad.log_probs[i] = std::nextafter(bad.log_probs[i], 0.f);
      break;
    }
  CHECK_THROWS_WITH(bad.validate("test"), Catch::Contains("is not a bf16 value"));
}

TEST_CASE("lm wire: a message made for another spec is refused naming both sides", "[lm_distill]") {
  const LmTargets t = encoded(TargetKind::sampled, DType::bf16, 8, 31, 6);
  const LmTargetsSpec spec = spec_of(t, 4);
  const auto m = comm::encode(lm_payload(t, spec.tokenizer_hash), 3, 1);
  const std::string prefix = "logits message from rank 0 for step 3: ";
  CHECK(input_error_of(m, expect_of(spec, 8)) == "no error");
  LmTargetsSpec x = spec;
  x.temperature = 4.f;
  CHECK(input_error_of(m, expect_of(x, 8)) ==
        prefix + "the teacher's targets were made at temperature 2, this student distills at 4");
  x = spec;
  x.tokenizer_hash = 0x1234;
  CHECK(input_error_of(m, expect_of(x, 8)) == prefix + "the teacher's tokenizer hash is 0x0000000000abcdef, this "
                                                       "student's data tokenizer hash is 0x0000000000001234");
  x = spec;
  x.kind = TargetKind::topk;
  CHECK(input_error_of(m, expect_of(x, 8)) ==
        prefix + "the teacher sends sampled targets, this student distills from top-k targets");
  x = spec;
  x.seed = 12;
  CHECK(input_error_of(m, expect_of(x, 8)) ==
        prefix + "the teacher's sampled draws use seed 11, this student expects seed 12");
  x = spec;
  x.vocab = 32;
  CHECK(input_error_of(m, expect_of(x, 8)) == prefix + "the teacher's vocabulary is 31, this student's is 32");
}

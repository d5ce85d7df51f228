// The shard codec on its own: bit widths, bit packing, and sections whose contents do not fit
// the spec (the cache reader's last line of defence behind the checksums).
#include <catch2/catch.hpp>

#include "core/distill/bit_pack.h"
#include "core/distill/lm_shard_codec.h"
#include "tests/unit/lm_cache/lm_cache_fixture.h"
#include "tests/unit/text/error_message.h"

using namespace retort;
using core::TargetKind;

TEST_CASE("bits_for is ceil(log2 V), at least one bit", "[lm_cache]") {
  CHECK(core::bits_for(1) == 1);
  CHECK(core::bits_for(2) == 1);
  CHECK(core::bits_for(3) == 2);
  CHECK(core::bits_for(4) == 2);
  CHECK(core::bits_for(5) == 3);
  CHECK(core::bits_for(17) == 5);  // counts of n = 16 draws: 0..16
  CHECK(core::bits_for(32000) == 15);
  CHECK(core::bits_for(32768) == 15);
  CHECK(core::bits_for(32769) == 16);
  CHECK(core::bits_for(152064) == 18);
  CHECK(core::bits_for(uint64_t{1} << 32) == 32);
}

TEST_CASE("bit packing round trips mixed widths and refuses to read past the end", "[lm_cache]") {
  std::vector<uint8_t> bytes;
  core::BitWriter w(bytes);
  std::vector<std::pair<uint32_t, int>> fields;
  std::mt19937 g(5);
  for (int i = 0; i < 1000; ++i) {
    const int bits = 1 + static_cast<int>(g() % 32);
    const uint32_t v = bits == 32 ? g() : g() & ((1u << bits) - 1);
    fields.emplace_back(v, bits), w.put(v, bits);
  }
  w.flush();
  uint64_t total = 0;
  for (auto [v, b] : fields) total += b;
  CHECK(bytes.size() == (total + 7) / 8);
  core::BitReader r(bytes, "test bits");
  for (auto [v, b] : fields) REQUIRE(r.get(b) == v);
  CHECK(r.bytes_used() == bytes.size());
  CHECK_THAT(error_message([&] { r.get(9); }), Catch::Contains("test bits: packed fields run past the end"));
}

TEST_CASE("topk ids and values pack to ceil(log2 V) bits and the dtype", "[lm_cache]") {
  const auto s = test::lm_spec(TargetKind::topk, 32, 32000, DType::bf16, 1, 4);
  const auto sections = core::encode_lm_sections(test::lm_window_targets(s, 0, 1), s);
  REQUIRE(sections.size() == 3);
  CHECK(sections[0].size() == 4 * 32 * 15 / 8);  // 60 bytes of ids per token
  CHECK(sections[1].size() == 4 * 32 * 2);
  CHECK(sections[2].size() == 4 * 4);
}

TEST_CASE("decode refuses sections that do not fit the spec", "[lm_cache]") {
  const auto s = test::lm_spec(TargetKind::sampled, 4, 100, DType::f32, 1, 1);  // 7-bit ids, 3-bit counts
  auto encode = [](std::initializer_list<std::pair<uint32_t, int>> fields) {
    std::vector<uint8_t> b;
    core::BitWriter w(b);
    for (auto [v, bits] : fields) w.put(v, bits);
    w.flush();
    return b;
  };
  const std::vector<uint8_t> logp(8, 0);  // two f32 log p of 0
  auto decode = [&](std::vector<std::vector<uint8_t>> sections) {
    return error_message([&] { core::decode_lm_sections(sections, s, 1, "shard.rlt"); });
  };
  // One row: u = 2 distinct ids {5, 9} with counts {3, 1}.
  CHECK(decode({encode({{2, 3}}), encode({{5, 7}, {9, 7}}), encode({{3, 3}, {1, 3}}), logp}) == "(no error)");
  CHECK_THAT(decode({encode({{0, 3}}), {}, {}, {}}), Catch::Contains("shard.rlt: row 0 has 0 distinct ids"));
  CHECK_THAT(decode({encode({{5, 3}}), {}, {}, {}}), Catch::Contains("row 0 has 5 distinct ids, not in [1, 4]"));
  CHECK_THAT(decode({encode({{2, 3}}), encode({{5, 7}, {120, 7}}), encode({{3, 3}, {1, 3}}), logp}),
             Catch::Contains("id >= vocab 100"));
  CHECK_THAT(decode({encode({{2, 3}}), encode({{5, 7}, {5, 7}}), encode({{3, 3}, {1, 3}}), logp}),
             Catch::Contains("repeated id"));
  CHECK_THAT(decode({encode({{2, 3}}), encode({{5, 7}, {9, 7}}), encode({{2, 3}, {1, 3}}), logp}),
             Catch::Contains("counts sum to 3, expected n = 4"));
  CHECK_THAT(decode({encode({{2, 3}}), encode({{5, 7}, {9, 7}}), encode({{3, 3}, {0, 3}}), logp}),
             Catch::Contains("a count of 0"));
  CHECK_THAT(decode({encode({{2, 3}}), encode({{5, 7}, {9, 7}}), encode({{3, 3}, {1, 3}}), {0, 0, 0, 0}}),
             Catch::Contains("section log_probs has 4 bytes, its rows need 8"));
  CHECK_THAT(decode({encode({{2, 3}}), encode({{5, 7}, {9, 7}})}), Catch::Contains("2 sections, a sampled shard has 4"));
  const auto d = test::lm_spec(TargetKind::dense, 0, 100, DType::bf16, 1, 1);
  CHECK_THAT(error_message([&] { core::decode_lm_sections({std::vector<uint8_t>(199)}, d, 1, "d.rlt"); }),
             Catch::Contains("d.rlt: section values has 199 bytes, expected 200"));
}

TEST_CASE("decoded padding is the smallest ids not drawn, count 0, log p -inf", "[lm_cache]") {
  const auto s = test::lm_spec(TargetKind::sampled, 5, 100, DType::f32, 1, 1);
  std::vector<uint8_t> ids, counts, distinct;
  core::BitWriter wi(ids), wc(counts), wd(distinct);
  wd.put(2, 3), wi.put(1, 7), wi.put(3, 7), wc.put(4, 3), wc.put(1, 3);
  wd.flush(), wi.flush(), wc.flush();
  const core::LmTargets t = core::decode_lm_sections({distinct, ids, counts, std::vector<uint8_t>(8, 0)}, s, 1, "x");
  CHECK(t.indices == std::vector<uint32_t>{1, 3, 0, 2, 4});
  CHECK(t.counts == std::vector<uint16_t>{4, 1, 0, 0, 0});
  CHECK(std::isinf(t.log_probs[4]));
  CHECK(t.log_probs[4] < 0);
}

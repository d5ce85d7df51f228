// The sampler: permutations, the same global order for any rank count, purity.
#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "core/data/sampler.h"

using namespace retort::core;

TEST_CASE("each epoch is a permutation, different per epoch, same per (seed, epoch)", "[sampler]") {
  Sampler s(3, 1000, 64);
  REQUIRE(s.steps_per_epoch() == 15);
  auto p0 = s.permutation(0);
  auto p1 = s.permutation(1);
  REQUIRE(p0 != p1);
  REQUIRE(Sampler(3, 1000, 64).permutation(1) == p1);
  REQUIRE(Sampler(4, 1000, 64).permutation(1) != p1);
  std::sort(p0.begin(), p0.end());
  for (int64_t i = 0; i < 1000; ++i) REQUIRE(p0[i] == i);
}

TEST_CASE("the global batch order is identical for any number of ranks", "[sampler]") {
  Sampler s(11, 500, 30);
  for (int64_t epoch : {0, 2})
    for (int64_t step : {0, 7, 15}) {
      const auto global = s.ids(epoch, step, 0, 1);
      REQUIRE(global.size() == 30);
      for (int ranks : {2, 3, 4, 7}) {
        std::vector<int64_t> joined;
        for (int r = 0; r < ranks; ++r) {
          const auto part = Sampler(11, 500, 30).ids(epoch, step, r, ranks);  // a fresh sampler: pure
          const auto [first, last] = Sampler::rank_rows(30, r, ranks);
          REQUIRE(static_cast<int64_t>(part.size()) == last - first);
          joined.insert(joined.end(), part.begin(), part.end());
        }
        REQUIRE(joined == global);
      }
    }
}

TEST_CASE("an epoch's steps cover distinct samples", "[sampler]") {
  Sampler s(1, 100, 32);
  std::vector<int64_t> seen;
  for (int64_t step = 0; step < s.steps_per_epoch(); ++step) {
    const auto ids = s.ids(0, step, 0, 1);
    seen.insert(seen.end(), ids.begin(), ids.end());
  }
  std::sort(seen.begin(), seen.end());
  REQUIRE(std::adjacent_find(seen.begin(), seen.end()) == seen.end());
  REQUIRE(seen.size() == 96);  // the last partial batch is dropped
  REQUIRE_THROWS(s.ids(0, 3, 0, 1));
  REQUIRE_THROWS_WITH(Sampler(1, 10, 11), Catch::Contains("train.batch_size"));
}

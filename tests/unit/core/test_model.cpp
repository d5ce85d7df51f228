// Model construction: flat-buffer layout, seeded initialisation, backward hook order.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "core/model/model.h"

using namespace retort::core;

namespace {
ModelSpec small_spec() {
  ModelSpec s;
  s.config.hidden = {16, 8};
  s.in_features = 12;
  s.classes = 5;
  return s;
}
}  // namespace

TEST_CASE("MLP parameters are named tensors at aligned offsets in one flat buffer", "[model]") {
  Model m(small_spec());
  const auto& t = m.layout().tensors();
  REQUIRE(t.size() == 6);
  REQUIRE(t[0].name == "fc1.weight");
  REQUIRE(t[0].shape == std::vector<int64_t>{16, 12});
  REQUIRE(t[5].name == "fc3.bias");
  REQUIRE(t[5].shape == std::vector<int64_t>{5});
  int64_t end = 0;
  for (const auto& p : t) {
    REQUIRE(p.offset % 16 == 0);
    REQUIRE(p.offset >= end);
    end = p.offset + p.numel;
  }
  REQUIRE(m.num_params() == end);
  REQUIRE(m.params().size() == static_cast<size_t>(end));
  REQUIRE(m.grads().size() == static_cast<size_t>(end));
}

TEST_CASE("initialisation is a function of the seed only", "[model]") {
  Model a(small_spec()), b(small_spec()), c(small_spec());
  a.initialize(7);
  b.initialize(7);
  c.initialize(8);
  REQUIRE(std::vector<float>(a.params().begin(), a.params().end()) ==
          std::vector<float>(b.params().begin(), b.params().end()));
  REQUIRE(std::vector<float>(a.params().begin(), a.params().end()) !=
          std::vector<float>(c.params().begin(), c.params().end()));
  // Kaiming normal: std sqrt(2/fan_in); biases zero.
  ModelSpec big = small_spec();
  big.in_features = 400;
  big.config.hidden = {300};
  Model m(big);
  m.initialize(1);
  const auto& w = m.layout().tensor(0);
  double sq = 0, sum = 0;
  for (int64_t i = 0; i < w.numel; ++i) {
    sum += m.params()[w.offset + i];
    sq += double(m.params()[w.offset + i]) * m.params()[w.offset + i];
  }
  const double var = sq / w.numel - (sum / w.numel) * (sum / w.numel);
  REQUIRE(std::abs(std::sqrt(var) - std::sqrt(2.0 / 400)) < 0.002);
  const auto& b1 = m.layout().tensor(1);
  for (int64_t i = 0; i < b1.numel; ++i) REQUIRE(m.params()[b1.offset + i] == 0.f);
}

TEST_CASE("backward reports every layer's parameter range once, last layer first", "[model]") {
  Model m(small_spec());
  m.initialize(3);
  const int rows = 4;
  std::vector<float> x(rows * 12, 0.5f), dz(rows * 5, 0.1f);
  BatchContext ctx;
  ctx.rows = rows;
  m.forward(x.data(), ctx);
  std::vector<std::pair<int64_t, int64_t>> seen;
  m.backward(dz.data(), ctx, [&](int64_t off, int64_t n) { seen.emplace_back(off, n); });
  const auto& t = m.layout().tensors();
  REQUIRE(seen.size() == 3);
  REQUIRE(seen[0].first <= t[4].offset);
  REQUIRE(seen[0].first > t[3].offset);
  REQUIRE(seen[0].first + seen[0].second == m.num_params());
  REQUIRE(seen[2].first == 0);
  REQUIRE(seen[2].first + seen[2].second >= t[1].offset + t[1].numel);
  // The ranges tile the buffer (padding included), so a reducer sees every element.
  for (size_t i = 0; i + 1 < seen.size(); ++i) REQUIRE(seen[i + 1].first + seen[i + 1].second == seen[i].first);
}

TEST_CASE("invalid model specs are refused with the key named", "[model]") {
  ModelSpec s = small_spec();
  s.config.activation = "tanh";
  REQUIRE_THROWS_WITH(Model(s), Catch::Contains("activation"));
  s = small_spec();
  s.config.dropout = 1.0;
  REQUIRE_THROWS_WITH(Model(s), Catch::Contains("dropout"));
  s = small_spec();
  s.config.arch = "cnn";
  REQUIRE_THROWS_WITH(Model(s), Catch::Contains("arch"));
}

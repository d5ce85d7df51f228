// compare_lm on tiny Llamas against a float64 reference written here (perplexities, KL(teacher ‖
// student) at T = 1, top-1 agreement, token accuracy), with ignored targets, partial batches and
// chunks that straddle windows; KL = 0 when the student is the teacher; vocabulary mismatch refused;
// several students against one teacher pass equal their single comparisons.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "core/base/error.h"
#include "core/lm/lm_compare.h"
#include "core/model/cpu_compute.h"
#include "tests/unit/lm_model/lm_test_support.h"

using namespace retort;
using namespace retort::core;
using namespace retort::test;

namespace {

constexpr int64_t kSeqLen = 6, kWindows = 5, kFirstCounted = 2;

// kWindows windows of kSeqLen + 1 random tokens.
TokenWindows random_windows(int64_t vocab, uint32_t seed) {
  auto tokens = std::make_shared<std::vector<int32_t>>(random_tokens(kWindows * (kSeqLen + 1), vocab, seed));
  return {kWindows, kFirstCounted, vocab, [tokens](std::span<const int64_t> ids, int32_t* out) {
            for (size_t i = 0; i < ids.size(); ++i)
              std::copy_n(tokens->begin() + ids[i] * (kSeqLen + 1), kSeqLen + 1, out + i * (kSeqLen + 1));
          }};
}

struct Reference {
  int64_t tokens = 0, student_correct = 0, agree = 0;
  double student_nll = 0, teacher_nll = 0, kl = 0;
};

// Row r of logits z [rows, V]: log-softmax in float64 and the first maximum.
std::vector<double> log_softmax(const Vec& z, int64_t r, int64_t V, int64_t& argmax) {
  argmax = 0;
  for (int64_t j = 1; j < V; ++j)
    if (z[r * V + j] > z[r * V + argmax]) argmax = j;
  double s = 0;
  for (int64_t j = 0; j < V; ++j) s += std::exp(z[r * V + j] - z[r * V + argmax]);
  std::vector<double> lp(static_cast<size_t>(V));
  for (int64_t j = 0; j < V; ++j) lp[j] = z[r * V + j] - z[r * V + argmax] - std::log(s);
  return lp;
}

Reference reference(const ReferenceLlama& teacher, const ReferenceLlama& student, const TokenWindows& windows) {
  const int64_t V = student.c.vocab_size, T = kSeqLen;
  std::vector<int64_t> ids(static_cast<size_t>(windows.count));
  for (int64_t i = 0; i < windows.count; ++i) ids[i] = i;
  std::vector<int32_t> all(static_cast<size_t>(windows.count * (T + 1)));
  windows.gather(ids, all.data());
  Reference r;
  for (int64_t w = 0; w < windows.count; ++w) {
    const std::vector<int32_t> inputs(all.begin() + w * (T + 1), all.begin() + w * (T + 1) + T);
    const Vec zs = student.logits(student.hidden(inputs, 1, T), T);
    const Vec zt = teacher.logits(teacher.hidden(inputs, 1, T), T);
    for (int64_t t = windows.first_counted; t < T; ++t) {
      const int32_t y = all[w * (T + 1) + t + 1];
      int64_t arg_s = 0, arg_t = 0;
      const auto ls = log_softmax(zs, t, V, arg_s), lt = log_softmax(zt, t, V, arg_t);
      r.tokens += 1;
      r.student_nll -= ls[y];
      r.teacher_nll -= lt[y];
      for (int64_t j = 0; j < V; ++j) r.kl += std::exp(lt[j]) * (lt[j] - ls[j]);
      r.student_correct += arg_s == y;
      r.agree += arg_s == arg_t;
    }
  }
  return r;
}

struct Pair {
  LlamaConfig tc, sc;
  std::unique_ptr<LlamaModel> teacher, student;
  std::map<std::string, std::vector<float>> tw, sw;
};

// A 2-layer teacher and a narrower 1-layer untied student, same vocabulary.
Pair tiny_pair() {
  Pair p;
  p.tc = tiny_config(true, 2, false);
  p.sc = tiny_config(false, 1, true);
  p.sc.n_layers = 1;
  p.sc.dim = 8;
  p.sc.n_heads = 2;
  p.sc.ffn_dim = 12;
  p.teacher = std::make_unique<LlamaModel>(p.tc, cpu_compute());
  p.student = std::make_unique<LlamaModel>(p.sc, cpu_compute());
  p.tw = random_weights(*p.teacher, 11);
  p.sw = random_weights(*p.student, 97);
  p.teacher->load_tensors(p.tw, "teacher");
  p.student->load_tensors(p.sw, "student");
  return p;
}

void check_close(double got, double ref) {
  INFO("got " << got << ", reference " << ref);
  CHECK(within_tolerance(got, ref, 1e-4, 1e-4));
}

}  // namespace

TEST_CASE("compare_lm equals the float64 reference for batch and chunk sizes", "[lm_compare]") {
  Pair p = tiny_pair();
  const TokenWindows windows = random_windows(p.tc.vocab_size, 5);
  const Reference ref = reference(reference_of(p.tc, p.tw), reference_of(p.sc, p.sw), windows);
  REQUIRE(ref.tokens == kWindows * (kSeqLen - kFirstCounted));
  REQUIRE(ref.kl > 0.1);  // the models differ: a comparison that can fail
  const size_t row_bytes = static_cast<size_t>(p.tc.vocab_size) * sizeof(float);
  for (const auto& [batch, chunk_rows] : {std::pair<int64_t, size_t>{1, 1}, {2, 5}, {3, 7}, {5, 1000}}) {
    INFO("batch " << batch << " windows, chunks of " << chunk_rows << " rows");
    const LmComparison got = compare_lm(p.teacher.get(), *p.student, windows, kSeqLen, {batch, chunk_rows * row_bytes});
    REQUIRE(got.has_teacher);
    CHECK(got.tokens == ref.tokens);
    check_close(got.student_nll_sum, ref.student_nll);
    check_close(got.teacher_nll_sum, ref.teacher_nll);
    check_close(got.kl_sum, ref.kl);
    CHECK(got.student_correct == ref.student_correct);
    CHECK(got.agree == ref.agree);
    check_close(got.mean_kl(), ref.kl / static_cast<double>(ref.tokens));
    const nlohmann::json j = got.to_json();
    check_close(j["student_perplexity"].get<double>(), std::exp(ref.student_nll / static_cast<double>(ref.tokens)));
    check_close(j["teacher_perplexity"].get<double>(), std::exp(ref.teacher_nll / static_cast<double>(ref.tokens)));
    check_close(j["top1_agreement"].get<double>(), static_cast<double>(ref.agree) / static_cast<double>(ref.tokens));
  }
}

TEST_CASE("compare_lm without a teacher gives the student's metrics only", "[lm_compare]") {
  Pair p = tiny_pair();
  const TokenWindows windows = random_windows(p.tc.vocab_size, 6);
  const Reference ref = reference(reference_of(p.tc, p.tw), reference_of(p.sc, p.sw), windows);
  const LmComparison got = compare_lm(nullptr, *p.student, windows, kSeqLen, {2, 64});
  CHECK_FALSE(got.has_teacher);
  CHECK(got.tokens == ref.tokens);
  check_close(got.student_nll_sum, ref.student_nll);
  CHECK(got.student_correct == ref.student_correct);
  CHECK_FALSE(got.to_json().contains("kl_teacher_student"));
}

TEST_CASE("the teacher compared with itself: KL 0, agreement 1, equal perplexities", "[lm_compare]") {
  Pair p = tiny_pair();
  LlamaModel twin(p.tc, cpu_compute());
  twin.load_tensors(p.tw, "teacher twin");
  const TokenWindows windows = random_windows(p.tc.vocab_size, 7);
  const LmComparison got = compare_lm(p.teacher.get(), twin, windows, kSeqLen, {2, 64});
  CHECK(got.kl_sum == 0.0);
  CHECK(got.agree == got.tokens);
  CHECK(got.teacher_nll_sum == got.student_nll_sum);
}

TEST_CASE("compare_lm refuses a teacher with another vocabulary", "[lm_compare]") {
  Pair p = tiny_pair();
  LlamaConfig other = p.tc;
  other.vocab_size = p.tc.vocab_size + 3;
  LlamaModel teacher(other, cpu_compute());
  teacher.initialize(1);
  const TokenWindows windows = random_windows(p.tc.vocab_size, 8);
  try {
    compare_lm(&teacher, *p.student, windows, kSeqLen);
    FAIL("a vocabulary mismatch was accepted");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::input);
    CHECK_THAT(e.message(), Catch::Contains("16") && Catch::Contains("13"));
  }
}

TEST_CASE("several students against one teacher pass: each equals its own comparison bit for bit", "[lm_compare]") {
  Pair p = tiny_pair();
  LlamaModel second(p.sc, cpu_compute());
  second.load_tensors(random_weights(second, 211), "second student");
  const TokenWindows windows = random_windows(p.tc.vocab_size, 9);
  LlamaModel* const students[] = {p.student.get(), &second, p.student.get()};
  const std::vector<LmComparison> got =
      compare_lm(p.teacher.get(), std::span<LlamaModel* const>(students), windows, kSeqLen, {2, 64});
  REQUIRE(got.size() == 3);
  const LmComparison first = compare_lm(p.teacher.get(), *p.student, windows, kSeqLen, {2, 64});
  const LmComparison alone = compare_lm(p.teacher.get(), second, windows, kSeqLen, {2, 64});
  for (const auto& [g, want] : {std::pair{got[0], first}, std::pair{got[1], alone}, std::pair{got[2], first}}) {
    CHECK(g.tokens == want.tokens);
    CHECK(g.student_nll_sum == want.student_nll_sum);
    CHECK(g.teacher_nll_sum == want.teacher_nll_sum);
    CHECK(g.kl_sum == want.kl_sum);
    CHECK(g.agree == want.agree);
    CHECK(g.student_correct == want.student_correct);
  }
  CHECK(got[1].kl_sum != got[0].kl_sum);  // the two students differ (the test can fail)
}

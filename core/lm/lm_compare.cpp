// compare_lm: batches of windows through both models, each head chunk by chunk, per-row float64
// statistics; evaluate_lm_checkpoint: the models and the split `retort eval` names.
#include "core/lm/lm_compare.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <vector>

#include "core/base/error.h"
#include "core/data/sequence_dataset.h"
#include "core/data/token_shards.h"
#include "core/lm/lm_import.h"
#include "core/lm/tokenizer_export.h"

namespace retort::core {
namespace {

constexpr int32_t kIgnore = -100;

double mean_of(double sum, int64_t n) { return n > 0 ? sum / static_cast<double>(n) : 0.0; }

// One model's head over a chunk of its hidden rows: logits [rows, vocab] in host memory.
class HostLogits {
 public:
  HostLogits(LlamaModel& model, int64_t chunk_rows) : model_(model) {
    const size_t n = static_cast<size_t>(chunk_rows * model.config().vocab_size);
    device_ = ComputeBuffer(model.compute_ptr(), n);
    if (!model.compute().host_memory()) host_.resize(n);
  }
  const float* rows(const float* hidden, int64_t row0, int64_t count) {
    const LlamaConfig& c = model_.config();
    model_.compute().linear_forward(hidden + row0 * c.dim, model_.head_weight(), nullptr, device_.data(), count,
                                    c.dim, c.vocab_size, false);  // Z_c = X_c·Wᵀ
    if (host_.empty()) return device_.data();
    model_.compute().download(host_.data(), device_.data(), static_cast<size_t>(count * c.vocab_size) * sizeof(float));
    return host_.data();
  }

 private:
  LlamaModel& model_;
  ComputeBuffer device_;
  std::vector<float> host_;
};

// Index of the first maximum of z[0, V).
int64_t first_argmax(const float* z, int64_t V) {
  int64_t best = 0;
  for (int64_t j = 1; j < V; ++j)
    if (z[j] > z[best]) best = j;
  return best;
}

// log Σ exp(z) in float64 around the row maximum z[argmax].
double log_sum_exp(const float* z, int64_t V, int64_t argmax) {
  const double m = z[argmax];
  double s = 0;
  for (int64_t j = 0; j < V; ++j) s += std::exp(static_cast<double>(z[j]) - m);
  return m + std::log(s);
}

// Student-only and teacher-vs-student sums of one row with label y.
void add_row(const float* zs, const float* zt, int64_t V, int32_t y, LmComparison& sums) {
  const int64_t arg_s = first_argmax(zs, V);
  const double lse_s = log_sum_exp(zs, V, arg_s);
  sums.student_nll_sum += lse_s - zs[y];
  sums.student_correct += arg_s == y;
  sums.tokens += 1;
  if (!zt) return;
  const int64_t arg_t = first_argmax(zt, V);
  // KL(p‖q) = Σ p·((zt − lse_t) − (zs − lse_s)) = Σ p·(zt − zs) − lse_t + lse_s, p = e^(zt−mt) / S_t.
  const double mt = zt[arg_t];
  double st = 0, cross = 0;
  for (int64_t j = 0; j < V; ++j) {
    const double e = std::exp(static_cast<double>(zt[j]) - mt);
    st += e;
    cross += e * (static_cast<double>(zt[j]) - static_cast<double>(zs[j]));
  }
  const double lse_t = mt + std::log(st);
  sums.teacher_nll_sum += lse_t - zt[y];
  sums.kl_sum += cross / st - lse_t + lse_s;
  sums.agree += arg_s == arg_t;
}

void check_fits(const LlamaModel& m, const char* role, const TokenWindows& windows, int64_t seq_len) {
  if (windows.vocab > m.config().vocab_size)
    RETORT_INPUT_ERROR(fmt::format("lm eval: the data's vocabulary {} exceeds the {}'s {}", windows.vocab, role,
                                   m.config().vocab_size));
  if (seq_len > m.config().max_seq_len)
    RETORT_INPUT_ERROR(fmt::format("lm eval: data.seq_len {} exceeds the {}'s max_seq_len {}", seq_len, role,
                                   m.config().max_seq_len));
}

struct EvalData {
  TokenWindows windows;
  std::string dir;   // the shard directory (empty for synthetic data)
  std::string tokenizer_hash;  // 16 hex digits, or empty
};

EvalData eval_data(const Config& c, const std::string& split) {
  if (split != "val" && split != "test") RETORT_INPUT_ERROR("--split '" + split + "' is neither val nor test");
  if (c.data.dataset == "copy_task") {
    if (split == "test") RETORT_INPUT_ERROR("data.dataset copy_task has no test split (--split val)");
    return {load_token_splits(c).val, "", ""};
  }
  if (c.data.dataset != "tokens")
    RETORT_INPUT_ERROR("student.arch llama needs data.dataset tokens or copy_task, got '" + c.data.dataset + "'");
  const std::string dir = split == "val" ? c.data.dir : (std::filesystem::path(c.data.dir) / "test").string();
  if (split == "test" && !std::filesystem::exists(std::filesystem::path(dir) / "manifest.json"))
    RETORT_INPUT_ERROR(dir + "/manifest.json does not exist: the test split is written by retort tokenize --test-fraction");
  auto data = std::make_shared<SequenceDataset>(dir, "val", c.data.seq_len);
  const int64_t count =
      c.data.eval_windows > 0 ? std::min(c.data.eval_windows, data->num_windows()) : data->num_windows();
  TokenWindows w{count, 0, data->vocab_size(),
                 [data](std::span<const int64_t> ids, int32_t* out) { data->gather(ids, out); }};
  return {std::move(w), dir, fmt::format("{:016x}", read_token_manifest(dir).tokenizer_hash)};
}

// A model from anything import_lm reads, refused when it names a tokenizer other than the data's.
std::unique_ptr<LlamaModel> load_for_eval(const std::string& path, const char* role, const EvalData& data) {
  ImportedLm lm = import_lm(path);
  if (!data.tokenizer_hash.empty()) {
    const std::string hash = model_tokenizer_hash(path, lm);
    if (!hash.empty() && hash != data.tokenizer_hash)
      RETORT_INPUT_ERROR(fmt::format("lm eval: {} {} uses tokenizer {}, but {} was tokenized with {}", role, path, hash,
                                     data.dir, data.tokenizer_hash));
  }
  auto model = std::make_unique<LlamaModel>(lm.config, cpu_compute());
  model->load_tensors(lm.tensors, path);
  return model;
}

}  // namespace

double LmComparison::student_loss() const { return mean_of(student_nll_sum, tokens); }
double LmComparison::teacher_loss() const { return mean_of(teacher_nll_sum, tokens); }
double LmComparison::mean_kl() const { return mean_of(kl_sum, tokens); }
double LmComparison::agreement() const { return mean_of(static_cast<double>(agree), tokens); }

nlohmann::json LmComparison::to_json() const {
  nlohmann::json j = {{"tokens", tokens},
                      {"student_loss", student_loss()},
                      {"student_perplexity", std::exp(student_loss())},
                      {"student_token_accuracy", mean_of(static_cast<double>(student_correct), tokens)}};
  if (has_teacher) {
    j["teacher_loss"] = teacher_loss();
    j["teacher_perplexity"] = std::exp(teacher_loss());
    j["kl_teacher_student"] = mean_kl();
    j["top1_agreement"] = agreement();
  }
  return j;
}

LmComparison compare_lm(LlamaModel* teacher, LlamaModel& student, const TokenWindows& windows, int64_t seq_len,
                        const LmCompareOptions& options) {
  LlamaModel* const one[] = {&student};
  return compare_lm(teacher, std::span<LlamaModel* const>(one), windows, seq_len, options).front();
}

std::vector<LmComparison> compare_lm(LlamaModel* teacher, std::span<LlamaModel* const> students,
                                     const TokenWindows& windows, int64_t seq_len, const LmCompareOptions& options) {
  if (students.empty()) RETORT_INPUT_ERROR("lm eval: no student to evaluate");
  const int64_t V = students.front()->config().vocab_size, T = seq_len;
  for (LlamaModel* s : students)
    if (s->config().vocab_size != V)
      RETORT_INPUT_ERROR(fmt::format("lm eval: the students' vocabularies differ ({} and {})", s->config().vocab_size, V));
  if (teacher && teacher->config().vocab_size != V)
    RETORT_INPUT_ERROR(fmt::format("lm eval: the teacher's vocabulary {} differs from the student's {}",
                                   teacher->config().vocab_size, V));
  for (LlamaModel* s : students) check_fits(*s, "student", windows, T);
  if (teacher) check_fits(*teacher, "teacher", windows, T);
  const int64_t batch = std::max<int64_t>(1, options.batch_windows);
  const int64_t chunk = std::clamp<int64_t>(
      static_cast<int64_t>(options.head_chunk_bytes / (static_cast<size_t>(V) * sizeof(float))), 1, batch * T);
  std::vector<std::unique_ptr<HostLogits>> student_heads;
  for (LlamaModel* s : students) student_heads.push_back(std::make_unique<HostLogits>(*s, chunk));
  std::unique_ptr<HostLogits> teacher_head;
  if (teacher) teacher_head = std::make_unique<HostLogits>(*teacher, chunk);

  std::vector<LmComparison> sums(students.size());
  for (LmComparison& s : sums) s.has_teacher = teacher != nullptr;
  std::vector<const float*> hidden(students.size());
  std::vector<int64_t> ids;
  std::vector<int32_t> tokens, inputs, labels;
  for (int64_t first = 0; first < windows.count; first += batch) {
    const int64_t b = std::min(batch, windows.count - first), rows = b * T;
    ids.resize(static_cast<size_t>(b));
    for (int64_t i = 0; i < b; ++i) ids[i] = first + i;
    tokens.resize(static_cast<size_t>(b * (T + 1)));
    windows.gather(ids, tokens.data());
    inputs.resize(static_cast<size_t>(rows));
    labels.resize(static_cast<size_t>(rows));
    for (int64_t w = 0; w < b; ++w)
      for (int64_t t = 0; t < T; ++t) {
        inputs[w * T + t] = tokens[w * (T + 1) + t];
        labels[w * T + t] = t >= windows.first_counted ? tokens[w * (T + 1) + t + 1] : kIgnore;
      }
    const LmBatch lb{b, T, false};
    for (size_t s = 0; s < students.size(); ++s) hidden[s] = students[s]->forward(inputs.data(), lb);
    const float* ht = teacher ? teacher->forward(inputs.data(), lb) : nullptr;
    for (int64_t row0 = 0; row0 < rows; row0 += chunk) {
      const int64_t c = std::min(chunk, rows - row0);
      const float* zt = teacher ? teacher_head->rows(ht, row0, c) : nullptr;
      for (size_t s = 0; s < students.size(); ++s) {
        const float* zs = student_heads[s]->rows(hidden[s], row0, c);
        for (int64_t r = 0; r < c; ++r) {
          const int32_t y = labels[row0 + r];
          if (y == kIgnore) continue;
          add_row(zs + r * V, zt ? zt + r * V : nullptr, V, y, sums[s]);
        }
      }
    }
  }
  return sums;
}

LmComparison evaluate_lm_checkpoint(const std::string& path, const Config& config, const std::string& split) {
  return evaluate_lm_checkpoints(std::span<const std::string>(&path, 1), config, split).front();
}

std::vector<LmComparison> evaluate_lm_checkpoints(std::span<const std::string> paths, const Config& config,
                                                  const std::string& split) {
  const EvalData data = eval_data(config, split);
  std::vector<std::unique_ptr<LlamaModel>> students;
  std::vector<LlamaModel*> views;
  for (const std::string& path : paths) {
    students.push_back(load_for_eval(path, "student", data));
    views.push_back(students.back().get());
  }
  std::unique_ptr<LlamaModel> teacher;
  if (config.teacher.present && !config.teacher.checkpoint.empty())
    teacher = load_for_eval(config.teacher.checkpoint, "teacher.checkpoint", data);
  const LmCompareOptions options{std::max<int64_t>(1, config.train.eval_batch_size),
                                 static_cast<size_t>(config.train.head_chunk_mb * (1 << 20))};
  return compare_lm(teacher.get(), views, data.windows, config.data.seq_len, options);
}

}  // namespace retort::core

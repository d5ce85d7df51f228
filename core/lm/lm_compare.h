// Teacher-vs-student evaluation of language models over a split of token windows: both
// perplexities, mean KL(teacher ‖ student) per counted token at T = 1 and top-1 agreement, with
// both heads' logits one chunk of tokens at a time (no [N, V] tensor) and float64 sums; several
// students against one teacher computed once.
#pragma once
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/lm/llama_model.h"
#include "core/lm/lm_head_loss.h"
#include "core/train/lm_task.h"

namespace retort::core {

// Sums over the counted target tokens (targets at or after windows.first_counted).
struct LmComparison {
  int64_t tokens = 0;
  double student_nll_sum = 0;
  int64_t student_correct = 0;  // student argmax (first maximum) == label
  bool has_teacher = false;     // the fields below are filled only with a teacher
  double teacher_nll_sum = 0;
  double kl_sum = 0;            // Σ KL(p_teacher ‖ p_student), both softmaxes at T = 1
  int64_t agree = 0;            // student argmax == teacher argmax (first maxima)

  double student_loss() const;  // mean NLL per counted token
  double teacher_loss() const;
  double mean_kl() const;
  double agreement() const;
  // {"tokens", "student_loss", "student_perplexity", "student_token_accuracy"} and with a teacher
  // {"teacher_loss", "teacher_perplexity", "kl_teacher_student", "top1_agreement"}.
  nlohmann::json to_json() const;
};

struct LmCompareOptions {
  int64_t batch_windows = 8;                     // windows per forward
  size_t head_chunk_bytes = kDefaultHeadChunkBytes;  // per head's logits chunk
};

// Walks windows 0 .. count−1 (seq_len + 1 tokens each) in batches: forward of both models, then
// per chunk of token rows each head's logits [c, V]. `teacher` may be null (student metrics
// only); with one, both models must have the same vocabulary (input error naming both sizes).
LmComparison compare_lm(LlamaModel* teacher, LlamaModel& student, const TokenWindows& windows, int64_t seq_len,
                        const LmCompareOptions& options = {});
// The same for several students against one teacher, whose forward and head run once per batch
// and chunk (each result equals compare_lm of that student alone, bit for bit).
std::vector<LmComparison> compare_lm(LlamaModel* teacher, std::span<LlamaModel* const> students,
                                     const TokenWindows& windows, int64_t seq_len, const LmCompareOptions& options = {});

// `retort eval` of a language model: the student from `path` (anything student.init_from takes)
// and, when the config has teacher.checkpoint, the teacher (core/lm/lm_import.h), on split
// "val" (data.dir's validation windows) or "test" (the validation split of data.dir/test, which
// `retort tokenize --test-fraction` writes). Tokenizer hashes of models and data must agree.
LmComparison evaluate_lm_checkpoint(const std::string& path, const Config& config, const std::string& split);
// Several students on the same split against the config's teacher, loaded and run once.
std::vector<LmComparison> evaluate_lm_checkpoints(std::span<const std::string> paths, const Config& config,
                                                  const std::string& split);

}  // namespace retort::core

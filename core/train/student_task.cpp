// make_student_task: the task of student.arch.
#include "core/train/student_task.h"

#include "core/base/error.h"
#include "core/train/lm_task.h"
#include "core/train/mlp_task.h"

namespace retort::core {

void validate_task(const Config& c) {
  if (c.student.arch == "llama") {
    if (c.data.dataset != "tokens" && c.data.dataset != "copy_task")
      RETORT_INPUT_ERROR("student.arch llama needs data.dataset tokens or copy_task, got '" + c.data.dataset + "'");
    if (c.data.dataset == "copy_task" && (c.student.vocab_size < 3 || c.data.seq_len % 2 != 0))
      RETORT_INPUT_ERROR("data.dataset copy_task needs student.vocab_size >= 3 and an even data.seq_len");
    // The shape keys (the data's vocabulary is checked when the data is opened).
    if (c.student.init_from.empty()) student_llama_config(c, c.student.vocab_size > 0 ? c.student.vocab_size : 1);
    return;
  }
  if (c.data.dataset != "fashion_mnist")
    RETORT_INPUT_ERROR("student.arch " + c.student.arch + " trains on data.dataset fashion_mnist, got '" +
                       c.data.dataset + "' (language-model data needs student.arch llama)");
}

std::unique_ptr<StudentTask> make_student_task(const Config& config, std::shared_ptr<Compute> compute) {
  validate_task(config);
  if (config.student.arch == "llama") return std::make_unique<LmTask>(config, std::move(compute));
  return std::make_unique<MlpTask>(config, std::move(compute));
}

}  // namespace retort::core

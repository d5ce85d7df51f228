// make_student_task: the task of student.arch.
#include "core/train/student_task.h"

#include "core/base/error.h"
#include "core/train/lm_task.h"
#include "core/train/mlp_task.h"

namespace retort::core {

std::unique_ptr<StudentTask> make_student_task(const Config& config, std::shared_ptr<Compute> compute) {
  if (config.student.arch == "llama") return std::make_unique<LmTask>(config, std::move(compute));
  if (config.data.dataset != "fashion_mnist")
    RETORT_INPUT_ERROR("student.arch " + config.student.arch + " trains on data.dataset fashion_mnist, got '" +
                       config.data.dataset + "' (language-model data needs student.arch llama)");
  return std::make_unique<MlpTask>(config, std::move(compute));
}

}  // namespace retort::core

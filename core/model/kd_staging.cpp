// KdStaging: grow-only compute-memory slots for the teacher, labels and metrics of kd_loss.
#include "core/model/kd_staging.h"

#include <algorithm>
#include <string>

#include "core/base/error.h"
#include "core/model/compute.h"

namespace retort::core {

KdStaging::~KdStaging() {
  for (Slot* s : {&logits_, &indices_, &values_, &lse_, &labels_, &entropy_, &agree_})
    if (s->data) compute_.release(s->data);
}

void* KdStaging::reserve(Slot& slot, size_t bytes) {
  if (bytes > slot.capacity) {
    if (slot.data) compute_.release(slot.data);  // release() waits for queued work using it
    slot.data = nullptr;
    slot.capacity = 0;
    slot.data = compute_.allocate(bytes);
    slot.capacity = bytes;
  }
  return slot.data;
}

TensorView KdStaging::stage(Slot& slot, const TensorView& host) {
  if (host.device == compute_.device()) return host;  // already in compute memory (a device channel's slot)
  if (host.device != Device::cpu)
    RETORT_INPUT_ERROR(std::string("kd_loss on ") + compute_.name() + ": teacher logits must be host or " +
                       device_name(compute_.device()) + " memory");
  TensorView staged = host;
  staged.device = compute_.device();
  staged.data = host.bytes() ? reserve(slot, host.bytes()) : nullptr;
  compute_.upload(staged.data, host.data, host.bytes());
  return staged;
}

kernels::TeacherLogits KdStaging::upload_teacher(const kernels::TeacherLogits& host) {
  if (host.kind == kernels::TeacherLogits::Kind::dense) return kernels::TeacherLogits::dense(stage(logits_, host.logits));
  return kernels::TeacherLogits::topk(stage(indices_, host.indices), stage(values_, host.values),
                                      stage(lse_, host.lse));
}

const int32_t* KdStaging::upload_labels(const int32_t* host_labels, int64_t rows) {
  if (!host_labels || rows <= 0) return nullptr;
  const size_t bytes = static_cast<size_t>(rows) * sizeof(int32_t);
  void* p = reserve(labels_, bytes);
  compute_.upload(p, host_labels, bytes);
  return static_cast<const int32_t*>(p);
}

kernels::KdLossMetrics KdStaging::metrics(const kernels::KdLossMetrics& host, int64_t rows) {
  const auto n = static_cast<size_t>(std::max<int64_t>(rows, 0));
  kernels::KdLossMetrics out;
  if (host.teacher_entropy && n) out.teacher_entropy = static_cast<float*>(reserve(entropy_, n * sizeof(float)));
  if (host.top1_agree && n) out.top1_agree = static_cast<uint8_t*>(reserve(agree_, n));
  return out;
}

void KdStaging::download_metrics(const kernels::KdLossMetrics& host, int64_t rows) {
  const auto n = static_cast<size_t>(std::max<int64_t>(rows, 0));
  if (host.teacher_entropy && n) compute_.download(host.teacher_entropy, entropy_.data, n * sizeof(float));
  if (host.top1_agree && n) compute_.download(host.top1_agree, agree_.data, n);
}

}  // namespace retort::core

// The host-side inputs and outputs of Compute::kd_loss on a Compute whose memory is not host
// memory: teacher tensors and labels are uploaded into buffers that grow to the largest request
// and are reused every step; metric outputs get compute-memory buffers, downloaded after the call.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/kd_loss.h"

namespace retort::core {

class Compute;

class KdStaging {
 public:
  explicit KdStaging(Compute& compute) : compute_(compute) {}  // the Compute outlives this
  ~KdStaging();
  KdStaging(const KdStaging&) = delete;
  KdStaging& operator=(const KdStaging&) = delete;

  // The host teacher's tensors copied to compute memory (views say compute.device()); tensors
  // already in compute memory (view device == compute.device()) are used where they are.
  kernels::TeacherLogits upload_teacher(const kernels::TeacherLogits& host);
  // labels[rows] in compute memory (null stays null).
  const int32_t* upload_labels(const int32_t* host_labels, int64_t rows);
  // Compute-memory outputs for the metrics `host` asks for (null where host is null).
  kernels::KdLossMetrics metrics(const kernels::KdLossMetrics& host, int64_t rows);
  // Copies the last metrics() outputs of `rows` rows into `host`.
  void download_metrics(const kernels::KdLossMetrics& host, int64_t rows);

 private:
  struct Slot {
    void* data = nullptr;
    size_t capacity = 0;
  };
  void* reserve(Slot& slot, size_t bytes);                 // grows; contents undefined
  TensorView stage(Slot& slot, const TensorView& host);    // reserve + upload

  Compute& compute_;
  Slot logits_, indices_, values_, lse_, labels_, entropy_, agree_;
};

}  // namespace retort::core

// A Compute for CPU-only tests of the engine's device plumbing: "device" memory is separate
// host memory that it tracks, every kernel call checks that its buffers are device memory (and
// host-side arguments are not), then runs the CPU kernel. Transfers are counted. A model or
// optimizer that hands a host pointer to a kernel, or forgets a transfer, fails here.
#pragma once
#include <map>
#include <stdexcept>
#include <string>

#include "core/model/cpu_compute.h"
#include "core/model/kd_staging.h"

namespace retort::core::test {

class FakeDeviceCompute final : public CpuCompute {
 public:
  explicit FakeDeviceCompute(bool batch_invariant = false) : CpuCompute(batch_invariant) {}
  Device device() const override { return Device::cuda; }
  std::string name() const override { return "fake-device"; }
  bool host_memory() const override { return false; }

  int uploads = 0, downloads = 0;
  int device_teachers = 0;  // kd_loss calls whose teacher was already in device memory

  void* allocate(size_t bytes) override {
    void* p = CpuCompute::allocate(bytes);
    if (p) blocks_[static_cast<const char*>(p)] = bytes;
    return p;
  }
  void release(void* p) noexcept override {
    blocks_.erase(static_cast<const char*>(p));
    CpuCompute::release(p);
  }
  // True when [p, p + bytes) lies inside one live allocation.
  bool on_device(const void* p, size_t bytes = 1) const {
    const char* c = static_cast<const char*>(p);
    auto it = blocks_.upper_bound(c);
    if (it == blocks_.begin()) return false;
    --it;
    return c >= it->first && c + bytes <= it->first + it->second;
  }

  void upload(void* dst, const void* src, size_t bytes) override {
    expect(on_device(dst, bytes) && !on_device(src), "upload: dst must be device, src host");
    ++uploads;
    CpuCompute::upload(dst, src, bytes);
  }
  void download(void* dst, const void* src, size_t bytes) override {
    expect(!on_device(dst) && on_device(src, bytes), "download: dst must be host, src device");
    ++downloads;
    CpuCompute::download(dst, src, bytes);
  }
  void copy(void* dst, const void* src, size_t bytes) override {
    expect(on_device(dst, bytes) && on_device(src, bytes), "copy: both sides on the device");
    CpuCompute::copy(dst, src, bytes);
  }
  void zero(void* p, size_t bytes) override {
    expect(on_device(p, bytes), "zero: device memory");
    CpuCompute::zero(p, bytes);
  }
  void linear_forward(const float* x, const float* w, const float* b, float* y, int64_t rows, int64_t in,
                      int64_t out, bool batch_invariant) override {
    expect(dev(x, rows * in) && dev(w, out * in) && (!b || dev(b, out)) && dev(y, rows * out), "linear_forward");
    CpuCompute::linear_forward(x, w, b, y, rows, in, out, batch_invariant);
  }
  void linear_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db,
                       int64_t rows, int64_t in, int64_t out) override {
    expect(dev(x, rows * in) && dev(w, out * in) && dev(dy, rows * out) && (!dx || dev(dx, rows * in)) &&
               dev(dw, out * in) && (!db || dev(db, out)),
           "linear_backward");
    CpuCompute::linear_backward(x, w, dy, dx, dw, db, rows, in, out);
  }
  void activation_forward(kernels::Activation act, const float* x, float* y, int64_t n) override {
    expect(dev(x, n) && dev(y, n), "activation_forward");
    CpuCompute::activation_forward(act, x, y, n);
  }
  void activation_backward(kernels::Activation act, const float* x, const float* y, const float* dy, float* dx,
                           int64_t n) override {
    expect(dev(x, n) && dev(y, n) && dev(dy, n) && dev(dx, n), "activation_backward");
    CpuCompute::activation_backward(act, x, y, dy, dx, n);
  }
  void dropout_forward(const float* x, float* y, const uint64_t* keys, int64_t rows, int64_t cols,
                       double p) override {
    expect(dev(x, rows * cols) && dev(y, rows * cols) && !on_device(keys), "dropout_forward (keys on the host)");
    CpuCompute::dropout_forward(x, y, keys, rows, cols, p);
  }
  void dropout_backward(const float* dy, float* dx, const uint64_t* keys, int64_t rows, int64_t cols,
                        double p) override {
    expect(dev(dy, rows * cols) && dev(dx, rows * cols) && !on_device(keys), "dropout_backward (keys on the host)");
    CpuCompute::dropout_backward(dy, dx, keys, rows, cols, p);
  }
  void max_norm_rows(float* w, int64_t rows, int64_t cols, float max_norm) override {
    expect(dev(w, rows * cols), "max_norm_rows");
    CpuCompute::max_norm_rows(w, rows, cols, max_norm);
  }
  kernels::XentResult softmax_xent(const float* logits, const int32_t* labels, float* dlogits, int64_t rows,
                                   int64_t classes, float grad_scale) override {
    expect(dev(logits, rows * classes) && !on_device(labels) && (!dlogits || dev(dlogits, rows * classes)),
           "softmax_xent (labels on the host)");
    return CpuCompute::softmax_xent(logits, labels, dlogits, rows, classes, grad_scale);
  }
  kernels::TokenXentResult token_xent(const float* logits, const int32_t* labels, int32_t ignore_index,
                                      float* dlogits, int64_t rows, int64_t vocab, float grad_scale,
                                      double* row_nll) override {
    expect(dev(logits, rows * vocab) && !on_device(labels) && (!dlogits || dev(dlogits, rows * vocab)) &&
               !on_device(row_nll),
           "token_xent (labels and row NLL on the host)");
    return CpuCompute::token_xent(logits, labels, ignore_index, dlogits, rows, vocab, grad_scale, row_nll);
  }
  // Stages a host teacher and the labels into fake-device memory (KdStaging, as the CUDA Compute
  // does) or takes a teacher already there (a device channel's slots: views say Device::cuda and
  // lie in live allocations), runs the CPU kernel on the device copies, downloads the metrics.
  kernels::KdLossResult kd_loss(const float* logits, const kernels::TeacherLogits& teacher, const int32_t* labels,
                                float* dlogits, int64_t rows, int64_t classes, const kernels::KdLossParams& params,
                                float grad_scale, const kernels::KdLossMetrics& metrics) override {
    const bool dense = teacher.kind == kernels::TeacherLogits::Kind::dense;
    auto where = [&](bool device) {
      auto at = [&](const TensorView& v) {
        return device ? on_device(v.data, v.bytes()) && v.device == Device::cuda : !on_device(v.data) && v.device == Device::cpu;
      };
      return dense ? at(teacher.logits) : at(teacher.indices) && at(teacher.values) && at(teacher.lse);
    };
    const bool teacher_on_device = where(true);
    if (teacher_on_device) ++device_teachers;
    expect(dev(logits, rows * classes) && dev(dlogits, rows * classes) && (teacher_on_device || where(false)) &&
               !on_device(labels) && !on_device(metrics.teacher_entropy) && !on_device(metrics.top1_agree),
           "kd_loss (teacher all on the host or all on the device; labels and metrics on the host)");
    kernels::TeacherLogits staged = kd_staging_.upload_teacher(teacher);
    const bool staged_on_device =
        staged.kind == kernels::TeacherLogits::Kind::dense
            ? on_device(staged.logits.data, staged.logits.bytes()) && staged.logits.device == Device::cuda
            : on_device(staged.indices.data, staged.indices.bytes()) &&
                  on_device(staged.values.data, staged.values.bytes()) &&
                  on_device(staged.lse.data, staged.lse.bytes()) && staged.indices.device == Device::cuda;
    expect(staged_on_device, "kd_loss staging (teacher copies on the device)");
    // The fake device's memory is host memory: the CPU kernel reads it.
    for (TensorView* v : {&staged.logits, &staged.indices, &staged.values, &staged.lse}) v->device = Device::cpu;
    const int32_t* device_labels = kd_staging_.upload_labels(labels, rows);
    const kernels::KdLossMetrics device_metrics = kd_staging_.metrics(metrics, rows);
    const kernels::KdLossResult r = CpuCompute::kd_loss(logits, staged, device_labels, dlogits, rows, classes, params,
                                                        grad_scale, device_metrics);
    kd_staging_.download_metrics(metrics, rows);
    return r;
  }
  double sum_squares(const float* g, int64_t n) override {
    expect(dev(g, n), "sum_squares");
    return CpuCompute::sum_squares(g, n);
  }
  void sgd_update(float* p, const float* g, float* m, int64_t n, float lr, float momentum, float weight_decay,
                  bool nesterov, float grad_scale) override {
    expect(dev(p, n) && dev(g, n) && (!m || dev(m, n)), "sgd_update");
    CpuCompute::sgd_update(p, g, m, n, lr, momentum, weight_decay, nesterov, grad_scale);
  }
  void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
                    float eps, float weight_decay, int64_t t, float grad_scale) override {
    expect(dev(p, n) && dev(g, n) && dev(m, n) && dev(v, n), "adamw_update");
    CpuCompute::adamw_update(p, g, m, v, n, lr, beta1, beta2, eps, weight_decay, t, grad_scale);
  }

 private:
  template <typename T>
  bool dev(const T* p, int64_t n) const {
    return on_device(p, static_cast<size_t>(n) * sizeof(T));
  }
  static void expect(bool ok, const char* what) {
    if (!ok) throw std::logic_error(std::string("fake device: bad pointer in ") + what);
  }
  std::map<const char*, size_t> blocks_;
  KdStaging kd_staging_{*this};  // destroyed before blocks_: its release() calls erase from it
};

}  // namespace retort::core::test

// kd_loss(): argument validation against the contract in kernels/kd_loss.h and the one
// CPU-or-CUDA dispatch (by the student tensor's device), plus the small enum/name helpers.
#include <cmath>
#include <cstring>
#include <string>

#include "core/base/error.h"
#include "kernels/kd_loss.h"

namespace retort::kernels {

const char* divergence_name(Divergence d) {
  switch (d) {
    case Divergence::fkl: return "fkl";
    case Divergence::rkl: return "rkl";
    case Divergence::jsd: return "jsd";
    case Divergence::tvd: return "tvd";
  }
  return "?";
}

Divergence parse_divergence(const char* name) {
  for (Divergence d : {Divergence::fkl, Divergence::rkl, Divergence::jsd, Divergence::tvd})
    if (!std::strcmp(name, divergence_name(d))) return d;
  RETORT_INPUT_ERROR(std::string("unknown divergence '") + name + "' (expected fkl, rkl, jsd or tvd)");
}

TeacherLogits TeacherLogits::dense(const TensorView& logits) {
  TeacherLogits t;
  t.kind = Kind::dense;
  t.logits = logits;
  return t;
}

TeacherLogits TeacherLogits::topk(const TensorView& indices, const TensorView& values, const TensorView& lse) {
  TeacherLogits t;
  t.kind = Kind::topk;
  t.indices = indices;
  t.values = values;
  t.lse = lse;
  return t;
}

namespace {

std::string shape(const TensorView& v) {
  return std::to_string(v.rows) + "x" + std::to_string(v.cols) + " " + dtype_name(v.dtype) + " on " +
         device_name(v.device);
}

void require(bool ok, const std::string& what) {
  if (!ok) RETORT_INPUT_ERROR("kd_loss: " + what);
}

bool float_dtype(DType d) { return d == DType::f32 || d == DType::bf16; }

}  // namespace

void validate_kd_loss_args(const TensorView& student, const TeacherLogits& teacher, const int32_t* labels,
                           const TensorView& dz, const KdLossParams& params) {
  const int64_t rows = student.rows, V = student.cols;
  require(V >= 1 && rows >= 0, "student logits must be rows x V with V >= 1, got " + shape(student));
  require(float_dtype(student.dtype), "student logits must be fp32 or bf16, got " + shape(student));
  require(rows == 0 || student.data, "student logits pointer is null");
  require(dz.rows == rows && dz.cols == V && dz.dtype == student.dtype && dz.device == student.device,
          "dz must match the student logits (" + shape(student) + "), got " + shape(dz));
  require(rows == 0 || dz.data, "dz pointer is null");
  if (teacher.kind == TeacherLogits::Kind::dense) {
    const TensorView& t = teacher.logits;
    require(t.rows == rows && t.cols == V && float_dtype(t.dtype) && t.device == student.device &&
                (rows == 0 || t.data),
            "dense teacher logits must be " + std::to_string(rows) + "x" + std::to_string(V) +
                " fp32|bf16 on the student's device, got " + shape(t));
  } else {
    const TensorView &idx = teacher.indices, &val = teacher.values, &lse = teacher.lse;
    const int64_t k = idx.cols;
    require(idx.rows == rows && k >= 1 && k <= V && idx.dtype == DType::u32 && idx.device == student.device,
            "top-k indices must be " + std::to_string(rows) + "xk u32 with 1 <= k <= V=" + std::to_string(V) +
                " on the student's device, got " + shape(idx));
    require(val.rows == rows && val.cols == k && float_dtype(val.dtype) && val.device == student.device,
            "top-k values must be " + std::to_string(rows) + "x" + std::to_string(k) + " fp32|bf16, got " + shape(val));
    require(lse.rows == rows && lse.cols == 1 && lse.dtype == DType::f32 && lse.device == student.device,
            "top-k lse must be " + std::to_string(rows) + "x1 fp32, got " + shape(lse));
    require(rows == 0 || (idx.data && val.data && lse.data), "a top-k teacher pointer is null");
  }
  require(params.temperature > 0 && std::isfinite(params.temperature),
          "temperature must be > 0, got " + std::to_string(params.temperature));
  require(params.alpha >= 0 && params.alpha <= 1, "alpha must be in [0, 1], got " + std::to_string(params.alpha));
  require(params.beta >= 0 && params.beta <= 1, "beta must be in [0, 1], got " + std::to_string(params.beta));
  require(params.alpha == 0 || labels || rows == 0, "alpha > 0 needs labels");
}

KdLossResult kd_loss(const TensorView& student, const TeacherLogits& teacher, const int32_t* labels,
                     const TensorView& dz, const KdLossParams& params, const KdLossMetrics& metrics, void* stream) {
  validate_kd_loss_args(student, teacher, labels, dz, params);
  if (student.rows == 0) return KdLossResult{};
  if (student.device == Device::cpu) return kd_loss_cpu(student, teacher, labels, dz, params, metrics);
#ifdef RETORT_HAVE_CUDA
  return kd_loss_cuda(student, teacher, labels, dz, params, metrics, stream);
#else
  (void)stream;
  RETORT_INPUT_ERROR("kd_loss: tensors are on cuda but this build has no CUDA (RETORT_CUDA=OFF)");
#endif
}

}  // namespace retort::kernels

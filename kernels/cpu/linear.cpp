// CPU dense layer: Eigen GEMMs on row-major maps of the caller's buffers (no copies).
#include "kernels/linear.h"

#include <Eigen/Core>

namespace retort::kernels {
namespace {
using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using CMap = Eigen::Map<const RowMat, Eigen::Aligned16>;
using Map = Eigen::Map<RowMat, Eigen::Aligned16>;
}  // namespace

void linear_forward(const float* x, const float* w, const float* b, float* y, int64_t rows,
                    int64_t in, int64_t out) {
  CMap X(x, rows, in), W(w, out, in);
  Map Y(y, rows, out);
  Y.noalias() = X * W.transpose();
  if (b) {
    Eigen::Map<const Eigen::RowVectorXf> B(b, out);
    Y.rowwise() += B;
  }
}

void linear_backward(const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db, int64_t rows, int64_t in, int64_t out) {
  CMap X(x, rows, in), W(w, out, in), DY(dy, rows, out);
  Map DW(dw, out, in);
  DW.noalias() += DY.transpose() * X;
  if (db) {
    Eigen::Map<Eigen::RowVectorXf> DB(db, out);
    DB += DY.colwise().sum();
  }
  if (dx) {
    Map DX(dx, rows, in);
    DX.noalias() = DY * W;
  }
}

}  // namespace retort::kernels

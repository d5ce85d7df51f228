// The training engine on a real CUDA device against the CPU engine: every Compute operation on
// odd shapes (cuBLAS layouts, bias epilogue, exact dropout masks), then the teacher-shaped MLP
// (dropout, max-norm, SGD+Nesterov and AdamW) trained a few steps on both from the same init.
// GEMM summation order differs, so values agree within |got − ref| <= tol + |ref|·eps, not bitwise.
#include <catch2/catch.hpp>

#include <vector>

#include "core/model/cpu_compute.h"
#include "core/model/cuda_compute.h"
#include "core/model/model.h"
#include "core/optim/optimizer.h"
#include "kernels/dropout.h"
#include "tests/support/numeric.h"

using namespace retort::core;

namespace {


void require_close(const std::vector<float>& got, const std::vector<float>& ref, double tol, double eps) {
  REQUIRE(got.size() == ref.size());
  size_t bad = 0, first = got.size();
  for (size_t i = 0; i < got.size(); ++i)
    if (!retort::test::within_tolerance(got[i], ref[i], tol, eps)) {
      if (!bad) first = i;
      ++bad;
    }
  INFO("mismatches: " << bad << ", first at " << first << ": got " << (bad ? got[first] : 0.f) << " ref "
                      << (bad ? ref[first] : 0.f));
  REQUIRE(bad == 0);
}

// A device copy of host data, downloadable (sentinel floats after the payload must survive).
struct DeviceVec {
  Compute& compute;
  ComputeBuffer buf;
  size_t n;
  static constexpr size_t kSentinels = 16;
  DeviceVec(const std::shared_ptr<Compute>& c, const std::vector<float>& host)
      : compute(*c), buf(c, host.size() + kSentinels), n(host.size()) {
    std::vector<float> padded(host);
    padded.resize(n + kSentinels, 12345.f);
    c->upload(buf.data(), padded.data(), padded.size() * sizeof(float));
  }
  float* data() { return buf.data(); }
  std::vector<float> get() const {
    std::vector<float> h(n + kSentinels);
    compute.download(h.data(), buf.data(), h.size() * sizeof(float));
    for (size_t i = n; i < h.size(); ++i) REQUIRE(h[i] == 12345.f);  // nothing written past the end
    h.resize(n);
    return h;
  }
};

std::shared_ptr<Compute> gpu() {
  static const std::shared_ptr<Compute> c = make_cuda_compute(0);
  return c;
}

}  // namespace

TEST_CASE("cuda compute: linear forward/backward match the CPU on odd shapes", "[engine][gpu]") {
  CpuCompute cpu;
  struct Shape { int64_t rows, in, out; };
  for (const Shape s : {Shape{1, 1, 1}, Shape{5, 37, 3}, Shape{33, 129, 65}, Shape{128, 784, 120}}) {
    const auto x = retort::test::random_normal(s.rows * s.in, 1), w = retort::test::random_normal(s.out * s.in, 2, 0.1f), b = retort::test::random_normal(s.out, 3);
    const auto dy = retort::test::random_normal(s.rows * s.out, 4);
    std::vector<float> y(s.rows * s.out), dx(s.rows * s.in), dw = retort::test::random_normal(s.out * s.in, 5), db = retort::test::random_normal(s.out, 6);
    DeviceVec xd(gpu(), x), wd(gpu(), w), bd(gpu(), b), yd(gpu(), y), dyd(gpu(), dy), dxd(gpu(), dx), dwd(gpu(), dw),
        dbd(gpu(), db);
    cpu.linear_forward(x.data(), w.data(), b.data(), y.data(), s.rows, s.in, s.out, false);
    cpu.linear_backward(x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data(), s.rows, s.in, s.out);
    gpu()->linear_forward(xd.data(), wd.data(), bd.data(), yd.data(), s.rows, s.in, s.out, false);
    gpu()->linear_backward(xd.data(), wd.data(), dyd.data(), dxd.data(), dwd.data(), dbd.data(), s.rows, s.in, s.out);
    INFO("shape " << s.rows << "x" << s.in << "->" << s.out);
    const double tol = 1e-5 * std::sqrt(static_cast<double>(std::max(s.in, s.rows)));
    require_close(yd.get(), y, tol, 1e-5);
    require_close(dxd.get(), dx, tol, 1e-5);   // overwritten
    require_close(dwd.get(), dw, tol, 1e-5);   // accumulated onto the old values
    require_close(dbd.get(), db, tol, 1e-5);
  }
}

TEST_CASE("cuda compute: elementwise, dropout, max-norm, softmax-CE and optimizer updates match the CPU",
          "[engine][gpu]") {
  CpuCompute cpu;
  const int64_t rows = 7, cols = 301, n = rows * cols;
  const auto x = retort::test::random_normal(n, 7, 2.f), dy = retort::test::random_normal(n, 8);
  for (auto act : {retort::kernels::Activation::relu, retort::kernels::Activation::gelu}) {
    std::vector<float> y(n), dx(n);
    DeviceVec xd(gpu(), x), yd(gpu(), y), dyd(gpu(), dy), dxd(gpu(), dx);
    cpu.activation_forward(act, x.data(), y.data(), n);
    cpu.activation_backward(act, x.data(), y.data(), dy.data(), dx.data(), n);
    gpu()->activation_forward(act, xd.data(), yd.data(), n);
    gpu()->activation_backward(act, xd.data(), yd.data(), dyd.data(), dxd.data(), n);
    require_close(yd.get(), y, 1e-6, 1e-6);
    require_close(dxd.get(), dx, 1e-6, 1e-5);
  }
  std::vector<uint64_t> keys(rows);
  for (int64_t r = 0; r < rows; ++r) keys[r] = retort::kernels::row_key(3, 2, 50 + r, 1);
  {
    std::vector<float> y(n), dx(n);
    DeviceVec xd(gpu(), x), yd(gpu(), y), dyd(gpu(), dy), dxd(gpu(), dx);
    cpu.dropout_forward(x.data(), y.data(), keys.data(), rows, cols, 0.5);
    cpu.dropout_backward(dy.data(), dx.data(), keys.data(), rows, cols, 0.5);
    gpu()->dropout_forward(xd.data(), yd.data(), keys.data(), rows, cols, 0.5);
    gpu()->dropout_backward(dyd.data(), dxd.data(), keys.data(), rows, cols, 0.5);
    REQUIRE(yd.get() == y);  // the same mask and the same single multiply: bitwise
    REQUIRE(dxd.get() == dx);
  }
  {
    auto w = x;
    DeviceVec wd(gpu(), w);
    cpu.max_norm_rows(w.data(), rows, cols, 20.f);
    gpu()->max_norm_rows(wd.data(), rows, cols, 20.f);
    require_close(wd.get(), w, 1e-6, 1e-6);
  }
  {
    const int64_t classes = 10, r = 37;
    const auto z = retort::test::random_normal(r * classes, 9, 3.f);
    std::vector<int32_t> labels(r);
    for (int64_t i = 0; i < r; ++i) labels[i] = static_cast<int32_t>((i * 7) % classes);
    std::vector<float> dz(r * classes);
    DeviceVec zd(gpu(), z), dzd(gpu(), dz);
    const auto a = cpu.softmax_xent(z.data(), labels.data(), dz.data(), r, classes, 0.25f);
    const auto b = gpu()->softmax_xent(zd.data(), labels.data(), dzd.data(), r, classes, 0.25f);
    REQUIRE(retort::test::within_tolerance(b.loss_sum, a.loss_sum, 1e-9, 1e-12));
    REQUIRE(b.correct == a.correct);
    require_close(dzd.get(), dz, 1e-7, 1e-6);
  }
  for (bool adam : {false, true}) {
    const int64_t m = 10007;
    auto p = retort::test::random_normal(m, 10), g = retort::test::random_normal(m, 11), mo = retort::test::random_normal(m, 12, 0.1f), v = retort::test::random_normal(m, 13, 0.1f);
    for (auto& e : v) e = std::abs(e);
    DeviceVec pd(gpu(), p), gd(gpu(), g), md(gpu(), mo), vd(gpu(), v);
    REQUIRE(retort::test::within_tolerance(gpu()->sum_squares(gd.data(), m), cpu.sum_squares(g.data(), m), 0, 1e-12));
    if (adam) {
      cpu.adamw_update(p.data(), g.data(), mo.data(), v.data(), m, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 3, 0.7f);
      gpu()->adamw_update(pd.data(), gd.data(), md.data(), vd.data(), m, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 3, 0.7f);
      require_close(vd.get(), v, 1e-7, 1e-6);
    } else {
      cpu.sgd_update(p.data(), g.data(), mo.data(), m, 0.05f, 0.9f, 1e-4f, true, 0.7f);
      gpu()->sgd_update(pd.data(), gd.data(), md.data(), m, 0.05f, 0.9f, 1e-4f, true, 0.7f);
    }
    require_close(pd.get(), p, 1e-6, 1e-5);
    require_close(md.get(), mo, 1e-6, 1e-5);
  }
}

TEST_CASE("cuda engine: the teacher-shaped MLP trains like the CPU engine for 5 steps", "[engine][gpu]") {
  ModelSpec spec;  // the teacher's structure, small: 784-256-256-10, dropout 0.2/0.5, max-norm
  spec.config.hidden = {256, 256};
  spec.config.input_dropout = 0.2;
  spec.config.dropout = 0.5;
  spec.config.max_norm = 1.0;  // small enough to bind after a few steps
  spec.in_features = 784;
  spec.classes = 10;
  const int64_t rows = 64;
  for (const std::string name : {"sgd", "adamw"}) {
    Model cpu(spec), dev(spec, gpu());
    cpu.initialize(11);
    dev.initialize(11);
    OptimConfig oc;
    oc.name = name;
    oc.lr = name == "sgd" ? 0.05 : 1e-3;
    oc.clip_grad_norm = 5.0;
    Optimizer cpu_opt(oc, cpu.num_params()), dev_opt(oc, dev.num_params(), gpu());
    for (int step = 0; step < 5; ++step) {
      const auto x = retort::test::random_normal(static_cast<size_t>(rows * 784), 100 + step);
      std::vector<int32_t> y(rows);
      std::vector<uint64_t> ids(rows);
      for (int64_t r = 0; r < rows; ++r) y[r] = static_cast<int32_t>((r * 3 + step) % 10), ids[r] = 64 * step + r;
      const BatchContext ctx{rows, true, ids.data(), 11, 0};
      double loss[2];
      int i = 0;
      for (Model* m : {&cpu, &dev}) {
        Optimizer& opt = m == &cpu ? cpu_opt : dev_opt;
        const float* z = m->forward(x.data(), ctx);
        loss[i++] = m->compute().softmax_xent(z, y.data(), m->dlogits(), rows, 10, 1.f / rows).loss_sum;
        m->backward(m->dlogits(), ctx);
        REQUIRE(opt.step(m->device_params(), m->device_grads(), oc.lr).applied);
        m->apply_constraints();
      }
      INFO(name << " step " << step << " loss cpu " << loss[0] << " cuda " << loss[1]);
      REQUIRE(retort::test::within_tolerance(loss[1], loss[0], 1e-4, 1e-4));
    }
    // Tolerance: fp32 GEMMs of length <= 784 in another order, carried through 5 updates.
    const std::vector<float> c(std::as_const(cpu).params().begin(), std::as_const(cpu).params().end());
    const std::vector<float> d(std::as_const(dev).params().begin(), std::as_const(dev).params().end());
    INFO(name);
    require_close(d, c, 2e-5, 1e-3);
  }
}

TEST_CASE("cuda engine: a restore through the host views (a checkpoint) resumes bitwise", "[engine][gpu]") {
  ModelSpec spec;
  spec.config.hidden = {96, 64};
  spec.config.input_dropout = 0.2;
  spec.config.dropout = 0.5;
  spec.config.max_norm = 1.0;
  spec.in_features = 784;
  spec.classes = 10;
  const int64_t rows = 32;
  OptimConfig oc;
  oc.name = "adamw";
  oc.lr = 1e-3;
  auto run_steps = [&](Model& m, Optimizer& opt, int first, int last) {
    for (int step = first; step < last; ++step) {
      const auto x = retort::test::random_normal(static_cast<size_t>(rows * 784), 300 + step);
      std::vector<int32_t> y(rows);
      std::vector<uint64_t> ids(rows);
      for (int64_t r = 0; r < rows; ++r) y[r] = static_cast<int32_t>((r + step) % 10), ids[r] = 32 * step + r;
      const BatchContext ctx{rows, true, ids.data(), 4, static_cast<uint64_t>(step / 2)};
      const float* z = m.forward(x.data(), ctx);
      m.compute().softmax_xent(z, y.data(), m.dlogits(), rows, 10, 1.f / rows);
      m.backward(m.dlogits(), ctx);
      REQUIRE(opt.step(m.device_params(), m.device_grads(), oc.lr).applied);
      m.apply_constraints();
    }
  };
  Model straight(spec, gpu());
  straight.initialize(2);
  Optimizer straight_opt(oc, straight.num_params(), gpu());
  run_steps(straight, straight_opt, 0, 6);

  Model first(spec, gpu());
  first.initialize(2);
  Optimizer first_opt(oc, first.num_params(), gpu());
  run_steps(first, first_opt, 0, 3);
  // What a checkpoint keeps: host copies of the parameters, optimizer state and step count.
  const std::vector<float> saved(std::as_const(first).params().begin(), std::as_const(first).params().end());
  std::vector<std::vector<float>> saved_state;
  for (const auto& s : first_opt.state()) saved_state.emplace_back(s.data.begin(), s.data.end());
  Model resumed(spec, gpu());
  Optimizer resumed_opt(oc, resumed.num_params(), gpu());
  std::copy(saved.begin(), saved.end(), resumed.params().begin());
  auto state = resumed_opt.state();
  for (size_t i = 0; i < state.size(); ++i) std::copy(saved_state[i].begin(), saved_state[i].end(), state[i].data.begin());
  resumed_opt.set_steps_done(first_opt.steps_done());
  run_steps(resumed, resumed_opt, 3, 6);
  const std::vector<float> a(std::as_const(straight).params().begin(), std::as_const(straight).params().end());
  const std::vector<float> b(std::as_const(resumed).params().begin(), std::as_const(resumed).params().end());
  REQUIRE(a == b);
}

// dare/nn/adam.hpp — dense Adam with L2 regularisation, as torch.optim.Adam.
//
// Design. The update is torch.optim.Adam's (single-tensor path, amsgrad off):
//   g = grad + λ·value           (λ only for parameters with decay = true)
//   m ← m + (1 − β1)(g − m),  v ← β2·v + (1 − β2)·g²,  t ← t + 1
//   value ← value − lr / (1 − β1ᵗ) · m / (sqrt(v) / sqrt(1 − β2ᵗ) + eps)
// L2 is the gradient term λ·value (torch's weight_decay), not decoupled AdamW decay, and it
// goes only to the parameters that ask for it: the reference regularises non-bias weights
// of the dense layers, never biases, BatchNorm terms or PReLU slopes. (Embedding tables
// have their own sparse optimizers.) All parameters share one step count; the bias
// corrections are computed in double.
//
// State (t, m, v and the hyperparameters, as torch's state_dict holds them) is one
// checkpoint block in the format of dare/nn/parameter.hpp: versioned, size-checked and
// checksummed, staged before it replaces anything.
#pragma once

#include <cmath>
#include <cstdint>
#include <istream>
#include <ostream>
#include <string>
#include <unordered_set>
#include <vector>

#include <Eigen/Core>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/nn/parameter.hpp"

namespace dare::nn {

/// Adam hyperparameters (torch.optim.Adam's defaults; the reference trains with lr 0.01 and
/// weight_decay 1e-6).
struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;  ///< L2 coefficient λ, applied to parameters with decay = true.
};

/// Adam over a fixed list of dense parameters.
template <class Scalar>
class Adam {
 public:
  using Matrix = nn::Matrix<Scalar>;

  /// Parameters must be distinct, non-null, with grad shaped like value; they must outlive
  /// the optimizer.
  explicit Adam(std::vector<Parameter<Scalar>*> params, const AdamOptions& options = {})
      : params_(std::move(params)) {
    set_options(options);
    std::unordered_set<const Parameter<Scalar>*> seen;
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const Parameter<Scalar>* p = params_[i];
      DARE_CHECK_ARG(p != nullptr, "Adam: parameter ", i, " is null");
      DARE_CHECK_ARG(seen.insert(p).second, "Adam: parameter '", p->name, "' is listed twice");
      DARE_CHECK_ARG(p->grad.rows() == p->value.rows() && p->grad.cols() == p->value.cols(),
                     "Adam: parameter '", p->name, "' has a ", p->grad.rows(), "x", p->grad.cols(),
                     " gradient for a ", p->value.rows(), "x", p->value.cols(), " value");
      m_.push_back(Matrix::Zero(p->value.rows(), p->value.cols()));
      v_.push_back(Matrix::Zero(p->value.rows(), p->value.cols()));
    }
  }

  const AdamOptions& options() const noexcept { return options_; }
  /// Replaces the hyperparameters (checked: lr, eps, weight_decay >= 0, betas in [0, 1)).
  void set_options(const AdamOptions& options) {
    DARE_CHECK_ARG(options.lr >= 0, "Adam: lr must be >= 0, got ", options.lr);
    DARE_CHECK_ARG(options.beta1 >= 0 && options.beta1 < 1, "Adam: beta1 must be in [0, 1), got ", options.beta1);
    DARE_CHECK_ARG(options.beta2 >= 0 && options.beta2 < 1, "Adam: beta2 must be in [0, 1), got ", options.beta2);
    DARE_CHECK_ARG(options.eps >= 0, "Adam: eps must be >= 0, got ", options.eps);
    DARE_CHECK_ARG(options.weight_decay >= 0, "Adam: weight_decay must be >= 0, got ", options.weight_decay);
    options_ = options;
  }
  void set_lr(double lr) {
    AdamOptions o = options_;
    o.lr = lr;
    set_options(o);
  }

  /// Number of steps taken (torch's `step` state).
  std::int64_t step_count() const noexcept { return t_; }
  const std::vector<Parameter<Scalar>*>& parameters() const noexcept { return params_; }
  /// First and second moment estimates of parameter i.
  const Matrix& first_moment(std::size_t i) const { return m_.at(i); }
  const Matrix& second_moment(std::size_t i) const { return v_.at(i); }

  /// One update of every parameter from its current gradient.
  void step() {
    ++t_;
    const double bc1 = 1.0 - std::pow(options_.beta1, static_cast<double>(t_));
    const double bc2 = 1.0 - std::pow(options_.beta2, static_cast<double>(t_));
    const auto step_size = static_cast<Scalar>(options_.lr / bc1);
    const auto bc2_sqrt = static_cast<Scalar>(std::sqrt(bc2));
    const auto one_minus_b1 = static_cast<Scalar>(1.0 - options_.beta1);
    const auto b2 = static_cast<Scalar>(options_.beta2);
    const auto one_minus_b2 = static_cast<Scalar>(1.0 - options_.beta2);
    const auto eps = static_cast<Scalar>(options_.eps);
    const auto lambda = static_cast<Scalar>(options_.weight_decay);
    for (std::size_t i = 0; i < params_.size(); ++i) {
      Parameter<Scalar>& p = *params_[i];
      auto m = m_[i].array();
      auto v = v_[i].array();
      auto update = [&](const auto& g) {
        m += one_minus_b1 * (g - m);
        v = b2 * v + one_minus_b2 * g.square();
      };
      if (p.decay && lambda != 0) {
        update(p.grad.array() + lambda * p.value.array());
      } else {
        update(p.grad.array());
      }
      p.value.array() -= step_size * m / (v.sqrt() / bc2_sqrt + eps);
    }
  }

  /// Sets every parameter's gradient to zero.
  void zero_grad() {
    for (Parameter<Scalar>* p : params_) p->zero_grad();
  }

  /// Writes t, the hyperparameters and every parameter's moments as one checkpoint block.
  void save(std::ostream& os) const {
    detail::BlockWriter w(os, kMagic, kVersion);
    w.pod(static_cast<std::uint32_t>(sizeof(Scalar)));
    w.pod(options_.lr);
    w.pod(options_.beta1);
    w.pod(options_.beta2);
    w.pod(options_.eps);
    w.pod(options_.weight_decay);
    w.pod(static_cast<std::int64_t>(t_));
    w.pod(static_cast<std::uint64_t>(params_.size()));
    for (std::size_t i = 0; i < params_.size(); ++i) {
      w.string(params_[i]->name);
      w.matrix(m_[i]);
      w.matrix(v_[i]);
    }
    w.finish();
  }

  /// Reads a block written by save for the same parameter list (names and shapes checked)
  /// and restores t, the moments and the hyperparameters (as torch's load_state_dict does).
  /// Nothing changes unless the whole block is valid.
  void load(std::istream& is, const std::string& name_for_errors) {
    detail::BlockReader r(is, name_for_errors, kMagic, kVersion, "Adam state");
    const auto scalar_bytes = r.template pod<std::uint32_t>("adam.scalar size");
    if (scalar_bytes != sizeof(Scalar)) {
      r.fail("adam.scalar size", ::dare::detail::concat("the file stores ", scalar_bytes,
                                                        "-byte scalars but the optimizer uses ", sizeof(Scalar)));
    }
    AdamOptions o;
    o.lr = r.template pod<double>("adam.lr");
    o.beta1 = r.template pod<double>("adam.beta1");
    o.beta2 = r.template pod<double>("adam.beta2");
    o.eps = r.template pod<double>("adam.eps");
    o.weight_decay = r.template pod<double>("adam.weight_decay");
    const auto t = r.template pod<std::int64_t>("adam.step");
    if (t < 0) r.fail("adam.step", ::dare::detail::concat("negative step count ", t));
    if (t == INT64_MAX) r.fail("adam.step", "step count out of range (the next step would overflow it)");
    const auto count = r.template pod<std::uint64_t>("adam.parameter count");
    if (count != params_.size()) {
      r.fail("adam.parameter count", ::dare::detail::concat("the file has state for ", count,
                                                            " parameters but the optimizer has ", params_.size()));
    }
    std::vector<Matrix> m(params_.size()), v(params_.size());
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const Parameter<Scalar>& p = *params_[i];
      const std::string field = "adam." + detail::entry_field(i, p.name);
      const std::string name = r.string(field + " name");
      if (name != p.name) r.fail(field + " name", ::dare::detail::concat("the file has '", name, "' here"));
      r.matrix(m[i], p.value.rows(), p.value.cols(), field + " first moment");
      r.matrix(v[i], p.value.rows(), p.value.cols(), field + " second moment");
      if (v[i].size() > 0 && v[i].minCoeff() < 0) {
        r.fail(field + " second moment", "a value is below 0, which Adam's second moment never is");
      }
    }
    r.finish();
    try {
      set_options(o);
    } catch (const std::invalid_argument& e) {
      r.fail("adam options", e.what());
    }
    t_ = t;
    m_.swap(m);
    v_.swap(v);
  }

 private:
  static constexpr char kMagic[9] = "DAREADAM";
  static constexpr std::uint32_t kVersion = 1;

  std::vector<Parameter<Scalar>*> params_;
  AdamOptions options_;
  std::vector<Matrix> m_;
  std::vector<Matrix> v_;
  std::int64_t t_ = 0;
};

}  // namespace dare::nn

// dare/embedding/sgd.hpp — plain stochastic gradient descent on the rows a batch touched.
//
// `p -= lr * g` on every row of the gradient (torch.optim.SGD without momentum or weight
// decay, applied to a sparse embedding gradient). Untouched rows have gradient zero and do
// not move, so the sparse update is exactly the dense one. The state file holds only the
// learning rate, so checkpoints treat every optimizer alike.
#pragma once

#include <cmath>
#include <cstdint>
#include <istream>
#include <ostream>
#include <string>
#include <xsimd/xsimd.hpp>

#include "dare/embedding/optimizer_common.hpp"

namespace dare {

/// SGD on an EmbeddingTable from a SparseGrad. The table must outlive the optimizer.
template <class Scalar, int Dim = Dynamic>
class SparseSgd : public detail::TableOptimizerBase<Scalar, Dim> {
  using Base = detail::TableOptimizerBase<Scalar, Dim>;

 public:
  using typename Base::Grad;
  using typename Base::Table;

  /// Binds to `table`; `lr` must be finite and non-negative.
  SparseSgd(EmbeddingTable<Scalar, Dim>& table, double lr) : Base(table) { set_lr(lr); }

  double lr() const noexcept { return lr_; }
  /// Changes the learning rate (for schedules).
  void set_lr(double lr) {
    detail::check_hyper("SparseSgd", "lr", lr, 0.0, HUGE_VAL);
    lr_ = lr;
  }

  /// Applies one update from `grad`; a bad id or width throws before anything changes.
  void step(const Grad& grad) {
    this->check_grad(grad, "SparseSgd::step");
    const Scalar lr = static_cast<Scalar>(lr_);
    const Index d = this->table_->dim();
    for (Index s = 0; s < grad.size(); ++s) {
      Scalar* p = this->table_->row(grad.id(s));
      const Scalar* g = grad.row(s);
      detail::for_each_lane<xsimd::default_arch, Scalar>(d, [&](auto lanes, Index i) {
        using T = typename decltype(lanes)::type;
        const T pi = detail::load_lanes(lanes, p + i);
        const T gi = detail::load_lanes(lanes, g + i);
        detail::store_lanes(T(pi - T(lr) * gi), p + i);
      });
    }
  }

  /// Appends the optimizer state as one record to `os`.
  void save(std::ostream& os) const {
    detail::BinaryWriter w(os);
    this->write_header(w, detail::OptimizerKind::Sgd);
    w.f64(lr_);
    w.checksum();
    w.check("an optimizer state");
  }
  void save(const std::string& path) const {
    detail::save_file_atomically(path, "an optimizer state",
                                 [this](std::ostream& os) { save(os); });
  }

  /// Reads a state record written by save(); errors name `name_for_errors` and the field.
  /// On error the optimizer is unchanged.
  void load(std::istream& is, const std::string& name_for_errors) {
    detail::BinaryReader r(is, name_for_errors);
    this->read_header(r, detail::OptimizerKind::Sgd);
    const double lr = detail::read_hyper(r, "lr", 0.0, HUGE_VAL);
    r.verify_checksum();
    lr_ = lr;
  }
  void load(const std::string& path) {
    detail::load_file(path, "an optimizer state",
                      [this](std::istream& is, const std::string& name) { load(is, name); });
  }

 private:
  double lr_ = 0.0;
};

}  // namespace dare

// dare/embedding/adagrad.hpp — Adagrad on the rows a batch touched (PyTorch semantics).
//
// torch.optim.Adagrad with lr_decay = 0 and weight_decay = 0, per element:
//   sum += g * g;   p -= lr * g / (sqrt(sum) + eps)
// with `sum` starting at `initial_accumulator` (PyTorch's initial_accumulator_value, 0 by
// default) and eps = 1e-10 by default. A row with gradient zero changes neither its sum nor
// its value, so updating only the touched rows is exactly PyTorch's dense update (and its
// sparse one). State: the per-element sums, rows x dim, laid out like the table.
#pragma once

#include <cmath>
#include <cstdint>
#include <istream>
#include <ostream>
#include <string>
#include <xsimd/xsimd.hpp>

#include "dare/core/aligned.hpp"
#include "dare/embedding/optimizer_common.hpp"

namespace dare {

/// Hyperparameters of SparseAdagrad (PyTorch's defaults).
struct AdagradOptions {
  double lr = 1e-2;
  double eps = 1e-10;
  double initial_accumulator = 0.0;
};

/// Adagrad on an EmbeddingTable from a SparseGrad. The table must outlive the optimizer.
template <class Scalar, int Dim = Dynamic>
class SparseAdagrad : public detail::TableOptimizerBase<Scalar, Dim> {
  using Base = detail::TableOptimizerBase<Scalar, Dim>;

 public:
  using typename Base::Grad;
  using typename Base::Table;

  /// Binds to `table`; the accumulators start at `options.initial_accumulator`.
  explicit SparseAdagrad(EmbeddingTable<Scalar, Dim>& table, AdagradOptions options = {})
      : Base(table) {
    check_options(options);
    options_ = options;
    const Index d = table.dim();
    const Index stride = table.stride();
    sum_.assign(static_cast<std::size_t>(table.rows() * stride), Scalar(0));
    const Scalar init = static_cast<Scalar>(options.initial_accumulator);
    for (Index r = 0; r < table.rows(); ++r)
      for (Index k = 0; k < d; ++k) sum_[static_cast<std::size_t>(r * stride + k)] = init;
  }

  const AdagradOptions& options() const noexcept { return options_; }
  /// Changes the learning rate (for schedules).
  void set_lr(double lr) {
    detail::check_hyper("SparseAdagrad", "lr", lr, 0.0, HUGE_VAL);
    options_.lr = lr;
  }

  /// The accumulated squared gradients of row `id` (dim() scalars).
  const Scalar* sum(Index id) const {
    DARE_ASSERT(id >= 0 && id < this->rows_);
    return sum_.data() + id * this->table_->stride();
  }

  /// Applies one update from `grad`; a bad id or width throws before anything changes.
  void step(const Grad& grad) {
    this->check_grad(grad, "SparseAdagrad::step");
    const Scalar lr = static_cast<Scalar>(options_.lr);
    const Scalar eps = static_cast<Scalar>(options_.eps);
    const Index d = this->table_->dim();
    const Index stride = this->table_->stride();
    for (Index s = 0; s < grad.size(); ++s) {
      const Index id = grad.id(s);
      Scalar* p = this->table_->row(id);
      Scalar* acc = sum_.data() + id * stride;
      const Scalar* g = grad.row(s);
      detail::for_each_lane<xsimd::default_arch, Scalar>(d, [&](auto lanes, Index i) {
        using T = typename decltype(lanes)::type;
        const T gi = detail::load_lanes(lanes, g + i);
        const T si = detail::load_lanes(lanes, acc + i) + gi * gi;
        const T pi = detail::load_lanes(lanes, p + i);
        detail::store_lanes(si, acc + i);
        detail::store_lanes(T(pi - T(lr) * (gi / (detail::lane_sqrt(si) + T(eps)))), p + i);
      });
    }
  }

  /// Appends the optimizer state as one record to `os`.
  void save(std::ostream& os) const {
    detail::BinaryWriter w(os);
    this->write_header(w, detail::OptimizerKind::Adagrad);
    w.f64(options_.lr);
    w.f64(options_.eps);
    w.f64(options_.initial_accumulator);
    this->write_rows(w, sum_.data());
    w.checksum();
    w.check("an optimizer state");
  }
  void save(const std::string& path) const {
    detail::save_file_atomically(path, "an optimizer state",
                                 [this](std::ostream& os) { save(os); });
  }

  /// Reads a state record written by save() (hyperparameters included, as PyTorch's
  /// load_state_dict does); errors name `name_for_errors` and the field. On error the
  /// optimizer is unchanged.
  void load(std::istream& is, const std::string& name_for_errors) {
    detail::BinaryReader r(is, name_for_errors);
    this->read_header(r, detail::OptimizerKind::Adagrad);
    AdagradOptions options;
    options.lr = detail::read_hyper(r, "lr", 0.0, HUGE_VAL);
    options.eps = detail::read_hyper(r, "eps", 0.0, HUGE_VAL);
    options.initial_accumulator = detail::read_hyper(r, "initial_accumulator", 0.0, HUGE_VAL);
    r.require_remaining(this->block_bytes() + sizeof(std::uint64_t), "sum");
    AlignedVector<Scalar> sum = this->read_rows(r, "sum", true);
    r.verify_checksum();
    options_ = options;
    sum_.swap(sum);
  }
  void load(const std::string& path) {
    detail::load_file(path, "an optimizer state",
                      [this](std::istream& is, const std::string& name) { load(is, name); });
  }

 private:
  static void check_options(const AdagradOptions& o) {
    detail::check_hyper("SparseAdagrad", "lr", o.lr, 0.0, HUGE_VAL);
    detail::check_hyper("SparseAdagrad", "eps", o.eps, 0.0, HUGE_VAL);
    detail::check_hyper("SparseAdagrad", "initial_accumulator", o.initial_accumulator, 0.0,
                        HUGE_VAL);
  }

  AdagradOptions options_;
  AlignedVector<Scalar> sum_;
};

}  // namespace dare

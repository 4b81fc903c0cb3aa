// dare/embedding/adam.hpp — Adam on an embedding table, in PyTorch's two flavours.
//
// With step count t (the number of step() calls so far, this one included),
// c1 = 1 - beta1^t and c2 = 1 - beta2^t, the two modes are:
//
// AdamMode::Dense — exactly torch.optim.Adam applied to the dense gradient of the table
// (nn.Embedding(sparse=False) trained with torch.optim.Adam, the usual PyTorch set-up).
// Every row takes part; rows the batch did not touch have gradient 0:
//     m = m + (1 - beta1) * (g - m)                 (torch's lerp)
//     v = beta2 * v + (1 - beta2) * g^2
//     p = p - (lr / c1) * m / (sqrt(v) / sqrt(c2) + eps)
//   so an untouched row's moments still decay and it keeps moving while m != 0. Cost:
//   O(rows * dim) per step whatever the batch, one streaming pass over value, m and v (the
//   touched rows are visited in id order inside that same pass, the untouched stretches
//   between them run as flat SIMD loops over whole padded rows).
//
// AdamMode::Lazy — exactly torch.optim.SparseAdam. Only touched rows change, moments and
// values alike; untouched rows keep m, v and p bit for bit. On a touched row:
//     m = m + (1 - beta1) * (g - m);  v = v + (1 - beta2) * (g^2 - v)
//     p = p - (lr * sqrt(c2) / c1) * m / (sqrt(v) + eps)
//   Bias correction uses the global step count t, not the number of times the row was
//   touched (as SparseAdam does). Note that eps is added to sqrt(v) before the bias
//   correction here, after it in Dense mode: the two modes differ slightly even on a row
//   touched at every step. Cost: O(touched rows * dim).
//
// Deferred rows (Dense mode, set_deferred(true); SequenceModel turns it on). Most rows of a
// real log's table are untouched in a step, and their dense update (gradient zero) depends
// only on their own m, v and p and on the step's coefficients. So instead of streaming every
// row every step, a deferred optimizer records each step's coefficients and updates only the
// touched rows; an untouched row is brought up to date when it is next needed, by replaying
// the zero-gradient steps it missed, in registers, with the same arithmetic in the same order
// (and under the flush-to-zero mode those steps ran in): bit for bit what Dense computes.
// prepare(ids) brings the rows a batch will read up to date, synchronize() every row; reading
// the table, m or v otherwise sees rows as they were when last touched. A replayed row
// freezes once a step leaves its m unchanged and p's change is provably below p's rounding
// (some 250 idle steps at the reference settings): its remaining steps only scale v by beta2,
// and a never-touched row (m = v = 0) costs nothing. Replaying is worth it while the touched
// rows are few: a step touching at least a set share of the rows (1/16 by default; a
// scattered row costs some 16 streamed ones) replays the rows behind and then streams over
// the whole table as Dense does. save() needs synchronize() first; load() leaves every row
// current.
//
// Neither mode has weight decay or AMSGrad (DARE does not regularise embeddings).
// State: t, m and v (rows x dim each, laid out like the table), saved with the
// hyperparameters and the mode.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <istream>
#include <limits>
#include <ostream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>
#include <xsimd/xsimd.hpp>

#include "dare/core/aligned.hpp"
#include "dare/core/denormals.hpp"
#include "dare/core/prefetch.hpp"
#include "dare/embedding/optimizer_common.hpp"

namespace dare {

/// Hyperparameters of TableAdam (PyTorch's defaults).
struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
};

/// Which PyTorch optimizer TableAdam reproduces (see the note at the top of adam.hpp).
enum class AdamMode : std::uint32_t {
  Dense = 0,  ///< torch.optim.Adam on the dense gradient: every row, O(rows * dim) per step
  Lazy = 1,   ///< torch.optim.SparseAdam: touched rows only, O(touched * dim) per step
};

namespace detail {

/// The scalars of one Adam step, computed once per step in double and rounded to Scalar.
template <class Scalar>
struct AdamStepCoefficients {
  Scalar one_minus_beta1;
  Scalar beta2;
  Scalar one_minus_beta2;
  Scalar eps;
  Scalar step_size;              ///< Dense: lr / c1; Lazy: lr * sqrt(c2) / c1
  Scalar bias_correction2_sqrt;  ///< sqrt(c2) (Dense only)

  static AdamStepCoefficients make(const AdamOptions& o, AdamMode mode, std::int64_t t) {
    const double c1 = 1.0 - std::pow(o.beta1, static_cast<double>(t));
    const double c2 = 1.0 - std::pow(o.beta2, static_cast<double>(t));
    const double step_size = mode == AdamMode::Dense ? o.lr / c1 : o.lr * std::sqrt(c2) / c1;
    return {static_cast<Scalar>(1.0 - o.beta1), static_cast<Scalar>(o.beta2),
            static_cast<Scalar>(1.0 - o.beta2), static_cast<Scalar>(o.eps),
            static_cast<Scalar>(step_size),     static_cast<Scalar>(std::sqrt(c2))};
  }
};

/// torch.optim.Adam's update of one lane (a scalar or a batch) given its gradient `g`.
template <class T, class Scalar>
inline void adam_dense_lane(T& p, T& m, T& v, const T& g, const AdamStepCoefficients<Scalar>& c) {
  m = m + T(c.one_minus_beta1) * (g - m);
  v = T(c.beta2) * v + T(c.one_minus_beta2) * (g * g);
  const T denom = lane_sqrt(v) / T(c.bias_correction2_sqrt) + T(c.eps);
  p = p - T(c.step_size) * (m / denom);
}

/// torch.optim.SparseAdam's update of one lane of a touched row.
template <class T, class Scalar>
inline void adam_lazy_lane(T& p, T& m, T& v, const T& g, const AdamStepCoefficients<Scalar>& c) {
  m = m + (g - m) * T(c.one_minus_beta1);
  v = v + (g * g - v) * T(c.one_minus_beta2);
  p = p - T(c.step_size) * (m / (lane_sqrt(v) + T(c.eps)));
}

/// Dense-mode update of `n` consecutive scalars of value `p` and moments `m`, `v`, with
/// gradient `g` or, when `g` is null, gradient zero (the untouched rows). `Arch` picks the
/// SIMD instruction set; `Simd = false` is the scalar reference.
template <bool Simd, class Arch = xsimd::default_arch, class Scalar>
inline void adam_dense_range(Scalar* p, Scalar* m, Scalar* v, const Scalar* g, Index n,
                             const AdamStepCoefficients<Scalar>& c) {
  // Instantiated twice so the zero-gradient stretches (nearly all of a step) compile
  // without a gradient load.
  const auto run = [&](auto has_grad) {
    const auto body = [&](auto lanes, Index i) {
      using T = typename decltype(lanes)::type;
      T pi = load_lanes(lanes, p + i);
      T mi = load_lanes(lanes, m + i);
      T vi = load_lanes(lanes, v + i);
      T gi = T(Scalar(0));
      if constexpr (decltype(has_grad)::value) gi = load_lanes(lanes, g + i);
      adam_dense_lane(pi, mi, vi, gi, c);
      store_lanes(pi, p + i);
      store_lanes(mi, m + i);
      store_lanes(vi, v + i);
    };
    if constexpr (Simd) {
      for_each_lane<Arch, Scalar>(n, body);
    } else {
      for_each_lane_scalar<Scalar>(n, body);
    }
  };
  if (g) {
    run(std::true_type{});
  } else {
    run(std::false_type{});
  }
}

/// Lazy-mode update of one touched row (`n` = dim scalars).
template <class Arch = xsimd::default_arch, class Scalar>
inline void adam_lazy_row(Scalar* p, Scalar* m, Scalar* v, const Scalar* g, Index n,
                          const AdamStepCoefficients<Scalar>& c) {
  for_each_lane<Arch, Scalar>(n, [&](auto lanes, Index i) {
    using T = typename decltype(lanes)::type;
    T pi = load_lanes(lanes, p + i);
    T mi = load_lanes(lanes, m + i);
    T vi = load_lanes(lanes, v + i);
    adam_lazy_lane(pi, mi, vi, load_lanes(lanes, g + i), c);
    store_lanes(pi, p + i);
    store_lanes(mi, m + i);
    store_lanes(vi, v + i);
  });
}

/// The zero-gradient Dense steps c[0], ..., c[steps - 1] of `n` consecutive scalars, each
/// lane kept in registers through all of them: the same arithmetic as adam_dense_range with
/// a null gradient, step after step, until the lanes are frozen. A lane is frozen when a
/// step left its m unchanged (m = 0, or with flush-to-zero a m so small that
/// (1 - beta1) * m flushes to zero, where the unfused lerp sticks) and
/// |m| * `freeze` <= |p| * 2^-(digits + 3), where `freeze` bounds step_size / eps over the
/// remaining steps (0 or less never freezes): from then on each step's change of p is below
/// a quarter of p's spacing and rounds away, so p and m stay as they are and the remaining
/// steps only scale v (beta2 * v + (1 - beta2) * 0 = beta2 * v, however the compiler
/// contracts it); a zero v stays zero.
template <class Arch = xsimd::default_arch, class Scalar>
inline void adam_dense_replay(Scalar* p, Scalar* m, Scalar* v, Index n, const AdamStepCoefficients<Scalar>* c,
                              Index steps, Scalar freeze) {
  const Scalar tiny = std::ldexp(Scalar(1), -(std::numeric_limits<Scalar>::digits + 3));
  for_each_lane<Arch, Scalar>(n, [&](auto lanes, Index i) {
    using T = typename decltype(lanes)::type;
    T pi = load_lanes(lanes, p + i);
    T mi = load_lanes(lanes, m + i);
    T vi = load_lanes(lanes, v + i);
    const T zero(Scalar(0));
    using std::abs;
    const auto all = [](const auto& mask) {
      if constexpr (std::is_same_v<T, Scalar>) {
        return static_cast<bool>(mask);
      } else {
        return xsimd::all(mask);
      }
    };
    Index s = 0;
    if (freeze > Scalar(0)) {
      while (s < steps) {
        const T before = mi;
        adam_dense_lane(pi, mi, vi, zero, c[s++]);
        if (all((mi == before) & (abs(mi) * T(freeze) <= abs(pi) * T(tiny)))) break;
      }
    } else {
      while (s < steps) adam_dense_lane(pi, mi, vi, zero, c[s++]);
    }
    for (; s < steps && !all(vi == zero); ++s) vi = T(c[s].beta2) * vi;
    store_lanes(pi, p + i);
    store_lanes(mi, m + i);
    store_lanes(vi, v + i);
  });
}

}  // namespace detail

/// Adam on an EmbeddingTable from a SparseGrad, as torch.optim.Adam (AdamMode::Dense) or
/// torch.optim.SparseAdam (AdamMode::Lazy). The table must outlive the optimizer.
template <class Scalar, int Dim = Dynamic>
class TableAdam : public detail::TableOptimizerBase<Scalar, Dim> {
  using Base = detail::TableOptimizerBase<Scalar, Dim>;

 public:
  using typename Base::Grad;
  using typename Base::Table;

  /// Binds to `table` with zero moments and step count 0.
  explicit TableAdam(EmbeddingTable<Scalar, Dim>& table, AdamOptions options = {},
                     AdamMode mode = AdamMode::Dense)
      : Base(table), mode_(mode) {
    check_options(options);
    DARE_CHECK_ARG(mode == AdamMode::Dense || mode == AdamMode::Lazy,
                   "TableAdam: mode must be AdamMode::Dense or AdamMode::Lazy");
    options_ = options;
    const auto n = static_cast<std::size_t>(table.rows() * table.stride());
    m_.assign(n, Scalar(0));
    v_.assign(n, Scalar(0));
  }

  const AdamOptions& options() const noexcept { return options_; }
  AdamMode mode() const noexcept { return mode_; }
  /// Number of step() calls so far (restored by load()).
  std::int64_t step_count() const noexcept { return step_; }

  /// Dense mode: defers the zero-gradient updates of untouched rows until prepare() or
  /// synchronize() needs them (see the note at the top; the results are the same bits).
  /// Turning it off synchronizes first. Lazy mode has nothing to defer: `on` is refused.
  /// A step whose gradient touches at least `stream_share` of the rows (in (0, 1]) brings
  /// every row up to date and updates all of them in one streaming pass instead, which is
  /// cheaper then: a scattered row costs some 16 times a streamed one.
  void set_deferred(bool on, double stream_share = 1.0 / 16) {
    DARE_CHECK_ARG(!on || mode_ == AdamMode::Dense, "TableAdam: deferred rows need AdamMode::Dense");
    DARE_CHECK_ARG(stream_share > 0 && stream_share <= 1, "TableAdam: stream_share must be in (0, 1], got ",
                   stream_share);
    stream_share_ = stream_share;
    if (on == deferred_) return;
    if (!on) synchronize();
    deferred_ = on;
    current_.assign(on ? static_cast<std::size_t>(this->rows_) : 0, step_);
    replay_.clear();
    replay_base_ = step_;
    max_step_size_ = 0;
  }
  bool deferred() const noexcept { return deferred_; }
  /// True when every row is up to date (always, unless deferred).
  bool synchronized() const noexcept { return replay_.empty(); }

  /// Brings rows `ids[0, n)` up to date (deferred mode; otherwise nothing to do). Ids may
  /// repeat; each must be in [0, rows()).
  void prepare(const Id* ids, Index n) {
    if (!deferred_) return;
    if (replay_.empty()) {  // nothing to replay: only the check
      for (Index i = 0; i < n; ++i)
        DARE_CHECK_ARG(ids[i] >= 0 && ids[i] < this->rows_, "TableAdam::prepare: id ", ids[i], " is out of range [0, ",
                       this->rows_, ")");
      return;
    }
    const ScopedDenormalMode fp(replay_mode_);
    for (Index i = 0; i < n; ++i) {
      if (i + 2 * kAhead < n) prefetch_current(ids[i + 2 * kAhead]);
      if (i + kAhead < n) prefetch_if_behind(ids[i + kAhead]);
      const Id id = ids[i];
      DARE_CHECK_ARG(id >= 0 && id < this->rows_, "TableAdam::prepare: id ", id, " is out of range [0, ", this->rows_,
                     ")");
      bring_up_to_date(id);
    }
  }
  /// Brings every row up to date (deferred mode; otherwise nothing to do).
  void synchronize() {
    if (!deferred_ || replay_.empty()) return;
    {
      const ScopedDenormalMode fp(replay_mode_);
      for (Index id = 0; id < this->rows_; ++id) bring_up_to_date(static_cast<Id>(id));
    }
    replay_.clear();
    replay_base_ = step_;
    max_step_size_ = 0;
  }

  /// Changes the learning rate (for schedules).
  void set_lr(double lr) {
    detail::check_hyper("TableAdam", "lr", lr, 0.0, HUGE_VAL);
    options_.lr = lr;
  }

  /// First and second moments of row `id` (dim() scalars each; when deferred, as of the
  /// row's last update: prepare() or synchronize() it first).
  const Scalar* moment1(Index id) const {
    DARE_ASSERT(id >= 0 && id < this->rows_);
    return m_.data() + id * this->table_->stride();
  }
  const Scalar* moment2(Index id) const {
    DARE_ASSERT(id >= 0 && id < this->rows_);
    return v_.data() + id * this->table_->stride();
  }

  /// Applies one update from `grad` (see AdamMode). A bad id or width throws before
  /// anything changes. An empty gradient still counts as a step (as in PyTorch).
  void step(const Grad& grad) {
    this->check_grad(grad, "TableAdam::step");
    ++step_;
    const auto c = detail::AdamStepCoefficients<Scalar>::make(options_, mode_, step_);
    if (deferred_) {
      deferred_step(grad, c);
    } else if (mode_ == AdamMode::Dense) {
      dense_step(grad, c);
    } else {
      lazy_step(grad, c);
    }
  }

  /// Appends the optimizer state as one record to `os`.
  void save(std::ostream& os) const {
    if (!synchronized())
      throw std::logic_error("TableAdam::save: deferred rows are not up to date; call synchronize() first");
    detail::BinaryWriter w(os);
    this->write_header(w, detail::OptimizerKind::Adam);
    w.u32(static_cast<std::uint32_t>(mode_));
    w.f64(options_.lr);
    w.f64(options_.beta1);
    w.f64(options_.beta2);
    w.f64(options_.eps);
    w.u64(static_cast<std::uint64_t>(step_));
    this->write_rows(w, m_.data());
    this->write_rows(w, v_.data());
    w.checksum();
    w.check("an optimizer state");
  }
  void save(const std::string& path) const {
    detail::save_file_atomically(path, "an optimizer state",
                                 [this](std::ostream& os) { save(os); });
  }

  /// Reads a state record written by save(). The hyperparameters and step count are
  /// restored (as PyTorch's load_state_dict does); the mode must match this optimizer's.
  /// Errors name `name_for_errors` and the field; on error the optimizer is unchanged.
  void load(std::istream& is, const std::string& name_for_errors) {
    detail::BinaryReader r(is, name_for_errors);
    this->read_header(r, detail::OptimizerKind::Adam);
    const std::uint32_t mode = r.u32("mode");
    if (mode != static_cast<std::uint32_t>(mode_))
      r.fail("mode",
             detail::concat("the state was saved in ", mode_name(mode),
                            " mode but this optimizer runs in ", mode_name(mode_), " mode"));
    AdamOptions options;
    options.lr = detail::read_hyper(r, "lr", 0.0, HUGE_VAL);
    options.beta1 = detail::read_hyper(r, "beta1", 0.0, 1.0);
    options.beta2 = detail::read_hyper(r, "beta2", 0.0, 1.0);
    options.eps = detail::read_hyper(r, "eps", 0.0, HUGE_VAL);
    const std::uint64_t step = r.u64("step");
    // INT64_MAX too: the next step() could not count itself (signed overflow).
    if (step >= static_cast<std::uint64_t>(INT64_MAX)) r.fail("step", "step count out of range");
    r.require_remaining(2 * this->block_bytes() + sizeof(std::uint64_t), "m");
    AlignedVector<Scalar> m = this->read_rows(r, "m");
    AlignedVector<Scalar> v = this->read_rows(r, "v", true);
    r.verify_checksum();
    options_ = options;
    step_ = static_cast<std::int64_t>(step);
    m_.swap(m);
    v_.swap(v);
    if (deferred_) current_.assign(static_cast<std::size_t>(this->rows_), step_);
    replay_.clear();
    replay_base_ = step_;
    max_step_size_ = 0;
  }
  void load(const std::string& path) {
    detail::load_file(path, "an optimizer state",
                      [this](std::istream& is, const std::string& name) { load(is, name); });
  }

 private:
  static void check_options(const AdamOptions& o) {
    detail::check_hyper("TableAdam", "lr", o.lr, 0.0, HUGE_VAL);
    detail::check_hyper("TableAdam", "beta1", o.beta1, 0.0, 1.0);
    detail::check_hyper("TableAdam", "beta2", o.beta2, 0.0, 1.0);
    detail::check_hyper("TableAdam", "eps", o.eps, 0.0, HUGE_VAL);
  }

  static const char* mode_name(std::uint32_t mode) noexcept {
    return mode == static_cast<std::uint32_t>(AdamMode::Dense)  ? "Dense"
           : mode == static_cast<std::uint32_t>(AdamMode::Lazy) ? "Lazy"
                                                                : "an unknown";
  }
  static const char* mode_name(AdamMode mode) noexcept {
    return mode_name(static_cast<std::uint32_t>(mode));
  }

  // One pass over the whole table in row order: the stretch of untouched rows before each
  // touched row (gradient zero, run over whole padded rows: the zero padding stays zero),
  // then the touched row with its gradient. The touched rows come in id order from a bitmap
  // of the table's rows, marked from the gradient and cleared as it is read: sorting the ids
  // instead cost more than the pass itself on a table of 100,000 rows (41,000 ids touched).
  void dense_step(const Grad& grad, const detail::AdamStepCoefficients<Scalar>& c) {
    Table& table = *this->table_;
    const Index stride = table.stride();
    const Index d = table.dim();
    const auto words = static_cast<std::size_t>((this->rows_ + 63) / 64);
    if (touched_.size() != words) {
      touched_.assign(words, 0);
      slot_of_.resize(static_cast<std::size_t>(this->rows_));
    }
    for (Index s = 0; s < grad.size(); ++s) {
      const auto id = static_cast<std::size_t>(grad.id(s));
      touched_[id >> 6] |= std::uint64_t{1} << (id & 63);
      slot_of_[id] = static_cast<std::int32_t>(s);
    }
    Scalar* p = table.data();
    Scalar* m = m_.data();
    Scalar* v = v_.data();
    const Scalar* const zero_grad = nullptr;
    Index next = 0;  // first row not updated yet
    for (std::size_t w = 0; w < words; ++w) {
      for (std::uint64_t bits = touched_[w]; bits != 0; bits &= bits - 1) {
        const Index id = static_cast<Index>(w * 64) + static_cast<Index>(__builtin_ctzll(bits));
        const Index begin = next * stride;
        detail::adam_dense_range<true>(p + begin, m + begin, v + begin, zero_grad, (id - next) * stride, c);
        const Index at = id * stride;
        detail::adam_dense_range<true>(p + at, m + at, v + at, grad.row(slot_of_[static_cast<std::size_t>(id)]), d, c);
        next = id + 1;
      }
      touched_[w] = 0;
    }
    const Index begin = next * stride;
    detail::adam_dense_range<true>(p + begin, m + begin, v + begin, zero_grad,
                                   (this->rows_ - next) * stride, c);
  }

  // Deferred Dense step: record the step (in the flush-to-zero mode it runs in), bring each
  // touched row up to the step before, then apply this step's update with its gradient.
  void deferred_step(const Grad& grad, const detail::AdamStepCoefficients<Scalar>& c) {
    const unsigned mode = denormal_mode();
    const bool stream = static_cast<double>(grad.size()) >= stream_share_ * static_cast<double>(this->rows_);
    if (stream || mode != replay_mode_) {
      // Every row up to the step before (replay_base_ = step_ - 1), the recorded steps in
      // their own mode: before a streaming pass, or before steps in another mode.
      --step_;
      synchronize();
      ++step_;
    }
    replay_mode_ = mode;
    if (stream) {
      dense_step(grad, c);
      replay_base_ = step_;  // and now every row has this step too
      return;
    }
    Table& table = *this->table_;
    const Index stride = table.stride();
    const Index d = table.dim();
    for (Index s = 0; s < grad.size(); ++s) {
      if (s + 2 * kAhead < grad.size()) prefetch_current(grad.id(s + 2 * kAhead));
      if (s + kAhead < grad.size()) prefetch_row(grad.id(s + kAhead));
      const Id id = grad.id(s);
      bring_up_to_date(id);
      const Index at = static_cast<Index>(id) * stride;
      detail::adam_dense_range<true>(table.data() + at, m_.data() + at, v_.data() + at, grad.row(s), d, c);
      current_[static_cast<std::size_t>(id)] = step_;
    }
    replay_.push_back(c);
    // The freezing bound of adam_dense_replay: the largest step_size / eps recorded, doubled
    // for the rounding of the test itself (none when eps is 0: nothing freezes).
    max_step_size_ = std::max(max_step_size_, static_cast<double>(c.step_size));
    const double eps = static_cast<double>(c.eps);
    const double bound = eps > 0 ? 2 * max_step_size_ / eps : HUGE_VAL;
    freeze_ = bound < static_cast<double>(std::numeric_limits<Scalar>::max()) ? static_cast<Scalar>(bound) : Scalar(0);
  }

  // The rows of a batch are scattered over tables far larger than the caches: the loops over
  // them prefetch the step counter kAhead ids before the row itself, and the row (value and
  // moments) kAhead ids before its turn. Ids out of range are left to the caller's check.
  static constexpr Index kAhead = 8;
  void prefetch_current(Id id) const noexcept {
    if (id >= 0 && id < this->rows_) detail::prefetch_lines(current_.data() + id, sizeof(std::int64_t));
  }
  void prefetch_row(Id id) const noexcept {
    if (id < 0 || id >= this->rows_) return;
    const Index off = static_cast<Index>(id) * this->table_->stride();
    const Index bytes = this->table_->stride() * static_cast<Index>(sizeof(Scalar));
    detail::prefetch_lines(this->table_->data() + off, bytes);
    detail::prefetch_lines(m_.data() + off, bytes);
    detail::prefetch_lines(v_.data() + off, bytes);
  }
  // prepare() reads the rows only if they are behind (the batch reads their values anyway).
  void prefetch_if_behind(Id id) const noexcept {
    if (id >= 0 && id < this->rows_ && std::max(current_[static_cast<std::size_t>(id)], replay_base_) < replayed_to())
      prefetch_row(id);
  }

  // Replays the recorded zero-gradient steps row `id` missed. replay_ covers steps
  // replay_base_ + 1 .. replay_base_ + replay_.size(); deferred_step appends a step's
  // coefficients only after its touched rows, so there they come up to the step before.
  std::int64_t replayed_to() const noexcept { return replay_base_ + static_cast<std::int64_t>(replay_.size()); }
  void bring_up_to_date(Id id) {
    auto& at = current_[static_cast<std::size_t>(id)];
    const std::int64_t upto = replayed_to();
    if (at < replay_base_) at = replay_base_;  // every row is up to date with the last synchronize
    if (at >= upto) return;
    const Index stride = this->table_->stride();
    const Index off = static_cast<Index>(id) * stride;
    detail::adam_dense_replay(this->table_->data() + off, m_.data() + off, v_.data() + off, stride,
                              replay_.data() + (at - replay_base_), static_cast<Index>(upto - at), freeze_);
    at = upto;
  }

  void lazy_step(const Grad& grad, const detail::AdamStepCoefficients<Scalar>& c) {
    Table& table = *this->table_;
    const Index stride = table.stride();
    const Index d = table.dim();
    for (Index s = 0; s < grad.size(); ++s) {
      const Index at = static_cast<Index>(grad.id(s)) * stride;
      detail::adam_lazy_row(table.data() + at, m_.data() + at, v_.data() + at, grad.row(s), d, c);
    }
  }

  AdamOptions options_;
  AdamMode mode_;
  std::int64_t step_ = 0;
  AlignedVector<Scalar> m_;
  AlignedVector<Scalar> v_;
  std::vector<std::uint64_t> touched_;  // dense_step: a bit per row, clear between steps
  AlignedVector<std::int32_t> slot_of_;  // dense_step: the gradient slot of each marked row (read at random)
  // Deferred rows: the step each row is up to date with (at least replay_base_, the last
  // synchronize's), and the coefficients of the steps since then (step replay_base_ + 1 + i
  // at i), run in replay_mode_.
  bool deferred_ = false;
  double stream_share_ = 1.0 / 16;
  std::vector<std::int64_t> current_;
  std::vector<detail::AdamStepCoefficients<Scalar>> replay_;
  std::int64_t replay_base_ = 0;
  unsigned replay_mode_ = 0;
  double max_step_size_ = 0;  // over replay_
  Scalar freeze_ = 0;
};

}  // namespace dare

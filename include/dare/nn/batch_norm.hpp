// dare/nn/batch_norm.hpp — BatchNorm1d over feature rows, batch as columns, as PyTorch's.
//
// Design. Training mode normalises each feature with the batch mean and the biased batch
// variance, and moves the running statistics by `momentum` towards the batch mean and the
// *unbiased* batch variance (PyTorch's rule; like PyTorch it refuses a batch of one, whose
// variance is undefined). Inference mode normalises with the running statistics. The
// affine terms start at gamma = 1, beta = 0 and are not weight-decayed; the running
// statistics are buffers (saved in checkpoints, never optimised).
//
// Backward in training mode goes through the batch statistics:
//   dx = inv_std / B · (B·dx̂ − Σ dx̂ − x̂ · Σ(dx̂ ⊙ x̂)),   dx̂ = dy ⊙ gamma,
// and in inference mode the statistics are constants, dx = dy ⊙ gamma ⊙ inv_std. The mode
// used is the one of the last forward call. Member buffers hold x̂ and the per-feature
// statistics and are reallocated only when the batch size changes. Both passes also come in
// pieces (begin_forward, statistics_rows, normalize_cols; begin_backward,
// backward_sums_rows, input_grad_cols) for a caller that splits them over threads: every
// sum over the batch is taken per feature row in column order, so splitting the rows does
// not change a bit, and the rest is per column. The loops over features run on SIMD lanes
// (core/lanes.hpp), each with the scalar form's expression (and bits, up to the compiler's
// FMA contraction: core/lanes.hpp).
//
// Which statistics inference uses is a choice (`InferenceStats`), because the running
// average is a poor estimate while the parameters move fast (Adam at lr 0.01): it lags the
// features by ~1/momentum steps, and a model evaluated or saved at the wrong moment is worse
// than it is. `Running` is PyTorch's eval mode. `Batch` normalises each inference batch with
// its own statistics and leaves the running ones untouched (the public DARE reference never
// calls model.eval(), so this is what its validation and test do). `Precise` normalises with
// population statistics the caller recomputes, parameters frozen, over a set of training
// batches (begin_population / accumulate_population / end_population, which write the exact
// mean and unbiased variance of everything accumulated into the running buffers), so that
// one sample at a time is scored as well as a large batch would be.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <xsimd/xsimd.hpp>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/core/lanes.hpp"
#include "dare/nn/parameter.hpp"

namespace dare::nn {

/// The statistics a BatchNorm normalises with outside training; see the header note.
enum class InferenceStats { Running, Batch, Precise };

/// "running", "batch" or "precise".
inline const char* to_string(InferenceStats s) noexcept {
  switch (s) {
    case InferenceStats::Running: return "running";
    case InferenceStats::Batch: return "batch";
    case InferenceStats::Precise: return "precise";
  }
  return "?";
}

/// Parses "running", "batch" or "precise"; `what` names the option in the error.
inline InferenceStats parse_inference_stats(const std::string& text, const char* what) {
  for (InferenceStats s : {InferenceStats::Running, InferenceStats::Batch, InferenceStats::Precise}) {
    if (text == to_string(s)) return s;
  }
  ::dare::detail::throw_invalid(what, " must be running, batch or precise, got '", text, "'");
}

/// Batch normalisation of `features` rows (PyTorch's BatchNorm1d with affine terms and
/// running statistics).
template <class Scalar>
class BatchNorm1d {
 public:
  using Matrix = nn::Matrix<Scalar>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

  /// Parameters "<name>.weight" (gamma) and "<name>.bias" (beta); buffers
  /// "<name>.running_mean" (0) and "<name>.running_var" (1). Starts in training mode.
  explicit BatchNorm1d(Index features, double eps = 1e-5, double momentum = 0.1,
                       const std::string& name = "batch_norm")
      : name_(name),
        eps_(eps),
        momentum_(momentum),
        gamma_(name + ".weight", checked(features, eps, momentum, name), 1, false),
        beta_(name + ".bias", features, 1, false),
        running_mean_(name + ".running_mean", features, 1, false),
        running_var_(name + ".running_var", features, 1, false) {
    gamma_.value.setOnes();
    running_var_.value.setOnes();
  }

  Index features() const noexcept { return gamma_.value.rows(); }
  const std::string& name() const noexcept { return name_; }
  double eps() const noexcept { return eps_; }
  double momentum() const noexcept { return momentum_; }

  /// Training mode (batch statistics, running update) or inference (see inference_stats).
  void set_training(bool training) noexcept { training_ = training; }
  bool training() const noexcept { return training_; }

  /// The statistics inference mode normalises with: the running buffers (Running, and
  /// Precise, whose buffers end_population fills) or each batch's own (Batch).
  void set_inference_stats(InferenceStats stats) noexcept { inference_stats_ = stats; }
  InferenceStats inference_stats() const noexcept { return inference_stats_; }

  /// Starts a population estimate: clears the accumulators (the running buffers are not
  /// touched until end_population).
  void begin_population() {
    population_count_ = 0;
    population_mean_.setZero(features());
    population_m2_.setZero(features());
  }

  /// Adds the columns of x (features x B) to the population estimate. Batches are merged
  /// by Chan's rule in double precision, so the result is the exact mean and variance of
  /// all accumulated columns up to rounding, whatever the batch sizes.
  void accumulate_population(const Matrix& x) {
    DARE_CHECK_ARG(x.rows() == features(), "BatchNorm1d '", name_, "': input has ", x.rows(),
                   " rows but the layer has ", features(), " features");
    DARE_CHECK_ARG(population_mean_.size() == features(), "BatchNorm1d '", name_,
                   "': accumulate_population before begin_population");
    const Index n = x.cols();
    if (n == 0) return;
    const Eigen::MatrixXd xd = x.template cast<double>();
    const Eigen::VectorXd mean = xd.rowwise().mean();
    const Eigen::VectorXd m2 = (xd.colwise() - mean).array().square().rowwise().sum().matrix();
    const double na = static_cast<double>(population_count_);
    const double nb = static_cast<double>(n);
    const double total = na + nb;
    const Eigen::VectorXd delta = mean - population_mean_;
    population_mean_ += delta * (nb / total);
    population_m2_ += m2 + delta.cwiseProduct(delta) * (na * nb / total);
    population_count_ += n;
  }

  /// Writes the population mean and unbiased variance into the running buffers. Needs at
  /// least two accumulated samples.
  void end_population() {
    DARE_CHECK_ARG(population_count_ > 1, "BatchNorm1d '", name_,
                   "': population statistics need at least 2 samples, got ", population_count_);
    running_mean_.value.col(0) = population_mean_.template cast<Scalar>();
    running_var_.value.col(0) =
        (population_m2_ / static_cast<double>(population_count_ - 1)).template cast<Scalar>();
  }

  /// Samples accumulated since begin_population.
  Index population_count() const noexcept { return population_count_; }

  /// y = gamma ⊙ x̂ + beta for x of shape features x B (y may be x).
  void forward(const Matrix& x, Matrix& y) {
    if (begin_forward(x)) {
      statistics_rows(x, 0, features());
      end_statistics(x.cols());
    }
    y.resize(x.rows(), x.cols());
    normalize_cols(x, y, 0, x.cols());
  }

  /// Accumulates dgamma, dbeta for the last forward; if `dx` is not nullptr, writes dL/dx
  /// (through the batch statistics if that forward was in training mode). `dx` may be `dy`.
  void backward(const Matrix& dy, Matrix* dx) {
    begin_backward(dy);
    backward_sums_rows(dy, 0, features());
    if (dx == nullptr) return;
    if (dx != &dy) dx->resize(dy.rows(), dy.cols());
    input_grad_cols(dy, *dx, 0, dy.cols());
  }

  // ---- forward and backward in pieces, for callers that split them over threads (Mlp):
  // the sums over the batch by feature rows, each row summed over the columns in order (so
  // the bits do not depend on the split), and the rest by columns.

  /// Checks x and readies a forward over it. Returns whether it normalises with the batch's
  /// statistics: then call statistics_rows for every row, then end_statistics, before
  /// normalize_cols; otherwise the stored statistics are ready.
  bool begin_forward(const Matrix& x) {
    DARE_CHECK_ARG(x.rows() == features(), "BatchNorm1d '", name_, "': input has ", x.rows(),
                   " rows but the layer has ", features(), " features");
    const Index batch = x.cols();
    // Batch-statistics inference normalises exactly as training does, without the running
    // update; backward then goes through the batch statistics too.
    const bool batch_stats = training_ || inference_stats_ == InferenceStats::Batch;
    last_training_ = batch_stats;
    xhat_.resize(features(), batch);
    if (batch_stats) {
      DARE_CHECK_ARG(batch > 1, "BatchNorm1d '", name_, "': ", training_ ? "training mode" : "batch statistics",
                     " needs more than one sample per batch, got ", batch);
      mean_.resize(features());
      var_.resize(features());
      inv_std_.resize(features());
    } else {
      mean_ = running_mean_.value.col(0);
      running_inv_std(inv_std_);
    }
    return batch_stats;
  }
  /// The batch mean and biased variance (and 1/std) of rows [r0, r1) of x.
  void statistics_rows(const Matrix& x, Index r0, Index r1) {
    const Index batch = x.cols();
    Scalar* mean = mean_.data();
    Scalar* var = var_.data();
    std::fill(mean + r0, mean + r1, Scalar(0));
    std::fill(var + r0, var + r1, Scalar(0));
    for (Index j = 0; j < batch; ++j) {
      const Scalar* c = x.col(j).data();
      ::dare::detail::for_each_lane<xsimd::default_arch, Scalar>(r1 - r0, [&](auto lanes, Index k) {
        using ::dare::detail::load_lanes, ::dare::detail::store_lanes;
        const Index i = r0 + k;
        store_lanes(load_lanes(lanes, mean + i) + load_lanes(lanes, c + i), mean + i);
      });
    }
    const Scalar inv_batch = Scalar(1) / static_cast<Scalar>(batch);
    for (Index i = r0; i < r1; ++i) mean[i] *= inv_batch;
    for (Index j = 0; j < batch; ++j) {
      const Scalar* c = x.col(j).data();
      ::dare::detail::for_each_lane<xsimd::default_arch, Scalar>(r1 - r0, [&](auto lanes, Index k) {
        using ::dare::detail::load_lanes, ::dare::detail::store_lanes;
        const Index i = r0 + k;
        const auto d = load_lanes(lanes, c + i) - load_lanes(lanes, mean + i);
        store_lanes(load_lanes(lanes, var + i) + d * d, var + i);
      });
    }
    for (Index i = r0; i < r1; ++i) {
      var[i] *= inv_batch;  // biased: divides by B
      inv_std_[i] = inverse_std(var[i]);
    }
  }
  /// After statistics_rows covered every row: the running statistics' update (training).
  void end_statistics(Index batch) {
    if (!training_) return;
    const Scalar m = static_cast<Scalar>(momentum_);
    const Scalar unbias = static_cast<Scalar>(batch) / static_cast<Scalar>(batch - 1);
    running_mean_.value.col(0) = (1 - m) * running_mean_.value.col(0) + m * mean_;
    running_var_.value.col(0) = (1 - m) * running_var_.value.col(0) + (m * unbias) * var_;
  }
  /// Columns [c0, c0 + n) of y = gamma ⊙ x̂ + beta (y sized by the caller; it may be x).
  void normalize_cols(const Matrix& x, Matrix& y, Index c0, Index n) {
    normalize(x, mean_.data(), inv_std_.data(), &xhat_, y, c0, n);
  }

  /// Checks dy against the last forward and readies a backward over it (then
  /// backward_sums_rows for every row, then input_grad_cols if dL/dx is wanted).
  void begin_backward(const Matrix& dy) {
    DARE_CHECK_ARG(dy.rows() == features() && dy.cols() == xhat_.cols(), "BatchNorm1d '", name_,
                   "': gradient is ", dy.rows(), "x", dy.cols(), " but the last forward output was ",
                   features(), "x", xhat_.cols());
    dy_sum_.resize(features());
    dy_xhat_sum_.resize(features());
    scale_.resize(features());
  }
  /// Rows [r0, r1): Σ dy and Σ dy ⊙ x̂ over the batch, added to dbeta and dgamma, and what
  /// input_grad_cols needs of them.
  void backward_sums_rows(const Matrix& dy, Index r0, Index r1) {
    Scalar* sum = dy_sum_.data();
    Scalar* sum_xhat = dy_xhat_sum_.data();
    std::fill(sum + r0, sum + r1, Scalar(0));
    std::fill(sum_xhat + r0, sum_xhat + r1, Scalar(0));
    for (Index j = 0; j < dy.cols(); ++j) {
      const Scalar* g = dy.col(j).data();
      const Scalar* h = xhat_.col(j).data();
      ::dare::detail::for_each_lane<xsimd::default_arch, Scalar>(r1 - r0, [&](auto lanes, Index k) {
        using ::dare::detail::load_lanes, ::dare::detail::store_lanes;
        const Index i = r0 + k;
        const auto gi = load_lanes(lanes, g + i);
        store_lanes(load_lanes(lanes, sum + i) + gi, sum + i);
        store_lanes(load_lanes(lanes, sum_xhat + i) + gi * load_lanes(lanes, h + i), sum_xhat + i);
      });
    }
    const Scalar inv_batch = Scalar(1) / static_cast<Scalar>(dy.cols());
    for (Index i = r0; i < r1; ++i) {
      gamma_.grad(i, 0) += sum_xhat[i];
      beta_.grad(i, 0) += sum[i];
      scale_[i] = gamma_.value(i, 0) * inv_std_[i];
      sum[i] *= inv_batch;       // now mean(dy)
      sum_xhat[i] *= inv_batch;  // now mean(dy ⊙ x̂)
    }
  }
  /// Columns [c0, c0 + n) of dL/dx (dx sized by the caller; it may be dy): through the batch
  /// statistics, dx = gamma·inv_std · (dy − mean(dy) − x̂ · mean(dy ⊙ x̂)), else
  /// gamma·inv_std · dy.
  void input_grad_cols(const Matrix& dy, Matrix& dx, Index c0, Index n) const {
    const Scalar* mean_dy = dy_sum_.data();
    const Scalar* mean_dy_xhat = dy_xhat_sum_.data();
    const Scalar* scale = scale_.data();
    for (Index j = c0; j < c0 + n; ++j) {
      const Scalar* g = dy.col(j).data();
      const Scalar* h = xhat_.col(j).data();
      Scalar* out = dx.col(j).data();
      if (last_training_) {
        ::dare::detail::for_each_lane<xsimd::default_arch, Scalar>(features(), [&](auto lanes, Index i) {
          using ::dare::detail::load_lanes, ::dare::detail::store_lanes;
          const auto centred = load_lanes(lanes, g + i) - load_lanes(lanes, mean_dy + i) -
                               load_lanes(lanes, h + i) * load_lanes(lanes, mean_dy_xhat + i);
          store_lanes(centred * load_lanes(lanes, scale + i), out + i);
        });
      } else {
        ::dare::detail::for_each_lane<xsimd::default_arch, Scalar>(features(), [&](auto lanes, Index i) {
          using ::dare::detail::load_lanes, ::dare::detail::store_lanes;
          store_lanes(load_lanes(lanes, g + i) * load_lanes(lanes, scale + i), out + i);
        });
      }
    }
  }

  Parameter<Scalar>& gamma() noexcept { return gamma_; }
  Parameter<Scalar>& beta() noexcept { return beta_; }
  Parameter<Scalar>& running_mean() noexcept { return running_mean_; }
  Parameter<Scalar>& running_var() noexcept { return running_var_; }
  const Parameter<Scalar>& gamma() const noexcept { return gamma_; }
  const Parameter<Scalar>& beta() const noexcept { return beta_; }
  const Parameter<Scalar>& running_mean() const noexcept { return running_mean_; }
  const Parameter<Scalar>& running_var() const noexcept { return running_var_; }

  /// y = the inference-mode forward with the stored statistics (as forward() outside
  /// training with Running or Precise statistics, to the bit), without touching the layer:
  /// safe to call from several threads at once. `y` may be `x`.
  void infer(const Matrix& x, Matrix& y) const {
    DARE_CHECK_ARG(x.rows() == features(), "BatchNorm1d '", name_, "': input has ", x.rows(),
                   " rows but the layer has ", features(), " features");
    Vector inv_std;
    running_inv_std(inv_std);
    y.resize(x.rows(), x.cols());
    normalize(x, running_mean_.value.data(), inv_std.data(), nullptr, y, 0, x.cols());
  }

  /// {gamma, beta}: what an optimizer updates.
  std::vector<Parameter<Scalar>*> parameters() { return {&gamma_, &beta_}; }
  /// {running_mean, running_var}: state a checkpoint must save, not optimised.
  std::vector<Parameter<Scalar>*> buffers() { return {&running_mean_, &running_var_}; }

 private:
  Scalar inverse_std(Scalar var) const noexcept { return Scalar(1) / std::sqrt(var + static_cast<Scalar>(eps_)); }
  // 1/std of the running variance, per feature: what inference normalises with.
  void running_inv_std(Vector& out) const {
    out.resize(features());
    for (Index i = 0; i < features(); ++i) out[i] = inverse_std(running_var_.value(i, 0));
  }
  // Columns [c0, c0 + n) of y = gamma ⊙ (x − mean) ⊙ inv_std + beta (y may be x), with x̂
  // kept in `xhat` for the backward when it is not null: the one expression training,
  // evaluation and serving all use.
  void normalize(const Matrix& x, const Scalar* mean, const Scalar* inv_std, Matrix* xhat, Matrix& y, Index c0,
                 Index n) const {
    const Scalar* gamma = gamma_.value.data();
    const Scalar* beta = beta_.value.data();
    for (Index j = c0; j < c0 + n; ++j) {
      const Scalar* c = x.col(j).data();
      Scalar* out = y.col(j).data();
      Scalar* h = xhat != nullptr ? xhat->col(j).data() : nullptr;
      ::dare::detail::for_each_lane<xsimd::default_arch, Scalar>(features(), [&](auto lanes, Index i) {
        using ::dare::detail::load_lanes, ::dare::detail::store_lanes;
        const auto hi = (load_lanes(lanes, c + i) - load_lanes(lanes, mean + i)) * load_lanes(lanes, inv_std + i);
        if (h != nullptr) store_lanes(hi, h + i);
        store_lanes(hi * load_lanes(lanes, gamma + i) + load_lanes(lanes, beta + i), out + i);
      });
    }
  }

  static Index checked(Index features, double eps, double momentum, const std::string& name) {
    DARE_CHECK_ARG(features > 0, "BatchNorm1d '", name, "': features must be positive, got ", features);
    DARE_CHECK_ARG(eps > 0, "BatchNorm1d '", name, "': eps must be positive, got ", eps);
    DARE_CHECK_ARG(momentum >= 0 && momentum <= 1, "BatchNorm1d '", name,
                   "': momentum must be in [0, 1], got ", momentum);
    return features;
  }

  std::string name_;
  double eps_;
  double momentum_;
  bool training_ = true;
  bool last_training_ = true;  // the last forward normalised with batch statistics
  InferenceStats inference_stats_ = InferenceStats::Running;
  Index population_count_ = 0;
  Eigen::VectorXd population_mean_, population_m2_;
  Parameter<Scalar> gamma_;
  Parameter<Scalar> beta_;
  Parameter<Scalar> running_mean_;
  Parameter<Scalar> running_var_;
  // Per-call buffers, kept to avoid reallocation.
  Matrix xhat_;
  Vector mean_, var_, inv_std_, scale_, dy_sum_, dy_xhat_sum_;
};

}  // namespace dare::nn

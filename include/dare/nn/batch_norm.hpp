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
// statistics and are reallocated only when the batch size changes.
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

#include <cmath>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
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
    DARE_CHECK_ARG(x.rows() == features(), "BatchNorm1d '", name_, "': input has ", x.rows(),
                   " rows but the layer has ", features(), " features");
    const Index batch = x.cols();
    // Batch-statistics inference normalises exactly as training does, without the running
    // update; backward then goes through the batch statistics too.
    const bool batch_stats = training_ || inference_stats_ == InferenceStats::Batch;
    last_training_ = batch_stats;
    if (batch_stats) {
      DARE_CHECK_ARG(batch > 1, "BatchNorm1d '", name_, "': ", training_ ? "training mode" : "batch statistics",
                     " needs more than one sample per batch, got ", batch);
      mean_ = x.rowwise().mean();
      xhat_ = x.colwise() - mean_;
      var_ = xhat_.array().square().rowwise().mean();  // biased: divides by B
      inv_std_ = (var_.array() + static_cast<Scalar>(eps_)).rsqrt();
      if (training_) {
        const Scalar m = static_cast<Scalar>(momentum_);
        const Scalar unbias = static_cast<Scalar>(batch) / static_cast<Scalar>(batch - 1);
        running_mean_.value.col(0) = (1 - m) * running_mean_.value.col(0) + m * mean_;
        running_var_.value.col(0) = (1 - m) * running_var_.value.col(0) + (m * unbias) * var_;
      }
    } else {
      mean_ = running_mean_.value.col(0);
      inv_std_ = (running_var_.value.col(0).array() + static_cast<Scalar>(eps_)).rsqrt();
      xhat_ = x.colwise() - mean_;
    }
    xhat_.array().colwise() *= inv_std_.array();
    y = xhat_;
    y.array().colwise() *= gamma_.value.col(0).array();
    y.colwise() += beta_.value.col(0);
  }

  /// Accumulates dgamma, dbeta for the last forward; if `dx` is not nullptr, writes dL/dx
  /// (through the batch statistics if that forward was in training mode). `dx` may be `dy`.
  void backward(const Matrix& dy, Matrix* dx) {
    DARE_CHECK_ARG(dy.rows() == features() && dy.cols() == xhat_.cols(), "BatchNorm1d '", name_,
                   "': gradient is ", dy.rows(), "x", dy.cols(), " but the last forward output was ",
                   features(), "x", xhat_.cols());
    dy_sum_ = dy.rowwise().sum();
    dy_xhat_sum_ = (dy.array() * xhat_.array()).rowwise().sum().matrix();
    gamma_.grad.col(0) += dy_xhat_sum_;
    beta_.grad.col(0) += dy_sum_;
    if (dx == nullptr) return;
    scale_ = (gamma_.value.col(0).array() * inv_std_.array()).matrix();  // gamma · inv_std
    if (dx != &dy) *dx = dy;
    if (last_training_) {
      // dx = gamma·inv_std · (dy − mean(dy) − x̂ · mean(dy ⊙ x̂)), built in place over dx.
      const Scalar inv_batch = Scalar(1) / static_cast<Scalar>(dy.cols());
      dy_sum_ *= inv_batch;       // now mean(dy)
      dy_xhat_sum_ *= inv_batch;  // now mean(dy ⊙ x̂)
      dx->colwise() -= dy_sum_;
      dx->array() -= xhat_.array().colwise() * dy_xhat_sum_.array();
    }
    dx->array().colwise() *= scale_.array();
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
    const Matrix inv_std = (running_var_.value.col(0).array() + static_cast<Scalar>(eps_)).rsqrt().matrix();
    y = x.colwise() - running_mean_.value.col(0);
    y.array().colwise() *= inv_std.col(0).array();
    y.array().colwise() *= gamma_.value.col(0).array();
    y.colwise() += beta_.value.col(0);
  }

  /// {gamma, beta}: what an optimizer updates.
  std::vector<Parameter<Scalar>*> parameters() { return {&gamma_, &beta_}; }
  /// {running_mean, running_var}: state a checkpoint must save, not optimised.
  std::vector<Parameter<Scalar>*> buffers() { return {&running_mean_, &running_var_}; }

 private:
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

// dare/nn/mlp.hpp — the prediction head: [BatchNorm] → (Linear → PReLU)* → Linear.
//
// Design. The reference's heads are nn.Sequential(BatchNorm1d(in), Linear(in, 200),
// PReLU(1, 0.1), Linear(200, 80), PReLU, Linear(80, 2)) and, for the auxiliary loss, the same
// with one hidden layer. `Mlp` builds that shape from a list of hidden sizes. Each layer
// caches what its backward needs; the Mlp owns the activations between layers and one
// gradient buffer per layer, all reused while the batch size stays the same.
//
// Names: "<name>.batch_norm", "<name>.linear<i>", "<name>.prelu<i>" with i counting the
// Linear layers from 0, so the final Linear of a {200, 80} head is "<name>.linear2".
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/nn/batch_norm.hpp"
#include "dare/nn/linear.hpp"
#include "dare/nn/parameter.hpp"
#include "dare/nn/prelu.hpp"

namespace dare::nn {

/// How an Mlp is built besides its sizes.
struct MlpOptions {
  bool input_batch_norm = false;  ///< BatchNorm1d on the input first (the reference does).
  double batch_norm_eps = 1e-5;
  double batch_norm_momentum = 0.1;
  bool prelu_per_channel = false;  ///< One PReLU slope per hidden unit instead of one shared.
  double prelu_init = 0.1;         ///< Initial PReLU slope (the reference's 0.1).
  std::string name = "mlp";        ///< Prefix of every parameter name.
};

/// Multi-layer perceptron over a batch of columns (in x B → out x B).
template <class Scalar>
class Mlp {
 public:
  using Matrix = nn::Matrix<Scalar>;

  /// `in` inputs, a Linear + PReLU pair per entry of `hidden`, then a Linear to `out`.
  /// Linear weights start N(0, 0.01) (call init_normal to seed them).
  Mlp(Index in, const std::vector<Index>& hidden, Index out, const MlpOptions& options = {})
      : options_(options) {
    DARE_CHECK_ARG(in > 0, "Mlp '", options.name, "': input size must be positive, got ", in);
    DARE_CHECK_ARG(out > 0, "Mlp '", options.name, "': output size must be positive, got ", out);
    if (options.input_batch_norm) {
      batch_norm_.emplace_back(in, options.batch_norm_eps, options.batch_norm_momentum,
                               options.name + ".batch_norm");
    }
    Index width = in;
    linears_.reserve(hidden.size() + 1);
    prelus_.reserve(hidden.size());
    for (std::size_t i = 0; i < hidden.size(); ++i) {
      DARE_CHECK_ARG(hidden[i] > 0, "Mlp '", options.name, "': hidden size ", i, " must be positive, got ",
                     hidden[i]);
      linears_.emplace_back(width, hidden[i], layer_name("linear", i));
      prelus_.emplace_back(hidden[i], options.prelu_per_channel ? hidden[i] : 1,
                           static_cast<Scalar>(options.prelu_init), layer_name("prelu", i));
      width = hidden[i];
    }
    linears_.emplace_back(width, out, layer_name("linear", hidden.size()));
    pre_.resize(prelus_.size());
    post_.resize(prelus_.size());
    grad_in_.resize(linears_.size());
  }

  Index in() const noexcept { return linears_.front().in(); }
  Index out() const noexcept { return linears_.back().out(); }
  const MlpOptions& options() const noexcept { return options_; }
  bool has_batch_norm() const noexcept { return !batch_norm_.empty(); }

  /// Re-draws every Linear's weights N(0, sigma) (biases 0); layer i uses a seed derived from
  /// `seed` and i, so the layers differ and the result depends on `seed` only.
  void init_normal(Scalar sigma, std::uint64_t seed) {
    for (std::size_t i = 0; i < linears_.size(); ++i) {
      linears_[i].init_normal(sigma, splitmix64(seed + 0x9e3779b97f4a7c15ULL * (i + 1)));
    }
  }

  /// The public reference's initialisation: every parameter whose name lacks "bias" drawn
  /// N(0, sigma): the Linear weights as init_normal does, and also the BatchNorm weight
  /// (gamma) and every PReLU slope, each from its own seed derived from `seed`.
  void init_normal_all_weights(Scalar sigma, std::uint64_t seed) {
    init_normal(sigma, seed);
    std::uint64_t k = 0;
    for (auto& bn : batch_norm_) {
      detail::fill_normal(bn.gamma().value, static_cast<double>(sigma), splitmix64(seed ^ (0xb47c0ffeeULL + ++k)));
    }
    for (auto& p : prelus_) {
      detail::fill_normal(p.slope().value, static_cast<double>(sigma), splitmix64(seed ^ (0xb47c0ffeeULL + ++k)));
    }
  }

  /// Whether L2 also applies to the BatchNorm weight and the PReLU slopes (on: every
  /// parameter whose name lacks "bias", the reference's penalty set; off, the default: only
  /// the Linear weights).
  void decay_all_weights(bool on) {
    for (auto& bn : batch_norm_) bn.gamma().decay = on;
    for (auto& p : prelus_) p.slope().decay = on;
  }

  /// Training mode for the BatchNorm (batch statistics) or inference (see
  /// set_inference_stats).
  void set_training(bool training) {
    for (auto& bn : batch_norm_) bn.set_training(training);
  }

  /// Worker threads for the Linear layers' products, from `pool` when given (linear.hpp);
  /// results do not depend on them.
  void set_threads(int threads, WorkerPool* pool = nullptr) {
    for (auto& l : linears_) l.set_threads(threads, pool);
  }

  /// The statistics the BatchNorm uses in inference mode.
  void set_inference_stats(InferenceStats stats) {
    for (auto& bn : batch_norm_) bn.set_inference_stats(stats);
  }

  /// y = mlp(x), x of shape in x B.
  void forward(const Matrix& x, Matrix& y) {
    const Matrix* h = &x;
    if (has_batch_norm()) {
      batch_norm_.front().forward(x, normalized_);
      h = &normalized_;
    }
    for (std::size_t i = 0; i < prelus_.size(); ++i) {
      linears_[i].forward(*h, pre_[i]);
      prelus_[i].forward(pre_[i], post_[i]);
      h = &post_[i];
    }
    linears_.back().forward(*h, y);
  }

  /// y = mlp(x) in inference mode with the BatchNorm's stored statistics (forward() outside
  /// training with Running or Precise statistics, to the bit), touching nothing in the Mlp:
  /// several threads may call it at once, each with its own `scratch` (two matrices).
  void infer(const Matrix& x, Matrix& y, std::array<Matrix, 2>& scratch) const {
    const Matrix* h = &x;
    int next = 0;
    if (has_batch_norm()) {
      batch_norm_.front().infer(x, scratch[0]);
      h = &scratch[0];
      next = 1;
    }
    for (std::size_t i = 0; i < prelus_.size(); ++i) {
      Matrix& out = scratch[static_cast<std::size_t>(next)];
      out.noalias() = linears_[i].weight().value * *h;
      out.colwise() += linears_[i].bias().value.col(0);
      const bool shared = prelus_[i].slope().value.rows() == 1;
      const Scalar* a = prelus_[i].slope().value.data();
      for (Index j = 0; j < out.cols(); ++j) {
        Scalar* c = out.col(j).data();
        for (Index r = 0; r < out.rows(); ++r) {
          const Scalar sl = shared ? a[0] : a[r];
          c[r] = c[r] > 0 ? c[r] : sl * c[r];
        }
      }
      h = &out;
      next = 1 - next;
    }
    y.noalias() = linears_.back().weight().value * *h;
    y.colwise() += linears_.back().bias().value.col(0);
  }

  /// Accumulates every parameter's gradient for the last forward; if `dx` is not nullptr,
  /// writes dL/dx.
  void backward(const Matrix& dy, Matrix* dx) {
    // grad_in_[i] receives dL/d(input of Linear i), then PReLU i-1's backward turns it, in
    // place, into the gradient of the Linear i-1 output. One buffer per layer keeps every
    // shape fixed, so nothing is reallocated from one batch to the next.
    const Matrix* g = &dy;
    for (std::size_t i = linears_.size(); i-- > 1;) {
      linears_[i].backward(*g, &grad_in_[i]);
      prelus_[i - 1].backward(grad_in_[i], &grad_in_[i]);
      g = &grad_in_[i];
    }
    if (has_batch_norm()) {
      linears_.front().backward(*g, &grad_in_.front());
      batch_norm_.front().backward(grad_in_.front(), dx);
    } else {
      linears_.front().backward(*g, dx);
    }
  }

  /// Every learnable parameter: BatchNorm affine terms first, then each Linear and PReLU in
  /// order. Pointers stay valid while the Mlp lives (moving the Mlp keeps them valid too).
  std::vector<Parameter<Scalar>*> parameters() {
    std::vector<Parameter<Scalar>*> out;
    for (auto& bn : batch_norm_) append(out, bn.parameters());
    for (std::size_t i = 0; i < linears_.size(); ++i) {
      append(out, linears_[i].parameters());
      if (i < prelus_.size()) append(out, prelus_[i].parameters());
    }
    return out;
  }

  /// Non-learnable state a checkpoint must keep (BatchNorm running statistics).
  std::vector<Parameter<Scalar>*> buffers() {
    std::vector<Parameter<Scalar>*> out;
    for (auto& bn : batch_norm_) append(out, bn.buffers());
    return out;
  }

  /// Layer access, e.g. for tests and inspection.
  Linear<Scalar>& linear(std::size_t i) { return linears_.at(i); }
  PReLU<Scalar>& prelu(std::size_t i) { return prelus_.at(i); }
  BatchNorm1d<Scalar>& batch_norm() {
    DARE_CHECK_ARG(has_batch_norm(), "Mlp '", options_.name, "' has no input BatchNorm");
    return batch_norm_.front();
  }
  std::size_t num_linear() const noexcept { return linears_.size(); }

 private:
  std::string layer_name(const char* kind, std::size_t i) const {
    return ::dare::detail::concat(options_.name, '.', kind, i);
  }

  static std::uint64_t splitmix64(std::uint64_t x) noexcept {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }

  static void append(std::vector<Parameter<Scalar>*>& out, const std::vector<Parameter<Scalar>*>& more) {
    out.insert(out.end(), more.begin(), more.end());
  }

  MlpOptions options_;
  std::vector<BatchNorm1d<Scalar>> batch_norm_;  // zero or one
  std::vector<Linear<Scalar>> linears_;
  std::vector<PReLU<Scalar>> prelus_;
  Matrix normalized_;         // BatchNorm output
  std::vector<Matrix> pre_;      // Linear i output (PReLU i input)
  std::vector<Matrix> post_;     // PReLU i output (Linear i+1 input)
  std::vector<Matrix> grad_in_;  // dL/d(input of Linear i), see backward
};

}  // namespace dare::nn

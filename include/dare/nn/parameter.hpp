// dare/nn/parameter.hpp — a named dense parameter with its gradient, and the binary format
// that checkpoints use to store lists of them.
//
// Design. Layers own their Parameters and hand out pointers (`parameters()`), so optimizers,
// checkpoints and gradient checks see one flat list without knowing the layers. The
// `decay` flag says whether L2 regularisation applies (weights: yes; biases, BatchNorm
// affine terms, PReLU slopes and running statistics: no), as in the reference's settings.
//
// Checkpoint blocks. A model checkpoint streams several blocks into one file (parameters,
// buffers, optimizer state, embedding tables), so each block is self-delimiting and
// self-checking: a magic tag, a format version, the scalar width, the entries (name, shape,
// column-major data) and an FNV-1a checksum of everything before it. Loading reads the whole
// block into staging matrices and verifies names, shapes, finiteness and the checksum
// before it overwrites anything: a truncated or corrupted file leaves the model untouched
// and throws FormatError naming the file and the entry. Numbers are stored in the machine's
// byte order (every supported target is little-endian).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <istream>
#include <ostream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"

namespace dare::nn {

/// Column-major dynamic matrix; the nn layer keeps features in rows and the batch in columns.
template <class Scalar>
using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

/// A learnable tensor (or a non-learnable buffer such as BatchNorm's running statistics)
/// with its accumulated gradient.
template <class Scalar>
struct Parameter {
  using Matrix = nn::Matrix<Scalar>;

  std::string name;    ///< Unique, stable name; checkpoints match entries by it.
  Matrix value;        ///< The parameter itself.
  Matrix grad;         ///< dL/dvalue, accumulated by backward passes (same shape as value).
  bool decay = false;  ///< Whether L2 weight decay applies to it.

  Parameter() = default;
  /// A rows x cols parameter, value and gradient zero.
  Parameter(std::string param_name, Index rows, Index cols, bool apply_decay)
      : name(std::move(param_name)),
        value(Matrix::Zero(rows, cols)),
        grad(Matrix::Zero(rows, cols)),
        decay(apply_decay) {}

  void zero_grad() { grad.setZero(); }
};

namespace detail {

/// FNV-1a, 64 bit: a cheap checksum that catches truncation and flipped bytes.
class Fnv1a {
 public:
  void update(const void* data, std::size_t n) noexcept {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) {
      h_ ^= p[i];
      h_ *= 0x100000001b3ULL;
    }
  }
  std::uint64_t value() const noexcept { return h_; }

 private:
  std::uint64_t h_ = 0xcbf29ce484222325ULL;
};

/// Writes a checksummed block; throws std::runtime_error if the stream fails.
class BlockWriter {
 public:
  BlockWriter(std::ostream& os, const char (&magic)[9], std::uint32_t version) : os_(os) {
    raw(magic, 8);
    pod(version);
  }

  template <class T>
  void pod(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    raw(&v, sizeof(T));
  }

  void string(const std::string& s) {
    pod(static_cast<std::uint32_t>(s.size()));
    raw(s.data(), s.size());
  }

  template <class Scalar>
  void matrix(const Matrix<Scalar>& m) {
    pod(static_cast<std::int64_t>(m.rows()));
    pod(static_cast<std::int64_t>(m.cols()));
    raw(m.data(), static_cast<std::size_t>(m.size()) * sizeof(Scalar));
  }

  /// Appends the checksum; the block is complete after this.
  void finish() {
    const std::uint64_t sum = hash_.value();
    os_.write(reinterpret_cast<const char*>(&sum), sizeof sum);
    check();
  }

 private:
  void raw(const void* p, std::size_t n) {
    hash_.update(p, n);
    os_.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
    check();
  }
  void check() const {
    if (!os_) throw std::runtime_error("dare: writing a checkpoint block failed (disk full or stream closed?)");
  }

  std::ostream& os_;
  Fnv1a hash_;
};

/// Reads a checksummed block written by BlockWriter; every failure is a FormatError that
/// names `source` (the file) and the field being read.
class BlockReader {
 public:
  static constexpr std::uint32_t kMaxNameLength = 4096;

  BlockReader(std::istream& is, std::string source, const char (&magic)[9], std::uint32_t version,
              const char* what)
      : is_(is), source_(std::move(source)) {
    char found[8];
    raw(found, 8, "magic");
    if (std::memcmp(found, magic, 8) != 0) {
      fail("magic", concat_str("not a dare ", what, " block (expected tag '", std::string(magic, 8), "')"));
    }
    const auto v = pod<std::uint32_t>("version");
    if (v != version) {
      fail("version", concat_str("unsupported ", what, " format version ", v, " (this build reads ", version, ")"));
    }
  }

  template <class T>
  T pod(const std::string& field) {
    static_assert(std::is_trivially_copyable_v<T>);
    T v;
    raw(&v, sizeof(T), field);
    return v;
  }

  std::string string(const std::string& field) {
    const auto n = pod<std::uint32_t>(field + " length");
    if (n > kMaxNameLength) fail(field, concat_str("implausible name length ", n, " (corrupted file?)"));
    std::string s(n, '\0');
    raw(s.data(), n, field);
    return s;
  }

  /// Reads a matrix that must be rows x cols into `out` (resized), rejecting non-finite
  /// values.
  template <class Scalar>
  void matrix(Matrix<Scalar>& out, Index rows, Index cols, const std::string& field) {
    const auto r = pod<std::int64_t>(field + " rows");
    const auto c = pod<std::int64_t>(field + " cols");
    if (r != rows || c != cols) {
      fail(field, concat_str("shape is ", r, "x", c, " in the file but ", rows, "x", cols, " in the model"));
    }
    out.resize(rows, cols);
    raw(out.data(), static_cast<std::size_t>(out.size()) * sizeof(Scalar), field);
    for (Index i = 0; i < out.size(); ++i) {
      if (!std::isfinite(out.data()[i])) {
        fail(field, concat_str("non-finite value at element ", i, " (corrupted file or diverged model)"));
      }
    }
  }

  /// Reads and verifies the trailing checksum.
  void finish() {
    const std::uint64_t expected = hash_.value();
    std::uint64_t stored = 0;
    is_.read(reinterpret_cast<char*>(&stored), sizeof stored);
    if (is_.gcount() != static_cast<std::streamsize>(sizeof stored)) truncated("checksum");
    if (stored != expected) fail("checksum", "checksum mismatch: the block is corrupted");
  }

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw FormatError(source_, 0, field, what);
  }

 private:
  template <class... Parts>
  static std::string concat_str(const Parts&... parts) {
    return ::dare::detail::concat(parts...);
  }

  [[noreturn]] void truncated(const std::string& field) const {
    fail(field, "unexpected end of data (truncated file?)");
  }

  void raw(void* p, std::size_t n, const std::string& field) {
    is_.read(static_cast<char*>(p), static_cast<std::streamsize>(n));
    if (is_.gcount() != static_cast<std::streamsize>(n)) truncated(field);
    hash_.update(p, n);
  }

  std::istream& is_;
  std::string source_;
  Fnv1a hash_;
};

inline constexpr char kParameterMagic[9] = "DAREPARM";
inline constexpr std::uint32_t kParameterVersion = 1;

inline std::string entry_field(std::size_t i, const std::string& name) {
  return ::dare::detail::concat("parameter ", i, " '", name, "'");
}

}  // namespace detail

/// Writes the values (not the gradients) of `params` as one checkpoint block.
template <class Scalar>
void save_parameters(std::ostream& os, const std::vector<Parameter<Scalar>*>& params) {
  detail::BlockWriter w(os, detail::kParameterMagic, detail::kParameterVersion);
  w.pod(static_cast<std::uint32_t>(sizeof(Scalar)));
  w.pod(static_cast<std::uint64_t>(params.size()));
  for (const Parameter<Scalar>* p : params) {
    DARE_CHECK_ARG(p != nullptr, "save_parameters: null parameter pointer");
    w.string(p->name);
    w.matrix(p->value);
  }
  w.finish();
}

/// Reads a block written by save_parameters into `params`, which must have the same names
/// and shapes in the same order. `name_for_errors` (usually the file path) prefixes every
/// error. Nothing is modified unless the whole block is valid.
template <class Scalar>
void load_parameters(std::istream& is, const std::vector<Parameter<Scalar>*>& params,
                     const std::string& name_for_errors) {
  detail::BlockReader r(is, name_for_errors, detail::kParameterMagic, detail::kParameterVersion,
                        "parameter");
  const auto scalar_bytes = r.template pod<std::uint32_t>("scalar size");
  if (scalar_bytes != sizeof(Scalar)) {
    r.fail("scalar size", ::dare::detail::concat("the file stores ", scalar_bytes,
                                                 "-byte scalars but the model uses ", sizeof(Scalar)));
  }
  const auto count = r.template pod<std::uint64_t>("parameter count");
  if (count != params.size()) {
    r.fail("parameter count", ::dare::detail::concat("the file has ", count, " parameters but the model has ",
                                                     params.size()));
  }
  std::vector<Matrix<Scalar>> staged(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Parameter<Scalar>& p = *params[i];
    const std::string field = detail::entry_field(i, p.name);
    const std::string name = r.string(field + " name");
    if (name != p.name) r.fail(field + " name", ::dare::detail::concat("the file has '", name, "' here"));
    r.matrix(staged[i], p.value.rows(), p.value.cols(), field);
  }
  r.finish();
  for (std::size_t i = 0; i < params.size(); ++i) params[i]->value.swap(staged[i]);
}

/// Sets every gradient in `params` to zero.
template <class Scalar>
void zero_grad(const std::vector<Parameter<Scalar>*>& params) {
  for (Parameter<Scalar>* p : params) p->zero_grad();
}

}  // namespace dare::nn

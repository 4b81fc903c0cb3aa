// dare/embedding/optimizer_common.hpp — what the table optimizers (sgd.hpp, adagrad.hpp,
// adam.hpp) share: the binding to a table, the gradient checks, a lane's square root and the
// header of their state files.
//
// Design:
//   - An optimizer is bound to one EmbeddingTable (it keeps a pointer, so the table must
//     outlive it; after moving or copying the owner, `bind()` points it at the new table,
//     which must have the same shape as the state).
//   - `step()` checks every gradient id against the table before it changes anything, so a
//     bad id leaves table and state untouched.
//   - The per-element update rule of each optimizer is written once, as a generic lambda
//     over a "lane" type that is either one scalar or one xsimd batch (core/lanes.hpp):
//     `for_each_lane` runs it over full batches and then the scalar tail, and
//     `for_each_lane_scalar` is the scalar reference the tests compare against.
//   - State records (little-endian, see binary_io.hpp):
//       magic "DAREOPTS" | u32 version (1) | u32 optimizer kind | u32 scalar size |
//       u64 rows | u64 dim | optimizer fields and payload | u64 FNV-1a 64 checksum.
//     Loading parses into temporaries and commits only after the checksum matched.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <xsimd/xsimd.hpp>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/core/lanes.hpp"
#include "dare/embedding/binary_io.hpp"
#include "dare/embedding/embedding_table.hpp"
#include "dare/embedding/sparse_grad.hpp"

namespace dare::detail {

// GCC 12's _mm512_sqrt_ps/_pd start from _mm512_undefined_*(), which -Wmaybe-uninitialized
// reports wherever they are inlined (GCC bug 105593); the pragma must enclose the caller.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
/// Square root of a lane (std::sqrt of a scalar, xsimd::sqrt of a batch).
template <class T>
inline T lane_sqrt(const T& x) noexcept {
  using std::sqrt;
  return sqrt(x);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/// Kinds of optimizer state, as stored in the state header.
enum class OptimizerKind : std::uint32_t { Sgd = 1, Adagrad = 2, Adam = 3 };

inline const char* optimizer_name(std::uint32_t kind) noexcept {
  switch (kind) {
    case static_cast<std::uint32_t>(OptimizerKind::Sgd):
      return "SparseSgd";
    case static_cast<std::uint32_t>(OptimizerKind::Adagrad):
      return "SparseAdagrad";
    case static_cast<std::uint32_t>(OptimizerKind::Adam):
      return "TableAdam";
    default:
      return "an unknown optimizer";
  }
}

inline constexpr char kOptimizerMagic[9] = "DAREOPTS";
inline constexpr std::uint32_t kOptimizerFormatVersion = 1;

/// True when `value` is finite and in [lo, hi).
inline bool hyper_in_range(double value, double lo, double hi) noexcept {
  return std::isfinite(value) && value >= lo && value < hi;
}

/// Throws std::invalid_argument naming `who` and `field` unless `value` is in [lo, hi):
/// the constructor-side check of a hyperparameter.
inline void check_hyper(const char* who, const char* field, double value, double lo, double hi) {
  DARE_CHECK_ARG(hyper_in_range(value, lo, hi), who, ": ", field, " must be in [", lo, ", ", hi,
                 "), got ", value);
}

/// Reads a hyperparameter from a state file, failing with the field name if not in [lo, hi).
inline double read_hyper(BinaryReader& r, const char* field, double lo, double hi) {
  const double value = r.f64(field);
  if (!hyper_in_range(value, lo, hi)) r.fail(field, concat("value ", value, " is out of range"));
  return value;
}

/// The part every table optimizer shares: which table it updates and that table's shape.
template <class Scalar, int Dim>
class TableOptimizerBase {
 public:
  using Table = EmbeddingTable<Scalar, Dim>;
  using Grad = SparseGrad<Scalar, Dim>;

  /// The table this optimizer updates.
  Table& table() const noexcept { return *table_; }
  Index rows() const noexcept { return rows_; }
  Index dim() const noexcept { return dim_; }

  /// Points the optimizer at `table` (e.g. after the model that owns both was moved); the
  /// table must have the shape the state was built for.
  void bind(Table& table) {
    DARE_CHECK_ARG(table.rows() == rows_ && table.dim() == dim_, "bind: the table is ",
                   table.rows(), " x ", table.dim(), " but the optimizer state is ", rows_, " x ",
                   dim_);
    table_ = &table;
  }

 protected:
  explicit TableOptimizerBase(Table& table)
      : table_(&table), rows_(table.rows()), dim_(table.dim()) {}

  /// Checks the gradient's width and every id before a step changes anything.
  void check_grad(const Grad& grad, const char* who) const {
    DARE_CHECK_ARG(grad.dim() == dim_, who, ": gradient dim ", grad.dim(),
                   " differs from the table dim ", dim_);
    for (Index s = 0; s < grad.size(); ++s) {
      const Id id = grad.id(s);
      DARE_CHECK_ARG(id >= 0 && id < rows_, who, ": gradient id ", id, " is out of range [0, ",
                     rows_, ")");
    }
  }

  void write_header(BinaryWriter& w, OptimizerKind kind) const {
    w.magic(kOptimizerMagic);
    w.u32(kOptimizerFormatVersion);
    w.u32(static_cast<std::uint32_t>(kind));
    w.u32(static_cast<std::uint32_t>(sizeof(Scalar)));
    w.u64(static_cast<std::uint64_t>(rows_));
    w.u64(static_cast<std::uint64_t>(dim_));
  }

  /// Reads and checks the header against this optimizer's kind, scalar type and table.
  void read_header(BinaryReader& r, OptimizerKind kind) const {
    r.expect_magic(kOptimizerMagic, "an optimizer state");
    const std::uint32_t version = r.u32("version");
    if (version != kOptimizerFormatVersion)
      r.fail("version",
             concat("format version ", version, " is not supported (this build reads version ",
                    kOptimizerFormatVersion, ")"));
    const std::uint32_t stored_kind = r.u32("optimizer");
    if (stored_kind != static_cast<std::uint32_t>(kind))
      r.fail("optimizer", concat("the file holds the state of ", optimizer_name(stored_kind),
                                 ", not ", optimizer_name(static_cast<std::uint32_t>(kind))));
    const std::uint32_t scalar_size = r.u32("scalar_size");
    if (scalar_size != sizeof(Scalar))
      r.fail("scalar_size",
             concat("the file stores ", scalar_size, "-byte scalars but the optimizer holds ",
                    sizeof(Scalar), "-byte ones"));
    const std::uint64_t rows = r.u64("rows");
    if (rows != static_cast<std::uint64_t>(rows_))
      r.fail("rows", concat("the state is for ", rows, " rows but the table has ", rows_));
    const std::uint64_t dim = r.u64("dim");
    if (dim != static_cast<std::uint64_t>(dim_))
      r.fail("dim", concat("the state is for width ", dim, " but the table has width ", dim_));
  }

  /// Writes `state` (rows_ rows of dim_ scalars at the table's stride) without padding.
  void write_rows(BinaryWriter& w, const Scalar* state) const {
    const Index stride = table_->stride();
    if (stride == dim_) {
      w.scalars(state, rows_ * stride);
    } else {
      for (Index i = 0; i < rows_; ++i) w.scalars(state + i * stride, dim_);
    }
  }

  /// Reads what write_rows wrote into a zero-padded buffer of the table's layout.
  /// Reads one rows_ x dim_ block of state; every value must be finite, and >= 0 when
  /// `nonnegative` (Adam's second moment, Adagrad's sum of squares).
  AlignedVector<Scalar> read_rows(BinaryReader& r, const char* field, bool nonnegative = false) const {
    const Index stride = table_->stride();
    AlignedVector<Scalar> state(static_cast<std::size_t>(rows_ * stride), Scalar(0));
    if (stride == dim_) {
      r.scalars(state.data(), rows_ * stride, field);
    } else {
      for (Index i = 0; i < rows_; ++i) r.scalars(state.data() + i * stride, dim_, field);
    }
    for (Index i = 0; i < rows_; ++i) r.require_finite(state.data() + i * stride, dim_, field, nonnegative, i * dim_);
    return state;
  }

  /// Bytes taken by one rows_ x dim_ block of state in a file.
  std::uint64_t block_bytes() const noexcept {
    return static_cast<std::uint64_t>(rows_) * static_cast<std::uint64_t>(dim_) * sizeof(Scalar);
  }

  Table* table_;
  Index rows_;
  Index dim_;
};

}  // namespace dare::detail

// dare/embedding/embedding_table.hpp — a dense table of embedding rows, one per id.
//
// Design: rows live in one 64-byte aligned buffer at `data() + id * stride()`, where
// stride() = aligned_stride<Scalar>(dim) pads a row so every row start keeps the alignment
// the SIMD kernels want. The padding lanes are zero and stay zero (nothing in the library
// writes them), so kernels may run over whole strides. The width is `Dim` when known at
// compile time (the loops then see a constant) or a constructor argument when `Dynamic`.
//
// `row(id)` is the unchecked hot-path accessor (DARE_ASSERT only); `check_id` and `gather`
// are the checked boundary for ids coming from files or users.
//
// Initialisation is reproducible everywhere: std::mt19937_64 is fully specified by the
// standard, and the normal variates come from the Box-Muller transform written out here,
// because std::normal_distribution differs between standard libraries.
//
// On disk (little-endian, see binary_io.hpp) a table is one self-delimiting record:
//   magic "DAREEMBT" | u32 version (1) | u32 scalar size in bytes | u64 rows | u64 dim |
//   rows*dim scalars (row-major, no padding) | u64 FNV-1a 64 of every byte after the magic.
// Several tables (and optimizer states) may follow one another in one checkpoint stream.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <istream>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "dare/core/aligned.hpp"
#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/core/extent.hpp"
#include "dare/embedding/binary_io.hpp"

namespace dare {

namespace detail {
/// Upper bounds a loaded header must respect before anything is allocated: ids are 32-bit,
/// and no embedding in this field is a million wide.
inline constexpr std::uint64_t kMaxTableRows = std::uint64_t{1} << 31;
inline constexpr std::uint64_t kMaxTableDim = std::uint64_t{1} << 20;
}  // namespace detail

/// A table of `rows()` embedding rows of `dim()` scalars each (`Dim` fixed or Dynamic).
template <class Scalar, int Dim = Dynamic>
class EmbeddingTable {
  static_assert(detail::is_storable_scalar_v<Scalar>, "EmbeddingTable holds float or double");

 public:
  using ScalarType = Scalar;
  /// The width fixed at compile time, or Dynamic.
  static constexpr int DimAtCompileTime = Dim;
  /// The file format version written by save() and accepted by load().
  static constexpr std::uint32_t kFormatVersion = 1;

  /// A zero-filled table. For a fixed `Dim` a `dim` passed explicitly must equal it.
  explicit EmbeddingTable(Index rows, Index dim = Dim)
      : rows_(rows), dim_(dim, "embedding dim"), stride_(aligned_stride<Scalar>(dim_)) {
    DARE_CHECK_ARG(rows > 0, "embedding rows must be positive, got ", rows);
    DARE_CHECK_ARG(static_cast<std::uint64_t>(rows) <= detail::kMaxTableRows, "embedding rows ",
                   rows, " exceed the id range (at most 2^31)");
    data_.assign(static_cast<std::size_t>(rows_ * stride_), Scalar(0));
  }

  Index rows() const noexcept { return rows_; }
  Index dim() const noexcept { return dim_; }
  /// Scalars between consecutive row starts (dim() rounded up for alignment).
  Index stride() const noexcept { return stride_; }

  /// The whole buffer, rows()*stride() scalars, padding lanes included (and zero).
  Scalar* data() noexcept { return data_.data(); }
  const Scalar* data() const noexcept { return data_.data(); }

  /// Row `id` (unchecked but for DARE_ASSERT). Only the first dim() lanes may be written.
  Scalar* row(Index id) {
    DARE_ASSERT(id >= 0 && id < rows_);
    return data_.data() + id * stride_;
  }
  const Scalar* row(Index id) const {
    DARE_ASSERT(id >= 0 && id < rows_);
    return data_.data() + id * stride_;
  }

  /// Throws std::invalid_argument naming `field`, the id and the valid range if `id` is
  /// not a row of this table.
  void check_id(Index id, const char* field) const {
    DARE_CHECK_ARG(id >= 0 && id < rows_, field, ": id ", id, " is out of range [0, ", rows_, ")");
  }

  /// Sets every scalar to zero.
  void set_zero() noexcept { std::fill(data_.begin(), data_.end(), Scalar(0)); }

  /// Fills every row with independent N(0, sigma^2) draws; the same seed gives the same
  /// table on every platform (see the note at the top of this file).
  void init_normal(Scalar sigma, std::uint64_t seed) {
    DARE_CHECK_ARG(std::isfinite(sigma) && sigma >= Scalar(0),
                   "init_normal: sigma must be finite and non-negative, got ", sigma);
    std::mt19937_64 gen(seed);
    // 53 random bits mapped to (0, 1]: never 0, so log() below is finite.
    const auto uniform = [&gen] {
      return (static_cast<double>(gen() >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    };
    const double s = static_cast<double>(sigma);
    const double two_pi = 6.283185307179586476925286766559;
    bool have_spare = false;
    double spare = 0.0;
    const Index d = dim();
    for (Index r = 0; r < rows_; ++r) {
      Scalar* out = row(r);
      for (Index k = 0; k < d; ++k) {
        double z;
        if (have_spare) {
          z = spare;
        } else {
          const double radius = std::sqrt(-2.0 * std::log(uniform()));
          const double angle = two_pi * uniform();
          z = radius * std::cos(angle);
          spare = radius * std::sin(angle);
        }
        have_spare = !have_spare;
        out[k] = static_cast<Scalar>(s * z);
      }
    }
  }

  /// Copies the rows of `ids[0..n)` to `out + i * out_stride` (dim() scalars each).
  /// Checked: an id outside the table throws std::invalid_argument naming its position in
  /// the list; nothing is written then.
  void gather(const Id* ids, Index n, Scalar* out, Index out_stride) const {
    DARE_CHECK_ARG(n >= 0, "gather: n must be non-negative, got ", n);
    DARE_CHECK_ARG(out_stride >= dim(), "gather: out_stride ", out_stride,
                   " is smaller than the embedding dim ", dim());
    if (n == 0) return;
    DARE_CHECK_ARG(ids != nullptr && out != nullptr, "gather: null ids or out buffer");
    for (Index i = 0; i < n; ++i)
      DARE_CHECK_ARG(ids[i] >= 0 && ids[i] < rows_, "gather: ids[", i, "] = ", ids[i],
                     " is out of range [0, ", rows_, ")");
    const Index d = dim();
    for (Index i = 0; i < n; ++i) std::copy_n(row(ids[i]), d, out + i * out_stride);
  }

  /// Appends this table as one record to `os` (see the format at the top of this file).
  void save(std::ostream& os) const {
    detail::BinaryWriter w(os);
    w.magic(kMagic);
    w.u32(kFormatVersion);
    w.u32(static_cast<std::uint32_t>(sizeof(Scalar)));
    w.u64(static_cast<std::uint64_t>(rows_));
    w.u64(static_cast<std::uint64_t>(dim()));
    if (stride_ == dim()) {
      w.scalars(data_.data(), rows_ * stride_);
    } else {
      for (Index r = 0; r < rows_; ++r) w.scalars(row(r), dim());
    }
    w.checksum();
    w.check("an embedding table");
  }

  /// Writes the table to the file `path` (replaced only once the new file is complete).
  void save(const std::string& path) const {
    detail::save_file_atomically(path, "an embedding table",
                                 [this](std::ostream& os) { save(os); });
  }

  /// Reads one table record from `is`; errors name `name_for_errors` and the field
  /// (magic, version, scalar_size, rows, dim, payload, checksum). With `expect_rows` or
  /// `expect_dim` (0: any) a table of another shape fails before anything is allocated.
  /// Every value must be finite. From a pipe, whose length cannot be checked first, memory
  /// grows only as the data arrives.
  static EmbeddingTable load(std::istream& is, const std::string& name_for_errors, Index expect_rows = 0,
                             Index expect_dim = 0) {
    detail::BinaryReader r(is, name_for_errors);
    r.expect_magic(kMagic, "an embedding table");
    const std::uint32_t version = r.u32("version");
    if (version != kFormatVersion)
      r.fail("version",
             detail::concat("format version ", version,
                            " is not supported (this build reads version ", kFormatVersion, ")"));
    const std::uint32_t scalar_size = r.u32("scalar_size");
    if (scalar_size != sizeof(Scalar))
      r.fail("scalar_size", detail::concat("the file stores ", scalar_size,
                                           "-byte scalars but the table type holds ",
                                           sizeof(Scalar), "-byte ones"));
    const std::uint64_t rows = r.u64("rows");
    if (rows == 0 || rows > detail::kMaxTableRows)
      r.fail("rows", detail::concat("row count ", rows, " is out of range [1, 2^31]"));
    const std::uint64_t dim = r.u64("dim");
    if constexpr (Dim != Dynamic) {
      if (dim != static_cast<std::uint64_t>(Dim))
        r.fail("dim", detail::concat("the file holds rows of width ", dim,
                                     " but the table type fixes it to ", Dim));
    } else {
      if (dim == 0 || dim > detail::kMaxTableDim)
        r.fail("dim", detail::concat("width ", dim, " is out of range [1, 2^20]"));
    }
    if (expect_rows > 0 && rows != static_cast<std::uint64_t>(expect_rows))
      r.fail("rows", detail::concat("the file holds ", rows, " rows where ", expect_rows, " are expected"));
    if (expect_dim > 0 && dim != static_cast<std::uint64_t>(expect_dim))
      r.fail("dim", detail::concat("the file holds rows of width ", dim, " where ", expect_dim, " is expected"));
    r.require_remaining(rows * dim * sizeof(Scalar) + sizeof(std::uint64_t), "payload");
    const Index n = static_cast<Index>(rows * dim);
    std::vector<Scalar> staged;  // only for a pipe: filled chunk by chunk as bytes arrive
    if (!r.seekable()) {
      constexpr Index kChunk = Index{1} << 20;
      for (Index done = 0; done < n;) {
        const Index count = std::min(kChunk, n - done);
        staged.resize(static_cast<std::size_t>(done + count));
        r.scalars(staged.data() + done, count, "payload");
        done += count;
      }
    }
    EmbeddingTable table(static_cast<Index>(rows), static_cast<Index>(dim));
    const Index d = table.dim();
    if (!staged.empty()) {
      for (Index i = 0; i < table.rows(); ++i) std::copy_n(staged.data() + i * d, d, table.row(i));
    } else if (table.stride() == d) {
      r.scalars(table.data(), table.rows() * d, "payload");
    } else {
      for (Index i = 0; i < table.rows(); ++i) r.scalars(table.row(i), d, "payload");
    }
    r.verify_checksum();
    for (Index i = 0; i < table.rows(); ++i) r.require_finite(table.row(i), d, "payload", false, i * d);
    return table;
  }

  /// Reads a table from the file `path`, which must hold exactly one table record.
  static EmbeddingTable load(const std::string& path) {
    return detail::load_file(
        path, "an embedding table",
        [](std::istream& is, const std::string& name) { return load(is, name); });
  }

 private:
  static constexpr char kMagic[9] = "DAREEMBT";

  Index rows_;
  Extent<Dim> dim_;
  Index stride_;
  AlignedVector<Scalar> data_;
};

/// A table of run-time width in single precision.
using EmbeddingTableXf = EmbeddingTable<float, Dynamic>;
/// The paper's main width (D = 16) in single precision.
using EmbeddingTable16f = EmbeddingTable<float, 16>;

}  // namespace dare

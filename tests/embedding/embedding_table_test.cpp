#include "dare/embedding/embedding_table.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "embedding_test_util.hpp"

using dare::Dynamic;
using dare::EmbeddingTable;
using dare::Id;
using dare::Index;
using dare_test::format_error_field;

namespace {

using TableXf = EmbeddingTable<float, Dynamic>;
using Table4f = EmbeddingTable<float, 4>;
using Table16f = EmbeddingTable<float, 16>;

template <class Table>
bool padding_is_zero(const Table& t) {
  for (Index r = 0; r < t.rows(); ++r)
    for (Index k = t.dim(); k < t.stride(); ++k)
      if (t.row(r)[k] != 0) return false;
  return true;
}

template <class TableA, class TableB>
bool same_rows(const TableA& a, const TableB& b) {
  if (a.rows() != b.rows() || a.dim() != b.dim()) return false;
  for (Index r = 0; r < a.rows(); ++r)
    if (std::memcmp(a.row(r), b.row(r), sizeof(*a.row(r)) * static_cast<std::size_t>(a.dim())))
      return false;
  return true;
}

template <class Table>
std::string saved(const Table& t) {
  std::ostringstream os;
  t.save(os);
  return os.str();
}

// Byte offsets of the header fields in a saved table (see embedding_table.hpp).
constexpr std::size_t kVersionAt = 8, kScalarSizeAt = 12, kRowsAt = 16, kDimAt = 24,
                      kPayloadAt = 32;

void put_u64(std::string& s, std::size_t at, std::uint64_t x) {
  for (int b = 0; b < 8; ++b) s[at + static_cast<std::size_t>(b)] = static_cast<char>(x >> (8 * b));
}

}  // namespace

TEMPLATE_TEST_CASE("a new table is zero-filled with aligned, padded rows", "[embedding][table]",
                   dare_test::Fixed16, dare_test::Dynamic7, dare_test::Dynamic16,
                   dare_test::Fixed3d) {
  using Scalar = typename TestType::Scalar;
  EmbeddingTable<Scalar, TestType::Dim> table(10, TestType::dim);
  CHECK(table.rows() == 10);
  CHECK(table.dim() == TestType::dim);
  CHECK(table.stride() == dare::aligned_stride<Scalar>(TestType::dim));
  CHECK(table.stride() >= table.dim());
  CHECK(reinterpret_cast<std::uintptr_t>(table.data()) % dare::kCacheLine == 0);
  CHECK(table.row(3) == table.data() + 3 * table.stride());
  for (Index r = 0; r < table.rows(); ++r)
    for (Index k = 0; k < table.stride(); ++k) REQUIRE(table.row(r)[k] == Scalar(0));
}

TEST_CASE("a table rejects a bad shape naming the argument", "[embedding][table]") {
  CHECK_THROWS_WITH((EmbeddingTable<float, 16>(4, 8)),
                    Catch::Contains("embedding dim is 8") && Catch::Contains("fixes it to 16"));
  CHECK_THROWS_WITH((EmbeddingTable<float, Dynamic>(4, 0)),
                    Catch::Contains("embedding dim must be positive"));
  CHECK_THROWS_WITH((EmbeddingTable<float, 16>(0)), Catch::Contains("rows must be positive"));
  CHECK_THROWS_AS((EmbeddingTable<float, Dynamic>(4)), std::invalid_argument);  // no width
}

TEST_CASE("init_normal reproduces the Box-Muller draws of mt19937_64", "[embedding][table]") {
  // Reference values from an independent Python implementation of mt19937_64 (seed 42),
  // u = (x >> 11 + 1) / 2^53, z = sqrt(-2 ln u1) (cos, sin)(2 pi u2), times sigma = 0.5.
  EmbeddingTable<double, Dynamic> table(2, 3);
  table.init_normal(0.5, 42);
  const double expected[2][3] = {{-0.2406088499009222, -0.28726843694915305, 0.24729192811760653},
                                 {0.28506077610368713, 0.1872771344249067, 0.12567708827541757}};
  for (Index r = 0; r < 2; ++r)
    for (Index k = 0; k < 3; ++k) CHECK(table.row(r)[k] == Approx(expected[r][k]).epsilon(1e-14));
  CHECK(padding_is_zero(table));
}

TEMPLATE_TEST_CASE("init_normal is deterministic and has the requested moments",
                   "[embedding][table]", dare_test::Fixed16, dare_test::Dynamic7,
                   dare_test::Fixed3d) {
  using Scalar = typename TestType::Scalar;
  using Table = EmbeddingTable<Scalar, TestType::Dim>;
  const Index rows = 60000 / TestType::dim;
  Table a(rows, TestType::dim), b(rows, TestType::dim), c(rows, TestType::dim);
  a.init_normal(Scalar(0.01), 7);
  b.init_normal(Scalar(0.01), 7);
  c.init_normal(Scalar(0.01), 8);
  CHECK(same_rows(a, b));
  CHECK_FALSE(same_rows(a, c));
  CHECK(padding_is_zero(a));

  double sum = 0, sum_sq = 0;
  for (Index r = 0; r < rows; ++r)
    for (Index k = 0; k < a.dim(); ++k) {
      const double x = a.row(r)[k];
      sum += x;
      sum_sq += x * x;
    }
  const double n = static_cast<double>(rows * a.dim());
  const double mean = sum / n;
  const double sd = std::sqrt(sum_sq / n - mean * mean);
  // The sample mean has standard error 0.01 / sqrt(n) ~ 4.1e-5; allow 5 of them. The
  // sample sd has relative standard error 1 / sqrt(2n) ~ 0.3%; allow 1.5%.
  CHECK(std::abs(mean) < 5 * 0.01 / std::sqrt(n));
  CHECK(sd == Approx(0.01).epsilon(0.015));

  a.init_normal(Scalar(0), 1);
  CHECK(a.row(rows - 1)[0] == Scalar(0));
  CHECK_THROWS_WITH(a.init_normal(Scalar(-1), 1), Catch::Contains("sigma"));
}

TEST_CASE("check_id names the field, the id and the valid range", "[embedding][table]") {
  EmbeddingTable<float, 4> table(10);
  CHECK_NOTHROW(table.check_id(0, "item id"));
  CHECK_NOTHROW(table.check_id(9, "item id"));
  CHECK_THROWS_WITH(table.check_id(10, "item id"), Catch::Contains("item id") &&
                                                       Catch::Contains("10") &&
                                                       Catch::Contains("[0, 10)"));
  CHECK_THROWS_WITH(table.check_id(-1, "category id"),
                    Catch::Contains("category id") && Catch::Contains("-1"));
  CHECK_THROWS_AS(table.row(10), dare::AssertionError);
  CHECK_THROWS_AS(table.row(-1), dare::AssertionError);
}

TEMPLATE_TEST_CASE("gather copies the rows of a list of ids", "[embedding][table]",
                   dare_test::Fixed16, dare_test::Dynamic7, dare_test::Fixed3d) {
  using Scalar = typename TestType::Scalar;
  EmbeddingTable<Scalar, TestType::Dim> table(6, TestType::dim);
  table.init_normal(Scalar(1), 3);
  const Id ids[] = {5, 0, 2, 5};
  const Index out_stride = TestType::dim + 3;
  std::vector<Scalar> out(4 * static_cast<std::size_t>(out_stride), Scalar(-7));
  table.gather(ids, 4, out.data(), out_stride);
  for (Index i = 0; i < 4; ++i) {
    for (Index k = 0; k < table.dim(); ++k)
      CHECK(out[static_cast<std::size_t>(i * out_stride + k)] == table.row(ids[i])[k]);
    for (Index k = table.dim(); k < out_stride; ++k)  // the caller's gap is not touched
      CHECK(out[static_cast<std::size_t>(i * out_stride + k)] == Scalar(-7));
  }
}

TEST_CASE("gather rejects a bad id naming its position and writes nothing", "[embedding][table]") {
  EmbeddingTable<float, Dynamic> table(5, 3);
  table.init_normal(1.0f, 1);
  const Id ids[] = {1, 4, 5, 0};
  std::vector<float> out(12, -1.0f);
  CHECK_THROWS_WITH(table.gather(ids, 4, out.data(), 3),
                    Catch::Contains("ids[2] = 5") && Catch::Contains("[0, 5)"));
  for (float x : out) CHECK(x == -1.0f);
  const Id negative[] = {-3};
  CHECK_THROWS_WITH(table.gather(negative, 1, out.data(), 3), Catch::Contains("ids[0] = -3"));
  CHECK_THROWS_WITH(table.gather(ids, 1, out.data(), 2), Catch::Contains("out_stride"));
  CHECK_THROWS_AS(table.gather(ids, -1, out.data(), 3), std::invalid_argument);
  CHECK_NOTHROW(table.gather(nullptr, 0, nullptr, 3));
}

TEMPLATE_TEST_CASE("a saved table loads back bit for bit, several per stream",
                   "[embedding][table][io]", dare_test::Fixed16, dare_test::Dynamic7,
                   dare_test::Dynamic16, dare_test::Fixed3d) {
  using Scalar = typename TestType::Scalar;
  using Table = EmbeddingTable<Scalar, TestType::Dim>;
  Table a(33, TestType::dim), b(5, TestType::dim);
  a.init_normal(Scalar(0.01), 11);
  b.init_normal(Scalar(2), 12);
  a.row(0)[0] = -std::numeric_limits<Scalar>::max();  // any finite bit pattern survives
  a.row(1)[0] = std::numeric_limits<Scalar>::denorm_min();

  std::stringstream checkpoint;
  a.save(checkpoint);
  b.save(checkpoint);
  CHECK(checkpoint.str().size() ==
        2 * (kPayloadAt + 8) + (33 + 5) * static_cast<std::size_t>(TestType::dim) * sizeof(Scalar));
  const Table a2 = Table::load(checkpoint, "checkpoint");
  const Table b2 = Table::load(checkpoint, "checkpoint");
  CHECK(same_rows(a, a2));
  CHECK(same_rows(b, b2));
  CHECK(padding_is_zero(a2));
  CHECK(checkpoint.peek() == std::char_traits<char>::eof());

  dare_test::TempPath path("table_roundtrip");
  a.save(path.str());
  CHECK(same_rows(a, Table::load(path.str())));
  // A Dynamic table reads what a fixed one wrote, and the other way round.
  const auto dynamic = EmbeddingTable<Scalar, Dynamic>::load(path.str());
  CHECK(same_rows(a, dynamic));
}

TEST_CASE("loading a table rejects NaN or infinite values, a shape other than the expected one, and a pipe's oversized header",
          "[embedding][table][io]") {
  EmbeddingTable<float, 8> t(4);
  t.init_normal(1.0f, 5);
  for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    t.row(2)[3] = bad;
    std::stringstream ss;
    t.save(ss);
    CHECK_THROWS_WITH((EmbeddingTable<float, 8>::load(ss, "model.ckpt")),
                      Catch::Contains("model.ckpt") && Catch::Contains("'payload'") && Catch::Contains("value 19"));
  }
  t.row(2)[3] = 0.5f;
  std::stringstream ss;
  t.save(ss);
  const std::string bytes = ss.str();
  {
    std::istringstream is(bytes);
    CHECK(dare_test::format_error_field([&] { EmbeddingTable<float, 8>::load(is, "m", 5); }) == "rows");
  }
  // A stream that cannot seek (a pipe) whose header announces 2^31 rows: memory grows only
  // as data arrives, so it ends as "truncated", not with a 64 GiB allocation.
  struct PipeBuf : std::stringbuf {
    using std::stringbuf::stringbuf;
    pos_type seekoff(off_type, std::ios_base::seekdir, std::ios_base::openmode) override { return pos_type(-1); }
    pos_type seekpos(pos_type, std::ios_base::openmode) override { return pos_type(-1); }
  };
  std::string huge = bytes;
  const std::uint64_t rows = std::uint64_t{1} << 31;
  std::memcpy(&huge[16], &rows, sizeof rows);  // magic 8, version 4, scalar_size 4, then rows
  PipeBuf pipe(huge);
  std::istream is(&pipe);
  CHECK_THROWS_WITH((EmbeddingTable<float, 8>::load(is, "pipe")), Catch::Contains("truncated"));
  // Read from a (seekable) file stream through load(path), the same shape loads fine.
  std::istringstream ok(bytes);
  CHECK(EmbeddingTable<float, 8>::load(ok, "m", 4, 8).rows() == 4);
}

TEST_CASE("loading a table rejects mismatched headers naming the field", "[embedding][table][io]") {
  EmbeddingTable<float, 8> t8(4);
  t8.init_normal(1.0f, 5);
  const std::string good = saved(t8);
  const auto load8 = [](const std::string& bytes) {
    std::istringstream is(bytes);
    return EmbeddingTable<float, 8>::load(is, "model.ckpt");
  };
  CHECK_NOTHROW(load8(good));

  // Width fixed by the type but different in the file.
  CHECK_THROWS_WITH(
      [&] {
        std::istringstream is(good);
        Table16f::load(is, "model.ckpt");
      }(),
      Catch::Contains("model.ckpt") && Catch::Contains("'dim'") && Catch::Contains("width 8") &&
          Catch::Contains("fixes it to 16"));
  // Scalar type.
  CHECK(format_error_field([&] {
          std::istringstream is(good);
          EmbeddingTable<double, Dynamic>::load(is, "model.ckpt");
        }) == "scalar_size");
  // Magic and version.
  std::string bad = good;
  bad[3] = '?';
  CHECK(format_error_field([&] { load8(bad); }) == "magic");
  bad = good;
  bad[kVersionAt] = 2;
  CHECK_THROWS_WITH(load8(bad), Catch::Contains("'version'") && Catch::Contains("version 2"));
  bad = good;
  bad[kScalarSizeAt] = 2;
  CHECK(format_error_field([&] { load8(bad); }) == "scalar_size");
  // Row counts of zero, or larger than the data in the stream, fail before allocating.
  bad = good;
  put_u64(bad, kRowsAt, 0);
  CHECK(format_error_field([&] { load8(bad); }) == "rows");
  bad = good;
  put_u64(bad, kRowsAt, std::uint64_t{1} << 31);
  CHECK_THROWS_WITH(load8(bad), Catch::Contains("'payload'") && Catch::Contains("truncated"));
  bad = good;
  put_u64(bad, kRowsAt, std::uint64_t{1} << 40);
  CHECK(format_error_field([&] { load8(bad); }) == "rows");
  bad = good;
  put_u64(bad, kDimAt, std::uint64_t{1} << 30);
  CHECK(format_error_field([&] {
          std::istringstream is(bad);
          EmbeddingTable<float, Dynamic>::load(is, "model.ckpt");
        }) == "dim");
  // A flipped payload bit or a plausible but wrong row count is caught by the checksum.
  bad = good;
  bad[kPayloadAt + 5] ^= 0x01;
  CHECK(format_error_field([&] { load8(bad); }) == "checksum");
  bad = good;
  put_u64(bad, kRowsAt, 3);
  CHECK(format_error_field([&] { load8(bad); }) == "checksum");
}

TEST_CASE("every truncation of a saved table is reported, never read", "[embedding][table][io]") {
  EmbeddingTable<float, Dynamic> table(3, 5);
  table.init_normal(1.0f, 9);
  const std::string good = saved(table);
  for (std::size_t n = 0; n < good.size(); ++n) {
    std::istringstream is(good.substr(0, n));
    INFO("prefix of " << n << " bytes");
    CHECK_THROWS_WITH(TableXf::load(is, "cut.bin"),
                      Catch::Contains("cut.bin") && Catch::Contains("truncated"));
  }
}

TEST_CASE("loading a table file rejects trailing data and missing files",
          "[embedding][table][io]") {
  EmbeddingTable<float, 4> table(3);
  dare_test::TempPath path("table_trailing");
  {
    std::ofstream os(path.str(), std::ios::binary);
    table.save(os);
    table.save(os);
  }
  CHECK_THROWS_WITH(Table4f::load(path.str()),
                    Catch::Contains(path.str()) && Catch::Contains("unexpected data"));
  CHECK_THROWS_WITH(Table4f::load(path.str() + ".none"), Catch::Contains("cannot open"));
}

#include "dare/embedding/binary_io.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "embedding_test_util.hpp"

using dare::detail::BinaryReader;
using dare::detail::BinaryWriter;

namespace {
constexpr char kTestMagic[9] = "DARETEST";

std::string bytes_of(const std::string& s, std::size_t from, std::size_t n) {
  return s.substr(from, n);
}
}  // namespace

TEST_CASE("the record checksum is word-wise FNV-1a 64 as documented", "[embedding][io]") {
  const auto checksum = [](const std::string& s) {
    dare::detail::Checksum c;
    c.update(reinterpret_cast<const unsigned char*>(s.data()), s.size());
    return c.value();
  };
  // Values from an independent Python evaluation of the definition in binary_io.hpp.
  CHECK(checksum("") == 0xaf63bd4c8601b7dfull);
  CHECK(checksum("foobar") == 0xa1a073430586a9edull);
  CHECK(checksum("abcdefgh") == 0xe8f7192949dab24cull);
  std::string counting(20, '\0');
  for (int i = 0; i < 20; ++i) counting[static_cast<std::size_t>(i)] = static_cast<char>(i);
  CHECK(checksum(counting) == 0x1440cb8aff1af511ull);
  // Trailing zero bytes are not lost in the padding of the last word.
  CHECK(checksum("foobar") != checksum(std::string("foobar\0", 7)));
}

TEST_CASE("the checksum does not depend on how the bytes are split, and sees every bit",
          "[embedding][io]") {
  std::string data(61, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 37 + 11);
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  dare::detail::Checksum whole;
  whole.update(bytes, data.size());
  for (std::size_t a = 0; a <= data.size(); a += 3)
    for (std::size_t b = a; b <= data.size(); b += 5) {
      dare::detail::Checksum pieces;
      pieces.update(bytes, a);
      pieces.update(bytes + a, b - a);
      pieces.update(bytes + b, data.size() - b);
      REQUIRE(pieces.value() == whole.value());
    }
  for (std::size_t bit = 0; bit < 8 * data.size(); ++bit) {
    std::string flipped = data;
    flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
    dare::detail::Checksum c;
    c.update(reinterpret_cast<const unsigned char*>(flipped.data()), flipped.size());
    REQUIRE(c.value() != whole.value());
  }
}

TEST_CASE("the portable scalar encoding is little-endian IEEE and matches the fast path",
          "[embedding][io]") {
  const float f[3] = {1.0f, -2.5f, 3.0e-41f};  // the last one is subnormal
  const double d[2] = {-2.0, 0.1};
  unsigned char fb[12], db[16];
  dare::detail::encode_le_portable(f, 3, fb);
  dare::detail::encode_le_portable(d, 2, db);
  CHECK(std::string(reinterpret_cast<char*>(fb), 4) == std::string("\x00\x00\x80\x3f", 4));
  CHECK(std::string(reinterpret_cast<char*>(db), 8) ==
        std::string("\x00\x00\x00\x00\x00\x00\x00\xc0", 8));
  std::ostringstream os;  // the writer's output (memcpy on little-endian hosts)
  BinaryWriter w(os);
  w.scalars(f, 3);
  w.scalars(d, 2);
  CHECK(os.str() == std::string(reinterpret_cast<char*>(fb), 12) +
                        std::string(reinterpret_cast<char*>(db), 16));
  float f2[3];
  double d2[2];
  dare::detail::decode_le_portable(fb, 3, f2);
  dare::detail::decode_le_portable(db, 2, d2);
  CHECK(std::memcmp(f, f2, sizeof f) == 0);
  CHECK(std::memcmp(d, d2, sizeof d) == 0);
}

TEST_CASE("fields are written little-endian whatever the host", "[embedding][io]") {
  std::ostringstream os;
  BinaryWriter w(os);
  w.magic(kTestMagic);
  w.u32(0x01020304u);
  w.u64(0x0102030405060708ull);
  const float f = 1.0f;  // bit pattern 0x3f800000
  w.scalars(&f, 1);
  w.f64(-2.0);  // bit pattern 0xc000000000000000
  const std::string s = os.str();
  REQUIRE(s.size() == 8 + 4 + 8 + 4 + 8);
  CHECK(bytes_of(s, 0, 8) == "DARETEST");
  CHECK(bytes_of(s, 8, 4) == std::string("\x04\x03\x02\x01", 4));
  CHECK(bytes_of(s, 12, 8) == std::string("\x08\x07\x06\x05\x04\x03\x02\x01", 8));
  CHECK(bytes_of(s, 20, 4) == std::string("\x00\x00\x80\x3f", 4));
  CHECK(bytes_of(s, 24, 8) == std::string("\x00\x00\x00\x00\x00\x00\x00\xc0", 8));
}

TEST_CASE("a record reads back field by field and its checksum verifies", "[embedding][io]") {
  std::ostringstream os;
  BinaryWriter w(os);
  w.magic(kTestMagic);
  w.u32(7);
  w.u64(1ull << 40);
  w.f64(0.1);
  // More scalars than one internal chunk holds, to cross chunk boundaries.
  std::vector<double> values(5000);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = 0.5 * static_cast<double>(i) - 3.25;
  w.scalars(values.data(), static_cast<dare::Index>(values.size()));
  w.checksum();
  w.check("test record");

  std::istringstream is(os.str());
  BinaryReader r(is, "mem");
  r.expect_magic(kTestMagic, "a test record");
  CHECK(r.u32("a") == 7u);
  CHECK(r.u64("b") == (1ull << 40));
  CHECK(r.f64("c") == 0.1);
  std::vector<double> back(values.size());
  r.scalars(back.data(), static_cast<dare::Index>(back.size()), "values");
  CHECK(back == values);
  CHECK_NOTHROW(r.verify_checksum());
  CHECK(r.at_end());
}

TEST_CASE("a short or altered record is rejected naming the field", "[embedding][io]") {
  std::ostringstream os;
  BinaryWriter w(os);
  w.magic(kTestMagic);
  w.u32(7);
  w.u64(9);
  w.checksum();
  const std::string good = os.str();

  const auto read_all = [](const std::string& bytes) {
    std::istringstream is(bytes);
    BinaryReader r(is, "rec.bin");
    r.expect_magic(kTestMagic, "a test record");
    r.u32("count");
    r.u64("size");
    r.verify_checksum();
  };
  CHECK_NOTHROW(read_all(good));
  CHECK(dare_test::format_error_field([&] { read_all(good.substr(0, 5)); }) == "magic");
  CHECK(dare_test::format_error_field([&] { read_all(good.substr(0, 10)); }) == "count");
  CHECK(dare_test::format_error_field([&] { read_all(good.substr(0, 14)); }) == "size");
  CHECK(dare_test::format_error_field([&] { read_all(good.substr(0, 25)); }) == "checksum");
  std::string wrong_magic = good;
  wrong_magic[0] = 'X';
  CHECK(dare_test::format_error_field([&] { read_all(wrong_magic); }) == "magic");
  std::string flipped = good;
  flipped[9] ^= 0x10;
  CHECK_THROWS_WITH(read_all(flipped), Catch::Contains("rec.bin") && Catch::Contains("checksum") &&
                                           Catch::Contains("corrupt"));
  CHECK_THROWS_WITH(read_all(good.substr(0, 10)),
                    Catch::Contains("rec.bin") && Catch::Contains("truncated"));
}

TEST_CASE("a size announced by a header is checked against the bytes left", "[embedding][io]") {
  std::istringstream is(std::string(100, 'x'));
  BinaryReader r(is, "mem");
  CHECK_NOTHROW(r.require_remaining(100, "payload"));
  CHECK_THROWS_WITH(r.require_remaining(101, "payload"),
                    Catch::Contains("payload") && Catch::Contains("only 100 remain"));
  char c;
  is.read(&c, 1);  // the check must not have moved the read position
  CHECK(c == 'x');
  CHECK(is.tellg() == std::streampos(1));
}

TEST_CASE("files are replaced only once completely written, and read back whole",
          "[embedding][io]") {
  dare_test::TempPath path("binary_io_file");
  dare::detail::save_file_atomically(path.str(), "a test record", [](std::ostream& os) {
    BinaryWriter w(os);
    w.magic(kTestMagic);
    w.u32(42);
    w.checksum();
  });
  CHECK(dare_test::temps_of(path.str()).empty());
  const auto read = [](std::istream& is, const std::string& name) {
    BinaryReader r(is, name);
    r.expect_magic(kTestMagic, "a test record");
    const auto x = r.u32("x");
    r.verify_checksum();
    return x;
  };
  CHECK(dare::detail::load_file(path.str(), "a test record", read) == 42u);

  {  // trailing bytes after the record are an error when loading a whole file
    std::ofstream os(path.str(), std::ios::binary | std::ios::app);
    os << "junk";
  }
  CHECK_THROWS_WITH(dare::detail::load_file(path.str(), "a test record", read),
                    Catch::Contains(path.str()) && Catch::Contains("unexpected data"));
  CHECK_THROWS_WITH(dare::detail::load_file(path.str() + ".missing", "a test record", read),
                    Catch::Contains("cannot open"));
  CHECK_THROWS_AS(dare::detail::save_file_atomically("/nonexistent-dir/x.bin", "a test record",
                                                     [](std::ostream&) {}),
                  std::runtime_error);
}

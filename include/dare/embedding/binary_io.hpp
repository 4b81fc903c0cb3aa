// dare/embedding/binary_io.hpp — the little-endian record format of tables and optimizer state.
//
// Design: a record is an 8-byte magic, then fields written through BinaryWriter (fixed-width
// little-endian integers, IEEE scalars by bit pattern), then a checksum of every byte after
// the magic. The byte order is fixed, not the host's, so a checkpoint written on one machine
// loads on any other (on little-endian hosts scalars are copied as they are, which is what
// makes multi-gigabyte tables save at disk speed). Records are self-delimiting, so a
// checkpoint may hold several of them back to back in one stream.
//
// The checksum is FNV-1a 64 taken over 64-bit words rather than bytes (8x fewer serial
// multiplications: a 256 MB table hashes in ~0.1 s instead of ~0.6 s): the bytes are read
// as little-endian 64-bit words, the last one zero-padded, each word w folded in as
// h = (h ^ w) * 1099511628211 from h = 14695981039346656037, and the byte count folded in
// last the same way. Each step is a bijection of h, so a change confined to one word
// always changes the result.
//
// BinaryReader mirrors the writer and turns every failure into a dare::FormatError naming
// the file (or the name given for a stream) and the field: a stream that ends early is
// "truncated", a checksum that disagrees is "corrupt". Readers check a size field against
// the bytes left in the stream (when it can tell) before allocating, so a corrupt header
// fails cleanly instead of requesting terabytes.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <istream>
#include <limits>
#include <ostream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/core/file_io.hpp"

namespace dare::detail {

inline constexpr std::uint64_t kFnvOffsetBasis = 14695981039346656037ull;
inline constexpr std::uint64_t kFnvPrime = 1099511628211ull;

#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && \
    __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
inline constexpr bool kHostIsLittleEndian = false;
#else
inline constexpr bool kHostIsLittleEndian = true;
#endif

/// The 64-bit little-endian word at `p` (any alignment, any host).
inline std::uint64_t load_le64(const unsigned char* p) noexcept {
  if constexpr (kHostIsLittleEndian) {
    std::uint64_t w;
    std::memcpy(&w, p, sizeof w);
    return w;
  } else {
    std::uint64_t w = 0;
    for (int b = 0; b < 8; ++b) w |= static_cast<std::uint64_t>(p[b]) << (8 * b);
    return w;
  }
}

/// The record checksum: FNV-1a 64 over little-endian 64-bit words, then the byte count
/// (see the note at the top of this file). Fed incrementally in pieces of any size.
class Checksum {
 public:
  void update(const unsigned char* p, std::size_t n) noexcept {
    bytes_ += n;
    for (; n > 0 && fill_ != 0; --n) take_byte(*p++);  // complete a pending word first
    for (; n >= 8; p += 8, n -= 8) mix(load_le64(p));
    for (; n > 0; --n) take_byte(*p++);
  }

  std::uint64_t value() const noexcept {
    std::uint64_t h = h_;
    if (fill_ != 0) h = (h ^ pending_) * kFnvPrime;
    return (h ^ bytes_) * kFnvPrime;
  }

 private:
  void mix(std::uint64_t w) noexcept { h_ = (h_ ^ w) * kFnvPrime; }
  void take_byte(unsigned char b) noexcept {
    pending_ |= static_cast<std::uint64_t>(b) << (8 * fill_);
    if (++fill_ == 8) {
      mix(pending_);
      pending_ = 0;
      fill_ = 0;
    }
  }

  std::uint64_t h_ = kFnvOffsetBasis;
  std::uint64_t pending_ = 0;
  unsigned fill_ = 0;
  std::uint64_t bytes_ = 0;
};

/// The unsigned integer with the same width as a storable scalar.
template <class Scalar>
using ScalarBits = std::conditional_t<sizeof(Scalar) == 4, std::uint32_t, std::uint64_t>;

template <class Scalar>
inline constexpr bool is_storable_scalar_v =
    std::is_floating_point_v<Scalar>&& std::numeric_limits<Scalar>::is_iec559 &&
    (sizeof(Scalar) == 4 || sizeof(Scalar) == 8);

/// Writes `n` scalars to `out` as little-endian IEEE bit patterns, byte by byte: the
/// definition of the stored form, used as such on big-endian hosts.
template <class Scalar>
void encode_le_portable(const Scalar* p, Index n, unsigned char* out) noexcept {
  using Bits = ScalarBits<Scalar>;
  for (Index i = 0; i < n; ++i) {
    Bits bits;
    std::memcpy(&bits, p + i, sizeof bits);
    for (std::size_t b = 0; b < sizeof bits; ++b)
      *out++ = static_cast<unsigned char>(bits >> (8 * b));
  }
}

/// The inverse of encode_le_portable.
template <class Scalar>
void decode_le_portable(const unsigned char* in, Index n, Scalar* p) noexcept {
  using Bits = ScalarBits<Scalar>;
  for (Index i = 0; i < n; ++i) {
    Bits bits = 0;
    for (std::size_t b = 0; b < sizeof bits; ++b) bits |= static_cast<Bits>(*in++) << (8 * b);
    std::memcpy(p + i, &bits, sizeof bits);
  }
}

/// Writes fields of a record in little-endian order, hashing them as it goes.
class BinaryWriter {
 public:
  explicit BinaryWriter(std::ostream& os) : os_(os) {}

  /// The record's 8-byte magic; not part of the checksum. Starts a new checksum.
  void magic(const char (&m)[9]) {
    os_.write(m, 8);
    sum_ = Checksum{};
  }

  void u32(std::uint32_t x) { put_uint(x); }
  void u64(std::uint64_t x) { put_uint(x); }
  void f64(double x) {
    std::uint64_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    put_uint(bits);
  }

  /// `n` raw bytes (text, or bytes already in a defined order).
  void bytes(const void* p, std::size_t n) { put(static_cast<const unsigned char*>(p), n); }

  /// `n` scalars from `p`, each by its IEEE bit pattern.
  template <class Scalar>
  void scalars(const Scalar* p, Index n) {
    static_assert(is_storable_scalar_v<Scalar>, "only IEEE float and double are storable");
    if constexpr (kHostIsLittleEndian) {
      put(reinterpret_cast<const unsigned char*>(p), static_cast<std::size_t>(n) * sizeof(Scalar));
    } else {
      constexpr Index per_chunk = static_cast<Index>(kChunk / sizeof(Scalar));
      unsigned char buf[kChunk];
      for (Index start = 0; start < n; start += per_chunk) {
        const Index count = n - start < per_chunk ? n - start : per_chunk;
        encode_le_portable(p + start, count, buf);
        put(buf, static_cast<std::size_t>(count) * sizeof(Scalar));
      }
    }
  }

  /// Ends the record with the checksum of everything written since the magic.
  void checksum() {
    const std::uint64_t h = sum_.value();
    put_uint(h);
  }

  /// Throws std::runtime_error naming `what` if the stream reported a write failure.
  void check(const std::string& what) const {
    if (!os_) throw std::runtime_error(concat("failed writing ", what, " (stream error)"));
  }

 private:
  static constexpr std::size_t kChunk = 1 << 14;

  template <class U>
  void put_uint(U x) {
    unsigned char buf[sizeof(U)];
    for (std::size_t b = 0; b < sizeof(U); ++b) buf[b] = static_cast<unsigned char>(x >> (8 * b));
    put(buf, sizeof buf);
  }

  void put(const unsigned char* bytes, std::size_t n) {
    sum_.update(bytes, n);
    os_.write(reinterpret_cast<const char*>(bytes), static_cast<std::streamsize>(n));
  }

  std::ostream& os_;
  Checksum sum_;
};

/// Reads what BinaryWriter wrote; every failure is a FormatError naming `name` and the field.
class BinaryReader {
 public:
  BinaryReader(std::istream& is, std::string name) : is_(is), name_(std::move(name)) {}

  const std::string& name() const noexcept { return name_; }

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw FormatError(name_, 0, field, what);
  }

  /// Reads the 8-byte magic and starts a new hash; `what` names the expected record kind.
  void expect_magic(const char (&m)[9], const char* what) {
    char got[8];
    is_.read(got, 8);
    if (is_.gcount() != 8)
      fail("magic", concat("file ends before the header of ", what, " (truncated)"));
    if (std::memcmp(got, m, 8) != 0) fail("magic", concat("not ", what, " (wrong magic bytes)"));
    sum_ = Checksum{};
  }

  std::uint32_t u32(const char* field) { return get_uint<std::uint32_t>(field); }
  /// `n` raw bytes into `p` (call require_remaining first for a length read from the file).
  void bytes(void* p, std::size_t n, const char* field) { get(static_cast<unsigned char*>(p), n, field); }
  std::uint64_t u64(const char* field) { return get_uint<std::uint64_t>(field); }
  double f64(const char* field) {
    const std::uint64_t bits = get_uint<std::uint64_t>(field);
    double x;
    std::memcpy(&x, &bits, sizeof x);
    return x;
  }

  /// Reads `n` scalars into `p`.
  template <class Scalar>
  void scalars(Scalar* p, Index n, const char* field) {
    static_assert(is_storable_scalar_v<Scalar>, "only IEEE float and double are storable");
    if constexpr (kHostIsLittleEndian) {
      get(reinterpret_cast<unsigned char*>(p), static_cast<std::size_t>(n) * sizeof(Scalar), field);
    } else {
      constexpr Index per_chunk = static_cast<Index>(kChunk / sizeof(Scalar));
      unsigned char buf[kChunk];
      for (Index start = 0; start < n; start += per_chunk) {
        const Index count = n - start < per_chunk ? n - start : per_chunk;
        get(buf, static_cast<std::size_t>(count) * sizeof(Scalar), field);
        decode_le_portable(buf, count, p + start);
      }
    }
  }

  /// Reads the stored checksum and compares it with that of the bytes read since the magic.
  void verify_checksum() {
    const std::uint64_t expected = sum_.value();
    const std::uint64_t stored = get_uint<std::uint64_t>("checksum");
    if (stored != expected)
      fail("checksum", "checksum mismatch: the record is corrupt (stored " + hex(stored) +
                           ", computed " + hex(expected) + ")");
  }

  /// Fails unless at least `bytes` remain in the stream (checked only when it is seekable).
  void require_remaining(std::uint64_t bytes, const char* field) {
    const auto here = is_.tellg();
    if (here == std::istream::pos_type(-1)) return;  // a pipe: the reads will find out
    is_.seekg(0, std::ios::end);
    const auto end = is_.tellg();
    is_.seekg(here);
    if (end == std::istream::pos_type(-1) || !is_) {
      is_.clear();
      is_.seekg(here);
      return;
    }
    const auto left = static_cast<std::uint64_t>(end - here);
    if (left < bytes)
      fail(field, concat("the header announces ", bytes, " bytes of data but only ", left,
                         " remain (truncated)"));
  }

  /// True when the stream can tell its position (a file, not a pipe): require_remaining
  /// can then check sizes before anything is allocated.
  bool seekable() { return is_.tellg() != std::istream::pos_type(-1); }

  /// Fails unless each of the `n` scalars at `p` is finite (and >= 0 when `nonnegative`):
  /// loaded state that would turn the next step into NaN. `first` numbers the first one.
  template <class Scalar>
  void require_finite(const Scalar* p, Index n, const char* field, bool nonnegative = false, Index first = 0) const {
    for (Index i = 0; i < n; ++i) {
      if (!std::isfinite(p[i])) {
        fail(field, concat("value ", first + i, " is ", p[i], " (corrupted file or diverged model)"));
      }
      if (nonnegative && p[i] < 0) {
        fail(field, concat("value ", first + i, " is ", p[i], ", below 0, which this state never is"));
      }
    }
  }

  /// True when the stream has no byte left.
  bool at_end() { return is_.peek() == std::istream::traits_type::eof(); }

 private:
  static constexpr std::size_t kChunk = 1 << 14;

  static std::string hex(std::uint64_t x) {
    char buf[19];
    std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(x));
    return buf;
  }

  template <class U>
  U get_uint(const char* field) {
    unsigned char buf[sizeof(U)];
    get(buf, sizeof buf, field);
    U x = 0;
    for (std::size_t b = 0; b < sizeof(U); ++b) x |= static_cast<U>(buf[b]) << (8 * b);
    return x;
  }

  void get(unsigned char* bytes, std::size_t n, const char* field) {
    is_.read(reinterpret_cast<char*>(bytes), static_cast<std::streamsize>(n));
    if (static_cast<std::size_t>(is_.gcount()) != n) fail(field, "file ends early (truncated)");
    sum_.update(bytes, n);
  }

  std::istream& is_;
  std::string name_;
  Checksum sum_;
};

/// Writes a file through `write(std::ostream&)` without ever leaving a half-written file
/// under `path` (see dare/core/file_io.hpp: a unique temporary in the same directory,
/// fsync'ed, renamed over `path`, removed on failure).
template <class Write>
void save_file_atomically(const std::string& path, const char* what, Write&& write) {
  AtomicFile file(path, what);
  write(file.stream());
  file.commit();
}

/// Opens `path` and returns `read(std::istream&, const std::string& name)`; the file must
/// hold nothing after what `read` consumed.
template <class Read>
auto load_file(const std::string& path, const char* what, Read&& read) {
  std::ifstream is(path, std::ios::binary);
  if (!is) throw std::runtime_error(concat(path, ": cannot open file to read ", what));
  const auto expect_end = [&] {
    if (is.peek() != std::ifstream::traits_type::eof())
      throw FormatError(path, 0, "", concat("unexpected data after the end of ", what));
  };
  if constexpr (std::is_void_v<decltype(read(is, path))>) {
    read(is, path);
    expect_end();
  } else {
    auto result = read(is, path);
    expect_end();
    return result;
  }
}

}  // namespace dare::detail

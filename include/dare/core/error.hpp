// dare/core/error.hpp — the exceptions thrown at API boundaries.
//
// Hot paths use DARE_ASSERT; everything a caller can get wrong (a bad id, a size mismatch,
// k > n, a malformed file) throws one of these with a message that names what was wrong and
// where: the argument or field, and for files the path and line.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace dare {

/// A malformed input file, dataset or checkpoint: carries the path, the line (or record)
/// number (0 when not applicable) and the field that could not be read.
class FormatError : public std::runtime_error {
 public:
  FormatError(std::string path, long long line, std::string field, const std::string& what)
      : std::runtime_error(describe(path, line, field, what)),
        path_(std::move(path)),
        line_(line),
        field_(std::move(field)) {}

  const std::string& path() const noexcept { return path_; }
  long long line() const noexcept { return line_; }
  const std::string& field() const noexcept { return field_; }

 private:
  static std::string describe(const std::string& path, long long line, const std::string& field,
                              const std::string& what) {
    std::ostringstream os;
    os << path;
    if (line > 0) os << ':' << line;
    if (!field.empty()) os << ": field '" << field << '\'';
    os << ": " << what;
    return os.str();
  }

  std::string path_;
  long long line_;
  std::string field_;
};

/// Thrown by DARE_ASSERT when DARE_ASSERT_THROWS is defined (the test suite does this).
class AssertionError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

namespace detail {

/// Concatenates its arguments with operator<< into one string.
template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}

/// Throws std::invalid_argument whose message is the concatenation of `parts`.
template <class... Parts>
[[noreturn]] void throw_invalid(const Parts&... parts) {
  throw std::invalid_argument(concat(parts...));
}

[[noreturn]] inline void assertion_failed(const char* cond, const char* file, int line) {
  throw AssertionError(concat(file, ':', line, ": assertion failed: ", cond));
}

}  // namespace detail

/// Checks an argument at an API boundary: throws std::invalid_argument with the message
/// built from the remaining arguments when `cond` is false.
#define DARE_CHECK_ARG(cond, ...)                                                          \
  do {                                                                                     \
    if (!(cond)) ::dare::detail::throw_invalid(__VA_ARGS__);                               \
  } while (false)

}  // namespace dare

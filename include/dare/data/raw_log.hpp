// dare/data/raw_log.hpp — streaming readers for the raw Taobao and Tmall behaviour logs.
//
// Design note. The full Taobao log is 3.5 GB / 100M rows, so the reader never holds the file:
// it read()s big blocks (16 MiB by default) into one buffer, splits lines with memchr and
// fields by hand, and parses integers with std::from_chars (no iostream, no allocation per
// row). read() rather than mmap keeps the file out of the process's resident set, so peak
// RSS reports only what preprocessing itself keeps. Each kept row (a click) is handed to a
// callback as raw ids; remapping and grouping are preprocessing's business.
//
// Strictness: every row must have exactly the format's fields and every field the reader
// uses must parse; anything else is a FormatError naming file, line and field. With
// `skip_malformed` such rows are skipped and counted (and the first message is kept), never
// dropped silently. CRLF line ends, a missing final newline and a UTF-8 byte-order mark
// before the first line are accepted; a blank line is a malformed row.
//
// Formats, exactly as published:
//  - taobao, UserBehavior.csv, no header: user_id,item_id,category_id,behavior_type,timestamp;
//    behaviour pv|buy|cart|fav, only pv kept; timestamp is signed Unix seconds.
//  - tmall, user_log_format1.csv, header
//    user_id,item_id,cat_id,seller_id,brand_id,time_stamp,action_type; time_stamp is mmdd,
//    action_type 0..3 with 0 = click, the only one kept; seller_id and brand_id are not used
//    and may be empty. The public reference preprocessing (tmall_sort_log.py) also drops
//    clicks whose time_stamp text is not exactly 4 characters long; `tmall_four_digit_dates_only`
//    (on by default) reproduces that and counts the rows it drops.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"

namespace dare {

/// Which published raw log a file is.
enum class RawFormat { taobao, tmall };

/// "taobao" / "tmall".
inline const char* to_string(RawFormat format) noexcept {
  return format == RawFormat::taobao ? "taobao" : "tmall";
}

/// Parses "taobao" or "tmall"; throws std::invalid_argument naming `what` otherwise.
inline RawFormat parse_raw_format(std::string_view text, const char* what = "format") {
  if (text == "taobao") return RawFormat::taobao;
  if (text == "tmall") return RawFormat::tmall;
  detail::throw_invalid(what, " must be 'taobao' or 'tmall', got '", text, "'");
}

/// One kept row (a click) with the ids as they appear in the file.
struct RawClick {
  std::uint64_t user;
  std::uint64_t item;
  std::uint64_t cat;
  /// Taobao: Unix seconds; Tmall: mmdd as an integer (e.g. 1111).
  std::int64_t time;
};

/// How strictly to read.
struct RawLogOptions {
  /// Skip and count malformed rows instead of throwing FormatError.
  bool skip_malformed = false;
  /// Tmall: drop (and count) clicks whose time_stamp is not exactly 4 characters, as the
  /// public reference preprocessing does.
  bool tmall_four_digit_dates_only = true;
  /// Size of the read buffer, which is also the longest line accepted.
  std::size_t buffer_bytes = std::size_t{16} << 20;
};

/// What a pass over a raw log saw. rows_read = rows_kept + rows_other_behavior +
/// rows_short_date + rows_malformed (the Tmall header is not a row).
struct RawLogStats {
  long long rows_read = 0;
  long long rows_kept = 0;
  /// Valid rows of another behaviour (Taobao buy/cart/fav, Tmall action_type 1..3).
  long long rows_other_behavior = 0;
  /// Tmall clicks dropped by `tmall_four_digit_dates_only`.
  long long rows_short_date = 0;
  /// Malformed rows skipped under `skip_malformed`.
  long long rows_malformed = 0;
  /// The message of the first malformed row skipped (empty if none).
  std::string first_malformed;
  long long bytes_read = 0;
};

namespace detail {

/// Closes a file descriptor on scope exit.
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }
  int get() const noexcept { return fd_; }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

/// Opens `path` read-only or throws std::runtime_error naming it and the reason.
inline UniqueFd open_for_reading(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(concat("cannot open '", path, "': ", std::strerror(errno)));
  return UniqueFd(fd);
}

/// Why a row was not kept; `field` is set for malformed rows.
struct RowVerdict {
  enum Kind { kept, other_behavior, short_date, malformed } kind = kept;
  const char* field = "";
  const char* what = "";
};

/// Splits a line at commas; hands out fields in order.
class FieldSplitter {
 public:
  explicit FieldSplitter(std::string_view line) noexcept
      : p_(line.data()), end_(line.data() + line.size()) {}
  /// The next field, or false when the line has no more.
  bool next(std::string_view& field) noexcept {
    if (done_) return false;
    const char* comma = static_cast<const char*>(
        std::memchr(p_, ',', static_cast<std::size_t>(end_ - p_)));
    if (comma == nullptr) {
      field = std::string_view(p_, static_cast<std::size_t>(end_ - p_));
      done_ = true;
    } else {
      field = std::string_view(p_, static_cast<std::size_t>(comma - p_));
      p_ = comma + 1;
    }
    return true;
  }
  bool done() const noexcept { return done_; }

 private:
  const char* p_;
  const char* end_;
  bool done_ = false;
};

/// Parses a whole field as a non-negative id no larger than INT64_MAX.
inline bool parse_id(std::string_view field, std::uint64_t& out) noexcept {
  if (field.empty()) return false;
  const auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), out);
  return ec == std::errc() && ptr == field.data() + field.size() &&
         out <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
}

/// Parses a whole field as a signed 64-bit integer.
inline bool parse_int64(std::string_view field, std::int64_t& out) noexcept {
  if (field.empty()) return false;
  const auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), out);
  return ec == std::errc() && ptr == field.data() + field.size();
}

inline constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

inline constexpr std::string_view kTmallHeader =
    "user_id,item_id,cat_id,seller_id,brand_id,time_stamp,action_type";

/// Reads the fields every format shares: user, item, category ids in the first three columns.
inline bool parse_ids(FieldSplitter& fields, RawClick& click, const char* const names[3],
                      RowVerdict& verdict) noexcept {
  std::uint64_t* targets[3] = {&click.user, &click.item, &click.cat};
  for (int f = 0; f < 3; ++f) {
    std::string_view text;
    if (!fields.next(text)) {
      verdict = {RowVerdict::malformed, names[f], "missing field"};
      return false;
    }
    if (text.empty()) {
      verdict = {RowVerdict::malformed, names[f], "empty field"};
      return false;
    }
    if (!parse_id(text, *targets[f])) {
      verdict = {RowVerdict::malformed, names[f], "not a non-negative integer id"};
      return false;
    }
  }
  return true;
}

inline RowVerdict parse_taobao_row(std::string_view line, RawClick& click) noexcept {
  static constexpr const char* kNames[3] = {"user_id", "item_id", "category_id"};
  RowVerdict verdict;
  FieldSplitter fields(line);
  if (!parse_ids(fields, click, kNames, verdict)) return verdict;
  std::string_view behavior;
  if (!fields.next(behavior)) return {RowVerdict::malformed, "behavior_type", "missing field"};
  bool is_click = false;
  if (behavior == "pv") {
    is_click = true;
  } else if (behavior.empty()) {
    return {RowVerdict::malformed, "behavior_type", "empty field"};
  } else if (behavior != "buy" && behavior != "cart" && behavior != "fav") {
    return {RowVerdict::malformed, "behavior_type",
            "unknown behaviour type (expected pv, buy, cart or fav)"};
  }
  std::string_view time;
  if (!fields.next(time)) return {RowVerdict::malformed, "timestamp", "missing field"};
  if (time.empty()) return {RowVerdict::malformed, "timestamp", "empty field"};
  if (!parse_int64(time, click.time)) {
    return {RowVerdict::malformed, "timestamp", "not an integer timestamp"};
  }
  std::string_view extra;
  if (fields.next(extra)) return {RowVerdict::malformed, "row", "extra field (expected 5 fields)"};
  return {is_click ? RowVerdict::kept : RowVerdict::other_behavior};
}

inline RowVerdict parse_tmall_row(std::string_view line, RawClick& click,
                                  bool four_digit_dates_only) noexcept {
  static constexpr const char* kNames[3] = {"user_id", "item_id", "cat_id"};
  RowVerdict verdict;
  FieldSplitter fields(line);
  if (!parse_ids(fields, click, kNames, verdict)) return verdict;
  std::string_view unused;
  if (!fields.next(unused)) return {RowVerdict::malformed, "seller_id", "missing field"};
  if (!fields.next(unused)) return {RowVerdict::malformed, "brand_id", "missing field"};
  std::string_view date;
  if (!fields.next(date)) return {RowVerdict::malformed, "time_stamp", "missing field"};
  if (date.empty()) return {RowVerdict::malformed, "time_stamp", "empty field"};
  std::uint64_t mmdd = 0;
  if (date.size() > 4 || !parse_id(date, mmdd) || mmdd / 100 < 1 || mmdd / 100 > 12 ||
      mmdd % 100 < 1 || mmdd % 100 > 31) {
    return {RowVerdict::malformed, "time_stamp", "not a mmdd date"};
  }
  click.time = static_cast<std::int64_t>(mmdd);
  std::string_view action;
  if (!fields.next(action)) return {RowVerdict::malformed, "action_type", "missing field"};
  if (action.empty()) return {RowVerdict::malformed, "action_type", "empty field"};
  if (action.size() != 1 || action[0] < '0' || action[0] > '3') {
    return {RowVerdict::malformed, "action_type", "unknown action type (expected 0, 1, 2 or 3)"};
  }
  if (fields.next(unused)) return {RowVerdict::malformed, "row", "extra field (expected 7 fields)"};
  if (action[0] != '0') return {RowVerdict::other_behavior};
  if (four_digit_dates_only && date.size() != 4) return {RowVerdict::short_date};
  return {RowVerdict::kept};
}

}  // namespace detail

/// A raw Taobao or Tmall log on disk. `for_each_click` streams it once; call it again for
/// another pass (preprocessing makes two).
class RawLogReader {
 public:
  RawLogReader(std::string path, RawFormat format, RawLogOptions options = {})
      : path_(std::move(path)), format_(format), options_(options) {
    DARE_CHECK_ARG(options_.buffer_bytes >= 2, "RawLogOptions::buffer_bytes must be at least 2");
  }

  const std::string& path() const noexcept { return path_; }
  RawFormat format() const noexcept { return format_; }
  const RawLogOptions& options() const noexcept { return options_; }

  /// Calls `on_click(const RawClick&)` for every kept row, in file order. Throws FormatError
  /// (path, line, field) on the first malformed row unless `skip_malformed` is set, and
  /// std::runtime_error if the file cannot be read.
  template <class OnClick>
  RawLogStats for_each_click(OnClick&& on_click) const {
    return for_each_click(std::forward<OnClick>(on_click), [](const char*, std::size_t) {});
  }

  /// As above, and also calls `on_bytes(const char* data, std::size_t size)` with every block
  /// read, in file order, before its rows are parsed: a pass that reaches the end of the file
  /// hands over all of its bytes (preprocessing hashes them this way, without a pass of its own).
  template <class OnClick, class OnBytes>
  RawLogStats for_each_click(OnClick&& on_click, OnBytes&& on_bytes) const {
    detail::UniqueFd fd = detail::open_for_reading(path_);
#ifdef POSIX_FADV_SEQUENTIAL
    (void)::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    RawLogStats stats;
    std::vector<char> buffer(options_.buffer_bytes);
    char* const buf = buffer.data();
    const std::size_t capacity = buffer.size();
    std::size_t begin = 0;  // first unconsumed byte
    std::size_t end = 0;    // one past the last byte read
    long long line_no = 0;
    bool eof = false;
    bool discarding = false;  // inside an over-long line being skipped
    bool header_pending = format_ == RawFormat::tmall;

    while (true) {
      char* newline = static_cast<char*>(std::memchr(buf + begin, '\n', end - begin));
      if (newline == nullptr) {
        if (eof) {
          if (begin < end && !discarding) {
            handle_line(std::string_view(buf + begin, end - begin), ++line_no, header_pending,
                        stats, on_click);
          }
          break;
        }
        if (discarding) {
          begin = end = 0;
        } else if (begin > 0) {
          std::memmove(buf, buf + begin, end - begin);
          end -= begin;
          begin = 0;
        }
        if (end == capacity) {
          // No newline in a full buffer: the line is longer than we accept.
          ++line_no;
          if (header_pending) {
            throw FormatError(path_, line_no, "header",
                              detail::concat("line longer than ", capacity,
                                             " bytes where the header was expected"));
          }
          malformed(stats, line_no, "row",
                    detail::concat("line longer than ", capacity, " bytes"));
          discarding = true;
          begin = end = 0;
        }
        const ssize_t got = read_some(fd.get(), buf + end, capacity - end);
        if (got == 0) {
          eof = true;
        } else {
          on_bytes(static_cast<const char*>(buf + end), static_cast<std::size_t>(got));
          end += static_cast<std::size_t>(got);
          stats.bytes_read += got;
        }
        continue;
      }
      const std::size_t line_end = static_cast<std::size_t>(newline - buf);
      if (discarding) {
        discarding = false;
      } else {
        handle_line(std::string_view(buf + begin, line_end - begin), ++line_no, header_pending,
                    stats, on_click);
      }
      begin = line_end + 1;
    }
    if (header_pending) {
      throw FormatError(path_, 1, "header",
                        detail::concat("empty file: expected the header '", detail::kTmallHeader,
                                       "'"));
    }
    return stats;
  }

 private:
  ssize_t read_some(int fd, char* dst, std::size_t count) const {
    while (true) {
      const ssize_t got = ::read(fd, dst, count);
      if (got >= 0) return got;
      if (errno != EINTR) {
        throw std::runtime_error(detail::concat("cannot read '", path_, "': ", std::strerror(errno)));
      }
    }
  }

  void malformed(RawLogStats& stats, long long line_no, const char* field,
                 const std::string& what) const {
    if (!options_.skip_malformed) throw FormatError(path_, line_no, field, what);
    if (stats.rows_malformed == 0) stats.first_malformed = FormatError(path_, line_no, field, what).what();
    ++stats.rows_malformed;
    ++stats.rows_read;
  }

  template <class OnClick>
  void handle_line(std::string_view line, long long line_no, bool& header_pending,
                   RawLogStats& stats, OnClick& on_click) const {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // A UTF-8 byte-order mark (spreadsheets write one) before the first line is skipped.
    if (line_no == 1 && line.substr(0, detail::kUtf8Bom.size()) == detail::kUtf8Bom) {
      line.remove_prefix(detail::kUtf8Bom.size());
    }
    if (header_pending) {
      if (line != detail::kTmallHeader) {
        throw FormatError(path_, line_no, "header",
                          detail::concat("expected the header '", detail::kTmallHeader,
                                         "', found '", line.substr(0, 200), "'"));
      }
      header_pending = false;
      return;
    }
    if (line.empty()) {
      malformed(stats, line_no, "row", "blank line");
      return;
    }
    RawClick click{};
    const detail::RowVerdict verdict =
        format_ == RawFormat::taobao
            ? detail::parse_taobao_row(line, click)
            : detail::parse_tmall_row(line, click, options_.tmall_four_digit_dates_only);
    switch (verdict.kind) {
      case detail::RowVerdict::kept:
        ++stats.rows_read;
        ++stats.rows_kept;
        on_click(static_cast<const RawClick&>(click));
        break;
      case detail::RowVerdict::other_behavior:
        ++stats.rows_read;
        ++stats.rows_other_behavior;
        break;
      case detail::RowVerdict::short_date:
        ++stats.rows_read;
        ++stats.rows_short_date;
        break;
      case detail::RowVerdict::malformed:
        malformed(stats, line_no, verdict.field, verdict.what);
        break;
    }
  }

  std::string path_;
  RawFormat format_;
  RawLogOptions options_;
};

}  // namespace dare

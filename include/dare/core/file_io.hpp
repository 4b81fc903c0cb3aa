// dare/core/file_io.hpp — writing output files so that nothing is ever lost.
//
// Design note. Every file dare writes (datasets, checkpoints, tables, metrics) goes through
// AtomicFile: the bytes go to a temporary file with a unique name in the target's directory
// (so the final rename stays on one file system and two runs writing the same target never
// share a temporary), the temporary is fsync'ed before it is renamed over the target and the
// directory is fsync'ed after, so a crash leaves either the old file or the complete new one.
// A temporary is removed when the write fails; one left by a killed process (its name holds
// the writer's pid) is removed by the next write to the same target once that pid is gone
// (writers sharing a directory are assumed to share a pid namespace, as on one machine).
//
// The target must be a regular file or absent: renaming over a device node, a pipe or a
// directory would replace it (as root, `--out /dev/full` used to turn the device into a
// file). check_output_path() says so before any work starts and also refuses an output that
// is one of the run's inputs, compared by device and inode (so a second spelling, a symlink or
// a hard link of the input is caught as well).
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <ostream>
#include <random>
#include <stdexcept>
#include <streambuf>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dare/core/error.hpp"

namespace dare {

/// An input of a run that an output must not overwrite: its path and the option naming it.
struct NamedPath {
  std::string path;
  std::string what;
};

namespace detail {

inline std::string errno_text(int err) { return std::strerror(err); }

/// The directory part of `path` ("." when it has none).
inline std::string parent_directory(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

/// The file name part of `path`.
inline std::string base_name(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

/// Writes all of [data, data + size) to `fd` or throws std::runtime_error naming `path`.
inline void write_all(int fd, const void* data, std::size_t size, const std::string& path) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size < (std::size_t{1} << 30) ? size : (std::size_t{1} << 30));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(concat("cannot write '", path, "': ", errno_text(errno)));
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

/// fsync of the directory holding `path`, so a rename in it is durable.
inline void sync_directory_of(const std::string& path) {
  const std::string dir = parent_directory(path);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(concat("cannot open directory '", dir, "' to sync it: ", errno_text(errno)));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some file systems cannot sync a directory (EINVAL); the rename itself has happened.
  if (rc != 0 && err != EINVAL) {
    throw std::runtime_error(concat("cannot sync directory '", dir, "': ", errno_text(err)));
  }
}

/// The prefix of every temporary written for `path`: "<path>.tmp.".
inline std::string temp_prefix(const std::string& path) { return path + ".tmp."; }

/// Removes the temporaries "<path>.tmp.<pid>[.<suffix>]" whose writer process no longer
/// exists (left by a run that was killed). Best effort: errors are ignored.
inline void remove_stale_temps(const std::string& path) {
  const std::string dir = parent_directory(path);
  const std::string prefix = base_name(temp_prefix(path));
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  std::vector<std::string> stale;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name(e->d_name);
    if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) continue;
    const std::string_view rest = name.substr(prefix.size());
    std::size_t digits = 0;
    while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
    if (digits == 0 || digits > 9 || (digits < rest.size() && rest[digits] != '.')) continue;
    const long pid = std::stol(std::string(rest.substr(0, digits)));
    if (pid == static_cast<long>(::getpid())) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to judge)
    stale.emplace_back(name);
  }
  ::closedir(d);
  for (const std::string& name : stale) {
    const std::string full = dir + "/" + name;
    struct stat st {};
    if (::lstat(full.c_str(), &st) == 0 && S_ISREG(st.st_mode)) ::unlink(full.c_str());
  }
}

/// Throws std::runtime_error unless `path` is absent or a regular file (a symlink to one
/// counts as one): the checks every writer makes before it renames over the target.
inline void require_writable_target(const std::string& path, const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      struct stat dir {};
      const std::string parent = parent_directory(path);
      if (::stat(parent.c_str(), &dir) != 0 || !S_ISDIR(dir.st_mode)) {
        throw std::runtime_error(concat(what, " '", path, "': the directory '", parent, "' does not exist"));
      }
      return;
    }
    throw std::runtime_error(concat(what, " '", path, "': ", errno_text(errno)));
  }
  if (S_ISDIR(st.st_mode)) throw std::runtime_error(concat(what, " '", path, "' is a directory, not a file"));
  if (!S_ISREG(st.st_mode)) {
    throw std::runtime_error(concat(what, " '", path,
                                    "' is not a regular file (a device, pipe or socket); dare writes only "
                                    "regular files, which it replaces atomically"));
  }
}

/// A std::streambuf that writes to a file descriptor and remembers the first error.
class FdStreamBuf : public std::streambuf {
 public:
  explicit FdStreamBuf(int fd) : fd_(fd), buffer_(std::size_t{1} << 16) {
    setp(buffer_.data(), buffer_.data() + buffer_.size());
  }
  int error() const noexcept { return error_; }

 protected:
  int_type overflow(int_type ch) override {
    if (!flush_buffer()) return traits_type::eof();
    if (!traits_type::eq_int_type(ch, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(ch);
      pbump(1);
    }
    return traits_type::not_eof(ch);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    if (n >= static_cast<std::streamsize>(buffer_.size())) {
      if (!flush_buffer() || !write_raw(s, static_cast<std::size_t>(n))) return 0;
      return n;
    }
    return std::streambuf::xsputn(s, n);
  }
  int sync() override { return flush_buffer() ? 0 : -1; }

 private:
  bool flush_buffer() {
    const auto n = static_cast<std::size_t>(pptr() - pbase());
    setp(buffer_.data(), buffer_.data() + buffer_.size());
    return write_raw(buffer_.data(), n);
  }
  bool write_raw(const char* p, std::size_t n) {
    if (error_ != 0) return false;
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, n < (std::size_t{1} << 30) ? n : (std::size_t{1} << 30));
      if (w < 0) {
        if (errno == EINTR) continue;
        error_ = errno;
        return false;
      }
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    return true;
  }

  int fd_;
  std::vector<char> buffer_;
  int error_ = 0;
};

}  // namespace detail

/// Checks, before any work starts, that `path` can be written as the output `what` (an
/// option name such as "--out"): it is absent (in an existing directory) or a regular file,
/// and it is not the same file as any of `inputs` (by device and inode, after following
/// links). Throws std::invalid_argument naming both options.
inline void check_output_path(const std::string& path, const std::string& what,
                              const std::vector<NamedPath>& inputs = {}) {
  DARE_CHECK_ARG(!path.empty(), what, " must name a file, got an empty path");
  try {
    detail::require_writable_target(path, what);
  } catch (const std::runtime_error& e) {
    throw std::invalid_argument(e.what());
  }
  struct stat out {};
  if (::stat(path.c_str(), &out) != 0) return;  // absent: cannot be an input
  for (const NamedPath& in : inputs) {
    struct stat st {};
    if (in.path.empty() || ::stat(in.path.c_str(), &st) != 0) continue;
    if (st.st_dev == out.st_dev && st.st_ino == out.st_ino) {
      detail::throw_invalid(what, " '", path, "' is the same file as ", in.what, " '", in.path,
                            "': writing it would destroy that input; choose another path");
    }
  }
}

/// A file written under a temporary name and moved over its target by commit(); destroyed
/// without commit() (an exception), it removes the temporary and leaves the target as it was.
class AtomicFile {
 public:
  /// Creates the temporary "<path>.tmp.<pid>.<random>" next to `path`, after removing stale
  /// temporaries of dead writers. `what` names the file in messages ("model checkpoint").
  AtomicFile(std::string path, std::string what) : path_(std::move(path)), what_(std::move(what)) {
    detail::require_writable_target(path_, what_);
    detail::remove_stale_temps(path_);
    std::random_device entropy;
    for (int attempt = 0; attempt < 100 && fd_ < 0; ++attempt) {
      char suffix[17];
      std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(entropy()));
      temp_ = detail::concat(detail::temp_prefix(path_), ::getpid(), '.', suffix);
      fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (fd_ < 0 && errno != EEXIST) break;
    }
    if (fd_ < 0) {
      throw std::runtime_error(detail::concat("cannot create a temporary file for the ", what_, " '", path_,
                                              "': ", detail::errno_text(errno)));
    }
    buf_ = std::make_unique<detail::FdStreamBuf>(fd_);
    stream_ = std::make_unique<std::ostream>(buf_.get());
  }

  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  ~AtomicFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_.c_str());
  }

  const std::string& path() const noexcept { return path_; }
  const std::string& temp_path() const noexcept { return temp_; }
  /// The temporary's descriptor, for raw writes (do not mix with stream() unflushed).
  int fd() const noexcept { return fd_; }
  /// A buffered stream over the temporary.
  std::ostream& stream() noexcept { return *stream_; }

  /// Appends raw bytes (after whatever stream() holds).
  void write(const void* data, std::size_t size) {
    stream_->flush();
    detail::write_all(fd_, data, size, temp_);
  }

  /// Flushes, fsyncs and closes the temporary, renames it over the target and fsyncs the
  /// directory. Throws std::runtime_error naming the file and the reason (disk full, ...).
  void commit() {
    stream_->flush();
    if (buf_->error() != 0 || !*stream_) {
      fail("cannot write", buf_->error() != 0 ? buf_->error() : EIO);
    }
    if (::fsync(fd_) != 0) fail("cannot sync", errno);
    const int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0) fail("cannot close", errno);
    // The target may have become a device or directory since the constructor checked.
    detail::require_writable_target(path_, what_);
    if (::rename(temp_.c_str(), path_.c_str()) != 0) fail("cannot move into place", errno);
    committed_ = true;
    detail::sync_directory_of(path_);
  }

 private:
  [[noreturn]] void fail(const char* doing, int err) const {
    throw std::runtime_error(detail::concat(what_, " '", path_, "': ", doing, " the temporary '", temp_, "': ",
                                            detail::errno_text(err)));
  }

  std::string path_;
  std::string what_;
  std::string temp_;
  int fd_ = -1;
  bool committed_ = false;
  std::unique_ptr<detail::FdStreamBuf> buf_;
  std::unique_ptr<std::ostream> stream_;
};

/// Writes `text` to `path` atomically (see AtomicFile); `what` names it in messages.
inline void write_text_file_atomically(const std::string& path, std::string_view text, const std::string& what) {
  AtomicFile file(path, what);
  file.write(text.data(), text.size());
  file.commit();
}

/// `text` as a JSON string literal, quotes included: quotes, backslashes and control
/// characters escaped, and every byte that is not part of valid UTF-8 replaced by U+FFFD,
/// so any path gives valid JSON.
inline std::string json_string(std::string_view text) {
  std::string out = "\"";
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = s[i];
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
      ++i;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else {
      // The length of a well-formed UTF-8 sequence starting here, or 0.
      std::size_t len = 0;
      std::uint32_t cp = 0;
      if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1fu;
      } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0fu;
      } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07u;
      }
      bool ok = len > 0 && i + len <= n;
      for (std::size_t k = 1; ok && k < len; ++k) {
        ok = (s[i + k] & 0xc0) == 0x80;
        cp = (cp << 6) | (s[i + k] & 0x3f);
      }
      ok = ok && !(len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) &&
           !(len == 4 && (cp < 0x10000 || cp > 0x10ffff));
      if (ok) {
        out.append(text.data() + i, len);
        i += len;
      } else {
        out += "\\ufffd";
        ++i;
      }
    }
  }
  return out + "\"";
}

}  // namespace dare

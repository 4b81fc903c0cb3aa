// fuzz/fuzz_util.hpp — what the libFuzzer harnesses share.
//
// Contract of every harness: dare's documented error path is a thrown std::exception, so
// the harness catches std::exception and returns; anything else (a crash, a sanitizer
// report, an allocation over -malloc_limit_mb, a timeout, a failed FUZZ_CHECK) is a
// finding.
//
// Checksums. Every dare file format is checksummed, so random mutations almost never get
// past the checksum and the fuzzer would only explore the header checks. The harnesses
// therefore repair checksums before loading (fix_stream_checksums for the checkpoint
// records, fix_dataset_checksums for dataset files): what the loaders then see is a file
// with valid checksums, exactly what a malicious or buggy writer could produce. The repair
// is a deterministic function of the input, so a crash file replays as it was found; set
// DARE_FUZZ_WRITE_FIXED=path to write the repaired bytes (to turn a reproducer into a test
// fixture that the normal loaders accept).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "dare/core/error.hpp"
#include "dare/data/dataset.hpp"
#include "dare/data/preprocess.hpp"
#include "dare/embedding/binary_io.hpp"
#include "dare/models/zoo.hpp"
#include "dare/nn/parameter.hpp"

namespace dare::fuzz {

/// Aborts (a finding) with a message when an invariant of the code under test fails.
#define FUZZ_CHECK(cond)                                                               \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                    \
    }                                                                                  \
  } while (false)

/// An in-memory file (memfd) reachable by path (/proc/self/fd/N), rewritten per input: the
/// readers under test take paths, and this keeps the disk out of the loop.
class MemFile {
 public:
  MemFile() {
    fd_ = ::memfd_create("dare-fuzz", MFD_CLOEXEC);
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  /// Replaces the contents with [data, data + size); returns the path.
  const std::string& write(const void* data, std::size_t size) {
    if (::ftruncate(fd_, 0) != 0) std::abort();
    const auto* p = static_cast<const char*>(data);
    std::size_t done = 0;
    while (done < size) {
      const ssize_t n = ::pwrite(fd_, p + done, size - done, static_cast<off_t>(done));
      if (n <= 0) std::abort();
      done += static_cast<std::size_t>(n);
    }
    return path_;
  }
  const std::string& path() const noexcept { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

/// Writes `bytes` to $DARE_FUZZ_WRITE_FIXED when set (see the note at the top).
inline void maybe_write_fixed(const std::string& bytes) {
  const char* out = std::getenv("DARE_FUZZ_WRITE_FIXED");
  if (out == nullptr || *out == '\0') return;
  std::ofstream os(out, std::ios::binary | std::ios::trunc);
  os.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline void store_le64(std::string& bytes, std::size_t at, std::uint64_t v) {
  for (int b = 0; b < 8; ++b) bytes[at + static_cast<std::size_t>(b)] = static_cast<char>(v >> (8 * b));
}

/// Repairs the checksums of the checkpoint records in `bytes` that `load(std::istream&)`
/// reads, by loading repeatedly: each "checksum" FormatError leaves the stream just past the
/// stored checksum, which is replaced by the right value (BinaryReader records report it;
/// for the BlockReader blocks of nn/parameter.hpp it is the FNV-1a of the block, whose
/// start is the last block magic before it). Returns when a load gets past every checksum
/// (its result or exception is then the real one, rethrown), or when a repair changes
/// nothing. The repaired bytes are left in `bytes`.
template <class Load>
void load_fixing_checksums(std::string& bytes, Load&& load) {
  static constexpr const char* kBlockMagics[] = {"DAREPARM", "DAREADAM"};
  for (int attempt = 0; attempt < 64; ++attempt) {
    std::istringstream is(bytes);
    maybe_write_fixed(bytes);  // before load: a finding may abort inside it
    try {
      load(is);
      return;
    } catch (const FormatError& e) {
      if (e.field() != "checksum") throw;
      is.clear();
      const auto end = static_cast<long long>(is.tellg());
      if (end < 16 || static_cast<std::size_t>(end) > bytes.size()) throw;
      const auto at = static_cast<std::size_t>(end) - 8;
      std::uint64_t right = 0;
      const std::string message = e.what();
      const std::size_t computed = message.find("computed 0x");
      if (computed != std::string::npos) {
        right = std::strtoull(message.c_str() + computed + 9, nullptr, 16);
      } else {
        std::size_t start = std::string::npos;
        for (const char* magic : kBlockMagics) {
          const std::size_t found = bytes.rfind(magic, at - 8);
          if (found != std::string::npos && (start == std::string::npos || found > start)) start = found;
        }
        if (start == std::string::npos) throw;
        nn::detail::Fnv1a hash;
        hash.update(bytes.data() + start, at - start);
        right = hash.value();
      }
      const std::string before = bytes.substr(at, 8);
      store_le64(bytes, at, right);
      if (bytes.compare(at, 8, before) == 0) throw;  // no progress: give up
    }
  }
}

/// Sets every section checksum of a dataset file whose section lies inside the file, then
/// the header checksum (see the note at the top).
inline void fix_dataset_checksums(std::string& bytes) {
  using detail::DatasetHeader;
  if (bytes.size() < sizeof(DatasetHeader)) return;
  DatasetHeader h;
  std::memcpy(&h, bytes.data(), sizeof h);
  for (auto& s : h.sections) {
    if (s.offset <= bytes.size() && s.bytes <= bytes.size() - s.offset) {
      s.checksum = detail::xxh64(bytes.data() + s.offset, s.bytes);
    }
  }
  h.header_checksum = detail::header_checksum(h);
  std::memcpy(bytes.data(), &h, sizeof h);
}

/// Runs `body`, treating a thrown std::exception as the documented, accepted outcome
/// (printed when DARE_FUZZ_VERBOSE is set, to see how far the seeds get).
template <class Body>
void expect_exceptions_only(Body&& body) {
  try {
    body();
    if (std::getenv("DARE_FUZZ_VERBOSE") != nullptr) std::fprintf(stderr, "dare-fuzz: accepted\n");
  } catch (const std::exception& e) {
    if (std::getenv("DARE_FUZZ_VERBOSE") != nullptr) std::fprintf(stderr, "dare-fuzz: threw: %s\n", e.what());
  }
}

// ---- shapes shared by the harnesses and the seed generator (make_seeds.cpp) --------------

/// Two table shapes: width 3 (padded rows: stride > dim) and width 16 (stride == dim).
inline constexpr Index kTableRows = 5;
inline constexpr Index kTableDims[2] = {3, 16};

/// The small model the model harness loads into (an iteration must stay cheap).
inline ModelConfig small_model_config() {
  ModelConfig c;
  c.num_items = 6;
  c.num_cats = 3;
  c.num_times = 5;
  c.att_dim = 2;
  c.repr_dim = 3;
  c.max_len = 4;
  c.top_k = 2;
  c.hidden = {4};
  c.aux_hidden = {3};
  return c;
}
inline ModelConfig small_twin_config() {
  ModelConfig c = small_model_config();
  c.repr_dim = c.att_dim;
  return c;
}
inline ModelConfig small_din_config() {
  ModelConfig c = small_twin_config();
  c.scorer_hidden = 3;
  return c;
}
using SmallDare = Dare<float, Dynamic, Dynamic>;
using SmallTwin = Twin<float, Dynamic>;
using SmallTwinProj = TwinProj<float, Dynamic>;  // projection matrices among the parameters
using SmallDin = Din<float, Dynamic>;            // no time tables; the scorer's parameters
using SmallSdim = Sdim<float, Dynamic>;          // the hash fields of the header
using SmallTwinV2 = TwinV2<float, Dynamic>;      // scores clusters

/// The head whose parameter list the nn harnesses (parameters, nn Adam) load into.
inline nn::Mlp<float> small_mlp() {
  nn::MlpOptions o;
  o.input_batch_norm = true;
  o.name = "fuzz";
  nn::Mlp<float> mlp(4, {3}, 2, o);
  mlp.init_normal(0.1f, 7);
  return mlp;
}

/// Preprocessing options small enough that an iteration is fast: 5 clicks make a user, and
/// a 4 KiB read buffer instead of 16 MiB (allocated and zeroed twice per call).
inline PreprocessOptions small_preprocess_options() {
  PreprocessOptions o;
  o.read_buffer_bytes = 4096;
  o.min_clicks = 5;
  o.train_windows = 2;
  o.stride = 1;
  o.max_len = 3;
  o.negatives = 1;
  o.seed = 7;
  return o;
}

}  // namespace dare::fuzz

// fuzz/checkpoint_harness.hpp — the shape of every checkpoint harness.
//
// The input is a checkpoint stream. fuzz_record() repairs its checksums (fuzz_util.hpp),
// then calls `load(std::istream&)`, which loads the record into a fresh object and
// returns the bytes that object saves again. A record that loads must save back to exactly
// the bytes it was read from (the formats store every field by value), so a difference is a
// finding: the loader accepted something it does not really represent.
#pragma once

#include <istream>
#include <sstream>
#include <string>

#include "fuzz_util.hpp"

namespace dare::fuzz {

template <class Load>
void fuzz_record(const std::uint8_t* data, std::size_t size, Load&& load) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  expect_exceptions_only([&] {
    load_fixing_checksums(bytes, [&](std::istream& is) {
      const std::string saved = load(is);
      const auto consumed = static_cast<long long>(is.tellg());
      FUZZ_CHECK(consumed >= 0 && saved.size() == static_cast<std::size_t>(consumed));
      if (bytes.compare(0, saved.size(), saved) != 0) {
        std::size_t at = 0;
        while (bytes[at] == saved[at]) ++at;
        std::fprintf(stderr, "round trip: the saved record differs from the loaded one at byte %zu of %zu\n",
                     at, saved.size());
        FUZZ_CHECK(!"a loaded record saves back to the bytes it was read from");
      }
    });
  });
}

/// save(os) of `object` as a string.
template <class T>
std::string saved_bytes(const T& object) {
  std::ostringstream os;
  object.save(os);
  return os.str();
}

}  // namespace dare::fuzz

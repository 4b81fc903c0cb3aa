// dare/core/parallel.hpp — split a range of work over a few threads.
//
// Training parallelises over the samples of a batch: each worker gets one contiguous chunk
// and its own scratch state (indexed by the worker number), so workers never share a
// write. Threads are started per call: a call costs tens of microseconds, against the
// milliseconds a batch takes, and the library keeps no global pool. The calling thread runs
// chunk 0. An exception thrown by any worker is rethrown in the caller after all joined.
#pragma once

#include <algorithm>
#include <exception>
#include <thread>
#include <vector>

#include "dare/core/config.hpp"

namespace dare {

/// Calls fn(worker, begin, end) for `workers` contiguous chunks covering [0, n).
template <class Fn>
void parallel_for(int workers, Index n, Fn&& fn) {
  workers = static_cast<int>(std::clamp<Index>(workers, 1, std::max<Index>(n, 1)));
  if (workers == 1) {
    fn(0, Index{0}, n);
    return;
  }
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(workers));
  auto run = [&](int w) {
    const Index begin = n * w / workers;
    const Index end = n * (w + 1) / workers;
    try {
      fn(w, begin, end);
    } catch (...) {
      errors[static_cast<std::size_t>(w)] = std::current_exception();
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(workers - 1));
  for (int w = 1; w < workers; ++w) threads.emplace_back(run, w);
  run(0);
  for (auto& t : threads) t.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace dare

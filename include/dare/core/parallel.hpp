// dare/core/parallel.hpp — split a range of work over a few threads.
//
// Training parallelises over the samples of a batch: each worker gets one contiguous chunk
// and its own scratch state (indexed by the worker number), so workers never share a
// write. The calling thread runs chunk 0. An exception thrown by any worker is rethrown in
// the caller after all have finished.
//
// Two ways to get the threads. parallel_for(workers, n, fn) starts them for the call: a
// thread costs tens of microseconds to start, and under a hypervisor a few hundred more
// before an idle virtual CPU runs it (a 2-core Zen 4 KVM guest: a 200 x 48 by 48 x 2,048
// product took 314 us on one thread, 750 us split over two threads started for it, 190 us
// over two threads already running). That is noise against a batch's per-sample stages, which last
// milliseconds, but not against the heads' GEMMs. A WorkerPool keeps its threads: they
// wait for work spinning for kSpin (a step's next parallel region usually comes sooner),
// then asleep, and each job runs in its caller's flush-to-zero mode (denormals.hpp), as a
// started thread would inherit it. The library keeps no global pool: a model owns one.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "dare/core/config.hpp"
#include "dare/core/denormals.hpp"

namespace dare {

/// Calls fn(worker, begin, end) for `workers` contiguous chunks covering [0, n), on threads
/// started for the call.
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

/// Threads kept for repeated parallel_for calls (see the header note). Not copyable; one
/// caller at a time runs on the pool, and a caller that finds it busy (another thread's
/// call) starts threads of its own instead, so any thread may call run().
class WorkerPool {
 public:
  /// How long an idle worker spins before it sleeps.
  static constexpr std::chrono::microseconds kSpin{200};

  /// A pool that runs up to `threads` chunks at once: the caller and threads - 1 workers.
  explicit WorkerPool(int threads) {
    const int extra = std::max(threads, 1) - 1;
    workers_.reserve(static_cast<std::size_t>(extra));
    for (int w = 1; w <= extra; ++w) workers_.emplace_back([this, w] { serve(w); });
  }
  ~WorkerPool() {
    {
      std::lock_guard<std::mutex> lock(sleep_mutex_);
      stop_ = true;
    }
    generation_.fetch_add(1, std::memory_order_release);
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  int threads() const noexcept { return static_cast<int>(workers_.size()) + 1; }

  /// parallel_for(workers, n, fn) on the pool's threads (workers above threads(): started
  /// ones, as when the pool is busy).
  template <class Fn>
  void run(int workers, Index n, Fn&& fn) {
    workers = static_cast<int>(std::clamp<Index>(workers, 1, std::max<Index>(n, 1)));
    if (workers == 1) {
      fn(0, Index{0}, n);
      return;
    }
    std::unique_lock<std::mutex> busy(run_mutex_, std::try_to_lock);
    if (!busy.owns_lock() || workers > threads()) {
      parallel_for(workers, n, fn);
      return;
    }
    std::vector<std::exception_ptr> errors(static_cast<std::size_t>(workers));
    std::function<void(int)> job = [&](int w) {
      try {
        fn(w, n * w / workers, n * (w + 1) / workers);
      } catch (...) {
        errors[static_cast<std::size_t>(w)] = std::current_exception();
      }
    };
    job_ = &job;
    job_workers_ = workers;
    mode_ = denormal_mode();
    // Every worker acknowledges every job, those beyond `workers` without running it, so
    // none can still be reading this job's fields when the next one writes them.
    pending_.store(threads() - 1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(sleep_mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    job(0);
    while (pending_.load(std::memory_order_acquire) != 0) pause();
    for (auto& e : errors) {
      if (e) std::rethrow_exception(e);
    }
  }

 private:
  static void pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    std::this_thread::yield();
#endif
  }

  void serve(int w) {
    std::uint64_t seen = 0;
    for (;;) {
      // Spin for the next generation, then sleep until it comes.
      const auto until = std::chrono::steady_clock::now() + kSpin;
      std::uint64_t now = generation_.load(std::memory_order_acquire);
      while (now == seen && std::chrono::steady_clock::now() < until) {
        for (int i = 0; i < 64 && now == seen; ++i) {
          pause();
          now = generation_.load(std::memory_order_acquire);
        }
      }
      if (now == seen) {
        std::unique_lock<std::mutex> lock(sleep_mutex_);
        wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        now = generation_.load(std::memory_order_acquire);
      }
      seen = now;
      {
        std::lock_guard<std::mutex> lock(sleep_mutex_);
        if (stop_) return;
      }
      if (w < job_workers_) {
        ScopedDenormalMode mode(mode_);
        (*job_)(w);
      }
      pending_.fetch_sub(1, std::memory_order_release);
    }
  }

  std::vector<std::thread> workers_;
  std::mutex run_mutex_;    // held by the caller whose job the workers run
  std::mutex sleep_mutex_;  // guards stop_ and the sleepers' wait
  std::condition_variable wake_;
  std::atomic<std::uint64_t> generation_{0};  // one more for every job (and for stop)
  std::atomic<int> pending_{0};               // workers yet to finish (or pass) the current job
  std::function<void(int)>* job_ = nullptr;
  int job_workers_ = 0;
  unsigned mode_ = 0;
  bool stop_ = false;
};

/// pool->run(workers, n, fn), or parallel_for(workers, n, fn) when `pool` is null.
template <class Fn>
void parallel_for(WorkerPool* pool, int workers, Index n, Fn&& fn) {
  if (pool != nullptr) {
    pool->run(workers, n, fn);
  } else {
    parallel_for(workers, n, fn);
  }
}

}  // namespace dare

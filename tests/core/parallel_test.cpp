#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "dare/core/denormals.hpp"
#include "dare/core/parallel.hpp"

using dare::Index;

namespace {

// Runs `pool` (or started threads, when null) over n items `rounds` times and checks that
// every item was visited once per round, by the chunk the documented split gives it.
void check_chunks(dare::WorkerPool* pool, int workers, Index n, int rounds) {
  std::vector<std::atomic<int>> visits(static_cast<std::size_t>(n));
  for (auto& v : visits) v = 0;
  const int used = static_cast<int>(std::min<Index>(std::max(workers, 1), std::max<Index>(n, 1)));
  std::atomic<int> bad_chunk{0};
  for (int r = 0; r < rounds; ++r) {
    dare::parallel_for(pool, workers, n, [&](int w, Index begin, Index end) {
      if (begin != n * w / used || end != n * (w + 1) / used) ++bad_chunk;
      for (Index i = begin; i < end; ++i) ++visits[static_cast<std::size_t>(i)];
    });
  }
  CHECK(bad_chunk == 0);
  for (Index i = 0; i < n; ++i) CHECK(visits[static_cast<std::size_t>(i)] == rounds);
}

}  // namespace

TEST_CASE("a worker pool runs every chunk once per call, call after call", "[core][parallel]") {
  dare::WorkerPool pool(3);
  CHECK(pool.threads() == 3);
  check_chunks(&pool, 3, 1000, 500);  // the workers spinning between calls
  check_chunks(&pool, 2, 7, 50);      // fewer workers than the pool has
  check_chunks(&pool, 3, 2, 50);      // fewer items than workers
  check_chunks(&pool, 5, 100, 20);    // more workers than the pool has: started threads
  check_chunks(nullptr, 3, 100, 20);  // no pool
  // After the workers have gone to sleep.
  std::this_thread::sleep_for(dare::WorkerPool::kSpin * 20);
  check_chunks(&pool, 3, 1000, 3);
}

TEST_CASE("a worker pool rethrows a worker's exception and keeps working", "[core][parallel]") {
  dare::WorkerPool pool(2);
  CHECK_THROWS_WITH(pool.run(2, 10, [](int w, Index, Index) {
                      if (w == 1) throw std::runtime_error("worker 1 failed");
                    }),
                    "worker 1 failed");
  check_chunks(&pool, 2, 10, 10);
}

TEST_CASE("a worker pool's jobs run in the caller's flush-to-zero mode", "[core][parallel]") {
  dare::WorkerPool pool(2);  // created with the mode off
  std::vector<unsigned> seen(2);
  {
    dare::ScopedFlushDenormals flush;
    pool.run(2, 2, [&](int w, Index, Index) { seen[static_cast<std::size_t>(w)] = dare::denormal_mode(); });
    CHECK(seen[1] == dare::denormal_mode());
  }
  pool.run(2, 2, [&](int w, Index, Index) { seen[static_cast<std::size_t>(w)] = dare::denormal_mode(); });
  CHECK(seen[1] == dare::denormal_mode());
}

TEST_CASE("two threads may run on one worker pool at once", "[core][parallel]") {
  // One of them gets the pool, the other starts threads; each counts its own visits (Catch's
  // assertions belong to the main thread).
  dare::WorkerPool pool(2);
  const auto count = [&pool](std::vector<int>& visits) {
    for (int r = 0; r < 200; ++r) {
      pool.run(2, static_cast<Index>(visits.size()), [&](int, Index begin, Index end) {
        for (Index i = begin; i < end; ++i) ++visits[static_cast<std::size_t>(i)];
      });
    }
  };
  std::vector<int> mine(500, 0), theirs(500, 0);
  std::thread other([&] { count(theirs); });
  count(mine);
  other.join();
  for (std::size_t i = 0; i < mine.size(); ++i) {
    CHECK(mine[i] == 200);
    CHECK(theirs[i] == 200);
  }
}

// dare_gen — writes a synthetic raw Taobao or Tmall log (see dare/data/synthetic.hpp).
//
//   dare_gen --format taobao --users 3000 --out data/synthetic/UserBehavior.csv --seed 1
//   dare_gen --format taobao --users 1000000 --mean-length 100 --items 4000000
//               --categories 9400 --out big.csv   (about the real Taobao size)
#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>

#include "dare/data/synthetic.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Generate a synthetic raw behaviour log in the Taobao or Tmall format"};
  dare::SyntheticOptions o;
  std::string format = "taobao";
  std::string out;
  app.add_option("--format", format, "taobao (UserBehavior.csv) or tmall (user_log_format1.csv)")
      ->check(CLI::IsMember({"taobao", "tmall"}))
      ->capture_default_str();
  app.add_option("--out", out, "output path")->required();
  app.add_option("--seed", o.seed, "random seed")->capture_default_str();
  app.add_option("--users", o.users, "number of users")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--items", o.items, "number of items")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--categories", o.categories, "number of categories")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--cluster-size", o.cluster_size, "categories per cluster of related categories")
      ->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--mean-length", o.mean_length, "mean clicks per user")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--length-spread", o.length_spread, "sigma of the log-normal user length")->capture_default_str();
  app.add_option("--min-length", o.min_length, "shortest user")->capture_default_str();
  app.add_option("--max-length", o.max_length, "longest user")->capture_default_str();
  app.add_option("--session-mean", o.session_mean, "mean clicks per session")->capture_default_str();
  app.add_option("--return-old-interest", o.return_old_interest,
                 "probability a session resumes a category from >= 50 clicks ago")->capture_default_str();
  app.add_option("--revisit-recent", o.revisit_recent, "per-click probability of re-visiting a recent item")
      ->capture_default_str();
  app.add_option("--revisit-old", o.revisit_old, "per-click probability of re-visiting an old item")
      ->capture_default_str();
  app.add_option("--other-behavior-rate", o.other_behavior_rate, "non-click rows per click")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    o.format = dare::parse_raw_format(format, "--format");
    const dare::SyntheticLogGenerator generator(o);
    const dare::SyntheticStats stats = generator.write(out);
    std::printf("wrote %s: %lld users, %lld rows (%lld clicks), %.1f MB in %.2f s (%.2f M rows/s)\n",
                out.c_str(), stats.users, stats.rows, stats.clicks, static_cast<double>(stats.bytes) / 1e6,
                stats.seconds, static_cast<double>(stats.rows) / 1e6 / stats.seconds);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dare_gen: %s\n", e.what());
    return 1;
  }
  return 0;
}

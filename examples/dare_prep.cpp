// dare_prep — runs the DARE data protocol on a raw log and writes the dataset file that
// training memory-maps (see dare/data/preprocess.hpp and dare/data/dataset.hpp).
//
//   dare_prep --input data/taobao/UserBehavior.csv --out data/taobao.dare
//   dare_prep --format tmall --input user_log_format1.csv --out tmall.dare --quiet
//   dare_prep --input UserBehavior.csv --out taobao_twinv2.dare --cluster-max-size 10
//
// The dataset records its vocabulary (the raw id of every dense id) and its provenance (this
// run's format and options, the log's size and XXH64), which dare_train checks.
#include <sys/resource.h>

#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>

#include "dare/core/file_io.hpp"
#include "dare/data/preprocess.hpp"
#include "tool_checks.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Preprocess a raw Taobao or Tmall log into a dare dataset file"};
  dare::PreprocessOptions o;
  std::string format = "taobao";
  std::string input;
  std::string out;
  bool reference_last_category = false;
  bool keep_short_dates = false;
  bool quiet = false;
  app.add_option("--format", format, "taobao (UserBehavior.csv) or tmall (user_log_format1.csv)")
      ->check(CLI::IsMember({"taobao", "tmall"}))
      ->capture_default_str();
  app.add_option("--input", input, "raw log")->required()->check(CLI::ExistingFile);
  app.add_option("--out", out, "dataset file to write")->required();
  app.add_flag("--skip-malformed", o.skip_malformed, "skip (and count) malformed rows instead of failing");
  using dare_tools::whole_number;
  app.add_option("--seed", o.seed, "seed of negative sampling and the training shuffle")
      ->check(dare_tools::unsigned_whole_number(0, 18446744073709551615ULL))->capture_default_str();
  app.add_option("--min-clicks", o.min_clicks, "users with fewer clicks are dropped")
      ->check(whole_number(1, 4294967295LL))->capture_default_str();
  app.add_option("--max-len", o.max_len, "history window length")
      ->check(whole_number(1, dare::kMaxHistoryLength))->capture_default_str();
  app.add_option("--negatives", o.negatives, "negatives per positive (AUC needs at least one)")
      ->check(whole_number(1, dare::kMaxNegatives))->capture_default_str();
  app.add_option("--train-windows", o.train_windows, "training targets per user")
      ->check(whole_number(1, 100000))->capture_default_str();
  app.add_option("--stride", o.stride, "distance between training targets")
      ->check(whole_number(1, 4294967295LL))->capture_default_str();
  app.add_option("--cluster-max-size", o.cluster_max_size,
                 "TWIN-V2: cluster each user's history (by category, then k-means) into clusters of at most this "
                 "many clicks and store the cluster ids (0: no clustering; 10 is the measured suggestion, docs/design.md §2)")
      ->check(whole_number(0, 4294967295LL))->capture_default_str();
  app.add_flag("--last-seen-category", reference_last_category,
               "negatives carry the category of the item's last click (the reference script's dict) "
               "instead of its first");
  app.add_flag("--keep-short-dates", keep_short_dates,
               "tmall: keep clicks whose time_stamp is not 4 characters (the reference drops them)");
  app.add_flag("--quiet", quiet, "print nothing but errors");
  CLI11_PARSE(app, argc, argv);

  try {
    if (reference_last_category) o.negative_category = dare::ItemCategoryRule::last_seen;
    o.tmall_four_digit_dates_only = !keep_short_dates;
    dare::check_output_path(out, "--out", {{input, "--input"}});
    if (dare::looks_like_dare_file(input)) {
      throw std::invalid_argument("--input '" + input + "' begins with DARE: it is a file dare wrote (a dataset or "
                                  "checkpoint), not a raw log; dare_train reads datasets directly");
    }
    const dare::PreprocessSummary s =
        dare::preprocess_to_file(input, dare::parse_raw_format(format, "--format"), out, o);
    if (quiet) return 0;
    std::fputs(dare::describe(s).c_str(), stdout);
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    std::printf("throughput         %.2f M rows/s, %.0f MB/s\n",
                static_cast<double>(s.rows_read) / 1e6 / s.seconds,
                static_cast<double>(s.bytes_read) / 1e6 / s.seconds);
    std::printf("peak RSS           %.1f MB\n", static_cast<double>(usage.ru_maxrss) / 1024.0);
    std::printf("wrote              %s\n", out.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dare_prep: %s\n", e.what());
    return 1;
  }
  return 0;
}

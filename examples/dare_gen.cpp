// dare_gen — writes a synthetic raw Taobao or Tmall log (see dare/data/synthetic.hpp) and
// prints what its histories say about the next click (SyntheticProfile).
//
//   dare_gen --format taobao --users 3000 --out data/synthetic/UserBehavior.csv --seed 1
//   dare_gen --format taobao --users 1000000 --mean-length 100 --items 4000000
//               --categories 9400 --out big.csv   (about the real Taobao size)
#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>

#include "dare/core/file_io.hpp"
#include "dare/data/synthetic.hpp"
#include "tool_checks.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Generate a synthetic raw behaviour log in the Taobao or Tmall format"};
  dare::SyntheticOptions o;
  std::string format = "taobao";
  std::string out;
  dare::Index profile_users = 5000;
  app.add_option("--format", format, "taobao (UserBehavior.csv) or tmall (user_log_format1.csv)")
      ->check(CLI::IsMember({"taobao", "tmall"}))
      ->capture_default_str();
  app.add_option("--out", out, "output path")->required();
  app.add_option("--seed", o.seed, "random seed")->capture_default_str();
  using dare_tools::whole_number;
  app.add_option("--users", o.users, "number of users")->check(whole_number(1, 100000000))->capture_default_str();
  app.add_option("--items", o.items, "number of items")->check(whole_number(1, 2000000000))->capture_default_str();
  app.add_option("--categories", o.categories, "number of categories")
      ->check(whole_number(1, 100000000))->capture_default_str();
  app.add_option("--cluster-size", o.cluster_size, "categories per cluster of related categories")
      ->check(whole_number(1, 100000))->capture_default_str();
  app.add_option("--mean-length", o.mean_length, "mean clicks per user")
      ->check(dare_tools::number(1, 1e6))->capture_default_str();
  app.add_option("--length-spread", o.length_spread, "sigma of the log-normal user length")->capture_default_str();
  app.add_option("--min-length", o.min_length, "shortest user")->capture_default_str();
  app.add_option("--max-length", o.max_length, "longest user")->capture_default_str();
  app.add_option("--category-zipf", o.category_zipf, "Zipf exponent of category popularity")->capture_default_str();
  app.add_option("--item-zipf", o.item_zipf, "Zipf exponent of item popularity within a category")
      ->capture_default_str();
  app.add_option("--interest-zipf", o.interest_zipf, "Zipf exponent of the interests' home categories")
      ->capture_default_str();
  app.add_option("--min-interests", o.min_interests, "fewest long-term interests per user")->capture_default_str();
  app.add_option("--max-interests", o.max_interests, "most long-term interests per user")->capture_default_str();
  app.add_option("--session-mean", o.session_mean, "mean clicks per interest session")->capture_default_str();
  app.add_option("--home-share", o.home_share,
                 "probability an interest session starts on the interest's home category (else a related one)")
      ->capture_default_str();
  app.add_option("--related-switch", o.related_switch,
                 "per-click probability of stepping to a related category of the interest's cluster")
      ->capture_default_str();
  app.add_option("--noise-session", o.noise_session,
                 "per-session probability of a short browse of an unrelated popular category")->capture_default_str();
  app.add_option("--noise-mean", o.noise_mean, "mean clicks per noise session")->capture_default_str();
  app.add_option("--distraction", o.distraction,
                 "per-click probability of an interleaved unrelated click inside an interest session")
      ->capture_default_str();
  app.add_option("--interest-fade", o.interest_fade, "per-session probability an active interest goes dormant")
      ->capture_default_str();
  app.add_option("--interest-wake", o.interest_wake, "per-session probability a dormant interest re-activates")
      ->capture_default_str();
  app.add_option("--interest-drift", o.interest_drift, "per-session probability an interest is replaced")
      ->capture_default_str();
  app.add_option("--revisit-recent", o.revisit_recent, "per-click probability of re-visiting a recent item of the interest")
      ->capture_default_str();
  app.add_option("--revisit-old", o.revisit_old, "per-click probability of re-visiting an old item of the interest")
      ->capture_default_str();
  app.add_option("--other-behavior-rate", o.other_behavior_rate, "non-click rows per click")->capture_default_str();
  app.add_option("--profile-users", profile_users, "users measured for the profile (0: no profile)")
      ->check(whole_number(0, 100000000))->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    dare::check_output_path(out, "--out");
    o.format = dare::parse_raw_format(format, "--format");
    const dare::SyntheticLogGenerator generator(o);
    const dare::SyntheticStats stats = generator.write(out);
    std::printf("wrote %s: %lld users, %lld rows (%lld clicks), %.1f MB in %.2f s (%.2f M rows/s)\n",
                out.c_str(), stats.users, stats.rows, stats.clicks, static_cast<double>(stats.bytes) / 1e6,
                stats.seconds, static_cast<double>(stats.rows) / 1e6 / stats.seconds);
    if (profile_users > 0) {
      const dare::SyntheticProfile p = generator.profile(profile_users);
      std::printf("profile over %lld users with 210+ clicks, %lld targets (one popularity negative each):\n",
                  p.users, p.targets);
      std::printf("  noise clicks %.1f%% of all, %.1f%% of targets\n", 100 * p.noise_clicks, 100 * p.pos_noise);
      std::printf("  %-44s %8s %8s\n", "", "positive", "negative");
      std::printf("  %-44s %7.1f%% %7.1f%%\n", "target category in the last 200 clicks", 100 * p.pos_cat_200,
                  100 * p.neg_cat_200);
      std::printf("  %-44s %7.1f%% %7.1f%%\n", "  ... in the last 20", 100 * p.pos_cat_20, 100 * p.neg_cat_20);
      std::printf("  %-44s %7.1f%% %7.1f%%\n", "  ... only 21-200 clicks back", 100 * p.pos_cat_old,
                  100 * p.neg_cat_old);
      std::printf("  %-44s %7.1f%% %7.1f%%\n", "only a related category in the last 200", 100 * p.pos_related_only,
                  100 * p.neg_related_only);
      std::printf("  %-44s %7.1f%% %7.1f%%\n", "target item in the last 200 (only 21+ back)", 100 * p.pos_item_200,
                  100 * p.pos_item_old);
      std::printf("  last 20 clicks unrelated to the positive's category: %.1f%%\n", 100 * p.recent_unrelated);
      std::printf("  lift of a same-category click at distance 1-5 %.1f, 6-20 %.1f, 21-50 %.1f, 51-100 %.1f, 101-200 %.1f\n",
                  p.lift[0], p.lift[1], p.lift[2], p.lift[3], p.lift[4]);
      std::printf("  AUC of a category/item count over the last 20 clicks %.4f, over all 200 %.4f\n", p.auc_recent,
                  p.auc_window);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dare_gen: %s\n", e.what());
    return 1;
  }
  return 0;
}

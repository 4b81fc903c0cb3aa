// dare_analyze retrieval — how well each model's search finds the behaviours that matter
// (the paper's attention accuracy analysis; dare/analysis/retrieval.hpp has the definitions).
//
//   dare_analyze retrieval --input LOG_OR_DATASET --model-file A.dare --model-file B.dare ...
//       [--synthetic-seed S] [--out ndcg.csv] [--maps-out maps.csv]
//
// The ground truth is the mutual information of (target category, behaviour category, time
// id) with the click, counted over the input's training samples; with --synthetic-seed the
// input is dare_gen's log of that seed (default options) and the generator's own truths are
// scored too (the clicks of the target's interest; the relatedness of categories). Every
// model is scored on the test samples two ways: its learned correlation (category and time
// attention rows, as the reference's analysis reads them) and its whole search (the K
// positions it keeps, items included). The models must have been trained on the input's
// vocabulary (the same log).
#include <cmath>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "analyze/commands.hpp"
#include "dare/analysis/retrieval.hpp"
#include "model_use.hpp"
#include "tool_checks.hpp"

namespace dare_analyze {
namespace {

struct RetrievalArgs {
  std::string input;
  std::vector<std::string> models;
  std::string out, maps_out;
  std::uint64_t synthetic_seed = 0;
  bool synthetic = false;
  dare::Index top = 20;
  dare::MiFilter filter;
  dare::Index map_targets = 10, map_positions = 10;
  int threads = 2;
  bool quiet = false;
};

// The truths, in the order of the output's columns.
enum Truth : int { kMi = 0, kInterest = 1, kRelated = 2, kTruths = 3 };
constexpr const char* kTruthName[kTruths] = {"mi", "interest", "related"};
// The two retrievals of a model.
enum Retrieval : int { kCorrelation = 0, kSearch = 1, kRetrievals = 2 };
constexpr const char* kRetrievalName[kRetrievals] = {"correlation", "search"};

// Every test sample's gains under each truth, made once for all the models.
struct TruthGains {
  dare::Index L = 0;
  std::vector<double> gain[kTruths];
  std::vector<std::uint8_t> use[kTruths];
  long long used[kTruths] = {0, 0, 0};
  const double* row(int truth, dare::Index i) const { return gain[truth].data() + i * L; }
};

TruthGains make_gains(const dare::Dataset& data, const dare::ClickCooccurrence& counts,
                      const dare::SyntheticClickTruth* synthetic, const dare::MiFilter& filter) {
  const auto test = data.test();
  TruthGains g;
  g.L = data.max_len();
  const auto n = static_cast<std::size_t>(test.size());
  for (int t = 0; t < kTruths; ++t) {
    g.gain[t].assign(n * static_cast<std::size_t>(g.L), 0.0);
    g.use[t].assign(n, 0);
  }
  dare::Batch batch;
  for (dare::Index i = 0; i < test.size(); ++i) {
    dare::fill_batch(data, test.data() + i, nullptr, 1, batch);
    const dare::Sample& s = test[i];
    double* mi = g.gain[kMi].data() + i * g.L;
    g.use[kMi][static_cast<std::size_t>(i)] =
        dare::mi_gains(counts, s.cat, batch.hist_item_row(0), batch.hist_cat_row(0), filter, mi);
    if (synthetic != nullptr) {
      synthetic->interest_gains(s, g.L, g.gain[kInterest].data() + i * g.L);
      synthetic->relatedness_gains(s.cat, batch.hist_item_row(0), batch.hist_cat_row(0), g.L,
                                   g.gain[kRelated].data() + i * g.L);
      g.use[kInterest][static_cast<std::size_t>(i)] = g.use[kRelated][static_cast<std::size_t>(i)] = 1;
    }
    for (int t = 0; t < kTruths; ++t) g.used[t] += g.use[t][static_cast<std::size_t>(i)];
  }
  return g;
}

struct ModelResult {
  std::string file, kind;
  bool has_correlation = false, has_search = false;
  std::vector<dare::NdcgCurve> curve;  // truth-major, then retrieval
  dare::NdcgCurve& at(int truth, int retrieval) { return curve[static_cast<std::size_t>(truth * kRetrievals + retrieval)]; }
  const dare::NdcgCurve& at(int truth, int retrieval) const {
    return curve[static_cast<std::size_t>(truth * kRetrievals + retrieval)];
  }
};

ModelResult score_model(dare_tools::LoadedModel& model, const dare::Dataset& data, const TruthGains& gains,
                        dare::Index top) {
  ModelResult r;
  r.curve.assign(kTruths * kRetrievals, dare::NdcgCurve(top));
  const auto test = data.test();
  const dare::Index L = data.max_len();
  std::vector<dare::Id> times(static_cast<std::size_t>(L));
  for (dare::Index j = 0; j < L; ++j) times[static_cast<std::size_t>(j)] = dare::history_time_id(j, L);
  std::vector<float> corr(static_cast<std::size_t>(L));
  std::vector<double> score(corr.size());
  std::vector<std::uint8_t> valid(corr.size());
  std::vector<dare::Index> searched, order;
  std::vector<int> labels;
  dare::Batch batch;
  constexpr dare::Index kChunk = 512;
  for (dare::Index begin = 0; begin < test.size(); begin += kChunk) {
    const dare::Index n = std::min(kChunk, test.size() - begin);
    // A batch of one is given twice: a model normalising with each batch's statistics needs two.
    order.clear();
    for (dare::Index i = 0; i < n; ++i) order.push_back(begin + i);
    if (n == 1) order.push_back(begin);
    dare::fill_batch(data, test, order.data(), static_cast<dare::Index>(order.size()), batch);
    labels.assign(batch.label.size(), 0);
    for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = batch.label[i] > 0.5f;
    const dare::Index K = model.search(dare::sequence_batch(batch, labels.data()), searched);
    r.has_search = K > 0;
    for (dare::Index b = 0; b < n; ++b) {
      const dare::Index i = begin + b;
      const dare::ConstSpan<dare::Index> search_rank(searched.data() + b * K, K);
      std::vector<dare::Index> corr_rank;
      const dare::Id* cats = batch.hist_cat_row(b);
      r.has_correlation = model.correlation(test[i].cat, cats, times.data(), L, corr.data());
      if (r.has_correlation) {
        for (dare::Index j = 0; j < L; ++j) {
          score[static_cast<std::size_t>(j)] = corr[static_cast<std::size_t>(j)];
          valid[static_cast<std::size_t>(j)] = batch.hist_item_row(b)[j] != 0;
        }
        corr_rank = dare::top_positions(score.data(), valid.data(), L, top);
      }
      for (int t = 0; t < kTruths; ++t) {
        if (!gains.use[t][static_cast<std::size_t>(i)]) continue;
        const dare::ConstSpan<double> g(gains.row(t, i), L);
        if (r.has_search) r.at(t, kSearch).add(g, search_rank, top);
        // Without a learned correlation the reference ranks by the model's search logits.
        if (r.has_correlation) {
          r.at(t, kCorrelation).add(g, dare::ConstSpan<dare::Index>(corr_rank.data(), static_cast<dare::Index>(corr_rank.size())), top);
        } else if (r.has_search) {
          r.at(t, kCorrelation).add(g, search_rank, top);
        }
      }
    }
  }
  return r;
}

// Two rules beside the models, to read their NDCG against: the `top` most recent behaviours
// (what a search dominated by its time term keeps), and the target's category first, most
// recent first, then the rest by recency (TWIN's hard search, filled up to `top`).
enum class Rule { Recent, SameCategory };

ModelResult score_rule(Rule rule, const dare::Dataset& data, const TruthGains& gains, dare::Index top) {
  ModelResult r;
  r.kind = rule == Rule::Recent ? "recent" : "same-cat";
  r.file = rule == Rule::Recent ? "rule:most-recent" : "rule:target-category-then-most-recent";  // no commas: a CSV field
  r.has_search = true;
  r.curve.assign(kTruths * kRetrievals, dare::NdcgCurve(top));
  const auto test = data.test();
  const dare::Index L = data.max_len();
  std::vector<double> score(static_cast<std::size_t>(L));
  std::vector<std::uint8_t> valid(score.size());
  dare::Batch batch;
  for (dare::Index i = 0; i < test.size(); ++i) {
    dare::fill_batch(data, test.data() + i, nullptr, 1, batch);
    for (dare::Index j = 0; j < L; ++j) {
      const bool same = batch.hist_cat_row(0)[j] == test[i].cat;
      score[static_cast<std::size_t>(j)] = static_cast<double>(j) + (rule == Rule::SameCategory && same ? L : 0);
      valid[static_cast<std::size_t>(j)] = batch.hist_item_row(0)[j] != 0;
    }
    const std::vector<dare::Index> rank = dare::top_positions(score.data(), valid.data(), L, top);
    const dare::ConstSpan<dare::Index> ranked(rank.data(), static_cast<dare::Index>(rank.size()));
    for (int t = 0; t < kTruths; ++t) {
      if (!gains.use[t][static_cast<std::size_t>(i)]) continue;
      const dare::ConstSpan<double> g(gains.row(t, i), L);
      r.at(t, kSearch).add(g, ranked, top);
      r.at(t, kCorrelation).add(g, ranked, top);
    }
  }
  return r;
}

std::string number(double x) {
  if (std::isnan(x)) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", x);
  return buf;
}

void run(const RetrievalArgs& a) {
  std::vector<dare::NamedPath> inputs = {{a.input, "--input"}};
  for (const auto& m : a.models) inputs.push_back({m, "--model-file"});
  if (!a.out.empty()) dare::check_output_path(a.out, "--out", inputs);
  if (!a.maps_out.empty()) dare::check_output_path(a.maps_out, "--maps-out", inputs);
  if (!a.out.empty() && a.out == a.maps_out) throw std::invalid_argument("--out and --maps-out name the same file");

  std::vector<dare::ModelFileInfo> infos;
  for (const auto& m : a.models) infos.push_back(dare::read_model_file_info(m));
  dare_tools::ModelInput in(a.input, infos.front(), a.quiet);
  const dare::Dataset& data = in.data();
  for (std::size_t m = 0; m < infos.size(); ++m) {
    if (!dare_tools::IdTranslation(infos[m], data).identity()) {
      throw dare::FormatError(a.models[m], 0, "vocabulary",
                              "the model was trained on another vocabulary than --input's (the retrieval analysis "
                              "compares the models on the log they were trained on)");
    }
  }
  if (data.test().size() == 0) throw dare::FormatError(a.input, 0, "test", "the input has no test samples");
  if (a.map_positions > data.max_len()) {
    throw std::invalid_argument(dare::detail::concat("--map-positions ", a.map_positions, " exceeds the input's window, ",
                                                     data.max_len()));
  }

  const dare::ClickCooccurrence counts = dare::ClickCooccurrence::count(data, data.train());
  std::unique_ptr<dare::SyntheticClickTruth> synthetic;
  if (a.synthetic) {
    dare::SyntheticOptions o;
    o.seed = a.synthetic_seed;
    synthetic = std::make_unique<dare::SyntheticClickTruth>(o, data, a.input);
  }
  const TruthGains gains = make_gains(data, counts, synthetic.get(), a.filter);
  std::printf("retrieval: %lld test samples; MI truth from %lld training samples, kept for %lld (target category "
              "with >= %llu training samples, <= %lld cells thinner than %llu)\n",
              static_cast<long long>(data.test().size()), static_cast<long long>(data.train().size()),
              gains.used[kMi], static_cast<unsigned long long>(a.filter.min_target_samples),
              static_cast<long long>(a.filter.max_thin_cells), static_cast<unsigned long long>(a.filter.min_cell_count));

  std::vector<ModelResult> results;
  const std::vector<dare::Id> map_cats = counts.most_common_targets(a.map_targets);
  std::ostringstream maps;
  maps << "source,file,target_rank,target_cat,behaviour_cat,position,value\n";
  for (std::size_t r = 0; r < map_cats.size(); ++r) {
    for (const dare::Id c : map_cats) {
      for (dare::Index p = 1; p <= a.map_positions; ++p) {
        maps << "mi,," << r << ',' << map_cats[r] << ',' << c << ',' << p << ','
             << number(counts.mutual_information(map_cats[r], c, p)) << '\n';
      }
    }
  }
  for (std::size_t m = 0; m < a.models.size(); ++m) {
    if (!a.quiet) std::fprintf(stderr, "scoring %s ...\n", a.models[m].c_str());
    const auto model = dare_tools::load_model(infos[m], a.models[m], data, a.threads);
    ModelResult res = score_model(*model, data, gains, a.top);
    res.file = a.models[m];
    res.kind = infos[m].kind();
    std::vector<float> corr(static_cast<std::size_t>(a.map_positions));
    std::vector<dare::Id> cats(corr.size()), times(corr.size());
    for (dare::Index p = 1; p <= a.map_positions; ++p) times[static_cast<std::size_t>(p - 1)] = static_cast<dare::Id>(p);
    for (std::size_t r = 0; r < map_cats.size() && res.has_correlation; ++r) {
      for (const dare::Id c : map_cats) {
        std::fill(cats.begin(), cats.end(), c);
        model->correlation(map_cats[r], cats.data(), times.data(), a.map_positions, corr.data());
        for (dare::Index p = 1; p <= a.map_positions; ++p) {
          maps << res.kind << ',' << res.file << ',' << r << ',' << map_cats[r] << ',' << c << ',' << p << ','
               << number(corr[static_cast<std::size_t>(p - 1)]) << '\n';
        }
      }
    }
    results.push_back(std::move(res));
  }

  results.push_back(score_rule(Rule::Recent, data, gains, a.top));
  results.push_back(score_rule(Rule::SameCategory, data, gains, a.top));

  const int truths = synthetic ? kTruths : 1;
  std::printf("NDCG@%lld of each model's retrieval against each truth's top %lld (correlation: the category and time "
              "attention rows; search: the model's own top K)\n",
              static_cast<long long>(a.top), static_cast<long long>(a.top));
  std::printf("%-10s", "model");
  for (int t = 0; t < truths; ++t) std::printf("  %9s-corr %9s-srch", kTruthName[t], kTruthName[t]);
  std::printf("  file\n");
  for (const ModelResult& r : results) {
    std::printf("%-10s", r.kind.c_str());
    for (int t = 0; t < truths; ++t) {
      for (int q = 0; q < kRetrievals; ++q) {
        const double v = r.at(t, q).at(a.top);
        if (std::isnan(v)) {
          std::printf("  %14s", "n/a");
        } else {
          std::printf("  %13.4f%s", v, q == kCorrelation && !r.has_correlation ? "*" : " ");
        }
      }
    }
    std::printf("  %s\n", r.file.c_str());
  }
  std::printf("samples scored:");
  for (int t = 0; t < truths; ++t) {
    std::printf(" %s %lld", kTruthName[t], results.empty() ? 0LL : results.front().at(t, kSearch).samples());
  }
  std::printf("\n* no learned correlation (DIN's logit is an MLP): ranked by the model's search logits, as the reference does\n"
              "recent, same-cat: rules, not models (the %lld most recent behaviours; the target's category first)\n",
              static_cast<long long>(a.top));

  if (!a.out.empty()) {
    std::ostringstream csv;
    csv << "model,file,truth,retrieval,k,ndcg,samples\n";
    for (const ModelResult& r : results) {
      for (int t = 0; t < truths; ++t) {
        for (int q = 0; q < kRetrievals; ++q) {
          const dare::NdcgCurve& c = r.at(t, q);
          for (dare::Index k = 1; k <= c.k(); ++k) {
            csv << r.kind << ',' << r.file << ',' << kTruthName[t] << ',' << kRetrievalName[q] << ',' << k << ','
                << number(c.at(k)) << ',' << c.samples() << '\n';
          }
        }
      }
    }
    dare::write_text_file_atomically(a.out, csv.str(), "--out file");
  }
  if (!a.maps_out.empty()) dare::write_text_file_atomically(a.maps_out, maps.str(), "--maps-out file");
}

}  // namespace

void add_retrieval(CLI::App& app) {
  auto a = std::make_shared<RetrievalArgs>();
  CLI::App* sub = app.add_subcommand(
      "retrieval", "NDCG of each model's search against the ground-truth relevance of history behaviours");
  using dare_tools::whole_number;
  sub->add_option("--input", a->input, "raw log (preprocessed as the first model's data was) or dataset file")
      ->required()->check(CLI::ExistingFile);
  sub->add_option("--model-file", a->models, "model file written by dare_train --checkpoint (repeat for each model)")
      ->required()->check(CLI::ExistingFile);
  sub->add_option("--synthetic-seed", a->synthetic_seed,
                  "the input is dare_gen's log of this seed (default options): score the generator's truths too")
      ->check(dare_tools::unsigned_whole_number(0, ~std::uint64_t{0}));
  sub->add_option("--out", a->out, "write every NDCG@k curve as CSV to this file");
  sub->add_option("--maps-out", a->maps_out,
                  "write the MI and learned correlation maps (most common target categories x categories x "
                  "positions) as CSV to this file");
  sub->add_option("--top", a->top, "retrieved and ideal behaviours per target")
      ->check(whole_number(1, 1000))->capture_default_str();
  sub->add_option("--min-target-samples", a->filter.min_target_samples,
                  "the MI truth needs this many training samples of the target's category")
      ->check(whole_number(0, 1LL << 40))->capture_default_str();
  sub->add_option("--min-cell-count", a->filter.min_cell_count,
                  "a window cell with fewer positive or negative training samples is thin")
      ->check(whole_number(0, 1LL << 40))->capture_default_str();
  sub->add_option("--max-thin-cells", a->filter.max_thin_cells, "the MI truth skips a window with more thin cells")
      ->check(whole_number(0, dare::kMaxHistoryLength))->capture_default_str();
  sub->add_option("--map-targets", a->map_targets, "target (and behaviour) categories of the maps")
      ->check(whole_number(1, 1000))->capture_default_str();
  sub->add_option("--map-positions", a->map_positions, "positions of the maps")
      ->check(whole_number(1, dare::kMaxHistoryLength))->capture_default_str();
  sub->add_option("--threads", a->threads, "worker threads")->check(whole_number(1, 1024))->capture_default_str();
  sub->add_flag("--quiet", a->quiet, "no progress output");
  sub->callback([a, sub] {
    a->synthetic = sub->count("--synthetic-seed") > 0;
    run(*a);
  });
}

}  // namespace dare_analyze

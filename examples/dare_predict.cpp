// dare_predict — click probabilities of a model file for every sample of a log or a
// dataset, as CSV: split, raw user id, raw item id, raw category id, label, probability.
//
//   dare_predict --model model.dare --input new_log.csv --out predictions.csv
//   dare_predict --model model.dare --input data.dare --split test
//
// A raw log is preprocessed as the model's data was (the protocol's samples: training
// windows, validation and test targets, with sampled negatives); ids are translated through
// the model's vocabulary, and ids it lacks follow the rule in examples/model_use.hpp: they are
// counted in the summary on stderr, never dropped silently. Probabilities use the model's
// inference statistics (with batch statistics, in chunks of its training evaluation's size).
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "dare/dare.hpp"
#include "model_use.hpp"
#include "tool_checks.hpp"

int main(int argc, char** argv) {
  std::string model_path, input, out, which = "all";
  int threads = 2;
  bool quiet = false;
  CLI::App app{"Click probabilities of a dare model file for every sample of a log"};
  app.add_option("--model", model_path, "model file written by dare_train --checkpoint")->required()->check(CLI::ExistingFile);
  app.add_option("--input", input, "raw log (preprocessed as the model's data was) or dataset file")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--out", out, "CSV file to write (default: standard output)");
  app.add_option("--split", which, "samples to score: all, train, val or test")
      ->check(CLI::IsMember({"all", "train", "val", "test"}))
      ->capture_default_str();
  app.add_option("--threads", threads, "worker threads")->check(dare_tools::whole_number(1, 1024))->capture_default_str();
  app.add_flag("--quiet", quiet, "no summary on stderr");
  CLI11_PARSE(app, argc, argv);
  try {
    const dare::ModelFileInfo info = dare::read_model_file_info(model_path);
    if (!out.empty()) dare::check_output_path(out, "--out", {{model_path, "--model"}, {input, "--input"}});
    dare_tools::ModelInput in(input, info, quiet);
    const dare::Dataset& data = in.data();
    dare_tools::IdTranslation translate(info, data);
    const auto raw_users = data.raw_user_ids();
    const auto raw_items = data.raw_item_ids();
    const auto raw_cats = data.raw_cat_ids();
    // Rows stream to a temporary renamed over --out at the end (or straight to stdout).
    std::optional<dare::AtomicFile> file;
    if (!out.empty()) file.emplace(out, "--out file");
    std::ostream& os = file ? file->stream() : std::cout;
    os << "split,user,item,category,label,probability\n";
    long long rows = 0;
    {
      const std::unique_ptr<dare_tools::LoadedModel> loaded = dare_tools::load_model(info, model_path, data, threads);
      dare_tools::LoadedModel& model = *loaded;
      const dare::Index chunk = info.get_index("train.eval_batch_size", 1, dare::Index{1} << 30);
      const dare::ScopedFlushDenormals ftz(true);
      dare::Batch batch;
      std::vector<int> labels;
      std::vector<float> prob(static_cast<std::size_t>(chunk));
      const struct {
        const char* name;
        dare::ConstSpan<dare::Sample> samples;
      } splits[] = {{"train", data.train()}, {"val", data.val()}, {"test", data.test()}};
      char line[160];
      for (const auto& sp : splits) {
        if (which != "all" && which != sp.name) continue;
        // Equal chunks of at most `chunk` samples, as evaluation makes them, so that batch
        // statistics never see a lone leftover sample.
        const dare::Index n = sp.samples.size();
        const dare::Index chunks = (n + chunk - 1) / chunk;
        for (dare::Index c = 0; c < chunks; ++c) {
          const dare::Index begin = c * n / chunks;
          const dare::Index count = (c + 1) * n / chunks - begin;
          dare::fill_batch(data, sp.samples.data() + begin, nullptr, count, batch);
          labels.resize(static_cast<std::size_t>(count));
          for (dare::Index i = 0; i < count; ++i) labels[static_cast<std::size_t>(i)] = batch.label[static_cast<std::size_t>(i)] > 0.5f;
          std::vector<dare::Id> items(batch.target_item), cats(batch.target_cat);
          translate(batch);
          model.predict(dare::sequence_batch(batch, labels.data()), prob.data());
          for (dare::Index i = 0; i < count; ++i) {
            const auto k = static_cast<std::size_t>(i);
            std::snprintf(line, sizeof line, "%s,%llu,%llu,%llu,%d,%.7g\n", sp.name,
                          static_cast<unsigned long long>(raw_users[batch.user[k]]),
                          static_cast<unsigned long long>(raw_items[items[k]]),
                          static_cast<unsigned long long>(raw_cats[cats[k]]), labels[k], static_cast<double>(prob[k]));
            os << line;
            ++rows;
          }
        }
      }
    }
    if (file) {
      file->commit();
    } else {
      std::cout.flush();
      if (!std::cout) throw std::runtime_error("failed writing the predictions to standard output");
    }
    if (!quiet) {
      const auto& u = translate.unknown();
      std::fprintf(stderr, "%lld samples scored by a %s model; %s\n", rows, info.kind().c_str(),
                   translate.identity() ? "the input's vocabulary is the model's"
                                        : "ids translated through the model's vocabulary");
      if (!translate.identity()) {
        std::fprintf(stderr, "ids the model does not know (mapped to the padding row): %lld history items, %lld target "
                             "items, %lld categories\n", u.history_items, u.target_items, u.categories);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dare_predict: %s\n", e.what());
    return 1;
  }
  return 0;
}

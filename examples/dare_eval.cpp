// dare_eval — evaluates a model file (dare_train --checkpoint) on a log or a dataset: test
// (and validation) AUC, GAUC, category AUC and logloss, by the protocol the model was
// trained with, so on the training run's own data it reproduces the run's test metrics.
//
//   dare_eval --model model.dare --input UserBehavior.csv
//   dare_eval --model model.dare --input other.dare --metrics-out eval.json
//   dare_eval --model model.dare --info          # what the file says about the model
//
// A raw log is preprocessed as the model's data was (its "prep." entries); ids are
// translated through the model's vocabulary (examples/model_use.hpp gives the rule for ids
// it lacks, which are counted). Evaluation uses the model's inference statistics and the
// chunking of its training run's evaluation.
#include <cstdio>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>

#include "dare/dare.hpp"
#include "model_use.hpp"
#include "tool_checks.hpp"

namespace {

void print_metrics(const char* split, const dare::EvalMetrics& m) {
  std::printf("%-5s %8.5f %8.5f %8.5f %9.5f %9lld\n", split, m.auc, m.gauc, m.category_auc, m.logloss,
              static_cast<long long>(m.samples));
}

std::string metrics_json(const std::string& model, const std::string& input, const dare::ModelFileInfo& info,
                         const dare::EvalMetrics& test, const dare::EvalMetrics& val,
                         const dare_tools::UnknownIds& unknown) {
  std::ostringstream os;
  os.precision(17);
  auto split = [&](const char* key, const dare::EvalMetrics& m) {
    os << "  " << dare::json_string(key) << ": {\"auc\": " << m.auc << ", \"gauc\": " << m.gauc
       << ", \"category_auc\": " << m.category_auc << ", \"logloss\": " << m.logloss << ", \"samples\": " << m.samples
       << ", \"auc_reference_formula\": " << m.auc_reference
       << ", \"category_auc_reference_formula\": " << m.category_auc_reference << "}";
  };
  os << "{\n  \"model_file\": " << dare::json_string(model) << ",\n  \"kind\": " << dare::json_string(info.kind())
     << ",\n  \"input\": " << dare::json_string(input) << ",\n";
  split("test", test);
  os << ",\n";
  split("val", val);
  os << ",\n  \"unknown_ids\": {\"history_items\": " << unknown.history_items
     << ", \"target_items\": " << unknown.target_items << ", \"categories\": " << unknown.categories << "}\n}\n";
  return os.str();
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path, input, metrics_out;
  int threads = 2;
  bool info_only = false, quiet = false;
  CLI::App app{"Evaluate a dare model file on a log or a dataset"};
  app.add_option("--model", model_path, "model file written by dare_train --checkpoint")->required()->check(CLI::ExistingFile);
  app.add_option("--input", input, "raw log (preprocessed as the model's data was) or dataset file")->check(CLI::ExistingFile);
  app.add_option("--metrics-out", metrics_out, "write the metrics as JSON to this file");
  app.add_option("--threads", threads, "worker threads")->check(dare_tools::whole_number(1, 1024))->capture_default_str();
  app.add_flag("--info", info_only, "print what the model file says about the model and stop");
  app.add_flag("--quiet", quiet, "no progress output");
  CLI11_PARSE(app, argc, argv);
  try {
    const dare::ModelFileInfo info = dare::read_model_file_info(model_path);
    if (info_only) {
      for (const auto& kv : info.meta) std::printf("%s=%s\n", kv.first.c_str(), kv.second.c_str());
      std::printf("vocabulary: %zu items, %zu categories\n", info.raw_item_ids.size() ? info.raw_item_ids.size() - 1 : 0,
                  info.raw_cat_ids.size() ? info.raw_cat_ids.size() - 1 : 0);
      return 0;
    }
    if (input.empty()) throw std::invalid_argument("--input is required (or --info)");
    std::vector<dare::NamedPath> inputs = {{model_path, "--model"}, {input, "--input"}};
    if (!metrics_out.empty()) dare::check_output_path(metrics_out, "--metrics-out", inputs);
    dare_tools::ModelInput in(input, info, quiet);
    const dare::Dataset& data = in.data();
    dare_tools::IdTranslation translate(info, data);
    {
      const std::unique_ptr<dare_tools::LoadedModel> loaded = dare_tools::load_model(info, model_path, data, threads);
      dare_tools::LoadedModel& model = *loaded;
      const dare::Index chunk = info.get_index("train.eval_batch_size", 1, dare::Index{1} << 30);
      const bool drop_last = info.get_bool("train.eval_drop_last");
      dare::BatchTransform transform;
      if (!translate.identity()) transform = [&](dare::Batch& b) { translate(b); };
      const dare::ScopedFlushDenormals ftz(true);
      const auto test = model.evaluate(data, data.test(), chunk, drop_last, transform);
      const auto val = model.evaluate(data, data.val(), chunk, drop_last, transform);
      std::printf("%s model, %s statistics; %s\n", info.kind().c_str(), dare::nn::to_string(model.inference_stats()),
                  translate.identity() ? "the input's vocabulary is the model's"
                                       : "ids translated through the model's vocabulary");
      std::printf("%-5s %8s %8s %8s %9s %9s\n", "split", "AUC", "GAUC", "cat AUC", "logloss", "samples");
      print_metrics("test", test);
      print_metrics("val", val);
      const auto& u = translate.unknown();
      if (!translate.identity()) {
        std::printf("ids the model does not know (mapped to the padding row): %lld history items, %lld target items, "
                    "%lld categories\n", u.history_items, u.target_items, u.categories);
      }
      if (!metrics_out.empty()) {
        dare::write_text_file_atomically(metrics_out, metrics_json(model_path, input, info, test, val, u),
                                         "--metrics-out file");
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dare_eval: %s\n", e.what());
    return 1;
  }
  return 0;
}

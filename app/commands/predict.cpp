#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "../command.h"
#include "../process.h"
#include "seqenc/strings.h"
#include "seqenc/tools/predict.h"
#include "seqenc/train/device.h"

namespace seqenc::app {

namespace {
void print_prediction(const Prediction& p, const std::vector<std::string>& classes, bool json) {
  if (!json) {
    fmt::print("{}\n", join(p.labels, " "));
    return;
  }
  nlohmann::json j;
  if (p.distribution.empty()) {
    j = {{"labels", p.labels}, {"probabilities", p.probabilities}};
  } else {
    nlohmann::json dist = nlohmann::json::object();
    for (size_t c = 0; c < classes.size(); ++c) dist[classes[c]] = p.distribution[0][c];
    j = {{"label", p.labels[0]}, {"probability", p.probabilities[0]}, {"probabilities", dist}};
  }
  fmt::print("{}\n", j.dump());
}

class PredictCommand : public Command {
 public:
  void add_options(CLI::App& c) override {
    c.add_option("--model", model_, "TorchScript file written by seqenc export")->required();
    c.add_option("--input", input_, "Text in the training format; labels optional")->required();
    c.add_flag("--json", json_, "One JSON object per line, with probabilities");
    c.add_option("--precision", precision_, "fp32, or bf16: products in bf16 (the export itself is fp32)")
        ->check(CLI::IsMember(choice_names<Precision>()));
  }

  int run() override {
    use_threads(1);
    std::vector<std::string> classes;
    const auto precision = *parse_choice<Precision>(precision_);  // CLI11 admits the names only
    check_precision(precision, torch::kCPU);
    for (const auto& p : predict_file(model_, input_, &classes, precision)) print_prediction(p, classes, json_);
    return 0;
  }

 private:
  std::string model_, input_, precision_ = "fp32";
  bool json_ = false;
};
}  // namespace

std::unique_ptr<Command> predict_command() { return std::make_unique<PredictCommand>(); }

}  // namespace seqenc::app

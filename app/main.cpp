// seqenc: command-line parsing, validation and dispatch; the work lives in lib/.
#include <CLI/CLI.hpp>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fmt/core.h>
#include <iostream>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "seqenc/analyze.h"
#include "seqenc/bench.h"
#include "seqenc/checkpoint.h"
#include "seqenc/compare.h"
#include "seqenc/config.h"
#include "seqenc/dataset.h"
#include "seqenc/export.h"
#include "seqenc/predict.h"
#include "seqenc/training.h"

namespace {

int fail(int code, const std::string& message) {
  std::string line = message.substr(0, message.find('\n'));
  fmt::print(stderr, "seqenc: error: {}\n", line);
  return code;
}

// Maps a user's mistake to exit 2 with one line, anything else to exit 1.
template <typename F>
int guarded(F&& body) {
  try {
    return body();
  } catch (const seqenc::ConfigError& e) {
    return fail(2, e.what());
  } catch (const seqenc::DataError& e) {
    return fail(2, e.what());
  } catch (const seqenc::CheckpointError& e) {
    return fail(2, e.what());
  } catch (const std::invalid_argument& e) {
    return fail(2, e.what());
  } catch (const c10::Error& e) {
    return fail(1, e.what_without_backtrace());
  } catch (const std::exception& e) {
    return fail(1, e.what());
  }
}

std::string timestamp() {
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::localtime(&now));
  return buf;
}

std::string default_run_dir(const std::string& prefix, const std::string& config) {
  return "runs/" + prefix + std::filesystem::path(config).stem().string() + "-" + timestamp();
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const auto comma = s.find(',', start);
    const auto item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"seqenc: self-attention, CNN and RNN sequence encoders (D2L 11.6), trained and measured side by side"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "seqenc 0.1.0 (LibTorch " TORCH_VERSION ")");
  int exit_code = 0;

  // train
  std::string config_path, run_dir;
  std::vector<std::string> overrides;
  bool resume = false;
  auto* train = app.add_subcommand("train", "Train one encoder from a YAML config");
  train->add_option("--config", config_path, "YAML config file (see configs/)")->required()->check(CLI::ExistingFile);
  train->add_option("--set", overrides, "Override a key: --set train.lr=3e-4 (repeatable; beats the file)");
  train->add_option("--run-dir", run_dir, "Run directory (default: runs/<config>-<time>)");
  train->add_flag("--resume", resume, "Continue the run in --run-dir from its last checkpoint");
  train->callback([&] {
    exit_code = guarded([&] {
      if (resume && run_dir.empty()) throw seqenc::ConfigError("--resume needs --run-dir");
      auto config = seqenc::load_config(config_path, overrides);
      const auto dir = run_dir.empty() ? default_run_dir("", config_path) : run_dir;
      seqenc::install_stop_handlers();
      auto outcome = seqenc::train(config, dir, resume);
      if (outcome.exit_code == 0) fmt::print("run directory: {}\n", dir);
      return outcome.exit_code;
    });
  });

  // eval
  std::string eval_run, eval_data, eval_checkpoint = "best";
  bool eval_json = false;
  auto* eval = app.add_subcommand("eval", "Metrics of a run's checkpoint on its test split or on a file");
  eval->add_option("--run", eval_run, "Run directory")->required();
  eval->add_option("--data", eval_data, "File in the run's training format (default: the run's test split)");
  eval->add_option("--checkpoint", eval_checkpoint, "best or last")->check(CLI::IsMember({"best", "last"}));
  eval->add_flag("--json", eval_json, "Print one JSON object");
  eval->callback([&] {
    exit_code = guarded([&] {
      torch::set_num_threads(1);
      auto run = seqenc::load_run(eval_run, eval_checkpoint);
      auto r = seqenc::evaluate_run(run, eval_data);
      if (eval_json) {
        fmt::print("{}\n", seqenc::eval_result_json(r, run.task.group_name));
        return 0;
      }
      fmt::print("{} ({} checkpoint, step {}): loss {:.4f}  accuracy {:.4f}  ({} examples, {} labels)\n",
                 eval_data.empty() ? "test split" : eval_data, eval_checkpoint, run.state.step, r.loss, r.accuracy,
                 r.examples, r.labels);
      for (const auto& [g, ct] : r.by_group) {
        fmt::print("  {} {:>4}: accuracy {:.4f} ({} labels)\n", run.task.group_name, g,
                   ct.second ? static_cast<double>(ct.first) / ct.second : 0.0, ct.second);
      }
      return 0;
    });
  });

  // compare
  std::string encoders = "transformer,cnn,rnn";
  auto* compare = app.add_subcommand("compare", "Train several encoders on the same data and budget; table and report");
  compare->add_option("--config", config_path, "YAML config file")->required()->check(CLI::ExistingFile);
  compare->add_option("--encoders", encoders, "Comma-separated encoders")->capture_default_str();
  compare->add_option("--set", overrides, "Override a key (repeatable)");
  compare->add_option("--run-dir", run_dir, "Directory for the runs and report (default: runs/compare-<config>-<time>)");
  compare->add_flag("--resume", resume, "Continue an interrupted comparison in --run-dir");
  compare->callback([&] {
    exit_code = guarded([&] {
      if (resume && run_dir.empty()) throw seqenc::ConfigError("--resume needs --run-dir");
      auto config = seqenc::load_config(config_path, overrides);
      const auto dir = run_dir.empty() ? default_run_dir("compare-", config_path) : run_dir;
      seqenc::install_stop_handlers();
      auto result = seqenc::compare(config, split_list(encoders), dir, {}, resume);
      if (result.exit_code > 128) {
        fmt::print(stderr, "seqenc: the comparison stopped; continue it with: seqenc compare --config {}/config.yaml "
                           "--encoders {} --run-dir {} --resume\n", dir, encoders, dir);
      }
      if (result.exit_code != 0) return result.exit_code;
      fmt::print("\n{}\nreport: {}\n", seqenc::comparison_table(result, false), result.report_path);
      return 0;
    });
  });

  // export
  std::string export_run, export_out, export_checkpoint = "best";
  auto* exp = app.add_subcommand("export", "Write a run's model (encoder and head) as TorchScript");
  exp->add_option("--run", export_run, "Run directory")->required();
  exp->add_option("--out", export_out, "Output file, e.g. model.pt")->required();
  exp->add_option("--checkpoint", export_checkpoint, "best or last")->check(CLI::IsMember({"best", "last"}));
  exp->callback([&] {
    exit_code = guarded([&] {
      seqenc::export_run(export_run, export_out, export_checkpoint);
      fmt::print("wrote {}\n", export_out);
      return 0;
    });
  });

  // predict
  std::string predict_model, predict_input;
  bool predict_json = false;
  auto* predict = app.add_subcommand("predict", "Predict each line of a file with an exported model");
  predict->add_option("--model", predict_model, "TorchScript file written by seqenc export")->required();
  predict->add_option("--input", predict_input, "Text in the training format; labels optional")->required();
  predict->add_flag("--json", predict_json, "One JSON object per line, with probabilities");
  predict->callback([&] {
    exit_code = guarded([&] {
      torch::set_num_threads(1);
      std::vector<std::string> classes;
      const auto predictions = seqenc::predict_file(predict_model, predict_input, &classes);
      for (const auto& p : predictions) {
        if (!predict_json) {
          std::string line;
          for (const auto& l : p.labels) line += (line.empty() ? "" : " ") + l;
          fmt::print("{}\n", line);
          continue;
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
      return 0;
    });
  });

  // bench
  std::string bench_config;
  std::vector<std::string> bench_overrides;
  bool bench_json = false;
  auto* bench = app.add_subcommand("bench", "Time training steps of an encoder (median over repeats)");
  bench->add_option("--config", bench_config, "YAML config (model.*, bench.*, train.threads)")->check(CLI::ExistingFile);
  bench->add_option("--set", bench_overrides, "Override a key, e.g. --set bench.seq_len=512 (repeatable)");
  bench->add_flag("--json", bench_json, "Print one JSON object");
  bench->callback([&] {
    exit_code = guarded([&] {
      auto config = seqenc::load_config(bench_config, bench_overrides);
      auto r = seqenc::run_bench(config);
      if (bench_json) {
        fmt::print("{}\n", seqenc::bench_json(r));
      } else {
        fmt::print("{} ({} parameters), batch {} x n {}, vocab {}, {} thread(s) on {}: {:.0f} tokens/s, "
                   "{:.2f} ms/step, peak RSS {:.0f} MB\n",
                   r.encoder, r.parameters, r.batch_size, r.seq_len, r.vocab_size, r.threads, r.device,
                   r.tokens_per_s, r.ms_per_step, r.peak_rss_mb);
      }
      return 0;
    });
  });

  // analyze
  std::string analyze_config, analyze_out;
  std::vector<std::string> analyze_overrides;
  auto* analyze = app.add_subcommand("analyze", "Measure the section's comparison; write a report with plots");
  analyze->add_option("--config", analyze_config, "YAML config (model.*, data.* for the lag comparison, analyze.*)")
      ->check(CLI::ExistingFile);
  analyze->add_option("--set", analyze_overrides, "Override a key (repeatable)");
  analyze->add_option("--out", analyze_out, "Directory for report.md and its plots")->required();
  analyze->callback([&] {
    exit_code = guarded([&] {
      auto config = seqenc::load_config(analyze_config, analyze_overrides);
      seqenc::install_stop_handlers();
      fmt::print("report: {}\n", seqenc::write_analysis(config, analyze_out));
      return 0;
    });
  });

  // keys
  auto* keys = app.add_subcommand("keys", "List every configuration key with its type and default");
  keys->callback([&] {
    for (const auto& k : seqenc::config_keys())
      fmt::print("{:<30} {:<14} {:<22} {}\n", k.key, k.default_value.empty() ? "\"\"" : k.default_value, k.type, k.help);
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "seqenc: error: {} (see seqenc --help)\n", e.what());
    return 2;
  }
  return exit_code;
}

#include "seqenc/compare.h"

#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "seqenc/plot.h"

namespace seqenc {

namespace fs = std::filesystem;

Comparison compare(const Config& config, const std::vector<std::string>& encoders, const std::string& run_dir,
                   const TrainControl& control, bool resume) {
  if (encoders.empty()) throw ConfigError("--encoders: give at least one encoder");
  std::vector<Config> variants;
  std::vector<std::string> problems;
  for (const auto& name : encoders) {
    const auto known = encoder_names();
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      throw ConfigError("--encoders: unknown encoder '" + name + "' (known: " + list + ")");
    }
    Config c = config;
    c.model.name = name;
    for (const auto& p : validate(c)) problems.push_back(name + ": " + p);
    if (!resume && fs::exists(fs::path(run_dir) / name / "checkpoint_last.pt")) {
      problems.push_back((fs::path(run_dir) / name).string() +
                         " already holds a run; pass --resume to continue the comparison, or choose another --run-dir");
    }
    variants.push_back(c);
  }
  if (!problems.empty()) {
    std::string joined;
    for (const auto& p : problems) joined += (joined.empty() ? "" : "; ") + p;
    throw ConfigError(joined);
  }
  Comparison result;
  result.task = config.data.task;
  fs::create_directories(run_dir);
  save_config(config, (fs::path(run_dir) / "config.yaml").string());  // what --resume continues from
  for (size_t i = 0; i < encoders.size(); ++i) {
    const auto sub_dir = fs::path(run_dir) / encoders[i];
    auto outcome = train(variants[i], sub_dir.string(), resume && fs::exists(sub_dir / "checkpoint_last.pt"), control);
    result.runs.push_back({encoders[i], outcome});
    if (outcome.exit_code != 0 || outcome.stop_reason == "stopped") {
      result.exit_code = outcome.exit_code;
      return result;
    }
  }
  result.group_name = result.runs.front().outcome.valid.by_group.empty() ? "" : "distance";
  result.report_path = write_comparison_report(result, run_dir);
  return result;
}

namespace {
std::string si(double v) {
  if (v >= 1e9) return fmt::format("{:.2f}G", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.2f}M", v / 1e6);
  if (v >= 1e3) return fmt::format("{:.1f}k", v / 1e3);
  return fmt::format("{:.0f}", v);
}

std::string render(const std::vector<std::vector<std::string>>& rows, bool markdown) {
  std::vector<size_t> width(rows.front().size(), 0);
  for (const auto& r : rows)
    for (size_t j = 0; j < r.size(); ++j) width[j] = std::max(width[j], r[j].size());
  std::string out;
  for (size_t i = 0; i < rows.size(); ++i) {
    std::string line = markdown ? "|" : "";
    for (size_t j = 0; j < rows[i].size(); ++j) {
      const auto cell = fmt::format(j == 0 ? "{:<{}}" : "{:>{}}", rows[i][j], width[j]);
      line += markdown ? " " + cell + " |" : (j ? "  " : "") + cell;
    }
    out += line + "\n";
    if (i == 0) {
      std::string rule = markdown ? "|" : "";
      for (size_t j = 0; j < width.size(); ++j) {
        rule += markdown ? (j == 0 ? std::string(" :") : std::string(" ")) + std::string(width[j] - 1, '-') +
                               (j == 0 ? " |" : ": |")
                         : (j ? "  " : "") + std::string(width[j], '-');
      }
      out += rule + "\n";
    }
  }
  return out;
}
}  // namespace

std::string comparison_table(const Comparison& c, bool markdown) {
  std::vector<std::vector<std::string>> rows = {{"encoder", "params", "FLOPs/token", "seq. steps", "max path (n)",
                                                  "train s", "tokens/s", "peak MB", "train loss", "valid loss",
                                                  "valid acc"}};
  for (const auto& r : c.runs) {
    const auto& o = r.outcome;
    const double flops_per_token = o.cost.flops / static_cast<double>(std::max<int64_t>(1, o.seq_len));
    const std::string path = fmt::format("{} ({}){}", o.cost.max_path_length, o.seq_len, o.cost.connects_all ? "" : "*");
    rows.push_back({r.encoder, si(static_cast<double>(o.parameters)), si(flops_per_token),
                    std::to_string(o.cost.sequential_steps), path, fmt::format("{:.1f}", o.wall_s),
                    si(o.tokens_per_s), fmt::format("{:.0f}", o.peak_rss_mb), fmt::format("{:.4f}", o.train_loss),
                    fmt::format("{:.4f}", o.valid.loss), fmt::format("{:.4f}", o.valid.accuracy)});
  }
  std::string out = render(rows, markdown);
  bool partial = false;
  for (const auto& r : c.runs) partial = partial || !r.outcome.cost.connects_all;
  if (partial) {
    out += std::string(markdown ? "\n" : "") +
           "* this stack has too few layers to connect the first and last positions: the path length given is the "
           "number of layers it would need.\n";
  }
  if (!c.group_name.empty()) {
    std::set<int64_t> groups;
    for (const auto& r : c.runs)
      for (const auto& [g, ct] : r.outcome.valid.by_group) groups.insert(g);
    std::vector<std::vector<std::string>> by = {{c.group_name}};
    for (const auto& r : c.runs) {
      by[0].push_back(r.encoder + (r.outcome.cost.connects_all
                                       ? ""
                                       : fmt::format(" (reach {})", r.outcome.cost.reach_before)));
    }
    for (auto g : groups) {
      std::vector<std::string> row = {std::to_string(g)};
      for (const auto& r : c.runs) {
        auto it = r.outcome.valid.by_group.find(g);
        row.push_back(it == r.outcome.valid.by_group.end() || it->second.second == 0
                          ? "-"
                          : fmt::format("{:.3f}", static_cast<double>(it->second.first) / it->second.second));
      }
      by.push_back(row);
    }
    out += "\nValidation accuracy by " + c.group_name + ":\n\n" + render(by, markdown);
  }
  return out;
}

std::vector<std::pair<double, double>> read_metric(const std::string& metrics_path, const std::string& split,
                                                   const std::string& field) {
  std::vector<std::pair<double, double>> points;
  std::ifstream in(metrics_path);
  std::string line;
  while (std::getline(in, line)) {
    try {
      auto j = nlohmann::json::parse(line);
      if (j.value("split", "") == split && j.contains(field))
        points.emplace_back(j["step"].get<double>(), j[field].get<double>());
    } catch (const nlohmann::json::exception&) {
    }
  }
  return points;
}

std::string write_comparison_report(const Comparison& c, const std::string& run_dir) {
  const fs::path dir(run_dir);
  fs::create_directories(dir);
  auto curves = [&](const std::string& split, const std::string& field, const std::string& title,
                    const std::string& ylabel, const std::string& file) {
    LinePlot p;
    p.title = title;
    p.xlabel = "training step";
    p.ylabel = ylabel;
    p.style = split == "train" ? "lines" : "linespoints";
    for (const auto& r : c.runs) {
      Series s{r.encoder, {}, {}};
      for (auto [x, y] : read_metric((dir / r.encoder / "metrics.jsonl").string(), split, field)) {
        s.x.push_back(x);
        s.y.push_back(y);
      }
      p.series.push_back(s);
    }
    return plot_lines(p, (dir / file).string()) ? file : std::string();
  };
  std::vector<std::pair<std::string, std::string>> figures;
  auto add = [&](const std::string& caption, const std::string& file) {
    if (!file.empty()) figures.emplace_back(caption, file);
  };
  add("Training loss", curves("train", "loss", "Training loss (mean over each logging window)", "cross-entropy",
                              "train_loss.png"));
  add("Validation loss", curves("valid", "loss", "Validation loss", "cross-entropy", "valid_loss.png"));
  add("Validation accuracy", curves("valid", "accuracy", "Validation accuracy", "accuracy", "valid_accuracy.png"));
  if (!c.group_name.empty()) {
    LinePlot p;
    p.title = "Validation accuracy by " + c.group_name + " (best checkpoint)";
    p.xlabel = c.group_name + " between query and target (tokens)";
    p.ylabel = "accuracy";
    p.ymin = 0;
    p.ymax = 1.02;
    for (const auto& r : c.runs) {
      Series s{r.encoder, {}, {}};
      if (!r.outcome.cost.connects_all) s.title += fmt::format(" (reach {})", r.outcome.cost.reach_before);
      for (const auto& [g, ct] : r.outcome.valid.by_group) {
        s.x.push_back(static_cast<double>(g));
        s.y.push_back(ct.second ? static_cast<double>(ct.first) / ct.second : 0.0);
      }
      p.series.push_back(s);
    }
    add("Accuracy by " + c.group_name, plot_lines(p, (dir / "accuracy_by_distance.png").string())
                                           ? std::string("accuracy_by_distance.png")
                                           : std::string());
  }
  const fs::path report = dir / "report.md";
  std::ofstream out(report);
  const auto& first = c.runs.front().outcome;
  out << "# seqenc comparison\n\n";
  out << fmt::format("Task `{}`, longest sequence n = {}; every encoder trained on the same data, seed and budget "
                     "({} steps). Per-run details: `<encoder>/result.json`, `<encoder>/metrics.jsonl`, "
                     "`<encoder>/config.yaml`.\n\n",
                     c.task, first.seq_len,
                     first.state.step);
  out << comparison_table(c, true) << "\n";
  out << "FLOPs per token are the analytic forward FLOPs of the encoder (2 x multiply-adds of its matrix products "
         "and convolutions) at n, divided by n. Sequential steps and maximum path length are the section's "
         "columns at n. Train seconds exclude validation.\n\n";
  for (const auto& [caption, file] : figures) out << "## " << caption << "\n\n![" << caption << "](" << file << ")\n\n";
  return report.string();
}

}  // namespace seqenc

#include "seqenc/tools/comparison_report.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "seqenc/files.h"
#include "seqenc/tools/plot.h"
#include "seqenc/tools/table.h"

namespace seqenc {

namespace fs = std::filesystem;

std::string comparison_table(const Comparison& c, bool markdown) {
  Table table{{"encoder", "params", "FLOPs/token", "seq. steps", "max path (n)", "train s", "tokens/s", "peak MB",
               "train loss", "valid loss", "valid acc"},
              {}};
  for (const auto& r : c.runs) {
    const auto& o = r.outcome;
    const double flops_per_token = o.cost.flops / static_cast<double>(std::max<int64_t>(1, o.seq_len));
    const std::string path =
        fmt::format("{} ({}){}", o.cost.max_path_length, o.seq_len, o.cost.connects_all ? "" : "*");
    table.add({r.encoder, si(static_cast<double>(o.parameters)), si(flops_per_token),
               std::to_string(o.cost.sequential_steps), path, fmt::format("{:.1f}", o.wall_s), si(o.tokens_per_s),
               fmt::format("{:.0f}", o.peak_rss_mb), fmt::format("{:.4f}", o.train_loss),
               fmt::format("{:.4f}", o.valid.loss), fmt::format("{:.4f}", o.valid.accuracy)});
  }
  std::string out = table.render(markdown);
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
    Table by{{c.group_name}, {}};
    for (const auto& r : c.runs) {
      by.header.push_back(r.encoder +
                          (r.outcome.cost.connects_all ? "" : fmt::format(" (reach {})", r.outcome.cost.reach_before)));
    }
    for (auto g : groups) {
      std::vector<std::string> row = {std::to_string(g)};
      for (const auto& r : c.runs) {
        row.push_back(r.outcome.valid.by_group.count(g) ? fmt::format("{:.3f}", r.outcome.valid.group_accuracy(g))
                                                        : "-");
      }
      by.add(row);
    }
    out += "\nValidation accuracy by " + c.group_name + ":\n\n" + by.render(markdown);
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
    } catch (const nlohmann::json::exception&) {}
  }
  return points;
}

namespace {

using Figures = std::vector<std::pair<std::string, std::string>>;  // (caption, file) of each plot drawn

// One curve per encoder of `field` in its metrics.jsonl lines of `split`; the file name, or "" when not drawn.
std::string draw_curves(const Comparison& c, const fs::path& dir, const std::string& split, const std::string& field,
                        const std::string& title, const std::string& ylabel, const std::string& file) {
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
}

// Validation accuracy of each encoder's best checkpoint by group (the lag distance).
std::string draw_accuracy_by_group(const Comparison& c, const fs::path& dir) {
  LinePlot p;
  p.title = "Validation accuracy by " + c.group_name + " (best checkpoint)";
  p.xlabel = c.group_name + " between query and target (tokens)";
  p.ylabel = "accuracy";
  p.ymin = 0;
  p.ymax = 1.02;
  for (const auto& r : c.runs) {
    Series s{r.encoder, {}, {}};
    if (!r.outcome.cost.connects_all) s.title += fmt::format(" (reach {})", r.outcome.cost.reach_before);
    for (const auto& [g, counts] : r.outcome.valid.by_group) {
      s.x.push_back(static_cast<double>(g));
      s.y.push_back(r.outcome.valid.group_accuracy(g));
    }
    p.series.push_back(s);
  }
  const std::string file = "accuracy_by_distance.png";
  return plot_lines(p, (dir / file).string()) ? file : std::string();
}

Figures draw_figures(const Comparison& c, const fs::path& dir) {
  Figures figures;
  auto add = [&](const std::string& caption, const std::string& file) {
    if (!file.empty()) figures.emplace_back(caption, file);
  };
  add("Training loss", draw_curves(c, dir, "train", "loss", "Training loss (mean over each logging window)",
                                   "cross-entropy", "train_loss.png"));
  add("Validation loss", draw_curves(c, dir, "valid", "loss", "Validation loss", "cross-entropy", "valid_loss.png"));
  add("Validation accuracy",
      draw_curves(c, dir, "valid", "accuracy", "Validation accuracy", "accuracy", "valid_accuracy.png"));
  if (!c.group_name.empty()) add("Accuracy by " + c.group_name, draw_accuracy_by_group(c, dir));
  return figures;
}

}  // namespace

std::string write_comparison_report(const Comparison& c, const std::string& run_dir) {
  const fs::path dir(run_dir);
  fs::create_directories(dir);
  const auto figures = draw_figures(c, dir);
  const fs::path report = dir / "report.md";
  std::ostringstream out;  // written whole at the end: never half a report
  const auto& first = c.runs.front().outcome;
  out << "# seqenc comparison\n\n";
  out << fmt::format(
      "Task `{}`, longest sequence n = {}; every encoder trained on the same data, seed and budget "
      "({} steps, {} products). Per-run details: `<encoder>/result.json`, `<encoder>/metrics.jsonl`, "
      "`<encoder>/config.yaml`.\n\n",
      c.task, first.seq_len, first.state.step, name_of(c.precision));
  out << comparison_table(c, true) << "\n";
  out << "Recipes (`model.recipe`; docs/recipes.md):\n\n";
  for (const auto& run : c.runs) out << "- " << run.encoder << ": " << run.recipe << "\n";
  out << "\n";
  out << "FLOPs per token are the analytic forward FLOPs of the encoder (2 x multiply-adds of its matrix products "
         "and convolutions) at n, divided by n. Sequential steps and maximum path length are the section's "
         "columns at n. Train seconds exclude validation.\n\n";
  for (const auto& [caption, file] : figures) out << "## " << caption << "\n\n![" << caption << "](" << file << ")\n\n";
  write_file_atomic(report, out.str());
  return report.string();
}

}  // namespace seqenc

#include "seqenc/tools/sweep_report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "seqenc/files.h"
#include "seqenc/strings.h"
#include "seqenc/tools/plot.h"
#include "seqenc/tools/table.h"

namespace seqenc {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// A run's result.json, or nullopt when it has none that reads.
std::optional<SweepResult> read_result(const SweepRun& run) {
  std::string problem;
  const auto text = read_whole_file(run.dir / "result.json", &problem);
  if (!problem.empty()) return std::nullopt;
  try {
    const auto j = json::parse(text);
    SweepResult r{run};
    r.valid_accuracy = j.at("valid").at("accuracy").get<double>();
    r.test_accuracy = j.at("test").at("accuracy").get<double>();
    r.valid_loss = j.at("valid").at("loss").get<double>();
    r.test_loss = j.at("test").at("loss").get<double>();
    r.steps = j.at("steps").get<int64_t>();
    r.seconds = j.at("train_wall_s").get<double>();
    r.tokens_per_s = j.at("tokens_per_s").get<double>();
    return r;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

// A swept value as JSON: a number or true/false where YAML would read one, else the text.
json value_json(const std::string& text) {
  try {
    auto j = json::parse(text);
    if (j.is_number() || j.is_boolean()) return j;
  } catch (const json::exception&) {}
  return text;
}

std::string results_jsonl(const SweepPlan& plan, const std::vector<SweepResult>& results) {
  std::string out;
  for (const auto& r : results) {
    json keys = json::object();
    for (const auto& [key, value] : r.run.values) keys[key] = value_json(value);
    out += json{{"run", fs::relative(r.run.dir, plan.dir).string()},
                {"keys", keys},
                {"seed", r.run.seed},
                {"valid_accuracy", r.valid_accuracy},
                {"test_accuracy", r.test_accuracy},
                {"valid_loss", r.valid_loss},
                {"test_loss", r.test_loss},
                {"steps", r.steps},
                {"seconds", r.seconds},
                {"tokens_per_s", r.tokens_per_s}}
               .dump() +
           "\n";
  }
  return out;
}

std::string pm(const MeanSd& m, const char* format) {
  const auto mean = fmt::format(fmt::runtime(format), m.mean);
  return m.n > 1 ? mean + " ± " + fmt::format(fmt::runtime(format), m.sd) : mean;
}

}  // namespace

std::vector<SweepResult> sweep_results(const SweepPlan& plan) {
  std::vector<SweepResult> out;
  for (const auto& run : plan.runs) {
    if (auto r = read_result(run)) out.push_back(*r);
  }
  return out;
}

MeanSd mean_sd(const std::vector<double>& values) {
  MeanSd m;
  m.n = values.size();
  if (values.empty()) return m;
  for (double v : values) m.mean += v / static_cast<double>(m.n);
  if (m.n < 2) return m;
  double squares = 0;
  for (double v : values) squares += (v - m.mean) * (v - m.mean);
  m.sd = std::sqrt(squares / static_cast<double>(m.n - 1));
  return m;
}

std::vector<SweepRow> sweep_rows(const std::vector<SweepResult>& results) {
  std::vector<std::vector<std::pair<std::string, std::string>>> order;
  std::map<std::vector<std::pair<std::string, std::string>>, std::vector<const SweepResult*>> groups;
  for (const auto& r : results) {
    if (!groups.count(r.run.values)) order.push_back(r.run.values);
    groups[r.run.values].push_back(&r);
  }
  std::vector<SweepRow> rows;
  for (const auto& values : order) {
    const auto& runs = groups[values];
    auto stat = [&runs](double SweepResult::*field) {
      std::vector<double> v;
      for (const auto* r : runs) v.push_back(r->*field);
      return mean_sd(v);
    };
    rows.push_back({values, stat(&SweepResult::valid_accuracy), stat(&SweepResult::test_accuracy),
                    stat(&SweepResult::valid_loss), stat(&SweepResult::seconds), stat(&SweepResult::tokens_per_s),
                    runs.front()->steps});
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.valid_accuracy.mean > b.valid_accuracy.mean; });
  return rows;
}

std::string sweep_table(const std::vector<SweepRow>& rows, bool markdown) {
  Table table{{}, {}};
  if (!rows.empty()) {
    for (const auto& [key, value] : rows.front().values) table.header.push_back(key);
  }
  if (table.header.empty()) table.header.push_back("combination");
  for (const char* column : {"runs", "valid accuracy", "test accuracy", "valid loss", "steps", "train s", "tokens/s"})
    table.header.push_back(column);
  for (const auto& r : rows) {
    std::vector<std::string> row;
    for (const auto& [key, value] : r.values) row.push_back(value);
    if (r.values.empty()) row.push_back("base");
    row.insert(row.end(),
               {std::to_string(r.valid_accuracy.n), pm(r.valid_accuracy, "{:.4f}"), pm(r.test_accuracy, "{:.4f}"),
                pm(r.valid_loss, "{:.4f}"), std::to_string(r.steps), pm(r.seconds, "{:.1f}"), si(r.tokens_per_s.mean)});
    table.add(row);
  }
  return table.render(markdown);
}

namespace {

// A series's points (and their error bars) in order along x, so that its line joins neighbours.
void sort_by_x(Series& s, std::vector<double>& err) {
  std::vector<size_t> order(s.x.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::sort(order.begin(), order.end(), [&s](size_t a, size_t b) { return s.x[a] < s.x[b]; });
  Series sorted{s.title, {}, {}};
  std::vector<double> sorted_err;
  for (auto k : order) {
    sorted.x.push_back(s.x[k]);
    sorted.y.push_back(s.y[k]);
    sorted_err.push_back(err[k]);
  }
  s = sorted;
  err = sorted_err;
}

// Validation accuracy against one swept key: a series for each combination of the other keys, error bars over
// seeds; the key's values are positions on the x axis unless they are all numbers. The file name, or "" if not drawn.
std::string draw_key(const SweepPlan& plan, const std::vector<SweepRow>& rows, size_t axis, const fs::path& dir) {
  const auto& values = plan.grid[axis].values;
  bool numeric = true;
  for (const auto& v : values) numeric = numeric && value_json(v).is_number();
  LinePlot p;
  p.title = "Validation accuracy by " + plan.grid[axis].key + fmt::format(" (mean ± sd over seeds)");
  p.xlabel = plan.grid[axis].key;
  p.ylabel = "validation accuracy";
  if (!numeric) p.xtics = values;
  std::map<std::string, size_t> series;  // the other keys' values -> index
  for (const auto& r : rows) {
    std::vector<std::string> others;
    for (size_t k = 0; k < r.values.size(); ++k)
      if (k != axis) others.push_back(r.values[k].first + "=" + r.values[k].second);
    const auto name = others.empty() ? std::string("all runs") : join(others, ",");
    if (!series.count(name)) {
      series[name] = p.series.size();
      p.series.push_back({name, {}, {}});
      p.yerr.emplace_back();
    }
    const size_t i = series[name];
    const auto& v = r.values[axis].second;
    const auto at = std::find(values.begin(), values.end(), v) - values.begin();
    p.series[i].x.push_back(numeric ? value_json(v).get<double>() : static_cast<double>(at));
    p.series[i].y.push_back(r.valid_accuracy.mean);
    p.yerr[i].push_back(r.valid_accuracy.sd);
  }
  for (size_t i = 0; i < p.series.size(); ++i) {
    // Named values: each series a little to the side, so that error bars at one value do not hide each other.
    const double shift = numeric ? 0.0 : 0.04 * (static_cast<double>(i) - (p.series.size() - 1) / 2.0);
    for (auto& x : p.series[i].x) x += shift;
    sort_by_x(p.series[i], p.yerr[i]);
  }
  const std::string file = "valid_accuracy_by_" + plan.grid[axis].key + ".png";
  return plot_lines(p, (dir / file).string()) ? file : "";
}

std::string report_text(const SweepPlan& plan, const std::vector<SweepResult>& results) {
  std::ostringstream out;
  out << "# seqenc sweep\n\n";
  out << fmt::format(
      "{} of {} runs finished: {} combination(s) x {} seed(s) of `config.yaml`. Mean ± sample standard deviation "
      "over seeds, best validation accuracy first; accuracies are those of each run's best checkpoint, seconds are "
      "training time. Each run: a line of `results.jsonl`, and its directory `<key=value,...>/seed-<s>/` "
      "(configuration, metrics, checkpoints, TensorBoard events: `tensorboard --logdir {}`).\n\n",
      results.size(), plan.runs.size(), plan.combinations(), plan.seeds.size(), plan.dir.string());
  const auto rows = sweep_rows(results);
  out << sweep_table(rows, true) << "\n";
  for (size_t axis = 0; axis < plan.grid.size() && !rows.empty(); ++axis) {
    const auto file = draw_key(plan, rows, axis, plan.dir);
    const auto caption = "Validation accuracy by " + plan.grid[axis].key;
    if (!file.empty()) out << "## " << caption << "\n\n![" << caption << "](" << file << ")\n\n";
  }
  std::vector<std::string> missing;
  for (const auto& run : plan.runs) {
    if (std::none_of(results.begin(), results.end(), [&](const auto& r) { return r.run.dir == run.dir; }))
      missing.push_back(run.label());
  }
  if (!missing.empty()) out << "Not finished: " << join(missing, "; ") << ".\n";
  return out.str();
}

}  // namespace

std::string write_sweep_results(const SweepPlan& plan, bool report) {
  const auto results = sweep_results(plan);
  write_file_atomic(plan.dir / "results.jsonl", results_jsonl(plan, results));
  const auto path = plan.dir / "report.md";
  if (report) write_file_atomic(path, report_text(plan, results));
  return path.string();
}

}  // namespace seqenc

#include "seqenc/tools/analyze.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "seqenc/files.h"
#include "seqenc/nn/positional_encoding.h"
#include "seqenc/strings.h"
#include "seqenc/tools/comparison_report.h"
#include "seqenc/tools/measure.h"
#include "seqenc/tools/plot.h"
#include "seqenc/tools/recipe_study.h"
#include "seqenc/tools/table.h"
#include "seqenc/train/compare.h"
#include "seqenc/train/recipe.h"
#include "seqenc/train/run.h"

namespace seqenc {

namespace fs = std::filesystem;

namespace {

std::vector<int64_t> doubling(int64_t from, int64_t to) {
  std::vector<int64_t> v;
  for (int64_t x = from; x <= to; x *= 2) v.push_back(x);
  return v;
}

// One layer of `name` at width d, as the cost section measures it.
EncoderOptions one_layer(const ToolConfig& config, const std::string& name, int64_t d, int64_t max_len) {
  EncoderOptions o = config.model;
  o.name = name;
  o.vocab_size = 16;
  o.num_hiddens = d;
  o.num_layers = 1;
  o.dropout = 0;
  o.num_heads = d % config.model.num_heads == 0 ? config.model.num_heads : 1;
  o.ffn_num_hiddens = 2 * d;
  o.max_len = max_len;
  o.causal = false;
  o.bidirectional = false;
  if (o.pos_encoding == PosEncoding::relative)
    o.pos_encoding = PosEncoding::sinusoidal;  // keep the n x n x d tables out of the cost
  return o;
}

struct Sweep {
  std::map<std::string, std::vector<double>> ms, flops;
  std::vector<double> x;
};

Sweep time_sweep(const ToolConfig& config, const std::vector<int64_t>& ns, const std::vector<int64_t>& ds,
                 bool backward) {
  Sweep s;
  const bool over_n = ns.size() > 1;
  for (size_t i = 0; i < std::max(ns.size(), ds.size()); ++i) {
    const int64_t n = over_n ? ns[i] : ns[0], d = over_n ? ds[0] : ds[i];
    s.x.push_back(static_cast<double>(over_n ? n : d));
    for (const auto& name : default_comparison()) {
      torch::manual_seed(0);
      auto encoder = make_encoder(one_layer(config, name, d, n));
      auto X = torch::randn({1, n, d});
      auto lens = torch::tensor({n});
      double ms;
      PrecisionScope precision(config.train.precision);
      if (backward) {
        encoder->train();
        X.requires_grad_(true);
        ms = median_ms([&] { encoder->encode(X, lens).sum().backward(); }, config.analyze.repeats);
      } else {
        encoder->eval();
        torch::NoGradGuard no_grad;
        ms = median_ms([&] { encoder->encode(X, lens); }, config.analyze.repeats);
      }
      s.ms[name].push_back(ms);
      s.flops[name].push_back(encoder->cost(n).flops);
    }
  }
  return s;
}

// Slope over the upper half of a sweep, where fixed overheads matter least.
double upper_slope(const std::vector<double>& x, const std::vector<double>& y) {
  const size_t from = x.size() / 2 >= 1 && x.size() - x.size() / 2 >= 2 ? x.size() / 2 : 0;
  return loglog_slope({x.begin() + static_cast<std::ptrdiff_t>(from), x.end()},
                      {y.begin() + static_cast<std::ptrdiff_t>(from), y.end()});
}

LinePlot sweep_plot(const Sweep& s, bool flops, const std::string& title, const std::string& xlabel) {
  LinePlot p;
  p.title = title;
  p.xlabel = xlabel;
  p.ylabel = flops ? "analytic forward FLOPs" : "milliseconds (median)";
  p.logx = p.logy = true;
  for (const auto& name : default_comparison())
    p.series.push_back({name, s.x, flops ? s.flops.at(name) : s.ms.at(name)});
  return p;
}

// The report being written: its directory, its Markdown, and the configuration measured.
struct Report {
  const ToolConfig& config;
  fs::path dir;
  std::ostringstream out;  // report.md is written whole at the end (write_file_atomic): never half a report
  StopReason stop_reason = StopReason::completed;  // of the comparison, when it did not finish
  std::vector<std::string> failures{};             // of the recipe study's runs
  bool resume = false;                             // continuing an analysis that stopped

  std::string path(const std::string& file) const { return (dir / file).string(); }
  void image(const std::string& file, const std::string& caption, bool ok) {
    if (ok)
      out << "![" << caption << "](" << file << ")\n\n";
    else
      out << "_(" << caption << ": plot not drawn; is gnuplot installed?)_\n\n";
  }
  void plot(const LinePlot& p, const std::string& file, const std::string& caption) {
    image(file, caption, plot_lines(p, path(file)));
  }
};

void cost_section(Report& r) {
  spdlog::info("analyze: 1/7 cost sweeps");
  const auto& a = r.config.analyze;
  r.out << "## 1. Cost: computation per layer\n\n";
  const auto ns = doubling(a.min_n, a.max_n), ds = doubling(a.min_d, a.max_d);
  const Sweep by_n = time_sweep(r.config, ns, {a.num_hiddens}, true);
  const Sweep by_d = time_sweep(r.config, {a.fixed_n}, ds, true);
  r.out << fmt::format(
      "One layer of each encoder, batch 1, forward and backward, median of {} runs; n from {} to {} "
      "at d = {}, then d from {} to {} at n = {}. Slopes are least-squares fits of log time (and of "
      "log analytic FLOPs) against log n or log d over the upper half of each sweep.\n\n",
      a.repeats, a.min_n, a.max_n, a.num_hiddens, a.min_d, a.max_d, a.fixed_n);
  Table slopes{{"layer", "section's exponent in n", "slope in n: FLOPs", "slope in n: time", "section's exponent in d",
                "slope in d: FLOPs", "slope in d: time"},
               {}};
  for (const auto& name : default_comparison()) {
    const auto facts = encoder_facts(name);
    slopes.add({name, facts.exponent_n, fmt::format("{:.2f}", upper_slope(by_n.x, by_n.flops.at(name))),
                fmt::format("{:.2f}", upper_slope(by_n.x, by_n.ms.at(name))), facts.exponent_d,
                fmt::format("{:.2f}", upper_slope(by_d.x, by_d.flops.at(name))),
                fmt::format("{:.2f}", upper_slope(by_d.x, by_d.ms.at(name)))});
  }
  r.out << slopes.render(true) << "\n";
  Table times{{"n"}, {}};
  for (const auto& name : default_comparison()) {
    times.header.push_back(name + " ms");
    times.header.push_back(name + " MFLOPs");
  }
  for (size_t i = 0; i < by_n.x.size(); ++i) {
    std::vector<std::string> row = {fmt::format("{}", by_n.x[i])};
    for (const auto& name : default_comparison()) {
      row.push_back(fmt::format("{:.3f}", by_n.ms.at(name)[i]));
      row.push_back(fmt::format("{:.2f}", by_n.flops.at(name)[i] / 1e6));
    }
    times.add(row);
  }
  r.out << times.render(true);
  r.out << "\nWhere the measurement departs from the exponents, and why: at small n every layer costs about the same "
           "fixed overhead (operator dispatch, allocation, one GRU kernel launch per step), so the measured slopes "
           "flatten towards 0 there; the transformer layer also holds O(nd²) projections and an O(nd·ffn) FFN, so its "
           "n² term only dominates once n exceeds a few times d; in d, the element-wise work on the n × n weights of "
           "each head (masking, softmax, dropout) does not grow with d at all, so at moderate n the time's slope in d "
           "lies well below the FLOPs' slope; and at large n the attention weights (n² floats per head, kept for the "
           "backward pass) leave the caches, so time can grow faster than the FLOPs. The RNN's time is linear in n "
           "but with a large constant: its n steps run one after another.\n\n";
  r.plot(
      sweep_plot(by_n, false, fmt::format("One layer, forward + backward, d = {}", a.num_hiddens), "sequence length n"),
      "cost_time_by_n.png", "time per layer against n");
  r.plot(sweep_plot(by_n, true, fmt::format("Analytic forward FLOPs of one layer, d = {}", a.num_hiddens),
                    "sequence length n"),
         "cost_flops_by_n.png", "analytic FLOPs against n");
  r.plot(
      sweep_plot(by_d, false, fmt::format("One layer, forward + backward, n = {}", a.fixed_n), "width d (num_hiddens)"),
      "cost_time_by_d.png", "time per layer against d");
}

void latency_section(Report& r) {
  spdlog::info("analyze: 2/7 latency");
  const auto& a = r.config.analyze;
  r.out << "## 2. Sequential operations\n\n";
  const auto ns = doubling(a.min_n, a.max_n);
  const Sweep latency = time_sweep(r.config, ns, {a.num_hiddens}, false);
  Table steps{{"layer", "sequential operations (section)", "at n = " + std::to_string(ns.back()) + " (this code)"}, {}};
  for (const auto& name : default_comparison()) {
    auto enc = make_encoder(one_layer(r.config, name, a.num_hiddens, ns.back()));
    steps.add({name, encoder_facts(name).sequential_operations, std::to_string(enc->cost(ns.back()).sequential_steps)});
  }
  r.out << steps.render(true);
  r.out << "\nMeasured latency of one forward pass at batch 1 (nothing to parallelise across examples), eval mode:\n\n";
  Table times{{"n"}, {}};
  for (const auto& name : default_comparison()) times.header.push_back(name + " ms");
  for (size_t i = 0; i < latency.x.size(); ++i) {
    std::vector<std::string> row = {fmt::format("{}", latency.x[i])};
    for (const auto& name : default_comparison()) row.push_back(fmt::format("{:.3f}", latency.ms.at(name)[i]));
    times.add(row);
  }
  r.out << times.render(true) << "\n";
  r.plot(sweep_plot(latency, false, "Forward latency of one layer at batch 1", "sequence length n"), "latency_by_n.png",
         "latency at batch 1");
}

void path_section(Report& r) {
  spdlog::info("analyze: 3/7 path length");
  r.out << "## 3. Maximum path length, measured from gradients\n\n";
  const std::vector<int64_t> ns = doubling(8, r.config.analyze.max_path_n);
  const auto paths = measure_path_lengths(ns, 8);
  r.out << "Reach per layer is measured on one layer (how far back output n−1's gradient reaches). For the CNNs the "
           "path length is the smallest number of layers for which output n−1 depends on input 0 "
           "(∂y_{n−1}/∂x_0 ≠ 0); for the RNN it is the n−1 recurrent steps that connect them in one layer; for "
           "self-attention one layer always connects them. 'reported' is what the encoder's own cost() says.\n\n";
  std::map<std::string, std::vector<const PathMeasurement*>> by_variant;
  std::vector<std::string> order;
  for (const auto& m : paths) {
    if (!by_variant.count(m.variant)) order.push_back(m.variant);
    by_variant[m.variant].push_back(&m);
  }
  Table table{{"variant", "reach per layer"}, {}};
  for (auto n : ns) table.header.push_back("n = " + std::to_string(n) + " measured / reported");
  LinePlot plot;
  plot.title = "Maximum path length between positions 0 and n-1";
  plot.xlabel = "sequence length n";
  plot.ylabel = "hops (layers, or recurrent steps)";
  plot.logx = plot.logy = true;
  for (const auto& v : order) {
    std::vector<std::string> row = {v, std::to_string(by_variant[v].front()->reach_per_layer)};
    Series s{v, {}, {}};
    for (const auto* m : by_variant[v]) {
      row.push_back(fmt::format("{} / {}{}", m->measured, m->reported, m->measured == m->reported ? "" : " (differs)"));
      s.x.push_back(static_cast<double>(m->n));
      s.y.push_back(static_cast<double>(m->measured));
    }
    table.add(row);
    plot.series.push_back(s);
  }
  r.out << table.render(true);
  r.out << "\nThe CNN needs ⌈(n−1)/((k−1)/2)⌉ layers, O(n/k); the dilated CNN O(log_k n) (Vaswani et al., Table 1); "
           "the RNN O(n); self-attention O(1).\n\n";
  r.plot(plot, "path_length.png", "maximum path length");
}

// Trains the comparison on the lag task; returns its directory ("" when skipped).
std::string distance_section(Report& r, const TrainControl& control) {
  r.out << "## 4. Learning over distance\n\n";
  if (!r.config.analyze.train) {
    r.out << "Skipped (analyze.train: false).\n\n";
    return "";
  }
  if (r.config.data.task != TaskName("lag")) {  // the section reads accuracy by lag distance
    r.out << "Skipped: the configuration's task is `" << r.config.data.task.name() << "`, not `lag`.\n\n";
    return "";
  }
  spdlog::info("analyze: 4/7 training the comparison on the lag task");
  TrainControl quiet = control;
  quiet.quiet = true;
  const auto dir = r.dir / "compare";
  auto result = compare(r.config, default_comparison(), dir.string(), quiet, r.resume);
  if (!result.finished()) {
    r.stop_reason = result.runs.back().outcome.stop_reason;
    r.out << "Stopped: the comparison ended with " << name_of(r.stop_reason) << "; the report ends here.\n";
    return "";
  }
  write_comparison_report(result, dir.string());
  r.out << "The three encoders trained on the same lag data, seed and budget (`compare/report.md` has the curves):\n\n";
  r.out << comparison_table(result, true) << "\n";
  r.out << "![accuracy by distance](compare/accuracy_by_distance.png)\n\n";
  return dir.string();
}

void positional_encoding_section(Report& r) {
  spdlog::info("analyze: 5/7 positional encoding");
  r.out << "## 5. Positional encoding\n\n";
  const auto P = sinusoidal_table(60, 32);
  LinePlot cols;
  cols.title = "Sinusoidal positional encoding, d = 32: columns 6 to 9";
  cols.xlabel = "row (position)";
  cols.ylabel = "P[i, j]";
  cols.style = "lines";
  for (int64_t j = 6; j <= 9; ++j) {
    Series s{"col " + std::to_string(j), {}, {}};
    for (int64_t i = 0; i < 60; ++i) {
      s.x.push_back(static_cast<double>(i));
      s.y.push_back(P[i][j].item<double>());
    }
    cols.series.push_back(s);
  }
  r.plot(cols, "pe_columns.png", "columns 6 to 9");
  HeatMap heat;
  heat.title = "P for 60 positions, d = 32";
  heat.xlabel = "encoding dimension";
  heat.ylabel = "position";
  heat.palette = "diverging";
  for (int64_t i = 0; i < 60; ++i) {
    auto row = P[i].to(torch::kFloat64).contiguous();
    heat.values.emplace_back(row.data_ptr<double>(), row.data_ptr<double>() + 32);
  }
  r.image("pe_heatmap.png", "heat map", plot_heatmap(heat, r.path("pe_heatmap.png")));
  Table binary{{"i", "binary"}, {}};
  binary.align_numbers = false;
  for (int i = 0; i < 8; ++i) binary.add({std::to_string(i), fmt::format("{:03b}", i)});
  r.out << "Absolute position as binary digits: the lowest bit alternates fastest, as the lowest columns of P do.\n\n"
        << binary.render(true);
  r.out << "\nRelative position: for each offset δ, the fixed rotation [[cos δω_j, sin δω_j], [−sin δω_j, cos δω_j]] "
           "maps (P[i, 2j], P[i, 2j+1]) to row i + δ, whatever i. Largest error over i < 60 and all j, d = 32, "
           "float32 table:\n\n";
  using torch::indexing::Slice;
  const auto big = sinusoidal_table(200, 32).to(torch::kFloat64);
  Table rotation{{"δ", "max error"}, {}};
  for (int64_t delta : {1, 2, 5, 10, 20, 50}) {
    double worst = 0;
    for (int64_t j = 0; j < 16; ++j) {
      const double w = 1.0 / std::pow(10000.0, 2.0 * j / 32), c = std::cos(delta * w), s = std::sin(delta * w);
      auto p0 = big.index({Slice(0, 60), 2 * j}), p1 = big.index({Slice(0, 60), 2 * j + 1});
      auto q0 = big.index({Slice(delta, 60 + delta), 2 * j}), q1 = big.index({Slice(delta, 60 + delta), 2 * j + 1});
      worst = std::max({worst, (c * p0 + s * p1 - q0).abs().max().item<double>(),
                        (-s * p0 + c * p1 - q1).abs().max().item<double>()});
    }
    rotation.add({std::to_string(delta), fmt::format("{:.2e}", worst)});
  }
  r.out << rotation.render(true) << "\n";
}

std::string steps_text(int64_t steps) { return steps < 0 ? std::string("—") : std::to_string(steps); }

void recipe_section(Report& r, const TrainControl& control, RunLauncher* launcher, SweepControl sweep) {
  r.out << "## 7. Recipes: why the book's transformer fails local tasks\n\n";
  if (!r.config.analyze.recipes) {
    r.out << "Skipped (analyze.recipes: false).\n\n";
    return;
  }
  spdlog::info("analyze: 7/7 the recipe study, {} runs at a time", std::max(1, sweep.jobs));
  TrainControl quiet = control;
  quiet.quiet = true;
  InProcessLauncher here(quiet);
  if (!sweep.stop_requested) sweep.stop_requested = control.stop_requested;
  const auto study =
      run_recipe_study((r.dir / "recipes").string(), r.config.analyze.recipe_steps, launcher ? *launcher : here, sweep);
  if (study.stop_reason != StopReason::completed || !study.failures.empty()) {
    r.stop_reason = study.stop_reason;
    r.failures = study.failures;
    r.out << (study.failures.empty() ? "Stopped: " + name_of(study.stop_reason)
                                     : "Failed runs: " + join(study.failures, "; "))
          << ". Run the same command again to continue the study.\n";
    return;
  }
  r.out << fmt::format(
      "A transformer (d 64, 2 layers, 4 heads) on a local tagging task (`segment`: words of a random lexicon "
      "written without spaces, tagged B/I) and on `lag` (distances 1-8), n 24-32, {} steps of batch 32, changing "
      "one thing at a time from the book's recipe (embeddings N(0, 1) times sqrt(d), dropout 0.1 on X + P, lr "
      "0.001) towards seqenc's default; the CNN and RNN on the same budget. Runs: `recipes/<task>/<variant>`.\n\n",
      r.config.analyze.recipe_steps);
  Table table{{"variant", "segment: best valid acc.", "steps to 0.9", "lag: best valid acc.", "steps to 0.9"}, {}};
  const size_t half = study.runs.size() / 2;
  for (size_t i = 0; i < half; ++i) {
    const auto &seg = study.runs[i], &lag = study.runs[half + i];
    table.add({seg.variant, fmt::format("{:.3f}", seg.best_accuracy), steps_text(seg.steps_to_90),
               fmt::format("{:.3f}", lag.best_accuracy), steps_text(lag.steps_to_90)});
  }
  r.out << table.render(true) << "\n";
  for (const std::string task : {"segment", "lag"}) {
    LinePlot plot;
    plot.title = "Validation accuracy on " + task + " by recipe";
    plot.xlabel = "step";
    plot.ylabel = "accuracy";
    for (const auto& run : study.runs) {
      if (run.task != task) continue;
      Series s{run.variant, {}, {}};
      for (const auto& [step, accuracy] : run.curve) s.x.push_back(static_cast<double>(step)), s.y.push_back(accuracy);
      plot.series.push_back(s);
    }
    r.plot(plot, "recipes_" + task + ".png", "validation accuracy on " + task);
  }
}

// The first encoder of the comparison whose forward pass records attention weights, loaded from its best
// checkpoint with recording on; nullopt when none has attention.
std::optional<LoadedRun> run_with_attention(const std::string& comparison_dir) {
  for (const auto& name : default_comparison()) {
    auto run = load_run((fs::path(comparison_dir) / name).string(), CheckpointKind::best);
    run.model->encoder->record_attention_weights(true);
    if (!run.model->encoder->attention_kernel(torch::kCPU).empty()) return run;
  }
  return std::nullopt;
}

void attention_section(Report& r, const std::string& comparison_dir) {
  r.out << "## 6. Attention weights of the trained transformer\n\n";
  auto loaded = comparison_dir.empty() ? std::nullopt : run_with_attention(comparison_dir);
  if (!loaded) {
    r.out << "Skipped: needs an encoder with attention trained in section 4.\n";
    return;
  }
  spdlog::info("analyze: 6/7 attention weights");
  auto& run = *loaded;
  auto& enc = *run.model->encoder;
  const auto& valid = run.task.valid;
  const int64_t len = valid.length(0);
  std::vector<int64_t> ids(valid.tokens.begin() + valid.offsets[0], valid.tokens.begin() + valid.offsets[1]);
  torch::NoGradGuard no_grad;
  run.model->forward(torch::tensor(ids).unsqueeze(0), torch::tensor({len}));
  std::vector<std::string> queries;
  for (int64_t t = 0; t < len; ++t) {
    if (valid.labels[valid.offsets[0] + t] != kIgnoreLabel) {
      queries.push_back(fmt::format("{} (distance {})", t, valid.groups[valid.offsets[0] + t]));
    }
  }
  r.out << "One validation example of " << len << " tokens; its query positions: " << join(queries, ", ")
        << ". Rows are queries, columns keys; a head that solved the task puts its weight d columns left of the "
           "diagonal on a query row.\n\n";
  const auto weights = enc.attention_weights();
  for (size_t b = 0; b < weights.size(); ++b) {
    std::vector<HeatMap> maps;
    for (int64_t h = 0; h < weights[b].size(1); ++h) {
      HeatMap m;
      m.title = fmt::format("head {}", h);
      m.xlabel = "key position";
      m.ylabel = "query position";
      auto w = weights[b][0][h].to(torch::kFloat64).contiguous();
      for (int64_t i = 0; i < len; ++i) m.values.emplace_back(w[i].data_ptr<double>(), w[i].data_ptr<double>() + len);
      maps.push_back(m);
    }
    const std::string file = fmt::format("attention_block{}.png", b);
    r.image(file, fmt::format("block {} attention", b),
            plot_heatmaps(maps, fmt::format("Block {}: attention weights per head", b), r.path(file)));
  }
}

}  // namespace

namespace {
// An out_dir with a config.yaml and no report holds an analysis that stopped: the same configuration continues it.
bool continues(const ToolConfig& config, const fs::path& dir) {
  if (fs::exists(dir / "report.md")) throw ConfigError(dir.string() + " already holds a report; choose another --out");
  if (!fs::exists(dir / "config.yaml")) return false;
  std::string problem;
  const auto text = read_whole_file(dir / "config.yaml", &problem);
  const auto yaml = to_yaml(config, recipe_keys_unset(config));
  if (text.size() < yaml.size() || text.compare(text.size() - yaml.size(), yaml.size(), yaml) != 0)
    throw ConfigError(dir.string() + " holds an unfinished analysis of another configuration; choose another --out");
  return true;
}
}  // namespace

AnalysisOutcome write_analysis(const ToolConfig& config, const std::string& out_dir, const TrainControl& control,
                               RunLauncher* launcher, const SweepControl& sweep) {
  if (auto problems = tool_config_problems(config); !problems.empty())
    throw ConfigError("configuration: " + join(problems, "; "));
  const fs::path dir(out_dir);
  const bool resume = continues(config, dir);
  fs::create_directories(dir);
  Report report{config, dir, {}};
  report.resume = resume;
  if (resume) spdlog::info("analyze: continuing the analysis in {}", out_dir);
  report.out << "# seqenc analyze: the section's comparison, measured\n\n";
  report.out << fmt::format(
      "LibTorch {}.{}, {} intra-op thread(s), timings in {} (`train.precision`). Reproduce with `seqenc analyze "
      "--config <this config> --out DIR`; the configuration used is in `config.yaml` beside this report.\n\n",
      TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, torch::get_num_threads(), name_of(config.train.precision));
  save_config(config, (dir / "config.yaml").string(), recipe_keys_unset(config));
  cost_section(report);
  latency_section(report);
  path_section(report);
  const auto comparison_dir = distance_section(report, control);
  if (report.stop_reason == StopReason::completed) {
    positional_encoding_section(report);
    attention_section(report, comparison_dir);
    recipe_section(report, control, launcher, sweep);
  }
  if (report.stop_reason != StopReason::completed || !report.failures.empty()) {
    return {"", report.stop_reason, report.failures};  // no report.md: the same command continues
  }
  write_file_atomic(dir / "report.md", report.out.str());
  return {(dir / "report.md").string(), report.stop_reason, {}};
}

}  // namespace seqenc

#include "seqenc/tools/plot.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace seqenc {

namespace {

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

bool run_gnuplot(const std::string& script, const std::string& png_path) {
  static bool warned = false;
  const std::string script_path = png_path + ".gp";
  {
    std::ofstream out(script_path);
    out << script;
  }
  const std::string command = "gnuplot " + quoted(script_path) + " 2>/dev/null";
  const int rc = std::system(command.c_str());
  std::filesystem::remove(script_path);
  if (rc != 0 || !std::filesystem::exists(png_path)) {
    if (!warned) spdlog::warn("gnuplot failed or is missing (apt-get install gnuplot-nox); plots skipped");
    warned = true;
    return false;
  }
  return true;
}

std::string header(const std::string& png_path, int width, int height) {
  return fmt::format("set terminal pngcairo size {},{} enhanced font 'sans,10'\nset output {}\n", width, height,
                     quoted(png_path));
}

const char* palette(const std::string& name) {
  if (name == "diverging") return "set palette defined (-1 '#2166ac', 0 '#f7f7f7', 1 '#b2182b')\n";
  return "set palette defined (0 '#440154', 0.25 '#3b528b', 0.5 '#21918c', 0.75 '#5ec962', 1 '#fde725')\n";
}

std::string heatmap_body(const HeatMap& m, const std::string& block) {
  std::ostringstream s;
  s << "$" << block << " << EOD\n";
  for (const auto& row : m.values) {
    for (size_t j = 0; j < row.size(); ++j) s << (j ? " " : "") << row[j];
    s << "\n";
  }
  s << "EOD\n";
  s << "set title " << quoted(m.title) << "\nset xlabel " << quoted(m.xlabel) << "\nset ylabel " << quoted(m.ylabel)
    << "\n"
    << palette(m.palette);
  const size_t rows = m.values.size(), cols = rows ? m.values[0].size() : 0;
  s << fmt::format("set xrange [-0.5:{}]\nset yrange [{}:-0.5]\n", cols - 0.5, rows - 0.5);
  s << "plot $" << block << " matrix with image notitle\n";
  return s.str();
}

}  // namespace

bool plot_lines(const LinePlot& p, const std::string& png_path) {
  std::ostringstream s;
  s << header(png_path, 900, 560);
  auto errors = [&p](size_t i) { return i < p.yerr.size() && !p.yerr[i].empty() ? &p.yerr[i] : nullptr; };
  for (size_t i = 0; i < p.series.size(); ++i) {
    s << "$d" << i << " << EOD\n";
    const auto& series = p.series[i];
    for (size_t k = 0; k < series.x.size() && k < series.y.size(); ++k) {
      if (!std::isfinite(series.x[k]) || !std::isfinite(series.y[k])) continue;
      s << series.x[k] << " " << series.y[k];
      if (const auto* e = errors(i)) s << " " << (k < e->size() ? (*e)[k] : 0.0);
      s << "\n";
    }
    s << "EOD\n";
  }
  // noenhanced: names such as model.num_layers keep their underscores (enhanced text would subscript them).
  s << "set title " << quoted(p.title) << " noenhanced\nset xlabel " << quoted(p.xlabel) << " noenhanced\nset ylabel "
    << quoted(p.ylabel) << " noenhanced\nset grid\nset key outside right top\n";
  if (!p.xtics.empty()) {
    s << "set xtics noenhanced (";
    for (size_t i = 0; i < p.xtics.size(); ++i) s << (i ? ", " : "") << quoted(p.xtics[i]) << " " << i;
    s << ")\nset xrange [-0.5:" << p.xtics.size() - 0.5 << "]\n";
  }
  if (p.logx) s << "set logscale x 2\n";
  if (p.logy) s << "set logscale y\n";
  if (std::isfinite(p.ymin) || std::isfinite(p.ymax)) {
    s << "set yrange [" << (std::isfinite(p.ymin) ? fmt::format("{}", p.ymin) : "") << ":"
      << (std::isfinite(p.ymax) ? fmt::format("{}", p.ymax) : "") << "]\n";
  }
  s << "plot ";
  for (size_t i = 0; i < p.series.size(); ++i) {
    s << (i ? ", " : "") << "$d" << i << (errors(i) ? " using 1:2:3 with yerrorlines" : " using 1:2 with " + p.style)
      << " lw 2 title " << quoted(p.series[i].title) << " noenhanced";
  }
  s << "\n";
  return run_gnuplot(s.str(), png_path);
}

bool plot_heatmap(const HeatMap& m, const std::string& png_path) {
  return run_gnuplot(header(png_path, 800, 600) + heatmap_body(m, "m"), png_path);
}

bool plot_heatmaps(const std::vector<HeatMap>& maps, const std::string& title, const std::string& png_path) {
  if (maps.empty()) return false;
  const int cols = static_cast<int>(std::min<size_t>(maps.size(), 4));
  const int rows = static_cast<int>((maps.size() + static_cast<size_t>(cols) - 1) / static_cast<size_t>(cols));
  std::ostringstream s;
  s << header(png_path, 380 * cols, 340 * rows + 40);
  s << fmt::format("set multiplot layout {},{} title {}\n", rows, cols, quoted(title));
  for (size_t i = 0; i < maps.size(); ++i) s << heatmap_body(maps[i], "h" + std::to_string(i));
  s << "unset multiplot\n";
  return run_gnuplot(s.str(), png_path);
}

}  // namespace seqenc

// Plots through gnuplot (Debian's gnuplot-nox): PNG line charts and heat maps.
#pragma once
#include <string>
#include <vector>

namespace seqenc {

struct Series {
  std::string title;
  std::vector<double> x, y;
};

struct LinePlot {
  std::string title, xlabel, ylabel;
  bool logx = false, logy = false;
  std::vector<Series> series;
  std::string style = "linespoints";      // gnuplot style: lines | linespoints | points
  double ymin = NAN, ymax = NAN;          // NAN: automatic
  std::vector<std::vector<double>> yerr;  // per series: ± error bars at each point (none where empty)
  std::vector<std::string> xtics;         // names at x = 0, 1, ... for a categorical x axis (empty: numbers)
};

struct HeatMap {
  std::string title, xlabel, ylabel;
  std::vector<std::vector<double>> values;  // rows (y) x columns (x)
  std::string palette = "viridis";          // viridis | diverging
};

// Renders to a PNG; returns false (and warns once) when gnuplot is unavailable or fails.
bool plot_lines(const LinePlot& plot, const std::string& png_path);
bool plot_heatmap(const HeatMap& map, const std::string& png_path);
// Several heat maps side by side in one PNG (e.g. one per attention head).
bool plot_heatmaps(const std::vector<HeatMap>& maps, const std::string& title, const std::string& png_path);

}  // namespace seqenc

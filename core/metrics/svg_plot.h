// A small dependency-free SVG line-chart writer: one figure of stacked panels, each with axes,
// "nice" ticks, gridlines, a legend and several series (used by `retort plot` and the examples).
#pragma once
#include <string>
#include <vector>

namespace retort::core {

struct PlotSeries {
  std::string label;
  std::vector<double> x;  // same length as y; non-finite points are skipped
  std::vector<double> y;
};

struct PlotPanel {
  std::string x_label;
  std::string y_label;
  std::vector<PlotSeries> series;
};

struct PlotFigure {
  std::string title;
  std::vector<PlotPanel> panels;  // drawn top to bottom, each `panel_height` pixels tall
  int width = 800;
  int panel_height = 320;
};

// Pixel geometry of one panel's plotting area and the data range it shows.
struct PanelFrame {
  double left = 0, top = 0, width = 0, height = 0;  // plotting area in SVG pixels
  double x_min = 0, x_max = 1, y_min = 0, y_max = 1;  // data range at the edges of the area
  double px(double x) const { return left + (x - x_min) / (x_max - x_min) * width; }
  double py(double y) const { return top + height - (y - y_min) / (y_max - y_min) * height; }
};

// Ticks at multiples of 1, 2 or 5 × 10^k inside [lo, hi], about `target` of them (at least 2
// when lo < hi). lo == hi gives the single value.
std::vector<double> nice_ticks(double lo, double hi, int target);

// The frame panel `index` of `figure` is drawn in: the data range is the series' finite extent
// widened to the enclosing ticks (a constant series gets a ±1 or ±10% range).
PanelFrame panel_frame(const PlotFigure& figure, size_t index);

// The figure as an SVG document. Throws an input error when a series' x and y differ in length
// or the figure has no panel.
std::string render_svg(const PlotFigure& figure);

// render_svg to `path` (written whole, then renamed into place). Throws a runtime error naming
// the path when it cannot be written.
void write_svg(const PlotFigure& figure, const std::string& path);

// `text` with &, <, >, " and ' replaced by XML entities.
std::string xml_escape(const std::string& text);

}  // namespace retort::core

// SVG line charts: nice tick placement, panel geometry and the SVG text of a PlotFigure.
#include "core/metrics/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <limits>

#include "core/base/error.h"

namespace retort::core {
namespace {

constexpr double kMarginLeft = 78;    // tick labels and the rotated y label
constexpr double kMarginRight = 230;  // legend (about 26 characters)
constexpr double kMarginTop = 16;
constexpr double kMarginBottom = 48;  // tick labels and the x label
constexpr double kTitleHeight = 34;
constexpr size_t kMarkerLimit = 40;   // series with at most this many points get point markers
constexpr int kXTicks = 7;
constexpr int kYTicks = 6;
constexpr const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

// The 1-2-5 step sequence: index i is (1, 2, 5)[i mod 3] × 10^(floor(i / 3)).
double step_of(int i) {
  const int decade = static_cast<int>(std::floor(i / 3.0));
  const int m = i - 3 * decade;
  return (m == 0 ? 1.0 : m == 1 ? 2.0 : 5.0) * std::pow(10.0, decade);
}

double tick_step(double lo, double hi, int target) {
  const double raw = (hi - lo) / std::max(target - 1, 1);
  int i = 3 * static_cast<int>(std::floor(std::log10(raw)));
  while (step_of(i) < raw / 1.5) ++i;  // the first nice step not much below the raw one
  auto count = [&](double s) { return std::floor(hi / s + 1e-9) - std::ceil(lo / s - 1e-9) + 1; };
  while (count(step_of(i)) < 2) --i;
  return step_of(i);
}

std::string number(double v) { return fmt::format("{:g}", v); }

void extent(const PlotPanel& panel, bool of_x, double& lo, double& hi) {
  lo = std::numeric_limits<double>::infinity();
  hi = -lo;
  for (const PlotSeries& s : panel.series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      const double v = of_x ? s.x[i] : s.y[i];
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  if (lo > hi) {  // no finite point
    lo = 0;
    hi = 1;
  } else if (lo == hi) {
    const double pad = lo == 0 ? 1.0 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
}

// Widens [lo, hi] to the enclosing multiples of its tick step.
void widen_to_ticks(double& lo, double& hi, int target) {
  const double s = tick_step(lo, hi, target);
  lo = std::floor(lo / s + 1e-9) * s;
  hi = std::ceil(hi / s - 1e-9) * s;
}

double panel_top(const PlotFigure& f, size_t index) {
  return (f.title.empty() ? 0 : kTitleHeight) + static_cast<double>(index) * f.panel_height;
}

void draw_series(const PlotSeries& s, const char* color, const PanelFrame& fr, std::string& svg) {
  std::string points;
  size_t n = 0;
  for (size_t i = 0; i < s.x.size(); ++i) {
    if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
    points += fmt::format("{}{:.2f},{:.2f}", n++ ? " " : "", fr.px(s.x[i]), fr.py(s.y[i]));
  }
  svg += fmt::format("<polyline class=\"series\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.8\" points=\"{}\"/>\n",
                     color, points);
  if (n > kMarkerLimit) return;
  for (size_t i = 0; i < s.x.size(); ++i)
    if (std::isfinite(s.x[i]) && std::isfinite(s.y[i]))
      svg += fmt::format("<circle cx=\"{:.2f}\" cy=\"{:.2f}\" r=\"3\" fill=\"{}\"/>\n", fr.px(s.x[i]), fr.py(s.y[i]),
                         color);
}

void draw_panel(const PlotFigure& figure, size_t index, std::string& svg) {
  const PlotPanel& panel = figure.panels[index];
  const PanelFrame fr = panel_frame(figure, index);
  const double right = fr.left + fr.width, bottom = fr.top + fr.height;
  svg += "<g class=\"panel\">\n";
  for (double t : nice_ticks(fr.x_min, fr.x_max, kXTicks)) {
    const double x = fr.px(t);
    svg += fmt::format("<line x1=\"{0:.2f}\" y1=\"{1:.2f}\" x2=\"{0:.2f}\" y2=\"{2:.2f}\" stroke=\"#e5e5e5\"/>\n", x,
                       fr.top, bottom);
    svg += fmt::format("<text x=\"{:.2f}\" y=\"{:.2f}\" text-anchor=\"middle\">{}</text>\n", x, bottom + 16,
                       xml_escape(number(t)));
  }
  for (double t : nice_ticks(fr.y_min, fr.y_max, kYTicks)) {
    const double y = fr.py(t);
    svg += fmt::format("<line x1=\"{0:.2f}\" y1=\"{1:.2f}\" x2=\"{2:.2f}\" y2=\"{1:.2f}\" stroke=\"#e5e5e5\"/>\n",
                       fr.left, y, right);
    svg += fmt::format("<text x=\"{:.2f}\" y=\"{:.2f}\" text-anchor=\"end\">{}</text>\n", fr.left - 6, y + 4,
                       xml_escape(number(t)));
  }
  svg += fmt::format("<rect x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\" fill=\"none\" "
                     "stroke=\"#333\"/>\n",
                     fr.left, fr.top, fr.width, fr.height);
  svg += fmt::format("<text x=\"{:.2f}\" y=\"{:.2f}\" text-anchor=\"middle\">{}</text>\n", fr.left + fr.width / 2,
                     bottom + 36, xml_escape(panel.x_label));
  svg += fmt::format("<text transform=\"translate({:.2f},{:.2f}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
                     fr.left - 56, fr.top + fr.height / 2, xml_escape(panel.y_label));
  for (size_t k = 0; k < panel.series.size(); ++k) {
    const char* color = kPalette[k % std::size(kPalette)];
    draw_series(panel.series[k], color, fr, svg);
    const double ly = fr.top + 12 + 20 * static_cast<double>(k);
    svg += fmt::format("<line x1=\"{0:.2f}\" y1=\"{1:.2f}\" x2=\"{2:.2f}\" y2=\"{1:.2f}\" stroke=\"{3}\" "
                       "stroke-width=\"3\"/>\n",
                       right + 14, ly, right + 38, color);
    svg += fmt::format("<text class=\"legend\" x=\"{:.2f}\" y=\"{:.2f}\">{}</text>\n", right + 44, ly + 4,
                       xml_escape(panel.series[k].label));
  }
  svg += "</g>\n";
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) RETORT_INPUT_ERROR("plot: axis range is not finite");
  if (hi < lo) std::swap(lo, hi);
  if (lo == hi) return {lo};
  const double s = tick_step(lo, hi, std::max(target, 2));
  std::vector<double> ticks;
  const auto first = static_cast<long long>(std::ceil(lo / s - 1e-9));
  const auto last = static_cast<long long>(std::floor(hi / s + 1e-9));
  for (long long k = first; k <= last; ++k) ticks.push_back(static_cast<double>(k) * s);
  return ticks;
}

PanelFrame panel_frame(const PlotFigure& figure, size_t index) {
  if (index >= figure.panels.size()) RETORT_INPUT_ERROR(fmt::format("plot: no panel {}", index));
  const PlotPanel& panel = figure.panels[index];
  PanelFrame fr;
  fr.left = kMarginLeft;
  fr.top = panel_top(figure, index) + kMarginTop;
  fr.width = std::max(10.0, figure.width - kMarginLeft - kMarginRight);
  fr.height = std::max(10.0, figure.panel_height - kMarginTop - kMarginBottom);
  extent(panel, true, fr.x_min, fr.x_max);
  extent(panel, false, fr.y_min, fr.y_max);
  widen_to_ticks(fr.x_min, fr.x_max, kXTicks);
  widen_to_ticks(fr.y_min, fr.y_max, kYTicks);
  return fr;
}

std::string render_svg(const PlotFigure& figure) {
  if (figure.panels.empty()) RETORT_INPUT_ERROR("plot: the figure has no panel");
  for (const PlotPanel& p : figure.panels)
    for (const PlotSeries& s : p.series)
      if (s.x.size() != s.y.size())
        RETORT_INPUT_ERROR(fmt::format("plot: series '{}' has {} x values and {} y values", s.label, s.x.size(),
                                       s.y.size()));
  const double height = panel_top(figure, figure.panels.size());
  std::string svg = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      figure.width, height);
  if (!figure.title.empty())
    svg += fmt::format("<text x=\"{:.2f}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n",
                       figure.width / 2.0, xml_escape(figure.title));
  for (size_t i = 0; i < figure.panels.size(); ++i) draw_panel(figure, i, svg);
  svg += "</svg>\n";
  return svg;
}

void write_svg(const PlotFigure& figure, const std::string& path) {
  const std::string svg = render_svg(figure);
  namespace fs = std::filesystem;
  const fs::path target(path);
  std::error_code ec;
  if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) RETORT_RUNTIME_ERROR("plot: cannot write '" + path + "'");
  const bool ok = std::fwrite(svg.data(), 1, svg.size(), f) == svg.size();
  if (std::fclose(f) != 0 || !ok) {
    fs::remove(tmp, ec);
    RETORT_RUNTIME_ERROR("plot: cannot write '" + path + "'");
  }
  fs::rename(tmp, target, ec);
  if (ec) RETORT_RUNTIME_ERROR("plot: cannot rename '" + tmp + "' to '" + path + "': " + ec.message());
}

std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace retort::core

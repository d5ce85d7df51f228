// The SVG writer: tick placement, the data-to-pixel mapping of each series, legends and escaping.
#include <catch2/catch.hpp>

#include <cmath>
#include <regex>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/metrics/svg_plot.h"

using namespace retort::core;

namespace {

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// The "points" attribute of every polyline, parsed back into pixel pairs.
std::vector<std::vector<std::pair<double, double>>> polylines(const std::string& svg) {
  std::vector<std::vector<std::pair<double, double>>> out;
  const std::regex line("<polyline[^>]*points=\"([^\"]*)\"");
  const std::regex pair("(-?[0-9.]+),(-?[0-9.]+)");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), line); it != std::sregex_iterator(); ++it) {
    const std::string pts = (*it)[1];
    out.emplace_back();
    for (auto p = std::sregex_iterator(pts.begin(), pts.end(), pair); p != std::sregex_iterator(); ++p)
      out.back().emplace_back(std::stod((*p)[1]), std::stod((*p)[2]));
  }
  return out;
}

bool is_nice(double step) {
  const double mantissa = step / std::pow(10.0, std::floor(std::log10(step)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (std::abs(mantissa - m) < 1e-9 * m) return true;
  return false;
}

}  // namespace

TEST_CASE("nice_ticks: evenly spaced 1-2-5 steps inside the range") {
  const std::vector<std::pair<double, double>> ranges = {
      {0, 1}, {0, 14040}, {0.71, 0.89}, {-3.2, 7.9}, {1e-4, 3e-4}, {1, 20}, {0.0123, 2.5}, {-1000, -999.5}};
  for (const auto& [lo, hi] : ranges) {
    const std::vector<double> t = nice_ticks(lo, hi, 6);
    INFO("range " << lo << " .. " << hi);
    REQUIRE(t.size() >= 2);
    REQUIRE(t.size() <= 12);
    const double step = t[1] - t[0];
    CHECK(is_nice(step));
    for (size_t i = 0; i < t.size(); ++i) {
      CHECK(t[i] >= lo - 1e-9 * (std::abs(lo) + step));
      CHECK(t[i] <= hi + 1e-9 * (std::abs(hi) + step));
      // Multiples of the step: a tick divided by the step is an integer.
      CHECK(std::abs(t[i] / step - std::round(t[i] / step)) < 1e-6);
      if (i > 0) CHECK(std::abs((t[i] - t[i - 1]) - step) < 1e-9 * (std::abs(t[i]) + step));
    }
    // No whole step is missing at either end.
    CHECK(t.front() - step < lo + 1e-9 * step);
    CHECK(t.back() + step > hi - 1e-9 * step);
  }
  CHECK(nice_ticks(3, 3, 5) == std::vector<double>{3});
  CHECK(nice_ticks(0, 10, 6) == std::vector<double>{0, 2, 4, 6, 8, 10});
}

TEST_CASE("render_svg: every point lands where the panel frame maps it") {
  PlotFigure fig;
  fig.title = "loss";
  PlotPanel panel;
  panel.x_label = "step";
  panel.y_label = "loss";
  panel.series.push_back({"scratch", {0, 50, 100, 150}, {2.3, 1.1, 0.7, 0.5}});
  panel.series.push_back({"distilled", {0, 100, 175}, {2.0, 0.9, 0.45}});
  fig.panels.push_back(panel);
  const std::string svg = render_svg(fig);
  const PanelFrame fr = panel_frame(fig, 0);

  // The range covers the data and is widened only to the enclosing ticks.
  CHECK(fr.x_min <= 0);
  CHECK(fr.x_max >= 175);
  CHECK(fr.y_min <= 0.45);
  CHECK(fr.y_max >= 2.3);
  CHECK(fr.x_max - fr.x_min < 2 * 175);

  const auto lines = polylines(svg);
  REQUIRE(lines.size() == 2);
  for (size_t s = 0; s < 2; ++s) {
    const PlotSeries& series = panel.series[s];
    REQUIRE(lines[s].size() == series.x.size());
    for (size_t i = 0; i < series.x.size(); ++i) {
      // Reference mapping written out here: linear from the data range onto the frame.
      const double ref_x = fr.left + (series.x[i] - fr.x_min) / (fr.x_max - fr.x_min) * fr.width;
      const double ref_y = fr.top + fr.height * (1 - (series.y[i] - fr.y_min) / (fr.y_max - fr.y_min));
      CHECK(std::abs(lines[s][i].first - ref_x) <= 0.006);
      CHECK(std::abs(lines[s][i].second - ref_y) <= 0.006);
      CHECK(lines[s][i].first >= fr.left - 0.006);
      CHECK(lines[s][i].first <= fr.left + fr.width + 0.006);
      CHECK(lines[s][i].second >= fr.top - 0.006);
      CHECK(lines[s][i].second <= fr.top + fr.height + 0.006);
    }
  }
  CHECK(count(svg, "class=\"legend\"") == 2);
  CHECK(svg.find(">scratch</text>") != std::string::npos);
  CHECK(svg.find(">distilled</text>") != std::string::npos);
  CHECK(svg.rfind("</svg>\n") == svg.size() - 7);
}

TEST_CASE("render_svg: stacked panels, skipped non-finite points, escaped text") {
  PlotFigure fig;
  fig.title = "a < b & \"c\"";
  PlotPanel top;
  top.y_label = "loss";
  top.series.push_back({"run <1>", {1, 2, 3}, {1.0, std::nan(""), 0.5}});
  PlotPanel bottom;
  bottom.y_label = "test_accuracy";
  bottom.series.push_back({"run <1>", {3}, {0.8}});
  fig.panels = {top, bottom};
  const std::string svg = render_svg(fig);
  CHECK(count(svg, "<g class=\"panel\">") == 2);
  const auto lines = polylines(svg);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].size() == 2);  // the NaN point is left out
  CHECK(lines[1].size() == 1);
  // The second panel lies entirely below the first.
  const PanelFrame f0 = panel_frame(fig, 0), f1 = panel_frame(fig, 1);
  CHECK(f1.top >= f0.top + f0.height);
  CHECK(lines[1][0].second >= f1.top);
  CHECK(svg.find("a &lt; b &amp; &quot;c&quot;") != std::string::npos);
  CHECK(svg.find("run &lt;1&gt;") != std::string::npos);
  CHECK(svg.find("run <1>") == std::string::npos);
  CHECK(xml_escape("it's") == "it&apos;s");
}

TEST_CASE("render_svg rejects malformed figures") {
  PlotFigure empty;
  CHECK_THROWS_AS(render_svg(empty), retort::Error);
  PlotFigure bad;
  bad.panels.push_back({"x", "y", {{"s", {1, 2}, {1}}}});
  CHECK_THROWS_WITH(render_svg(bad), Catch::Contains("series 's' has 2 x values and 1 y values"));
}

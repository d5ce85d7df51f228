// `retort plot`: line charts of metrics.jsonl runs as SVG.
#include "core/base/error.h"
#include "launch/commands.h"

namespace retort::launch {

int run_plot(const PlotOptions&) {
  RETORT_INPUT_ERROR("retort plot is not implemented in this version of retort yet");
}

}  // namespace retort::launch

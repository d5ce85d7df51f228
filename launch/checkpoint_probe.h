// What the restart supervisor reports as "newest good checkpoint": the newest checkpoint in a
// run's checkpoints/ folder whose manifest and files verify, the same rule the job's resume uses.
#pragma once
#include <string>

namespace retort::launch {

// "step N (DIR)", followed by "; skipped DIR: reason" for every newer checkpoint that does not
// verify; "none in DIR (a restart starts from step 0)" (plus skips) when nothing verifies.
std::string newest_good_checkpoint(const std::string& checkpoints_dir);

}  // namespace retort::launch

// The distillation job (`retort train` with a teacher section) and offline teacher inference
// (`retort teach`): role assignment, the teacher pool on teacher ranks, the shared student loop
// with the distillation objective on student ranks, and the logits cache.
#pragma once
#include <cstdint>

#include "comm/collectives.h"
#include "comm/world.h"
#include "core/config/config.h"

namespace retort::core {

struct DistillOptions {
  // > 0: students checkpoint and stop after this many global steps, teachers stop serving
  // there (a job killed at that step, for resume tests).
  int64_t stop_after_step = 0;
};

int run_distill(const Config& config, comm::World& world, const DistillOptions& options = {});

// The offline student loop of run_distill (teacher.source: cache, no online teachers) over
// `students`, a group of student ranks only; retort_bench distill runs it on one rank.
int run_cached_students(const Config& config, comm::World& world, comm::Group students,
                        const DistillOptions& options = {});

// `retort teach` runs on cluster.teachers ranks; input error when the world differs.
void check_teach_world_size(const Config& config, int world_size);
int run_teach(const Config& config, comm::World& world);

}  // namespace retort::core

// Fault-injection program for comm/ (driven by expect_exit.sh): `mismatch` starts roles that do
// not fit the world, `kill` SIGKILLs a student mid-exchange, `stall` SIGSTOPs one so the
// teacher's channel deadline must fire; `kill-reduce` / `stall-reduce` do the same to a student
// in the middle of gradient reduction. Errors end the job the way the retort binary does.
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "comm/backends.h"
#include "comm/channel.h"
#include "comm/roles.h"
#include "comm/world.h"
#include "core/base/error.h"

using namespace retort;
using namespace retort::comm;

namespace {

// Teacher sends `steps` dense messages to each student; student `victim` raises `signal_number`
// at step `at` before receiving it.
void exchange(const Roles& roles, int steps, int victim, int at, int signal_number, double timeout_s) {
  ChannelConfig cc;
  cc.lookahead = 2;
  cc.max_payload_bytes = 4096;
  cc.timeout_s = timeout_s;
  std::vector<float> logits(4 * 16, 0.5f);
  const LogitsPayload payload{PayloadKind::dense, DType::f32, 4, 16, 0, logits.data(), nullptr, nullptr};
  if (roles.is_teacher()) {
    auto channel = make_teacher_channel(roles, cc);
    for (int step = 0; step < steps; ++step)
      for (int s : roles.table().students_of(roles.index())) channel->send(s, step, payload);
    channel->finish();
  } else {
    auto channel = make_student_channel(roles, cc);
    for (int step = 0; step < steps; ++step) {
      if (roles.index() == victim && step == at) raise(signal_number);
      channel->recv(step);
    }
    channel->close();
  }
}

// Every student reduces `steps` steps of a gradient buffer; student `victim` raises
// `signal_number` at step `at` before marking its gradients ready.
void reduce(const Roles& roles, int steps, int victim, int at, int signal_number, double timeout_s) {
  std::vector<float> grads(100000, 1.0f);
  ReducerConfig config;
  config.bucket_bytes = 64 * 1024;
  config.timeout_s = timeout_s;
  auto reducer = make_reducer(roles, Transport::mpi, grads.data(), grads.size(), config);
  for (int step = 0; step < steps; ++step) {
    if (roles.index() == victim && step == at) raise(signal_number);
    reducer->mark_ready(0, grads.size());
    reducer->wait();
  }
}

}  // namespace

int main(int argc, char** argv) {
  World world(&argc, &argv);
  const char* mode = argc > 1 ? argv[1] : "";
  try {
    RolesConfig config;
    const bool reducing = std::strstr(mode, "reduce") != nullptr;
    config.teachers = reducing ? 0 : 1;
    config.students = std::strcmp(mode, "mismatch") == 0 ? 1 : world.size() - config.teachers;
    Roles roles(world, config);
    if (std::strcmp(mode, "kill") == 0) exchange(roles, 50, 1, 3, SIGKILL, 20);
    else if (std::strcmp(mode, "stall") == 0) exchange(roles, 50, 0, 2, SIGSTOP, 2);
    else if (std::strcmp(mode, "kill-reduce") == 0) reduce(roles, 20, 1, 3, SIGKILL, 20);
    else if (std::strcmp(mode, "stall-reduce") == 0) reduce(roles, 20, 1, 3, SIGSTOP, 2);
    else RETORT_INPUT_ERROR(std::string("unknown mode '") + mode + "' (mismatch|kill|stall|kill-reduce|stall-reduce)");
    return 0;
  } catch (const Error& e) {
    // An input error every rank computed identically: report once, exit cleanly everywhere.
    if (e.kind() == ErrorKind::input) {
      if (world.rank() == 0) std::fprintf(stderr, "retort: error: %s\n", e.message().c_str());
      return e.exit_code();
    }
    // A runtime error only this rank saw: report it and end the whole job.
    std::fprintf(stderr, "retort: rank %d: error: %s\n", world.rank(), e.message().c_str());
    std::fflush(stderr);
    world.abort(e.exit_code());
  }
}

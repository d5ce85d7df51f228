// Runs one attempt of the job (the mpirun or srun command) as a child of `retort launch`,
// forwarding the signals a user or scheduler sends to `retort launch` (SIGUSR1: checkpoint and
// stop; SIGTERM, SIGINT, SIGHUP: stop) to it, and reports how it ended.
#pragma once
#include <string>
#include <vector>

#include "launch/supervisor.h"

namespace retort::launch {

// Installs the forwarding handlers; call once before the first run_job_process.
void install_signal_forwarding();

// Starts argv (argv[0] looked up in PATH), waits for it, returns how it ended. A program that
// cannot be started ends with exit code 127 and a message on stderr.
JobOutcome run_job_process(const std::vector<std::string>& argv);

// True once SIGTERM, SIGINT or SIGHUP reached `retort launch`: the supervisor must not restart.
bool stop_requested();

}  // namespace retort::launch

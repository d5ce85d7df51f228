// Runs one attempt of the job (the mpirun or srun command) as a child of `retort launch`,
// forwarding the signals a user or scheduler sends to `retort launch` (SIGUSR1: checkpoint and
// stop; SIGTERM, SIGINT, SIGHUP: stop) to it, and reports how it ended.
#pragma once
#include <string>
#include <vector>

#include "launch/supervisor.h"

namespace retort::launch {

// Installs the forwarding handlers; call once before the first run_job_process. The first
// SIGTERM, SIGINT or SIGHUP becomes the ranks' stop request (checkpoint, exit 75): with
// `term_as_usr1` (the child is mpirun) it is forwarded as SIGUSR1, since mpirun follows a
// forwarded SIGTERM with SIGKILL about 1 s later and ends the job at once on SIGINT/SIGHUP;
// otherwise (srun) as SIGTERM. Later ones are forwarded as they are.
void install_signal_forwarding(bool term_as_usr1);

// Starts argv (argv[0] looked up in PATH), waits for it, returns how it ended. A program that
// cannot be started ends with exit code 127 and a message on stderr.
JobOutcome run_job_process(const std::vector<std::string>& argv);

// True once SIGTERM, SIGINT or SIGHUP reached `retort launch`: the supervisor must not restart.
bool stop_requested();

}  // namespace retort::launch

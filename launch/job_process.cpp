// fork/exec/wait of the launcher command, with signal forwarding to the running child.
#include "launch/job_process.h"

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

#include "core/base/error.h"

namespace retort::launch {
namespace {

volatile sig_atomic_t g_child = 0;           // pid of the running attempt, 0 between attempts
volatile sig_atomic_t g_stop = 0;            // SIGTERM/SIGINT/SIGHUP received
volatile sig_atomic_t g_pending_signal = 0;  // arrived while no child was running
volatile sig_atomic_t g_first_stop_as = 0;   // what the first SIGTERM/SIGINT/SIGHUP becomes

constexpr int kForwarded[] = {SIGUSR1, SIGUSR2, SIGTERM, SIGINT, SIGHUP};

void on_signal(int sig, siginfo_t* info, void*) {
  if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) g_stop = 1;
  // A signal the terminal generated (Ctrl-C) already reached the child, which shares our
  // process group; only signals sent to this process alone (kill, scancel, Slurm) are forwarded.
  if (info != nullptr && info->si_code == SI_KERNEL) return;
  if ((sig == SIGTERM || sig == SIGINT || sig == SIGHUP) && g_first_stop_as != 0) {
    sig = g_first_stop_as;
    g_first_stop_as = 0;
  }
  const pid_t child = g_child;
  if (child > 0) {
    ::kill(child, sig);
  } else {
    g_pending_signal = sig;
  }
}

}  // namespace

void install_signal_forwarding(bool term_as_usr1) {
  g_first_stop_as = term_as_usr1 ? SIGUSR1 : SIGTERM;
  struct sigaction sa {};
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int sig : kForwarded)
    if (::sigaction(sig, &sa, nullptr) != 0)
      RETORT_RUNTIME_ERROR(std::string("sigaction(") + strsignal(sig) + ") failed: " + std::strerror(errno));
}

bool stop_requested() { return g_stop != 0; }

JobOutcome run_job_process(const std::vector<std::string>& argv) {
  RETORT_CHECK(!argv.empty(), "empty launcher command");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);

  // Block the forwarded signals across fork so the handler never sees a half-set g_child.
  sigset_t block, previous;
  sigemptyset(&block);
  for (int sig : kForwarded) sigaddset(&block, sig);
  ::sigprocmask(SIG_BLOCK, &block, &previous);
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::sigprocmask(SIG_SETMASK, &previous, nullptr);
    RETORT_RUNTIME_ERROR(std::string("fork failed: ") + std::strerror(err));
  }
  if (pid == 0) {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig : kForwarded) ::sigaction(sig, &dfl, nullptr);
    ::sigprocmask(SIG_SETMASK, &previous, nullptr);
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "retort: error: cannot run %s: %s\n", args[0], std::strerror(errno));
    ::_exit(kExitNotFound);
  }
  g_child = pid;
  const int pending = g_pending_signal;
  g_pending_signal = 0;
  ::sigprocmask(SIG_SETMASK, &previous, nullptr);
  if (pending != 0) ::kill(pid, pending);

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      const int err = errno;
      g_child = 0;
      RETORT_RUNTIME_ERROR(std::string("waitpid(") + std::to_string(pid) + ") failed: " + std::strerror(err));
    }
  }
  g_child = 0;
  JobOutcome outcome;
  if (WIFSIGNALED(status)) {
    outcome.signal = WTERMSIG(status);
  } else {
    outcome.exit_code = WEXITSTATUS(status);
  }
  return outcome;
}

}  // namespace retort::launch

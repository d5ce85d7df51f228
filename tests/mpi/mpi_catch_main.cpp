// The Catch2 (v2) main for multi-rank tests run under mpirun: MPI is initialised (thread
// multiple) around the session, every rank runs the same test cases in declaration order, and
// the first failed assertion on any rank aborts the whole job (so peers never hang waiting).
// Tests get rank/size by constructing a retort::comm::World, which adopts this MPI.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <mpi.h>

#include <cstdio>

namespace {

struct AbortOnFailure : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  bool assertionEnded(const Catch::AssertionStats& stats) override {
    if (!stats.assertionResult.isOk()) {
      int rank = 0;
      MPI_Comm_rank(MPI_COMM_WORLD, &rank);
      const auto& result = stats.assertionResult;
      std::fprintf(stderr, "rank %d: assertion failed at %s:%zu: %s %s\n", rank, result.getSourceInfo().file,
                   result.getSourceInfo().line, result.getExpandedExpression().c_str(), result.getMessage().c_str());
      std::fflush(stderr);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    return true;
  }
};

}  // namespace

CATCH_REGISTER_LISTENER(AbortOnFailure)

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  const int failed = Catch::Session().run(argc, argv);
  MPI_Finalize();
  return failed ? 1 : 0;
}

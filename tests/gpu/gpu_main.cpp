// Catch2 main for real-device tests: exits 77 ("skipped: no GPU") when no CUDA device is
// visible, so CTest and tests/gpu/run.sh report a skip, never a pass.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <cuda_runtime.h>

#include <cstdio>

int main(int argc, char** argv) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("skipped: no GPU\n");
    return 77;
  }
  return Catch::Session().run(argc, argv);
}

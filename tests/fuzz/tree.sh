# The instrumented tree the fuzz and sanitize suites share (sourced by tests/fuzz/run.sh and
# tests/sanitize/run.sh): installs the project's packages (launch/setup.sh) and clang 16 when
# missing, configures BUILD (tests/fuzz/CMakeLists:
# Retort's libraries, fuzz targets and test executables, all with ASan + UBSan + libFuzzer's
# coverage), so one compile of the libraries serves both suites.
# Usage: prepare_instrumented_tree ROOT BUILD_DIR WHO   (returns non-zero after printing why)
prepare_instrumented_tree() {
  local root=$1 build=$2 who=$3
  # The project's own Debian packages (MPI, Eigen, ...), so the suite also works when run alone
  # on a fresh machine, not only from tests/run.sh, and clang 16 (Debian 12 packages; clang 14
  # cannot compile the C++20 structured-binding captures the sources use) with libFuzzer and
  # OpenMP, needed by these suites only.
  "$root/launch/setup.sh" --no-build --also clang-16 --also libclang-rt-16-dev --also libomp-16-dev ||
    { echo "$who: set-up failed"; return 1; }
  mkdir -p "$build"
  if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root/tests/fuzz" -B "$build" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_C_COMPILER=clang-16 -DCMAKE_CXX_COMPILER=clang++-16 >"$build/configure.log" 2>&1 ||
      { tail -n 30 "$build/configure.log"; echo "$who: configure failed"; return 1; }
  else
    cmake "$build" >"$build/configure.log" 2>&1 || { tail -n 30 "$build/configure.log"; echo "$who: configure failed"; return 1; }
  fi
}

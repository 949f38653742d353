#!/bin/sh
# Build kvm-selftest-runner once, the way a distribution does (Release,
# Debian's flags from dpkg-buildflags, -Werror: a warning of GCC's optimiser
# fails here and not in a packager's build), and run all its tests (unit +
# integration) on that build.
# The integration test runs real KVM selftests from $KVM_SELFTESTS_DIR against
# /dev/kvm; without either, CTest reports it as skipped.
# JOBS (default: the number of CPUs) is the build parallelism.
#
# ccache: dpkg-buildflags puts the clone's path in the flags
# (-ffile-prefix-map=/path/of/clone=.), and CMake gives the compiler absolute
# paths; CCACHE_BASEDIR (default: the clone) has ccache rewrite both, so a
# second, fresh clone's build is mostly cache hits.  The tests' own absolute
# paths are compiled into runner/tests/test_paths.cpp alone.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd -P)

build=build/runner
jobs=${JOBS:-$(nproc)}
launcher=
if command -v ccache >/dev/null 2>&1; then
    launcher=-DCMAKE_CXX_COMPILER_LAUNCHER=ccache
    CCACHE_BASEDIR=${CCACHE_BASEDIR:-$top}
    export CCACHE_BASEDIR
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT INT TERM

# run WHAT COMMAND...: the command's output goes to the log, shown on failure.
run() {
    what=$1
    shift
    if ! "$@" >"$log" 2>&1; then
        cat "$log"
        echo "runner-check: $what failed" >&2
        exit 1
    fi
}

# Debian's flags (dpkg-buildflags when it is there, else its defaults as of
# Debian 12, with the prefix map it adds), CMAKE_BUILD_TYPE=Release on top
# (-O3: GCC 12 warns there where it does not at -O2) and -Werror.
if command -v dpkg-buildflags >/dev/null 2>&1; then
    cxxflags="$(dpkg-buildflags --get CXXFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
    ldflags=$(dpkg-buildflags --get LDFLAGS)
else
    cxxflags="-g -O2 -ffile-prefix-map=$top=. -fstack-protector-strong -Wformat -Werror=format-security -Wdate-time -D_FORTIFY_SOURCE=2"
    ldflags="-Wl,-z,relro"
fi

t0=$(date +%s)
echo "runner-check: configure + build ($build, -j$jobs): Release, -Werror, CXXFLAGS=$cxxflags"
run "configure" cmake -S runner -B "$build" -DCMAKE_BUILD_TYPE=Release -DKVMSR_WERROR=ON \
    -DCMAKE_CXX_FLAGS="$cxxflags" -DCMAKE_EXE_LINKER_FLAGS="$ldflags" $launcher
run "build (-Werror)" cmake --build "$build" -j"$jobs"
t1=$(date +%s)

if [ -n "${KVM_SELFTESTS_DIR:-}" ]; then
    echo "runner-check: KVM_SELFTESTS_DIR=$KVM_SELFTESTS_DIR"
    export KVM_SELFTESTS_DIR
else
    echo "runner-check: KVM_SELFTESTS_DIR not set: the integration test will be skipped"
fi

# ctest's exit status is non-zero when any test fails; skips do not fail.
# The KTAP files its tests write for scripts/runner-ktap-check.sh start afresh.
rm -rf "$build/ktap-artifacts"
run "ctest" ctest --test-dir "$build" --output-on-failure
grep -E '^[0-9]+% tests passed|did not run|Skipped|\*\*\*' "$log" || true
t2=$(date +%s)

echo "runner-check: OK (build $((t1 - t0)) s, ctest $((t2 - t1)) s)"

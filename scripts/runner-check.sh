#!/bin/sh
# Build kvm-selftest-runner and run all its tests (unit + integration).
# The integration test runs real KVM selftests from $KVM_SELFTESTS_DIR against
# /dev/kvm; without either, CTest reports it as skipped.
set -eu
cd "$(dirname "$0")/.."

build=build/runner
launcher=
if command -v ccache >/dev/null 2>&1; then
    launcher=-DCMAKE_CXX_COMPILER_LAUNCHER=ccache
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT INT TERM

echo "runner-check: configure + build ($build)"
if ! cmake -S runner -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo $launcher >"$log" 2>&1; then
    cat "$log"
    echo "runner-check: configure failed" >&2
    exit 1
fi
if ! cmake --build "$build" -j2 >"$log" 2>&1; then
    cat "$log"
    echo "runner-check: build failed" >&2
    exit 1
fi

if [ -n "${KVM_SELFTESTS_DIR:-}" ]; then
    echo "runner-check: KVM_SELFTESTS_DIR=$KVM_SELFTESTS_DIR"
    export KVM_SELFTESTS_DIR
else
    echo "runner-check: KVM_SELFTESTS_DIR not set: the integration test will be skipped"
fi

# ctest's exit status is non-zero when any test fails; skips do not fail.
if ! ctest --test-dir "$build" --output-on-failure >"$log" 2>&1; then
    cat "$log"
    echo "runner-check: FAILED" >&2
    exit 1
fi
grep -E '^[0-9]+% tests passed|did not run|Skipped|\*\*\*' "$log" || true
echo "runner-check: OK"

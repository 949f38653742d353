#!/bin/sh
# For host validation teams: build the KVM selftests of the patched tree and
# the runner, and install both (DESTDIR and PREFIX as usual):
#   $DESTDIR$PREFIX/bin/kvm-selftest-runner
#   $DESTDIR$PREFIX/libexec/kvm-selftests/	(kselftest install layout)
. "$(dirname "$0")/lib.sh"

prefix=${PREFIX:-/usr/local}
dest=${DESTDIR:-}
name=linux-7.3
wt=$(kwork_tree verify "$name")
# The output directory of the per-patch build: its selftests are usually
# built already.
out=$(kwork_out "$name")/kvm-modules || die "cannot make the output directories of $name"

sh "$TOP/scripts/deps.sh" || exit 1
sh "$TOP/scripts/base.sh" "$name" || exit 1
shared_worktree "$name" "$wt" || die "cannot prepare $wt"
mkdir -p "$BUILD/state"
(cd "$wt" && am_series "$TOP/series" > /dev/null) ||
	die "the series does not apply"
msg "host: building the KVM selftests of the patched tree"
# shellcheck disable=SC2046
sh "$TOP/scripts/kconfig.sh" "$wt" "$out" $(kvm_modules_frags) || exit 1
mkdir -p "$BUILD/logs"
rm -f "$out/.workbench-selftests"
kselftests_build "$wt" "$out" > "$BUILD/logs/host-selftests.log" 2>&1 ||
	{ tail -n 20 "$BUILD/logs/host-selftests.log"; die "the selftests do not build"; }
# The tree these selftests are of, as verify.sh records it.
git -C "$wt" rev-parse HEAD > "$out/.workbench-selftests"
msg "host: building the runner"
# build/runner as make check's runner-check.sh configured it (Release,
# the distribution's flags) is used as it is: configuring it again with
# another build type would rebuild every file.
if [ ! -r "$BUILD/runner/CMakeCache.txt" ]; then
	cmake -S "$TOP/runner" -B "$BUILD/runner" -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null ||
		die "the runner does not configure"
fi
cmake --build "$BUILD/runner" -j"$JOBS" > /dev/null || die "the runner does not build"

msg "host: installing into ${dest}${prefix}"
flock /tmp/kbuild.lock make -s -C "$wt/tools/testing/selftests" O="$out" TARGETS=kvm \
	INSTALL_PATH="$dest$prefix/libexec/kvm-selftests" install > "$BUILD/logs/host-install.log" 2>&1 ||
	{ tail -n 20 "$BUILD/logs/host-install.log"; die "kselftest install failed"; }
DESTDIR=$dest cmake --install "$BUILD/runner" --prefix "$prefix" > /dev/null ||
	die "runner install failed"
echo "installed: $dest$prefix/bin/kvm-selftest-runner"
echo "           $dest$prefix/libexec/kvm-selftests/"
echo "run:       $prefix/bin/kvm-selftest-runner run $prefix/libexec/kvm-selftests --junit kvm-selftests.xml --ktap kvm-selftests.ktap"

#!/bin/sh
# The two set-up commands: "make" (MODE=main) and "make check"
# (MODE=check, what CI runs).  Every step records its checks; the run goes
# on past a failed check, reports everything, then fails.
#
# usage: workbench.sh main|check
. "$(dirname "$0")/lib.sh"

mode=${1:-main}
case $mode in main|check) ;; *) die "usage: workbench.sh main|check" ;; esac

mkdir -p "$REPORT_DIR"
rm -f "$RESULTS" "$REPORT_DIR"/section-*.md

sh "$TOP/scripts/deps.sh" || die "cannot install the workbench's packages"
sh "$TOP/scripts/base.sh" linux-7.3 || die "cannot get the 7.3 base"

step linux-7.3 "verify.sh" sh "$TOP/scripts/verify.sh" linux-7.3 "$TOP/series"

if [ "$mode" = check ]; then
	check tooling "postings: series/ as a folder of postings, their versions and prerequisites" \
		"$BUILD/logs/postings.log" sh "$TOP/scripts/postings-check.sh"
	# The stable fixes on the oldest kernel they go to.
	msg "stable: series/fixes on linux-7.2"
	step "stable linux-7.2" "stable.sh" sh "$TOP/scripts/stable.sh" linux-7.2 "$TOP/series/fixes"
	msg "tooling: the C++ runner (cmake, GoogleTest)"
	st=$KWORK/out/linux-7.3/kvm-modules/kselftest/kvm
	[ -d "$st" ] && KVM_SELFTESTS_DIR=$st && export KVM_SELFTESTS_DIR
	check tooling "runner: build and ctest" "$BUILD/logs/runner-check.log" \
		sh "$TOP/scripts/runner-check.sh"
	check tooling "runner: its KTAP files read by the kernel's kunit_parser, counts as documented" \
		"$BUILD/logs/runner-ktap.log" sh "$TOP/scripts/runner-ktap-check.sh" "$BUILD/src/linux-7.3.git"
	step "inkernel linux-7.3" "inkernel.sh" sh "$TOP/scripts/inkernel.sh" linux-7.3
	# The nothing-lost cases that fail on the unpatched base
	# (testing/base-7.3/run-*.log) pass with series/fixes alone.
	step "inkernel linux-7.3 (fixes)" "inkernel.sh" env INKERNEL_VARIANT=fixes \
		INKERNEL_SERIES="$TOP/series/fixes" INKERNEL_TESTING="$TOP/testing/base-7.3" \
		INKERNEL_TESTS=none sh "$TOP/scripts/inkernel.sh" linux-7.3
	msg "backport: Debian 6.12 (apply, build, KUnit)"
	step "backport debian-6.12" "backport.sh" sh "$TOP/scripts/backport.sh" apply build kunit
	check tooling "workbench: export round trip is byte-identical" "$BUILD/logs/roundtrip.log" \
		sh "$TOP/scripts/roundtrip.sh"
	check tooling "workbench: tests of its shell steps" "$BUILD/logs/workbench-test.log" \
		sh "$TOP/scripts/workbench-test.sh"
fi

sh "$TOP/scripts/report.sh" "make $( [ "$mode" = check ] && echo check || echo all)"

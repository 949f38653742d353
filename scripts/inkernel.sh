#!/bin/sh
# The in-kernel tests: one kernel image, booted under QEMU TCG, serves both
# the KUnit suites (built in, they run at boot and print KTAP on the
# console) and the boot test (an initramfs that checks that kvm_amd
# initialised and runs the committed list of KVM selftests).
#
# usage: inkernel.sh [NAME]          (NAME: linux-7.3, linux-6.12)
# env:   INKERNEL_ON=base            the unpatched base: no series/, no testing/
#                                    (with INKERNEL_TESTING=DIR: DIR's patches and
#                                    fragments, e.g. testing/base-7.3)
#        INKERNEL_TESTS=all          every selftest built, 60 s each (the census
#                                    that testing/boot-selftests.txt comes from)
#        INKERNEL_TESTS=none         KUnit only: no selftests built or run
#        INKERNEL_QEMU_TIMEOUT=S     the whole guest run (default 300; 2400 for all)
#        INKERNEL_TESTING=DIR        the testing patches and fragments (default testing/)
#        INKERNEL_SERIES=DIR         the patches under test (default series/); with
#                                    it, a step of its own: results go to the report,
#                                    its section to section-inkernel-NAME.md
#        INKERNEL_VARIANT=WORD       another set of patches on the same image (e.g.
#                                    "fixes": series/fixes with testing/base-7.3): its
#                                    own logs (inkernel-WORD), report scope and section;
#                                    the worktree and output directory are shared, so
#                                    the next run rebuilds only what differs (from ccache,
#                                    which holds both: cheaper than a second directory,
#                                    which a cold run would build from nothing)
#        INKERNEL_CONFIG="FRAG..."   the fragments instead of kernel/config/base.config,
#                                    boot.config, selftests.config and inkernel.config
#                                    (testing's *.config follow)
#        INKERNEL_TREE=WORD          the worktree KWORK/WORD-NAME (default: that of the
#                                    per-patch module build, verify-linux-7.3 or
#                                    backport-linux-6.12)
#        INKERNEL_SEED=DIR           when the output directory was never built from
#                                    this worktree, start it as a copy of the output
#                                    directory DIR of NAME (default kvm-modules: built
#                                    from the same worktree, in a configuration that
#                                    differs from this one in how KVM is built and in
#                                    a few KVM options, see kernel/config/boot.config);
#                                    kbuild then rebuilds only what those options reach;
#                                    INKERNEL_SEED=none: no copy (a build from nothing)
#        INKERNEL_REPEAT=N           boot the image N times (scripts/soak.sh): each
#                                    run's files in build/logs/NAME/inkernel/repeat-WHICH/run-K,
#                                    the runs' verdicts in repeat-WHICH/summary.tsv
#
# Steps, in KWORK/verify-NAME (verify.sh's worktree of the base cache, see
# lib.sh; INKERNEL_TREE names another):
#   1. reset to the base, apply series/ (am_series), then testing/*.patch;
#   2. tinyconfig + base.config + boot.config + selftests.config +
#      inkernel.config + testing/*.config, bzImage (the first build on a
#      machine from a copy of verify.sh's output directory kvm-modules);
#   3. the KVM selftests of the same tree, and an initramfs with them, their
#      shared libraries, busybox, inkernel-run and inkernel-init.sh as /init;
#   4. boot under QEMU TCG with nested SVM (-enable-kvm does not work here);
#      the console (ttyS0) goes to build/logs/NAME/inkernel/console.log, and
#      /init copies each KUnit suite's debugfs results to ttyS1, a channel of
#      their own (kunit-channel.log), where nothing interleaves with them;
#   5. check: the guest powered off; kvm_amd initialised; each suite's KTAP
#      document, parsed alone by the kernel's kunit_parser, against the
#      suites that TESTING/kunit-suites.txt lists; no kernel warning; each
#      selftest against its base result in testing/boot-selftests.txt.
#      A failed run keeps its raw console and KUnit files, and the report
#      names them.
# Every check is recorded for the report, and build/report/section-inkernel.md
# lists every KUnit case and every selftest.  Exit status 1 on any failure.
. "$(dirname "$0")/lib.sh"

name=${1:-linux-7.3}
on=${INKERNEL_ON:-series}
which=${INKERNEL_TESTS:-list}
case $on in series|base) ;; *) die "INKERNEL_ON must be series or base" ;; esac
case $which in list|all|none) ;; *) die "INKERNEL_TESTS must be list, all or none" ;; esac

# The worktree of the base's per-patch module build: verify.sh's, or for
# linux-6.12 backport.sh's.
tree=verify
[ "$name" = linux-6.12 ] && tree=backport
wt=$(kwork_tree "${INKERNEL_TREE:-$tree}" "$name")
out=$(kwork_out "$name")/inkernel || die "cannot make the output directories of $name"
logs=$BUILD/logs/$name/inkernel
variant=${INKERNEL_VARIANT:-}
[ -n "$variant" ] && logs=$logs-$variant
testing=${INKERNEL_TESTING:-$TOP/testing}
# Relative to where the script started (it works in the worktree).
case $testing in /*) ;; *) testing=$(cd "$testing" 2> /dev/null && pwd) || die "no directory $INKERNEL_TESTING" ;; esac
# The base gets no testing patches, unless INKERNEL_TESTING names a
# directory of its own (testing/base-7.3: the cases that compile there).
basetesting=
[ "$on" = base ] && [ -n "${INKERNEL_TESTING:-}" ] && basetesting=$testing
seriesdir=${INKERNEL_SERIES:-$TOP/series}
list=$TOP/testing/boot-selftests.txt
section=$REPORT_DIR/section-inkernel.md
[ -n "${INKERNEL_SERIES:-}" ] && section=$REPORT_DIR/section-inkernel-$name.md
[ -n "$variant" ] && section=$REPORT_DIR/section-inkernel-$name-$variant.md
scope="inkernel $name"
[ "$on" = base ] && scope="inkernel $name (unpatched base)"
[ -n "$variant" ] && scope="inkernel $name ($variant)"
if [ "$which" = all ] || [ "$on" = base ] || [ "${INKERNEL_REPEAT:-1}" != 1 ] ||
   { [ "$testing" != "$TOP/testing" ] && [ -z "${INKERNEL_SERIES:-}" ]; }; then
	# A census or a trial, not part of the workbench's run: its own results.
	RESULTS=$logs/results.tsv
	section=$logs/section.md
	rm -f "$RESULTS"
fi
mkdir -p "$BUILD/state" "$logs" "$out" "$REPORT_DIR"
rm -rf "$logs/selftests"
mkdir -p "$logs/selftests"

failures=0
fail() { failures=$((failures + 1)); }
t_start=$(date +%s)
step()	# step TEXT: progress, with the time spent in this script so far
{
	msg "inkernel: $* (inkernel step at $(( $(date +%s) - t_start )) s)"
}

# Stop early: write what is known, report, and fail.
give_up()
{
	[ $failures -eq 0 ] && record "$scope" "in-kernel tests: $*" FAIL $(( $(date +%s) - t_start ))
	{
		echo "## In-kernel tests ($name)"
		echo
		echo "Stopped: $*.  Nothing was booted."
	} > "$section"
	exit 1
}

# --- 1. The tree ---------------------------------------------------------
step "base and worktree"
sh "$TOP/scripts/base.sh" "$name" || give_up "no base tree"
shared_worktree "$name" "$wt" || give_up "cannot prepare $wt"
# The image's own worktree of an earlier layout (kunit-NAME) is not used.
if [ "${INKERNEL_TREE:-$tree}" != kunit ] && [ -d "$KWORK/kunit-$name" ]; then
	git --git-dir="$BASE_CACHE/$name.git" worktree remove --force "$KWORK/kunit-$name" 2> /dev/null ||
		rm -rf "$KWORK/kunit-$name"
fi
cd "$wt" || exit 1

t0=$(date +%s)
nseries=0 ntesting=0

# apply_testing DIR: git am DIR's patches in order, counting them in
# ntesting; the first that does not apply ends the run.
apply_testing()
{
	local p
	for p in $(ls "$1"/*.patch 2>/dev/null | LC_ALL=C sort); do
		if ! pgit am -q --committer-date-is-author-date "$p" > "$logs/apply.log" 2>&1; then
			git am --abort > /dev/null 2>&1
			record "$scope" "testing: ${p#"$TOP"/} applies" FAIL $(($(date +%s) - t0)) "$logs/apply.log"
			echo "  FAIL: ${p#"$TOP"/} does not apply:"
			grep -v '^hint:' "$logs/apply.log" | head -n 8 | sed 's/^/    /'
			fail
			give_up "testing patch $(basename "$p") does not apply"
		fi
		ntesting=$((ntesting + 1))
	done
}
# The same base and patches give the same commits (fixed identity and
# dates): when the tree is already their result, applying them again would
# only touch the patched files and rebuild what depends on them.
stamp=$BUILD/state/inkernel-$name.stamp
# shellcheck disable=SC2046
key=$( { echo "$on"; git rev-parse base; [ "$on" = series ] &&
	cat $(series_patches "$seriesdir") $(ls "$testing"/*.patch 2>/dev/null | LC_ALL=C sort)
	[ -n "$basetesting" ] && cat $(ls "$basetesting"/*.patch 2>/dev/null | LC_ALL=C sort); } |
	sha256sum | cut -d' ' -f1)
if [ -r "$stamp" ] && [ "$(sed -n 1p "$stamp")" = "$key" ] &&
   [ "$(sed -n 2p "$stamp")" = "$(git rev-parse HEAD)" ]; then
	nseries=$(sed -n 3p "$stamp") ntesting=$(sed -n 4p "$stamp")
	step "tree unchanged since the last run: $nseries series + $ntesting testing patches already applied"
	[ "$on" = series ] &&
		record "$scope" "apply: $nseries series + $ntesting testing patches" pass $(($(date +%s) - t0))
elif [ "$on" = series ]; then
	rm -f "$stamp"
	step "applying ${seriesdir#"$TOP"/}/ and ${testing#"$TOP"/}/"
	if ! am_series "$seriesdir" > "$BUILD/state/inkernel-$name-applied" 2> "$logs/apply.log"; then
		applied=$(wc -l < "$BUILD/state/inkernel-$name-applied")
		bad=$(series_patches "$seriesdir" | sed -n "$((applied + 1))p")
		record "$scope" "series: $(patch_label "$seriesdir" "$bad") applies" FAIL $(($(date +%s) - t0)) "$logs/apply.log"
		sed 's/^/    /' "$logs/apply.log"
		fail
		give_up "series patch $(patch_label "$seriesdir" "$bad") does not apply"
	fi
	nseries=$(wc -l < "$BUILD/state/inkernel-$name-applied")
	apply_testing "$testing"
	record "$scope" "apply: $nseries series + $ntesting testing patches" pass $(($(date +%s) - t0))
else
	rm -f "$stamp"
	git checkout -q --detach base
	[ -n "$basetesting" ] && apply_testing "$basetesting"
fi
head=$(git rev-parse HEAD)
printf '%s\n%s\n%s\n%s\n' "$key" "$head" "$nseries" "$ntesting" > "$stamp"
msg "inkernel: tree at $(git log -1 --format='%h %s' | cut -c1-70)"

# --- 2. The kernel -------------------------------------------------------
frags=${INKERNEL_CONFIG:-"$TOP/kernel/config/base.config $TOP/kernel/config/boot.config $TOP/kernel/config/selftests.config $TOP/kernel/config/inkernel.config"}
{ [ "$on" = series ] || [ -n "$basetesting" ]; } &&
	frags="$frags $(ls "$testing"/*.config 2>/dev/null | LC_ALL=C sort | tr '\n' ' ')"
# A first build from this worktree: a copy of a built output directory of
# the same worktree (INKERNEL_SEED), whose kbuild command lines and
# dependencies name the same source files, and then the configuration
# below; kbuild rebuilds only what the options that differ reach.  An
# output directory built from another worktree (an earlier layout) would
# be rebuilt whole, so it is replaced the same way.
seed=$KWORK/out/$name/${INKERNEL_SEED:-kvm-modules}
if [ "${INKERNEL_SEED:-}" != none ] && ! grep -qxF "include $wt/Makefile" "$out/Makefile" 2> /dev/null &&
   [ -e "$seed/vmlinux" ] && grep -qxF "include $wt/Makefile" "$seed/Makefile" 2> /dev/null; then
	step "starting the output directory from ${seed#"$KWORK"/} (same worktree)"
	# Copied beside it and moved into place only when complete: an
	# interrupted copy must not pass for a directory of this worktree.
	# What names the copy's old path: its Makefile, and the command
	# records of tools/ (objtool), whose build compares commands; a
	# rebuilt objtool would make kbuild run again for every object.
	rm -rf "$out.new" && mkdir -p "$out.new" &&
		rsync -a --exclude=/kselftest --exclude='/.workbench-*' "$seed/" "$out.new/" &&
		{ find "$out.new" -name '.*.cmd' -exec grep -lZF "$seed/" {} + 2> /dev/null |
			xargs -0 -r sed -i "s|$seed/|$out/|g"; } &&
		sed -i "s|^export KBUILD_OUTPUT = .*|export KBUILD_OUTPUT = $out|" "$out.new/Makefile" &&
		rm -rf "$out" && mv "$out.new" "$out" ||
		give_up "cannot copy $seed to $out"
fi
step "configuring (tinyconfig +$(for f in $frags; do printf ' %s' "$(basename "$f")"; done))"
# shellcheck disable=SC2086
check "$scope" "configure: tinyconfig + fragments, every option stuck" "$logs/kconfig.log" \
	sh "$TOP/scripts/kconfig.sh" "$wt" "$out" $frags || { fail; give_up "the configuration failed"; }

step "building bzImage (waits for the machine-wide build lock)"
what="KVM, TDX, SEV, KUnit built in"
grep -q '^CONFIG_KVM_INTEL_TDX=y' "$out/.config" || what="KVM, SEV, KUnit built in"
check "$scope" "build: bzImage ($what)" "$logs/build.log" \
	kmake "$wt" "$out" bzImage || { fail; give_up "the kernel did not build"; }
kernel=$out/arch/x86/boot/bzImage

stdir=$out/kselftest/kvm
# verify.sh's last selftests build (.workbench-selftests in its output directory
# names its tree) made the same programs when what they are built from is
# the same in both trees: tools/, and what "make headers" installs (the
# uapi headers, the syscall tables it makes unistd headers of, and the
# scripts that install them).  Then use them instead of building again.
reusable_selftests()
{
	local c d vdir
	vdir=$KWORK/out/$name/kvm-modules/kselftest/kvm
	c=$(cat "$KWORK/out/$name/kvm-modules/.workbench-selftests" 2> /dev/null) && [ -d "$vdir" ] || return 1
	for d in tools include/uapi arch/x86/include/uapi arch/x86/entry/syscalls \
		scripts/headers_install.sh scripts/syscallhdr.sh scripts/syscalltbl.sh \
		scripts/unifdef.c; do
		[ "$(git rev-parse -q --verify "$c:$d")" = "$(git rev-parse -q --verify "HEAD:$d")" ] ||
			return 1
	done
	echo "$vdir"
}
if [ "$which" = none ]; then
	:
elif vdir=$(reusable_selftests); then
	stdir=$vdir
	step "the KVM selftests: verify.sh's build of the same tools/ and uapi headers, ${stdir#"$TOP"/}"
else
	step "building the KVM selftests of this tree"
	check "$scope" "build: KVM selftests" "$logs/selftests-build.log" kselftests_build "$wt" "$out" ||
		{ fail; give_up "the selftests did not build"; }
fi

# --- 3. The initramfs ----------------------------------------------------
step "initramfs"
root=$out/initramfs
tests_file=$out/inkernel-tests
if [ "$which" = all ]; then
	# Every test program the selftests build made: ELF executables
	# outside the library's object directories.
	(cd "$stdir" && find . -type f -perm -u+x ! -name '*.o' ! -name '*.so' | sed 's|^\./||' |
		while read -r f; do
			head -c 4 "$f" | grep -q 'ELF' && echo "$f"
		done) | LC_ALL=C sort | awk '{ print $1, 60 }' > "$tests_file"
	qemu_timeout=${INKERNEL_QEMU_TIMEOUT:-2400}
elif [ "$which" = none ]; then
	: > "$tests_file"
	qemu_timeout=${INKERNEL_QEMU_TIMEOUT:-300}
else
	[ -r "$list" ] || give_up "no $list"
	# Quarantined tests are listed with their reason, and not run.
	awk '!/^#/ && NF >= 4 && $2 != "quarantined" { print $1, $4 }' "$list" > "$tests_file"
	# Room for one test that hangs until its own timeout.
	qemu_timeout=${INKERNEL_QEMU_TIMEOUT:-$((300 + $(awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { print m }' "$tests_file")))}
fi

make_initramfs()
{
	local t lib gccs
	rm -rf "$root"
	mkdir -p "$root/bin" "$root/etc/inkernel" "$root/kvm" "$root/lib/x86_64-linux-gnu" "$root/lib64"
	cp /bin/busybox "$root/bin/busybox" || return 1
	ln -s busybox "$root/bin/sh"
	gcc -O2 -Wall -Wextra -Werror -static -o "$out/inkernel-run" "$TOP/scripts/inkernel-run.c" || return 1
	cp "$out/inkernel-run" "$root/bin/inkernel-run"
	cp "$TOP/scripts/inkernel-init.sh" "$root/init"
	chmod 755 "$root/init"
	cp "$tests_file" "$root/etc/inkernel/tests"
	while read -r t _; do
		[ -f "$stdir/$t" ] || continue
		mkdir -p "$root/kvm/$(dirname "$t")"
		strip --strip-debug -o "$root/kvm/$t" "$stdir/$t" || return 1
	done < "$tests_file"
	# The shared libraries they need; libgcc_s is loaded at run time by
	# pthread_cancel, so ldd does not list it.
	gccs=/lib/x86_64-linux-gnu/libgcc_s.so.1
	[ -r "$gccs" ] || gccs=$(gcc -print-file-name=libgcc_s.so.1)
	{
		find "$root/kvm" -type f -exec ldd {} \; 2> /dev/null |
			sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (0x.*/\1/p'
		echo "$gccs"
	} | LC_ALL=C sort -u > "$out/initramfs-libs"
	while read -r lib; do
		case $lib in
		*/ld-linux-x86-64.so.2) cp -L "$lib" "$root/lib64/ld-linux-x86-64.so.2" || return 1 ;;
		*) cp -L "$lib" "$root/lib/x86_64-linux-gnu/$(basename "$lib")" || return 1 ;;
		esac
	done < "$out/initramfs-libs"
	echo "libraries: $(tr '\n' ' ' < "$out/initramfs-libs")"
	echo "tests: $(find "$root/kvm" -type f | wc -l) of $(wc -l < "$tests_file") listed"
	(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) > "$out/initramfs.cpio" || return 1
	echo "initramfs: $(du -k "$out/initramfs.cpio" | cut -f1) KiB"
}
check "$scope" "initramfs: busybox, selftests, libraries, /init" "$logs/initramfs.log" make_initramfs ||
	{ fail; give_up "no initramfs"; }

# --- 4. The boot ---------------------------------------------------------
# One guest run: the boot (step 4) and its checks (step 5), with every
# file of the run in $rdir: the console (ttyS0: the kernel's messages and
# /init's), the KUnit channel (ttyS1: only /init writes there, so nothing
# interleaves with the results), QEMU's own stderr.
kunit=$wt/tools/testing/kunit
suites=$testing/kunit-suites.txt
# Only the plain base has no suite to run; elsewhere a missing list fails.
if [ "$on" = base ] && [ -z "$basetesting" ]; then
	suites=/nonexistent
elif [ ! -r "$suites" ]; then
	fail
	record "$scope" "KUnit: the list of suites ${suites#"$TOP"/}" FAIL 0 "" "no such file"
	give_up "no list of the KUnit suites this image must run (${suites#"$TOP"/})"
fi
guest_run()
{
	local t0 rc st
	console=$rdir/console.log
	channel=$rdir/kunit-channel.log
	# Nothing of an earlier run may pass for this one's.
	rm -rf "$rdir/kunit" "$console" "$console.raw" "$channel" "$rdir/kunit-cases.tsv"
	mkdir -p "$rdir/selftests" "$rdir/kunit"
	step "booting under QEMU TCG (at most $qemu_timeout s)${run:+, run $run of $repeat}"
	boot_t0=$(date +%s)
	check "$scope" "boot under QEMU TCG (q35, EPYC+svm+npt), /init ran to the end" "$rdir/boot.log" \
		boot || fail
	boot_secs=$(( $(date +%s) - boot_t0 ))

	# --- 5. The checks ---------------------------------------------------
	kvmline=$(grep -m1 '^@@inkernel kvm ' "$console")
	check "$scope" "kvm_amd initialised (/dev/kvm, npt=Y, its log)" "$rdir/kvm_amd.log" kvm_amd_check ||
		fail

	# KUnit: each suite's debugfs results from the channel, parsed alone
	# by the kernel's kunit_parser, against the committed list.
	t0=$(date +%s)
	python3 "$TOP/scripts/ktap-check.py" "$kunit" "$channel" "$suites" "$rdir/kunit" \
		"$rdir/kunit-cases.tsv" "$console" > "$rdir/kunit.log" 2>&1
	rc=$?
	kunit_summary=$(tail -n 1 "$rdir/kunit.log")
	# 77: no suite listed and none ran; anything else that is not 0 is
	# a failure, including the checker's own crash.
	case $rc in
	0)	record "$scope" "KUnit: every listed suite ran, every case passed" pass $(($(date +%s) - t0)) \
			"$rdir/kunit.log" "$kunit_summary" ;;
	77)	record "$scope" "KUnit: no suite listed, none ran" skip $(($(date +%s) - t0)) \
			"$rdir/kunit.log" "$kunit_summary"
		msg "inkernel: KUnit: $kunit_summary: recorded as skipped" ;;
	*)	record "$scope" "KUnit: every listed suite ran, every case passed" FAIL $(($(date +%s) - t0)) \
			"$rdir/kunit.log" "$kunit_summary"
		echo "  FAIL: $scope: KUnit: $kunit_summary"
		grep -E 'PROBLEM|FAIL|ERROR' "$rdir/kunit.log" | head -n 12 | sed 's/^/    /'
		fail ;;
	esac
	# One result per case, so that the report lists every case.
	[ -r "$rdir/kunit-cases.tsv" ] &&
	while IFS='	' read -r st case note; do
		record "KUnit $name${variant:+ ($variant)}" "$case" "$st" 0 "$rdir/kunit.log" "$note"
	done < "$rdir/kunit-cases.tsv"

	tainted=$(sed -n 's/^@@inkernel tainted //p' "$console")
	check "$scope" "kernel: no WARN, BUG or Oops, no taint but TAINT_TEST" "$rdir/kernel-log.log" \
		kernel_clean || fail
	selftest_results
}

boot()
{
	local rc
	timeout -k 10 "$qemu_timeout" qemu-system-x86_64 \
		-machine q35,accel=tcg -cpu EPYC,+svm,+npt -smp 2 -m 2G \
		-display none -monitor none -no-reboot \
		-serial stdio -serial "file:$channel" \
		-kernel "$kernel" -initrd "$out/initramfs.cpio" \
		-append 'console=ttyS0 panic=-1 rdinit=/init' \
		< /dev/null > "$console.raw" 2> "$rdir/qemu.stderr"
	rc=$?
	tr -d '\r' < "$console.raw" > "$console"
	[ $rc -eq 124 ] && echo "QEMU timed out after $qemu_timeout s"
	[ -s "$rdir/qemu.stderr" ] && sed 's/^/qemu: /' "$rdir/qemu.stderr"
	grep -q '^@@inkernel poweroff' "$console" ||
		{ echo "the guest did not reach the end of /init (QEMU exit $rc)"; tail -n 30 "$console"; return 1; }
	echo "QEMU exit $rc; console: $(wc -l < "$console") lines; KUnit channel: $(wc -l < "$channel") lines"
	[ $rc -eq 0 ]
}

kvm_amd_check()
{
	echo "$kvmline"
	grep '^@@inkernel kvm-log ' "$console" | sed 's/^@@inkernel kvm-log //'
	case $kvmline in
	*"dev=yes"*"svm=yes"*"kvm_amd.npt=Y"*) ;;
	*) echo "FAIL: kvm_amd did not initialise with nested paging"; return 1 ;;
	esac
	# Its own words in the kernel log.
	grep -q '^@@inkernel kvm-log .*kvm_amd: ' "$console" ||
		{ echo "FAIL: no kvm_amd line in the kernel log"; return 1; }
}

# The kernel's own complaints while booting and running the selftests.
bad_kernel='cut here|WARNING:|BUG:|Oops:|Kernel panic|general protection fault|RIP: '
kernel_clean()
{
	# (An OOM kill prints a call trace too: not a kernel bug.)
	grep -E "^dmesg\| .*($bad_kernel)" "$console"
	echo "taint: ${tainted:-unknown}"
	case $tainted in ''|*[!0-9]*) echo "no taint value on the console"; return 1 ;; esac
	# Running any KUnit suite sets TAINT_TEST (bit 18, 'N'); any other
	# bit (a WARN sets bit 9) fails the check.
	[ $((tainted & ~(1 << 18))) -eq 0 ] ||
		{ echo "tainted: $tainted (other than TAINT_TEST)"; return 1; }
	! grep -q -E "^dmesg\| .*($bad_kernel)" "$console"
}

# reason_of LOGFILE: the reason a test gave for a skip or a failure: its
# SKIP line, or its assertion and message, or its last line.
reason_of()
{
	local a m
	[ -r "$1" ] || return 0
	m=$(grep -v -e '^[[:space:]]*$' -e '^sh: ' -e 'pid=[0-9]* tid=' "$1" | tail -n 1 | sed 's/^[[:space:]]*//')
	a=$(grep -A1 -m1 'Test Assertion Failure' "$1" | sed -n 2p | sed 's/^[[:space:]]*//')
	if grep -q -m1 -E 'SKIP|Requirement not met' "$1"; then
		grep -m1 -E 'SKIP|Requirement not met' "$1"
	elif [ -n "$a" ]; then
		echo "$a: $m"
	else
		echo "$m"
	fi | cut -c1-160
}

tests_with_base()
{
	if [ "$which" = all ]; then
		awk '{ print $1, "upstream", "-", $2, "-" }' "$tests_file"
	elif [ "$which" = none ]; then
		:
	else
		grep -v '^#' "$list" | awk 'NF >= 4'
	fi
}

# --- The selftests, against their base results --------------------------
# Per test: its output from the console, and one line in the results.
selftest_results()
{
	local t kind base tmo why res lf rc secs how reason got detail st note
	awk -v dir="$rdir/selftests" '
		/^@@inkernel-begin / { f = $2; gsub("/", "_", f); f = dir "/" f ".log"; next }
		/^@@inkernel-result / { if (f) close(f); f = ""; next }
		f && /^\| / { print substr($0, 3) > f }
	' "$console"
	sed -n 's/^@@inkernel-result //p' "$console" > "$rdir/selftest-results.txt"
	rows=$rdir/selftest-rows
	: > "$rows"
	np=0 ns=0 nf=0 nb=0
	while read -r t kind base tmo why; do
		res=$(awk -v t="$t" '$1 == t' "$rdir/selftest-results.txt" | tail -n 1)
		lf=$rdir/selftests/$(echo "$t" | tr / _).log
		rc=$(echo "$res" | cut -d' ' -f2)
		secs=$(echo "$res" | cut -d' ' -f3)
		how=$(echo "$res" | cut -d' ' -f4)
		secs=${secs:-0}
		reason=$(reason_of "$lf")
		case $how in
		notbuilt) got=notbuilt ;;
		exit) case $rc in 0) got=pass ;; 4) got=skip ;; *) got=fail ;; esac ;;
		signal|timeout) got=fail ;;
		*) got=missing ;;
		esac
		[ "$kind" = quarantined ] && got=quarantined
		detail="exit $rc"
		[ "$how" = notbuilt ] && detail="not built"
		[ -z "$how" ] && detail="no result"
		[ "$how" = timeout ] && detail="timed out after ${tmo} s"
		[ "$how" = signal ] && detail="killed by signal $((rc - 128))"
		[ "$kind" = quarantined ] && detail="not run"
		case $got/$base in
		quarantined/*)	st=skip note="quarantined, not run: $why" ;;
		notbuilt/*)
			if [ "$kind" = ours ]; then
				st=skip note="not built: not in this tree yet (our test; expected on base: $base: $why)"
			else
				st=FAIL note="listed but not built by this tree"
			fi ;;
		missing/*)	st=FAIL note="no result: the guest stopped before it (see boot)" ;;
		pass/*)		st=pass note=""; [ "$base" != pass ] && note="base: $base" ;;
		skip/skip)	st=skip note="${reason:-no reason printed}" ;;
		skip/fail)	st=skip note="skips here, fails on base: $why" ;;
		skip/*)		st=FAIL note="skipped, but passes on base: ${reason:-no reason printed}" ;;
		fail/fail)	st=skip note="fails, also on base ($detail): $why" ;;
		fail/*)		st=FAIL note="$detail: ${reason:-see the log}" ;;
		esac
		if [ "$which" = all ]; then
			# The census: the plain result, and the reason it printed.
			case $got in pass) st=pass ;; skip) st=skip ;; *) st=FAIL ;; esac
			note="$detail; ${reason:-}"
		fi
		record "inkernel selftests" "$t" "$st" "${secs%.*}" "$lf" "$note"
		case $st in pass) np=$((np + 1)) ;; skip) ns=$((ns + 1)) ;; FAIL) nf=$((nf + 1)); fail ;; esac
		[ "$got" = notbuilt ] && nb=$((nb + 1))
		[ "$st" = FAIL ] && echo "  FAIL: selftest $t: $note" | cut -c1-200
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$base" "$st" "$detail" "$secs" "$note" >> "$rows"
	done < "$out/selftest-plan"
	[ "$which" = none ] || msg "inkernel: selftests: $np passed, $ns skipped, $nf failed ($nb not built)"
}

tests_with_base > "$out/selftest-plan"
check "$scope" "KTAP check: the verdict on interleaved, missing, failed and dead runs" \
	"$logs/ktap-selftest.log" python3 "$TOP/scripts/ktap-check.py" "$kunit" --selftest || fail

repeat=${INKERNEL_REPEAT:-1}
case $repeat in ''|*[!0-9]*|0) die "INKERNEL_REPEAT must be a positive number" ;; esac
if [ "$repeat" -gt 1 ]; then
	# The same image booted again and again: each run's files and
	# results in $logs/repeat-$which/run-K, its verdict in summary.tsv.
	rm -rf "$logs/repeat-$which"
	mkdir -p "$logs/repeat-$which"
	all_results=$RESULTS
	bad_runs=0
	run=1
	while [ $run -le "$repeat" ]; do
		rdir=$logs/repeat-$which/run-$run
		mkdir -p "$rdir"
		RESULTS=$rdir/results.tsv
		t0=$(date +%s)
		guest_run > "$rdir/run.log" 2>&1
		nfail=$(awk -F'\t' '$3 == "FAIL"' "$RESULTS" | wc -l)
		what=$(awk -F'\t' '$3 == "FAIL" { printf "%s%s", s, $2; s = "; " }' "$RESULTS" | cut -c1-300)
		printf '%s\t%s\t%s\t%s\t%s\n' "$run" "$([ "$nfail" -eq 0 ] && echo pass || echo FAIL)" \
			$(($(date +%s) - t0)) "$kunit_summary" "$what" >> "$logs/repeat-$which/summary.tsv"
		if [ "$nfail" -eq 0 ]; then
			msg "inkernel: run $run/$repeat: pass ($(($(date +%s) - t0)) s)"
			rm -f "$console.raw"
		else
			bad_runs=$((bad_runs + 1))
			msg "inkernel: run $run/$repeat: FAIL: $what (kept: ${rdir#"$TOP"/})"
		fi
		run=$((run + 1))
	done
	RESULTS=$all_results
	record "$scope" "$repeat boots of one image: every run passed" \
		"$([ $bad_runs -eq 0 ] && echo pass || echo FAIL)" $(( $(date +%s) - t_start )) \
		"$logs/repeat-$which/summary.tsv" "$bad_runs of $repeat runs failed"
	msg "inkernel: $repeat runs, $bad_runs failed; ${logs#"$TOP"/}/repeat-$which/summary.tsv"
	[ $bad_runs -eq 0 ] && [ $failures -eq 0 ]
	exit
fi

rdir=$logs
guest_run
kept=
if [ $failures -eq 0 ]; then
	rm -f "$console.raw"
else
	kept="the raw console \`${console#"$TOP"/}.raw\`, the KUnit channel \`${channel#"$TOP"/}\` and each suite's results in \`${rdir#"$TOP"/}/kunit/\`"
	msg "inkernel: kept for diagnosis: $kept"
fi

# --- The report section --------------------------------------------------
total=$(( $(date +%s) - t_start ))
{
	echo "## In-kernel tests ($name): KUnit and the boot test under QEMU TCG"
	echo
	if [ "$on" = series ]; then
		echo "- tree: base $(git rev-parse --short=12 base) + $nseries series patches + $ntesting testing patches = $(git rev-parse --short=12 "$head")"
	else
		echo "- tree: the unpatched base $(git rev-parse --short=12 base)${basetesting:+ + $ntesting testing patches from ${basetesting#"$TOP"/}/}"
	fi
	echo "- kernel: tinyconfig +$(for f in $frags; do printf ' %s' "${f#"$TOP"/}"; done); bzImage $(du -k "$kernel" 2>/dev/null | cut -f1) KiB"
	echo "- guest: qemu-system-x86_64 -machine q35,accel=tcg -cpu EPYC,+svm,+npt -smp 2 -m 2G; run $boot_secs s; console \`${console#"$TOP"/}\`"
	echo "- kvm_amd: \`${kvmline#@@inkernel kvm }\`"
	echo "- taint after the selftests: ${tainted:-unknown} (bit 18, TAINT_TEST, is set by any KUnit suite and ignored)"
	echo "- KUnit (each suite's debugfs results, copied by /init to a second serial port, against \`${suites#"$TOP"/}\`): $kunit_summary"
	if [ "$which" = none ]; then
		echo "- selftests: none (KUnit only)"
	else
		echo "- selftests: $np passed, $ns skipped, $nf failed ($nb not built); list \`testing/boot-selftests.txt\`; programs from \`${stdir#"$TOP"/}\`"
	fi
	[ -n "$kept" ] && echo "- **failed**: kept for diagnosis: $kept"
	echo "- time of this step: $total s, finished $(date -u '+%Y-%m-%d %H:%M UTC')"
	if [ -s "$rdir/kunit-cases.tsv" ]; then
		echo
		echo "### KUnit cases"
		echo
		echo "| case | result | note |"
		echo "|---|---|---|"
		awk -F'\t' '{ printf "| %s | %s | %s |\n", $2, $1, $3 }' "$rdir/kunit-cases.tsv"
	fi
	if [ "$which" != none ]; then
		echo
		echo "### KVM selftests in the guest"
		echo
		echo "| test | on base | result | exit | seconds | note |"
		echo "|---|---|---|---|---|---|"
		awk -F'\t' '{ gsub(/\|/, "/", $6); printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$rows"
		if grep -q 'also on base' "$rows"; then
			echo
			echo "Failures that also happen on the unpatched base (reasons from \`testing/boot-selftests.txt\`):"
			awk -F'\t' '$6 ~ /also on base/ { printf "- %s: %s\n", $1, $6 }' "$rows"
		fi
	fi
	echo
	echo "Cannot run here: TDX and SEV-SNP guests (no such hardware; QEMU TCG offers"
	echo "neither SEV nor VMX on this CPU model, so kvm_intel and TDX report no"
	echo "support and SEV/SNP VM types are absent); only the in-kernel KUnit suites"
	echo "execute the TDX and SNP completion paths."
} > "$section"

step "done: $failures failed check(s)"
[ $failures -eq 0 ]

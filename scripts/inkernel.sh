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
#        INKERNEL_CONFIG="FRAG..."   the fragments instead of kernel/config/base.config
#                                    and inkernel.config (testing's *.config follow)
#
# Steps, in build/kunit-NAME (a worktree of build/src/NAME.git):
#   1. reset to the base, apply series/ (am_series), then testing/*.patch;
#   2. tinyconfig + base.config + inkernel.config + testing/*.config, bzImage;
#   3. the KVM selftests of the same tree, and an initramfs with them, their
#      shared libraries, busybox, inkernel-run and inkernel-init.sh as /init;
#   4. boot under QEMU TCG with nested SVM (-enable-kvm does not work here);
#      the console goes to build/logs/NAME/inkernel/console.log;
#   5. check: the guest powered off; kvm_amd initialised; the KUnit KTAP
#      (the kernel's kunit_parser); no kernel warning; each selftest against
#      its base result in testing/boot-selftests.txt.
# Every check is recorded for the report, and build/report/section-inkernel.md
# lists every KUnit case and every selftest.  Exit status 1 on any failure.
. "$(dirname "$0")/lib.sh"

name=${1:-linux-7.3}
on=${INKERNEL_ON:-series}
which=${INKERNEL_TESTS:-list}
case $on in series|base) ;; *) die "INKERNEL_ON must be series or base" ;; esac
case $which in list|all|none) ;; *) die "INKERNEL_TESTS must be list, all or none" ;; esac

wt=$BUILD/kunit-$name
out=$BUILD/out/$name/inkernel
logs=$BUILD/logs/$name/inkernel
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
scope="inkernel $name"
[ "$on" = base ] && scope="inkernel $name (unpatched base)"
if [ "$which" = all ] || [ "$on" = base ] ||
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
fresh_worktree "$name" "$wt" || give_up "cannot prepare $wt"
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
		record "$scope" "series: $(basename "$bad") applies" FAIL $(($(date +%s) - t0)) "$logs/apply.log"
		sed 's/^/    /' "$logs/apply.log"
		fail
		give_up "series patch $(basename "$bad") does not apply"
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
frags=${INKERNEL_CONFIG:-"$TOP/kernel/config/base.config $TOP/kernel/config/inkernel.config"}
{ [ "$on" = series ] || [ -n "$basetesting" ]; } &&
	frags="$frags $(ls "$testing"/*.config 2>/dev/null | LC_ALL=C sort | tr '\n' ' ')"
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

[ "$which" != none ] && step "building the KVM selftests of this tree"
selftests_build()
{
	kmake "$wt" "$out" headers || return 1
	# The selftests' lib.mk sets CC := gcc and their Makefile drops
	# make's command line, so kmake's "ccache gcc" does not reach them:
	# Debian's ccache directory first in PATH does.
	(
		[ -d /usr/lib/ccache ] && PATH=/usr/lib/ccache:$PATH && export PATH
		kmake "$wt" "$out" kselftest-all TARGETS=kvm
	)
}
if [ "$which" != none ]; then
	check "$scope" "build: KVM selftests" "$logs/selftests-build.log" selftests_build ||
		{ fail; give_up "the selftests did not build"; }
fi
stdir=$out/kselftest/kvm

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
	awk '!/^#/ && NF >= 4 { print $1, $4 }' "$list" > "$tests_file"
	qemu_timeout=${INKERNEL_QEMU_TIMEOUT:-300}
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
step "booting under QEMU TCG (at most $qemu_timeout s)"
console=$logs/console.log
boot()
{
	local rc
	timeout -k 10 "$qemu_timeout" qemu-system-x86_64 \
		-machine q35,accel=tcg -cpu EPYC,+svm,+npt -smp 2 -m 2G \
		-nographic -no-reboot \
		-kernel "$kernel" -initrd "$out/initramfs.cpio" \
		-append 'console=ttyS0 panic=-1 rdinit=/init' \
		< /dev/null > "$console.raw" 2>&1
	rc=$?
	tr -d '\r' < "$console.raw" > "$console"
	rm -f "$console.raw"
	[ $rc -eq 124 ] && echo "QEMU timed out after $qemu_timeout s"
	grep -q '^@@inkernel poweroff' "$console" ||
		{ echo "the guest did not reach the end of /init (QEMU exit $rc)"; tail -n 30 "$console"; return 1; }
	echo "QEMU exit $rc; console: $(wc -l < "$console") lines"
	[ $rc -eq 0 ]
}
boot_t0=$(date +%s)
check "$scope" "boot under QEMU TCG (q35, EPYC+svm+npt), /init ran to the end" "$logs/boot.log" boot || fail
boot_secs=$(( $(date +%s) - boot_t0 ))

# --- 5. The checks -------------------------------------------------------
step "checking the console"
kvmline=$(grep -m1 '^@@inkernel kvm ' "$console")
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
check "$scope" "kvm_amd initialised (/dev/kvm, npt=Y, its log)" "$logs/kvm_amd.log" kvm_amd_check || fail

# KUnit, with the kernel's own KTAP parser.
kunit=$wt/tools/testing/kunit
check "$scope" "KTAP check detects a failing, a missing and a crashed case" "$logs/ktap-selftest.log" \
	python3 "$TOP/scripts/ktap-check.py" "$kunit" --selftest || fail
t0=$(date +%s)
python3 "$TOP/scripts/ktap-check.py" "$kunit" "$console" "$logs/kunit-cases.tsv" > "$logs/kunit.log" 2>&1
rc=$?
kunit_summary=$(tail -n 1 "$logs/kunit.log")
# 77: the plan declares 0 suites (and the summary says so); anything else
# that is not 0 is a failure, including the checker's own crash.
case $rc/$kunit_summary in
0/*)	record "$scope" "KUnit: every declared case ran and passed" pass $(($(date +%s) - t0)) \
		"$logs/kunit.log" "$kunit_summary" ;;
"77/0 KUnit suites ran"*)
	record "$scope" "KUnit: 0 suites ran (none built in yet)" skip $(($(date +%s) - t0)) \
		"$logs/kunit.log" "$kunit_summary"
	msg "inkernel: KUnit: $kunit_summary: recorded as skipped" ;;
*)	record "$scope" "KUnit: every declared case ran and passed" FAIL $(($(date +%s) - t0)) \
		"$logs/kunit.log" "$kunit_summary"
	echo "  FAIL: $scope: KUnit: $kunit_summary"
	grep -E 'PROBLEM|FAIL|ERROR' "$logs/kunit.log" | head -n 12 | sed 's/^/    /'
	fail ;;
esac
# One result per case, so that the report lists every case.
while IFS='	' read -r st case note; do
	record "KUnit $name" "$case" "$st" 0 "$logs/kunit.log" "$note"
done < "$logs/kunit-cases.tsv"

# The kernel's own complaints while booting and running the selftests.
tainted=$(sed -n 's/^@@inkernel tainted //p' "$console")
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
check "$scope" "kernel: no WARN, BUG or Oops, no taint but TAINT_TEST" "$logs/kernel-log.log" kernel_clean || fail

# --- The selftests, against their base results --------------------------
# Per test: its output from the console, and one line in results.
awk -v dir="$logs/selftests" '
	/^@@inkernel-begin / { f = $2; gsub("/", "_", f); f = dir "/" f ".log"; next }
	/^@@inkernel-result / { if (f) close(f); f = ""; next }
	f && /^\| / { print substr($0, 3) > f }
' "$console"
sed -n 's/^@@inkernel-result //p' "$console" > "$logs/selftest-results.txt"

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

rows=$out/selftest-rows
: > "$rows"
np=0 ns=0 nf=0 nb=0
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
tests_with_base > "$out/selftest-plan"
while read -r t kind base tmo why; do
	res=$(awk -v t="$t" '$1 == t' "$logs/selftest-results.txt" | tail -n 1)
	lf=$logs/selftests/$(echo "$t" | tr / _).log
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
	detail="exit $rc"
	[ "$how" = notbuilt ] && detail="not built"
	[ -z "$how" ] && detail="no result"
	[ "$how" = timeout ] && detail="timed out after ${tmo} s"
	[ "$how" = signal ] && detail="killed by signal $((rc - 128))"
	case $got/$base in
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
msg "inkernel: selftests: $np passed, $ns skipped, $nf failed ($nb not built)"

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
	echo "- KUnit: $kunit_summary"
	if [ "$which" = none ]; then
		echo "- selftests: none (KUnit only)"
	else
		echo "- selftests: $np passed, $ns skipped, $nf failed ($nb not built); list \`testing/boot-selftests.txt\`"
	fi
	echo "- time of this step: $total s, finished $(date -u '+%Y-%m-%d %H:%M UTC')"
	if [ -s "$logs/kunit-cases.tsv" ]; then
		echo
		echo "### KUnit cases"
		echo
		echo "| case | result | note |"
		echo "|---|---|---|"
		awk -F'\t' '{ printf "| %s | %s | %s |\n", $2, $1, $3 }' "$logs/kunit-cases.tsv"
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

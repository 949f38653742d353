#!/bin/sh
# Evidence that the in-kernel checks do not flake (a benchmark-like run,
# not part of make check): with CPU-heavy processes beside them, as CI
# has, boot each KUnit image many times and run the whole boot test a few
# times, each run checked as make check checks it.
#
# usage: soak.sh [KUNIT_BOOTS [FULL_RUNS]]     (default 20 and 5)
# env:   SOAK_HOGS=N    busy processes beside the runs (default 1, as CI has);
#                       they take no build lock, so builds still wait for
#                       nothing but the CPU
#        SOAK_ONLY="7.3 6.12 full"   a subset of the three sets
#
# Writes build/report/soak.md: per set, the runs and failures; per
# selftest, its times over the full runs under load and its timeout in
# testing/boot-selftests.txt (which must be at least 5 times the slowest).
# Each failing run keeps its files (build/logs/NAME/inkernel/repeat-WHICH/run-K,
# WHICH: none for KUnit only, list for the boot test).
# Exit status 1 when any run failed, or a timeout is under 5 times the
# slowest time measured.
. "$(dirname "$0")/lib.sh"

boots=${1:-20}
full=${2:-5}
hogs=${SOAK_HOGS:-1}
only=${SOAK_ONLY:-"7.3 6.12 full"}
soak=$REPORT_DIR/soak.md
work=$BUILD/soak
rm -rf "$work"
mkdir -p "$work" "$REPORT_DIR"

sh "$TOP/scripts/deps.sh" || exit 1

pids=
stop_hogs()
{
	[ -n "$pids" ] && kill $pids 2> /dev/null
	pids=
}
trap 'stop_hogs' EXIT
trap 'stop_hogs; exit 1' INT TERM
i=0
while [ $i -lt "$hogs" ]; do
	sh -c 'while :; do :; done' &
	pids="$pids $!"
	i=$((i + 1))
done
msg "soak: $hogs busy process(es) beside the runs: $pids"

bad=0
set_summary()	# set_summary LABEL NAME WHICH RUNS: one line for the report
{
	local s=$BUILD/logs/$2/inkernel/repeat-$3/summary.tsv
	if [ ! -r "$s" ] || [ "$(wc -l < "$s")" -ne "$4" ]; then
		echo "| $1 | not all | - | the image was not built, or runs are missing: see build/soak/ |" >> "$work/sets"
		bad=1
		return
	fi
	echo "| $1 | $(wc -l < "$s") | $(awk -F'\t' '$2 != "pass"' "$s" | wc -l) |" \
		"$(awk -F'\t' '{ t += $3 } END { if (NR) printf "%.0f", t / NR }' "$s") s per run |" >> "$work/sets"
	awk -F'\t' '$2 != "pass" { printf "  run %s: %s\n", $1, $5 }' "$s" >> "$work/failures"
	awk -F'\t' '$2 != "pass"' "$s" | grep -q . && bad=1
}

# No summary of an earlier soak may stand for this one's.
rm -rf "$BUILD"/logs/linux-7.3/inkernel/repeat-* "$BUILD"/logs/linux-6.12/inkernel/repeat-*
for set in $only; do
	case $set in
	7.3)
		msg "soak: linux-7.3 KUnit image, $boots boots"
		INKERNEL_TESTS=none INKERNEL_REPEAT=$boots \
			sh "$TOP/scripts/inkernel.sh" linux-7.3 > "$work/linux-7.3-kunit.log" 2>&1
		set_summary "7.3 image, KUnit only" linux-7.3 none "$boots"
		;;
	6.12)
		msg "soak: Debian 6.12 backport's KUnit image, $boots boots"
		dir=$TOP/backports/debian-6.12
		INKERNEL_SERIES=$dir INKERNEL_TESTING=$dir/testing INKERNEL_TESTS=none \
		INKERNEL_CONFIG="$TOP/kernel/config/base.config $TOP/kernel/config/boot.config $dir/config/inkernel.config" \
		INKERNEL_REPEAT=$boots sh "$TOP/scripts/inkernel.sh" linux-6.12 > "$work/linux-6.12-kunit.log" 2>&1
		set_summary "6.12 backport image, KUnit only" linux-6.12 none "$boots"
		;;
	full)
		msg "soak: linux-7.3 boot test (KUnit and the selftest list), $full runs"
		INKERNEL_REPEAT=$full sh "$TOP/scripts/inkernel.sh" linux-7.3 > "$work/linux-7.3-full.log" 2>&1
		set_summary "7.3 image, KUnit and the boot test's selftests" linux-7.3 list "$full"
		cat "$BUILD"/logs/linux-7.3/inkernel/repeat-list/run-*/selftest-results.txt > "$work/times" 2> /dev/null
		;;
	*) die "unknown set $set (7.3, 6.12, full)" ;;
	esac
done
stop_hogs

# Per listed selftest: its results and times over the full runs, and
# whether its timeout is at least 5 times the slowest.
if [ -s "$work/times" ]; then
	awk '!/^#/ && NF >= 4 { print $1, $2, $4 }' "$TOP/testing/boot-selftests.txt" |
	while read -r t kind tmo; do
		awk -v t="$t" -v kind="$kind" -v tmo="$tmo" '
			$1 == t { n++; s = $3 + 0; if (n == 1 || s < lo) lo = s; if (s > hi) hi = s
				  r[$4 == "exit" ? "exit " $2 : $4]++ }
			END {
				res = ""; for (k in r) res = res (res ? ", " : "") r[k] " x " k
				if (kind == "quarantined") { printf "| %s | quarantined | - | %s | not run |\n", t, tmo; exit }
				if (!n) { printf "| %s | no result | - | %s | **no result** |\n", t, tmo; exit 1 }
				ok = tmo >= 5 * hi
				printf "| %s | %s | %.1f-%.1f | %s | %s |\n", t, res, lo, hi, tmo,
					ok ? "ok" : "**under 5 x the slowest**"
				exit !ok
			}' "$work/times" || echo "bad" >> "$work/timeouts-bad"
	done > "$work/tests"
	[ -s "$work/timeouts-bad" ] && bad=1
fi

{
	echo "# Soak: in-kernel runs under CPU load ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs)"
	echo
	echo "Command: \`sh scripts/soak.sh $boots $full\` with $hogs busy process(es) beside the runs."
	echo
	echo "| set | runs | failed | mean time |"
	echo "|---|---|---|---|"
	cat "$work/sets"
	if [ -s "$work/failures" ]; then
		echo
		echo "Failed runs (their files are kept under build/logs/NAME/inkernel/repeat-WHICH/):"
		echo
		cat "$work/failures"
	fi
	if [ -s "$work/tests" ]; then
		echo
		echo "### The boot test's selftests over the $full runs under load"
		echo
		echo "| test | results | seconds (min-max) | timeout | timeout >= 5 x max |"
		echo "|---|---|---|---|---|"
		cat "$work/tests"
	fi
} > "$soak"
cat "$soak"
exit $bad

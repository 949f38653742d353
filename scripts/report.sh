#!/bin/sh
# Write build/report/report.md from the recorded results and print a
# one-screen summary.  Exit status 1 when any check failed.
#
# usage: report.sh [TITLE]
. "$(dirname "$0")/lib.sh"

title=${1:-workbench}
md=$REPORT_DIR/report.md
mkdir -p "$REPORT_DIR"
touch "$RESULTS"

base_line()	# base_line NAME
{
	local f
	f=$BUILD/src/$1.info
	[ -r "$f" ] || return 0
	load_pin "$f" B_
	printf '%s %s (upstream %s), sha256 %s, base commit %s' \
		"$B_PACKAGE" "$B_VERSION" "$B_UPSTREAM" "$(echo "$B_SHA256" | cut -c1-16)…" \
		"$(echo "$B_COMMIT" | cut -c1-12)"
	[ "$B_FALLBACK" = yes ] && printf ' — FALLBACK: pinned %s is gone from the archive' "$B_PINNED_VERSION"
	[ "$B_GITIGNORE_NEUTRALISED" = yes ] &&
		printf '; Debian .gitignore block that ignores the top level disabled in the base commit'
	echo
}

total=$(grep -c . "$RESULTS")
failed=$(awk -F'\t' '$3 == "FAIL"' "$RESULTS" | wc -l)
skipped=$(awk -F'\t' '$3 == "skip"' "$RESULTS" | wc -l)
passed=$(awk -F'\t' '$3 == "pass"' "$RESULTS" | wc -l)

{
	echo "# Workbench report ($title)"
	echo
	echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'); total time $(elapsed) s; $(nproc) CPUs."
	echo
	echo "## Bases"
	for b in linux-7.3 linux-6.12; do
		l=$(base_line $b)
		[ -n "$l" ] && echo "- $b: $l"
	done
	echo "- sparse: $(cat "$BUILD/tools/sparse/.version" 2>/dev/null || echo 'not built')"
	echo
	echo "## Checks"
	echo
	echo "| patch / scope | check | result | seconds | note |"
	echo "|---|---|---|---|---|"
	awk -F'\t' '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $6 }' "$RESULTS"
	echo
	echo "Totals: $passed passed, $failed failed, $skipped skipped ($total checks)."
	if [ "$failed" -gt 0 ]; then
		echo
		echo "## Failures"
		awk -F'\t' '$3 == "FAIL" { print $1 "\t" $2 "\t" $5 }' "$RESULTS" |
		while IFS='	' read -r scope name log; do
			echo
			echo "### $scope: $name"
			echo
			echo '```'
			[ -r "$log" ] && tail -n 30 "$log" | cut -c1-200
			echo '```'
		done
	fi
	for extra in "$REPORT_DIR"/section-*.md; do
		[ -r "$extra" ] || continue
		echo
		cat "$extra"
	done
} > "$md"

# One screen: the bases, one line per scope, the failures.
echo
echo "=== $title: summary ==="
for b in linux-7.3 linux-6.12; do
	l=$(base_line $b)
	[ -n "$l" ] && echo "base $b: $l" | cut -c1-160
done
awk -F'\t' '
	{
		if (!($1 in seen)) { order[++n] = $1; seen[$1] = 1 }
		cnt[$1]++; secs[$1] += $4
		if ($3 == "FAIL") { bad[$1] = bad[$1] (bad[$1] ? "; " : "") $2 }
		if ($3 == "skip") sk[$1]++
	}
	END {
		for (i = 1; i <= n; i++) {
			s = order[i]
			st = (s in bad) ? "FAIL" : "ok  "
			line = sprintf("%s %-58.58s %2d checks %5ds", st, s, cnt[s], secs[s])
			if (sk[s]) line = line sprintf(" (%d skipped)", sk[s])
			print line
			if (s in bad) print "       failed: " substr(bad[s], 1, 140)
		}
	}' "$RESULTS"
echo "report: ${md#"$TOP"/}; $(elapsed) s"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]

#!/bin/sh
# Test of the workbench itself: series/ -> tree -> export must give
# series/ as committed, byte for byte.  (A second round, tree -> export
# again, would test nothing more: its input would be the same series/.)
# Works in its own worktree (build/roundtrip), so the developer's
# build/tree is not touched.
. "$(dirname "$0")/lib.sh"

wt=$BUILD/roundtrip
# Really run git am each time, not the memo of earlier runs (am_series).
AM_MEMO=0
export AM_MEMO
tmp=$BUILD/state/roundtrip
rm -rf "$tmp"
mkdir -p "$tmp"
# The worktree is this test's own: whatever an interrupted run left goes.
[ ! -d "$wt" ] || fresh_worktree linux-7.3 "$wt" || die "cannot reset ${wt#"$TOP"/}"
FORCE=1 sh "$TOP/scripts/tree.sh" linux-7.3 "$TOP/series" "$wt" || exit 1
sh "$TOP/scripts/export.sh" "$wt" "$tmp/1" "$tmp/standins" || exit 1
# series/ as committed must already be what export writes, file for file
# (each posting's directory, and the list of postings), and so must the
# stand-ins in testing/.
diff -r "$tmp/1" "$TOP/series" > "$tmp/diff" 2>&1 ||
	{ head -n 40 "$tmp/diff"; echo "FAIL: series/ is not what \"make export\" writes: run make tree && make export"; exit 1; }
n=$(find "$tmp/1" -type f | wc -l)
for d in "$tmp/standins"/*/; do
	[ -d "$d" ] || continue
	s=$(basename "$d")
	diff -r "$d" "$TOP/testing/$s" > "$tmp/diff" 2>&1 ||
		{ head -n 40 "$tmp/diff"; echo "FAIL: testing/$s is not what \"make export\" writes: run make tree && make export"; exit 1; }
	n=$((n + $(ls "$d" | wc -l)))
done
echo "round trip: $n files identical"

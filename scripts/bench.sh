#!/bin/sh
# Benchmark (not a test): time the workbench, cold and incremental, in a
# fresh clone, and write build/report/bench.md.
#   deps:        the package step on its own
#   cold:        make check with an empty build/, an empty compiler cache,
#                base cache and work area (KWORK)
#   warm:        make check again in a second fresh clone (CI's usual case)
#   incremental: edit one .c file in the tree, fold it into its patch,
#                export, and re-verify only that patch
# Uses its own caches under /var/tmp, so the machine's stay as they are.
. "$(dirname "$0")/lib.sh"

root=/var/tmp/kvm-mapgpa-bench
rm -rf "$root"
mkdir -p "$root"
export CCACHE_DIR=$root/ccache BASE_CACHE=$root/bases COCCI_CACHE=$root/cocci KWORK=$root/work
result=$REPORT_DIR/bench.md
mkdir -p "$REPORT_DIR"

timed()		# timed LABEL COMMAND...: run, print and keep the seconds
{
	local label t0 t1 rc
	label=$1
	shift
	msg "bench: $label (log: $root/$label.log)"
	t0=$(date +%s)
	# In a session of its own, so that stopping the bench stops all of
	# it: a make check left behind would go on building (seen once).
	setsid "$@" > "$root/$label.log" 2>&1 &
	child=$!
	wait "$child"
	rc=$?
	child=
	t1=$(date +%s)
	echo "$label: $((t1 - t0)) s (exit $rc)" | tee -a "$root/times"
	[ "$rc" = 0 ] || failed=1
}
failed=0
child=
trap '[ -n "$child" ] && pkill -TERM -g "$child"; exit 143' INT TERM HUP

git clone -q "$TOP" "$root/cold"
cp -r "$TOP/series" "$root/cold/"	# what is being benchmarked, committed or not
# The packages on their own (make check's first step): on a machine that
# has them, this only checks; a new machine pays the install here.
timed deps sh "$TOP/scripts/deps.sh"
timed cold-make-check sh -c "cd '$root/cold' && unset START_TIME && make check"
git clone -q "$TOP" "$root/warm"
cp -r "$TOP/series" "$root/warm/"
timed warm-make-check sh -c "cd '$root/warm' && unset START_TIME && make check"

# Incremental: a function added to tdx.c in the tree, folded into the last
# patch that touches tdx.c (so that no later patch conflicts), exported, and
# that patch re-verified.
cd "$root/warm" || exit 1
patch=$(grep -l '^+++ b/arch/x86/kvm/vmx/tdx.c' $(series_patches series) | tail -n 1)
[ -n "$patch" ] || die "bench: no patch touches tdx.c"
# Its position in the whole series (all postings), which PATCH= counts.
n=$(series_patches series | grep -n -x -F "$patch" | cut -d: -f1)
make tree > "$root/incremental-tree.log" 2>&1 || die "bench: make tree failed"
target=$(git -C build/tree rev-list --reverse base..HEAD | sed -n "${n}p")
[ -n "$target" ] || die "bench: no commit for $(basename "$patch")"
# A code change (not a comment, which ccache would see through): an unused
# static inline function, which no compiler or checker warns about.
printf '\nstatic inline int tdx_bench_edit(void)\n{\n\treturn %s;\n}\n' "$(date +%s)" \
	>> build/tree/arch/x86/kvm/vmx/tdx.c
(cd build/tree && pgit commit -q -a --fixup="$target" &&
	GIT_SEQUENCE_EDITOR=: pgit rebase -q -i --autosquash base) ||
	die "bench: folding the edit into $(basename "$patch") failed"
timed incremental-verify-patch sh -c "make export && make verify PATCH=$n"

{
	echo "# Workbench benchmark ($(date -u '+%Y-%m-%d'), $(nproc) CPUs)"
	echo
	sed 's/^/- /' "$root/times"
	echo
	echo "ccache after the runs: $(ccache -s 2>/dev/null | grep -E 'Hits|cache size' | tr -s ' ' | paste -sd';')"
} > "$result"
cat "$result"
exit $failed

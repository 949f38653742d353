#!/bin/sh
# Benchmark (not a test): time the workbench, cold and incremental, in a
# fresh clone, and write build/report/bench.md.
#   cold:        make check with an empty build/, an empty compiler cache
#                and an empty base cache
#   warm:        make check again in a second fresh clone (CI's usual case)
#   incremental: edit one .c file in the tree, fold it into its patch,
#                export, and re-verify only that patch
# Uses its own caches under /var/tmp, so the machine's stay as they are.
. "$(dirname "$0")/lib.sh"

root=/var/tmp/kvm-mapgpa-bench
rm -rf "$root"
mkdir -p "$root"
export CCACHE_DIR=$root/ccache BASE_CACHE=$root/bases
result=$REPORT_DIR/bench.md
mkdir -p "$REPORT_DIR"

timed()		# timed LABEL COMMAND...: run, print and keep the seconds
{
	local t0 t1 rc
	t0=$(date +%s)
	"$@" > "$root/$1.log" 2>&1
	rc=$?
	t1=$(date +%s)
	echo "$1: $((t1 - t0)) s (exit $rc)" | tee -a "$root/times"
}

git clone -q "$TOP" "$root/cold"
cp -r "$TOP/series" "$root/cold/"	# what is being benchmarked, committed or not
timed cold-make-check sh -c "cd '$root/cold' && unset START_TIME && make check"
git clone -q "$TOP" "$root/warm"
cp -r "$TOP/series" "$root/warm/"
timed warm-make-check sh -c "cd '$root/warm' && unset START_TIME && make check"

# Incremental: the patch that touches tdx.c, edited through the tree.
cd "$root/warm" || exit 1
patch=$(grep -l '^+++ b/arch/x86/kvm/vmx/tdx.c' series/[0-9]*.patch | grep -v 0000 | head -n 1)
if [ -n "$patch" ]; then
	n=$(basename "$patch" | cut -c1-4 | sed 's/^0*//')
	make tree > /dev/null 2>&1
	sub=$(sed -n 's/^Subject: \[PATCH[^]]*\] //p' "$patch")
	target=$(git -C build/tree log --format=%H --grep="^$sub" -F base..HEAD | head -n 1)
	git -C build/tree checkout -q "$target" 2>/dev/null
	git -C build/tree checkout -q series
	echo '/* bench */' >> build/tree/arch/x86/kvm/vmx/tdx.c
	git -C build/tree commit -q -a --fixup="$target"
	GIT_SEQUENCE_EDITOR=: git -C build/tree rebase -q -i --autosquash base
	timed incremental-verify-patch sh -c "make export && make verify PATCH=$n"
fi

{
	echo "# Workbench benchmark ($(date -u '+%Y-%m-%d'), $(nproc) CPUs)"
	echo
	sed 's/^/- /' "$root/times"
	echo
	echo "ccache after the runs: $(ccache -s 2>/dev/null | grep -E 'Hits|cache size' | tr -s ' ' | paste -sd';')"
} > "$result"
cat "$result"

#!/bin/sh
# Record the checkers' results on the unpatched base, once, in
# kernel/baseline/NAME/ (committed), so that "make check" compares against
# them instead of rebuilding the base on every run.
#   sparse.txt      sparse on every KVM object
#   coccicheck.txt  coccicheck on the .c files the series touches, plus
#                   the three completion paths' files
#   htmldocs.txt    Sphinx on the documentation directories the series
#                   touches, plus virt
#
# usage: baseline.sh [NAME [SERIESDIR]]
. "$(dirname "$0")/lib.sh"

name=${1:-linux-7.3}
series=${2:-$TOP/series}
wt=$(kwork_tree verify "$name")
out=$(kwork_out "$name") || die "cannot make the output directories of $name"
dest=$TOP/kernel/baseline/$name
logs=$BUILD/logs/$name/baseline
cfgdir=$TOP/kernel/config
mkdir -p "$dest" "$logs"

sh "$TOP/scripts/base.sh" "$name" || exit 1
sparse=$(sh "$TOP/scripts/sparse.sh") || die "no sparse"
shared_worktree "$name" "$wt" || die "cannot prepare $wt"
cd "$wt" || exit 1
git checkout -q --detach base
commit=$(git rev-parse HEAD)
# shellcheck disable=SC2046
sh "$TOP/scripts/kconfig.sh" "$wt" "$out/kvm-modules" $(kvm_modules_frags) || die "cannot configure kvm-modules"

# What the series touches, read from its patches.
touched=$(cat $(series_patches "$series") /dev/null | sed -n 's|^+++ b/||p' | sort -u)
cfiles="arch/x86/kvm/x86.c arch/x86/kvm/vmx/tdx.c arch/x86/kvm/svm/sev.c"
docdirs="virt"
# shellcheck disable=SC2086
classify_touched $touched

header()	# header WHAT COVERS
{
	echo "# $1 on the unpatched base $name ($commit), written by scripts/baseline.sh"
	echo "# covers: $2"
}

msg "baseline: building KVM at the base"
kmake "$wt" "$out/kvm-modules" vmlinux modules > "$logs/build.log" 2>&1 ||
	{ tail -n 20 "$logs/build.log"; die "the base does not build"; }

# sparse must be able to fail too: a global that should be static.
probe=arch/x86/kvm/workbench_sparse_probe.c
printf 'int workbench_probe_symbol;\n' > "$probe"
kmake "$wt" "$out/kvm-modules" C=2 CHECK="$sparse" "${probe%.c}.o" > "$logs/sparse-probe.raw" 2>&1
rm -f "$probe"
grep -q "workbench_probe_symbol' was not declared" "$logs/sparse-probe.raw" ||
	{ tail -n 20 "$logs/sparse-probe.raw"; die "sparse did not report the probe: it checks nothing"; }

msg "baseline: sparse on arch/x86/kvm/"
kmake "$wt" "$out/kvm-modules" C=2 CHECK="$sparse" arch/x86/kvm/ > "$logs/sparse.raw" 2>&1
grep -q 'sparse is not available or not up to date' "$logs/sparse.raw" &&
	die "the kernel refused $sparse"
{ header sparse "arch/x86/kvm/ virt/kvm/"; normalise "$wt" < "$logs/sparse.raw"; } > "$dest/sparse.txt"

# The checker must be able to fail: a file with an unneeded semicolon
# gets a report (then the file is removed again).
msg "baseline: coccicheck self-test"
probe=arch/x86/kvm/workbench_cocci_probe.c
printf 'int probe(int x);\nint probe(int x)\n{\n\tif (x) {\n\t\tx++;\n\t};\n\treturn x;\n}\n' > "$probe"
run_coccicheck "$wt" "$out/kvm-modules" "${probe%.c}.o" > "$logs/cocci-probe.raw" 2>&1
rm -f "$probe"
grep -q "workbench_cocci_probe.c:6:.*Unneeded semicolon" "$logs/cocci-probe.raw" ||
	{ tail -n 20 "$logs/cocci-probe.raw"; die "coccicheck did not report the probe: it checks nothing"; }

msg "baseline: coccicheck on$cfiles"
objs=
for f in $cfiles; do objs="$objs ${f%.c}.o"; done
# shellcheck disable=SC2086
run_coccicheck "$wt" "$out/kvm-modules" $objs > "$logs/cocci.raw" 2>&1
[ -z "$(git status --porcelain --untracked-files=all)" ] || die "coccicheck wrote into the tree"
{ header coccicheck "$(echo $cfiles)"; normalise "$wt" < "$logs/cocci.raw"; } > "$dest/coccicheck.txt"

msg "baseline: htmldocs on$docdirs"
# shellcheck disable=SC2086
run_htmldocs "$wt" "$out/docs" $docdirs > "$logs/htmldocs.raw" 2>&1 ||
	{ tail -n 20 "$logs/htmldocs.raw"; die "htmldocs failed on the base"; }
{ header htmldocs "$(echo $docdirs)"; normalise "$wt" < "$logs/htmldocs.raw"; } > "$dest/htmldocs.txt"

msg "baseline: written to ${dest#"$TOP"/}: $(for f in "$dest"/*.txt; do printf '%s %s lines; ' "$(basename "$f")" "$(grep -vc '^#' "$f")"; done)"

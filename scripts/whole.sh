#!/bin/sh
# Checks on the whole series (the final tree against the base), because
# they are slow: coccicheck on every .c file the series touches, and the
# kernel's Sphinx build of the documentation directories it touches.  Both
# are compared with the base results committed in kernel/baseline/NAME/.
#
# usage: whole.sh NAME WORKTREE OUTDIR	(the worktree at the last patch)
. "$(dirname "$0")/lib.sh"

name=$1 wt=$2 out=$3
baseline=$TOP/kernel/baseline/$name
logs=$BUILD/logs/$name
mkdir -p "$logs"
cd "$wt" || exit 1
files=$(git diff --name-only base HEAD)
failures=0

covered()	# covered BASEFILE WORD: is WORD listed in the file's "# covers:" line
{
	sed -n 's/^# covers: //p' "$1" 2>/dev/null | tr ' ' '\n' | grep -qxF "$2"
}

cocci_check()
{
	local f objs key cache
	objs=
	for f in $cfiles; do
		covered "$baseline/coccicheck.txt" "$f" ||
			{ echo "FAIL: no base result for $f in ${baseline#"$TOP"/}/coccicheck.txt: run \"make baseline\""; return 1; }
		objs="$objs ${f%.c}.o"
	done
	command -v spatch > /dev/null || { echo "FAIL: no spatch (coccinelle) installed"; return 1; }
	# coccicheck's verdict depends only on the sources it reads, the
	# files, the configuration and spatch: a run on the same inputs
	# reuses the normalised findings of the last successful one instead
	# of running again.  The kernel objects read nothing under tools/ or
	# Documentation/, so the key is the tree without them: a change of
	# the selftests or of api.rst alone (or a fresh clone of the same
	# commit, CI's usual case) finds the findings of the last run.
	srckey=$(git ls-tree HEAD | grep -v -E '	(tools|Documentation)$' | git hash-object --stdin)
	key=$( { echo "$srckey"; echo "$objs"; spatch --version 2>&1 | head -n 1
		cat "$out/kvm-modules/.config"; } | sha256sum | cut -c1-64)
	cache=${COCCI_CACHE:-/var/cache/kvm-mapgpa/cocci}/$key.now
	if [ -r "$cache" ]; then
		echo "coccicheck: the findings of a run on the same sources (the tree but tools/ and Documentation/: $(echo "$srckey" | cut -c1-12)), configuration and spatch, from ${cache}"
		cp "$cache" "$logs/cocci.now"
		cat "$logs/cocci.now"
		new_against "$baseline/coccicheck.txt" "$logs/cocci.now"
		return
	fi
	# shellcheck disable=SC2086
	run_coccicheck "$wt" "$out/kvm-modules" $objs > "$logs/cocci.raw" 2>&1 ||
		{ cat "$logs/cocci.raw"; echo "FAIL: coccicheck failed"; return 1; }
	cat "$logs/cocci.raw"
	if [ -n "$(git status --porcelain --untracked-files=all)" ]; then
		git status --porcelain --untracked-files=all | head
		echo "FAIL: coccicheck wrote into the source tree"
		return 1
	fi
	grep -q 'spatch' "$logs/cocci.raw" && grep -q -i 'not found\|no ocaml' "$logs/cocci.raw" &&
		{ echo "FAIL: coccinelle did not run"; return 1; }
	normalise "$wt" < "$logs/cocci.raw" > "$logs/cocci.now"
	mkdir -p "${cache%/*}" 2> /dev/null && cp "$logs/cocci.now" "$cache.tmp.$$" 2> /dev/null &&
		mv "$cache.tmp.$$" "$cache"
	new_against "$baseline/coccicheck.txt" "$logs/cocci.now"
}

docs_check()
{
	local d
	for d in $docdirs; do
		covered "$baseline/htmldocs.txt" "$d" ||
			{ echo "FAIL: no base result for Documentation/$d: run \"make baseline\""; return 1; }
	done
	# shellcheck disable=SC2086
	run_htmldocs "$wt" "$out/docs" $docdirs > "$logs/htmldocs.raw" 2>&1 ||
		{ cat "$logs/htmldocs.raw"; return 1; }
	cat "$logs/htmldocs.raw"
	normalise "$wt" < "$logs/htmldocs.raw" > "$logs/htmldocs.now"
	new_against "$baseline/htmldocs.txt" "$logs/htmldocs.now"
}

cfiles=
docdirs=
# shellcheck disable=SC2086
classify_touched $files

if [ -n "$cfiles" ]; then
	check series "coccicheck MODE=report:$cfiles" "$logs/coccicheck.log" cocci_check ||
		failures=$((failures + 1))
fi
if [ -n "$docdirs" ]; then
	check series "htmldocs (SPHINXDIRS=$(echo $docdirs))" "$logs/htmldocs.log" docs_check ||
		failures=$((failures + 1))
fi
[ $failures -eq 0 ]

#!/bin/sh
# Make an editable tree: the base plus the patches of a series directory as
# commits (git am), on branch "series" (for build/tree; see tree_branch).
# The cover letter's subject and blurb become the branch description, which
# "make export" writes back.  In a folder of postings (series/postings),
# each posting but the last ends at a branch "series.NAME" with its own
# description, and a posting's stand-in (testing/stand-ins) at a branch
# "series.DIR"; edit with "git rebase -i --update-refs base" so that those
# branches move with their commits.
#
# usage: tree.sh [NAME SERIESDIR TREEDIR]
# A patch that does not apply fails with its file name and git am's reason,
# and leaves the tree as it was.
. "$(dirname "$0")/lib.sh"

name=${1:-linux-7.3}
series=${2:-$TOP/series}
tree=${3:-$BUILD/tree}

sh "$TOP/scripts/base.sh" "$name" || exit 1
state=$BUILD/state
mkdir -p "$state"
stamp=$state/$(basename "$tree").applied

ensure_worktree "$name" "$tree" || die "cannot create the worktree $tree"
branch=$(tree_branch "$tree")
cd "$tree" || exit 1

dirty=$(git status --porcelain --untracked-files=normal | head -n 5)
[ -z "$dirty" ] || die "${tree#"$TOP"/} has uncommitted changes; commit or stash them first (nothing was changed):
$dirty"

base=$(git rev-parse base)
old=$(git rev-parse HEAD)
oldbranch=$(git symbolic-ref -q --short HEAD)
if [ "$old" != "$base" ] && [ "$old" != "$(cat "$stamp" 2>/dev/null)" ] && [ -z "$FORCE" ]; then
	die "${tree#"$TOP"/} has commits that \"make export\" has not written to ${series#"$TOP"/}.
Run \"make export\" first, or FORCE=1 to drop them (they stay in the reflog)."
fi

mkdir -p "$BUILD/state"
if ! am_series "$series" > "$state/applied" 2> "$state/am.err"; then
	if [ -n "$oldbranch" ]; then
		git checkout -q "$oldbranch"
	else
		git checkout -q --detach "$old"
	fi
	die "$(cat "$state/am.err")
${tree#"$TOP"/} is unchanged."
fi
count=$(wc -l < "$state/applied")
postings=$(series_postings "$series") || die "cannot read ${series#"$TOP"/}/postings"
# Where each stand-in ends, found before anything of the tree changes.
standin_ends=
if [ -e "$series/postings" ]; then
	for d in $postings; do
		sdir=$(standin_of "$(basename "$d")")
		[ -n "$sdir" ] || continue
		end=$(grep -F " $TOP/testing/$sdir/" "$state/applied" | tail -n 1 | cut -d' ' -f1)
		[ -n "$end" ] || die "the stand-in testing/$sdir was not applied"
		standin_ends="$standin_ends $(basename "$d"):$sdir:$end"
	done
fi
git checkout -q -B "$branch"

# A folder of postings: each posting but the last ends at a branch of its
# own, BRANCH.POSTING (series.fixes), which "git rebase -i --update-refs"
# keeps in place; the last one ends at BRANCH.  Their order is kept in
# branch.BRANCH.postings for "make export".
for b in $(git for-each-ref --format='%(refname:short)' "refs/heads/$branch.*"); do
	git branch -q -D "$b"
	git config --remove-section "branch.$b" 2> /dev/null
done
git config --unset "branch.$branch.postings"
git config --unset "branch.$branch.workbench-rfc"
for k in $(git config --name-only --get-regexp "^branch\.$branch\.standin-" 2> /dev/null); do
	git config --unset "$k"
done
last=$(echo "$postings" | tail -n 1)
names=
for d in $postings; do
	b=$branch
	if [ -e "$series/postings" ]; then
		names="$names $(basename "$d")"
		# Its stand-in ends at a branch of its own, BRANCH.DIR, and
		# branch.BRANCH.standin-POSTING tells "make export" about it.
		for e in $standin_ends; do
			case $e in
			"$(basename "$d")":*)
				sdir=${e#*:}
				git branch -q -f "$branch.${sdir%%:*}" "${sdir#*:}"
				git config "branch.$branch.standin-$(basename "$d")" "${sdir%%:*}"
				;;
			esac
		done
		[ "$d" = "$last" ] || b=$branch.$(basename "$d")
		end=$(grep -F " $d/" "$state/applied" | tail -n 1 | cut -d' ' -f1)
		[ -n "$end" ] || die "the posting ${d#"$TOP"/} has no patches"
		[ "$b" = "$branch" ] || git branch -q -f "$b" "$end"
	fi
	# The cover letter's subject and blurb, as the branch description.
	cover=$(posting_cover "$d")
	if [ -n "$cover" ]; then
		sh "$TOP/scripts/cover.sh" get "$cover" > "$state/description" ||
			die "cannot read the cover letter $cover"
		git config "branch.$b.description" "$(cat "$state/description")"
		# An RFC posting ("[RFC PATCH 0/N]") stays one: export.sh
		# gives its patches the same prefix.
		sed -n '/^$/q; /^Subject: \[RFC PATCH[] ]/p' "$cover" | grep -q . &&
			git config "branch.$b.workbench-rfc" true
	fi
done
[ -z "$names" ] || git config "branch.$branch.postings" "${names# }"

git rev-parse HEAD > "$stamp"
msg "tree: ${tree#"$TOP"/} is the base plus $count patches of ${series#"$TOP"/} (branch $branch)"

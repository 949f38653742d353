#!/bin/sh
# Make an editable tree: the base plus the patches of a series directory as
# commits (git am), on branch "series" (for build/tree; see tree_branch).
# The cover letter's subject and blurb become the branch description, which
# "make export" writes back.
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
git checkout -q -B "$branch"

# The cover letter's subject and blurb, as the branch description.
cover=$series/0000-cover-letter.patch
if [ -r "$cover" ]; then
	sh "$TOP/scripts/cover.sh" get "$cover" > "$state/description" ||
		die "cannot read the cover letter $cover"
	git config "branch.$branch.description" "$(cat "$state/description")"
fi

git rev-parse HEAD > "$stamp"
msg "tree: ${tree#"$TOP"/} is the base plus $count patches of ${series#"$TOP"/} (branch $branch)"

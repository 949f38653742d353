#!/bin/sh
# Write a series directory from the tree with git format-patch: stable
# output (no version signature, zero commit ids, fixed abbreviation, no
# user configuration), the base commit recorded, the cover letter's text
# taken from the branch description.
#
# usage: export.sh [TREEDIR SERIESDIR]
. "$(dirname "$0")/lib.sh"

tree=${1:-$BUILD/tree}
series=${2:-$TOP/series}
[ -d "$tree" ] || die "no tree at ${tree#"$TOP"/}: run \"make tree\" first"
cd "$tree" || exit 1

dirty=$(git status --porcelain --untracked-files=normal | head -n 5)
[ -z "$dirty" ] || die "${tree#"$TOP"/} has uncommitted changes; commit them first:
$dirty"
branch=$(tree_branch "$tree")
[ "$(git rev-parse --abbrev-ref HEAD)" = "$branch" ] ||
	die "${tree#"$TOP"/} is not on branch $branch"
git config "branch.$branch.description" > /dev/null ||
	git config "branch.$branch.description" "$(printf '*** SUBJECT HERE ***\n\n*** BLURB HERE ***')"

tmp=$BUILD/state/export.tmp
rm -rf "$tmp"
mkdir -p "$tmp" "$BUILD/state/empty-home"
# The cover letter carries the author date of the last commit, not the
# time of the export, so that exporting twice gives the same bytes.  Not
# its committer date: a rebase changes that, git am in "make tree" sets it
# back to the author date, and the round trip would differ.
GIT_COMMITTER_DATE=$(git log -1 --format=%aD) \
HOME=$BUILD/state/empty-home XDG_CONFIG_HOME=$BUILD/state/empty-home GIT_CONFIG_NOSYSTEM=1 \
	pgit -c core.abbrev=12 format-patch -q --cover-letter --cover-from-description=subject \
	--no-signature --zero-commit --base=base -o "$tmp" base..HEAD ||
	die "git format-patch failed"

mkdir -p "$series"
rm -f "$series"/[0-9][0-9][0-9][0-9]-*.patch
mv "$tmp"/*.patch "$series"/
rmdir "$tmp"
git rev-parse HEAD > "$BUILD/state/$(basename "$tree").applied"
msg "export: $(series_patches "$series" | wc -l) patches and the cover letter in ${series#"$TOP"/}"

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
[ "$(git rev-parse --abbrev-ref HEAD)" = series ] ||
	die "${tree#"$TOP"/} is not on branch series"
git config branch.series.description > /dev/null ||
	git config branch.series.description "$(printf '*** SUBJECT HERE ***\n\n*** BLURB HERE ***')"

tmp=$BUILD/state/export.tmp
rm -rf "$tmp"
mkdir -p "$tmp" "$BUILD/state/empty-home"
# The cover letter carries the date of the newest commit, not the time of
# the export, so that exporting twice gives the same bytes.
GIT_COMMITTER_DATE=$(git log -1 --format=%cD) \
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

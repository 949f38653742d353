#!/bin/sh
# Write a series directory from the tree with git format-patch: stable
# output (no version signature, zero commit ids, fixed abbreviation, no
# user configuration), the base commit recorded, the cover letter's text
# taken from the branch description; a folder of postings when the tree
# has them (see tree.sh), each posting in its own directory.
#
# A posting's stand-in (testing/stand-ins), which "make tree" keeps on the
# branch BRANCH.DIR right before it, is written to STANDINDIR/DIR (default
# testing/DIR) as git format-patch writes it, without a cover letter; the
# posting itself is written as if the stand-in weren't there: its commits
# rebuilt on the posting before it, so that its --base and its
# prerequisites name the postings only.
#
# A posting that was sent before (sent/NAME/vN, see send.sh) is written as
# version N+1: "[PATCH vN+1 ...]", and its cover letter ends with a git
# range-diff against the sent version.  A posting whose cover letter was
# "[RFC PATCH 0/N]" when tree.sh read it stays an RFC.
#
# usage: export.sh [TREEDIR SERIESDIR [STANDINDIR]]
. "$(dirname "$0")/lib.sh"

tree=${1:-$BUILD/tree}
series=${2:-$TOP/series}
standins=${3:-$TOP/testing}
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
# The temporary branches of postings written without their stand-in go,
# whatever happens.
cleanup()
{
	local b
	for b in $(git for-each-ref --format='%(refname:short)' "refs/heads/$branch.export-*" 2> /dev/null); do
		git branch -q -D "$b"
		git config --remove-section "branch.$b" 2> /dev/null
	done
}
trap cleanup EXIT
rm -rf "$tmp"
mkdir -p "$tmp" "$BUILD/state/empty-home"
postings=$(git config "branch.$branch.postings")
ends=
for p in $postings; do ends="$ends $branch.$p"; done
ends="${ends% "$branch".*} $branch"	# the last posting ends at $branch
# The stand-ins' branches, which move with the others.  Which posting has
# one is what "make tree" applied (branch.BRANCH.standin-POSTING), not what
# testing/stand-ins says now.  Only the last posting may have one: the
# postings after it would be written on top of it.
sends=
lastp=$(echo "$postings" | tr ' ' '\n' | tail -n 1)
for p in $postings; do
	s=$(git config "branch.$branch.standin-$p")
	if [ -z "$s" ]; then
		[ -z "$(standin_of "$p")" ] ||
			die "testing/stand-ins has a stand-in for $p that ${tree#"$TOP"/} lacks: run \"make tree\""
		continue
	fi
	[ "$p" = "$lastp" ] || die "the posting $p has a stand-in but is not the last posting"
	git rev-parse -q --verify "refs/heads/$branch.$s" > /dev/null ||
		die "no branch $branch.$s for the stand-in testing/$s before the posting $p: run \"make tree\""
	sends="$sends $branch.$s"
done

# ctree AUTHOR EMAIL DATE TREE PARENT < MESSAGE: a commit as git am makes
# it, with the project as committer and the author date as committer date.
ctree()
{
	env GIT_AUTHOR_NAME="$1" GIT_AUTHOR_EMAIL="$2" GIT_AUTHOR_DATE="$3" \
		GIT_COMMITTER_NAME="$PROJECT_NAME" GIT_COMMITTER_EMAIL="$PROJECT_EMAIL" \
		GIT_COMMITTER_DATE="$3" git commit-tree "$4" -p "$5"
}

# The commits as "make tree" makes them (git am: the project as committer,
# the author date as committer date), so that what the output shows of
# them, the range-diff's commit ids, is the same after a rebase as after
# a round trip.  Only the commits' metadata changes, not their trees: the
# branches move to the equivalent commits (the old ones stay in the reflog).
normalise_chain()
{
	local c parent new date raw b old
	parent=$(git rev-parse base)
	for c in $(git rev-list --reverse base.."$branch"); do
		date=$(git log -1 --format='%ad' --date=raw "$c")
		raw=$(git cat-file commit "$c" | sed '1,/^$/d')
		new=$(printf '%s\n' "$raw" | ctree "$(git log -1 --format=%an "$c")" \
			"$(git log -1 --format=%ae "$c")" "$date" "$c^{tree}" "$parent") || return 1
		echo "$c $new" >> "$tmp/map"
		parent=$new
	done
	for b in $ends $sends; do
		old=$(git rev-parse "refs/heads/$b") || return 1
		new=$(grep "^$old " "$tmp/map" | cut -d' ' -f2)
		[ -n "$new" ] || { echo "branch $b is not on $branch" >&2; return 1; }
		[ "$new" = "$old" ] || git update-ref -m "export: the commits as git am makes them" \
			"refs/heads/$b" "$new" "$old" || return 1
	done
}
: > "$tmp/map"
git rev-list --merges base.."$branch" | grep -q . &&
	die "$branch has merge commits: a posting is a line of patches"
normalise_chain || die "cannot rewrite the commits of $branch as git am makes them"

# The commits of a sent version, rebuilt on FROM from its patch files
# without a checkout (a scratch index), in the same way: prints the last.
# sent_commits FROM DIR
sent_commits()
{
	local from=$1 dir=$2 f parent tree new idx
	idx=$tmp/sent.index
	parent=$(git rev-parse "$from")
	GIT_INDEX_FILE=$idx git read-tree "$parent" || return 1
	for f in $(series_patches "$dir"); do
		git mailinfo "$tmp/msg" "$tmp/diff" < "$f" > "$tmp/info" || return 1
		GIT_INDEX_FILE=$idx git apply --cached "$tmp/diff" 2> "$tmp/apply.err" ||
			{ echo "$(basename "$f"): $(head -n 1 "$tmp/apply.err")" >&2; return 1; }
		tree=$(GIT_INDEX_FILE=$idx git write-tree) || return 1
		new=$( { sed -n 's/^Subject: //p' "$tmp/info"; echo; cat "$tmp/msg"; } |
			ctree "$(sed -n 's/^Author: //p' "$tmp/info")" \
			"$(sed -n 's/^Email: //p' "$tmp/info")" \
			"$(sed -n 's/^Date: //p' "$tmp/info")" "$tree" "$parent") || return 1
		parent=$new
	done
	echo "$parent"
}

# The commits FROM..TO rebuilt on ONTO, without a checkout, in the same
# way: prints the last.  replay ONTO FROM TO
replay()
{
	local c parent tree idx
	idx=$tmp/replay.index
	parent=$(git rev-parse "$1")
	GIT_INDEX_FILE=$idx git read-tree "$parent" || return 1
	for c in $(git rev-list --reverse "$2..$3"); do
		# Without the user's configuration (prefixes, colour, external
		# diff, whitespace fixing would change the patches).
		HOME=$BUILD/state/empty-home XDG_CONFIG_HOME=$BUILD/state/empty-home GIT_CONFIG_NOSYSTEM=1 \
			git diff-tree -p --binary --full-index --no-ext-diff --no-textconv "$c~1" "$c" \
			> "$tmp/replay.diff" || return 1
		HOME=$BUILD/state/empty-home XDG_CONFIG_HOME=$BUILD/state/empty-home GIT_CONFIG_NOSYSTEM=1 \
		GIT_INDEX_FILE=$idx git apply --cached --whitespace=nowarn "$tmp/replay.diff" 2> "$tmp/apply.err" ||
			{ echo "$(git log -1 --format=%s "$c"): $(head -n 1 "$tmp/apply.err")" >&2; return 1; }
		tree=$(GIT_INDEX_FILE=$idx git write-tree) || return 1
		parent=$(git cat-file commit "$c" | sed '1,/^$/d' |
			ctree "$(git log -1 --format=%an "$c")" "$(git log -1 --format=%ae "$c")" \
			"$(git log -1 --format=%ad --date=raw "$c")" "$tree" "$parent") || return 1
	done
	echo "$parent"
}

# One git format-patch per posting.  A posting after another gets, with
# --base=base, the base-commit and the prerequisite-patch-id lines of the
# patches before it (maintainer-kvm-x86.rst asks for them).
fmt()	# fmt OUTDIR FROM TO [OPTION...]
{
	local out=$1 from=$2 to=$3 rfc=
	shift 3
	# An RFC posting (tree.sh read it from its cover letter).
	[ "$(git config --bool "branch.$to.workbench-rfc")" = true ] && rfc=--rfc
	# The cover letter carries the author date of the posting's last
	# commit, not the time of the export, so that exporting twice gives
	# the same bytes.  TO is a branch name, whose description git
	# format-patch uses for the cover letter.
	GIT_COMMITTER_DATE=$(git log -1 --format=%aD "$to") \
	HOME=$BUILD/state/empty-home XDG_CONFIG_HOME=$BUILD/state/empty-home GIT_CONFIG_NOSYSTEM=1 \
		pgit -c core.abbrev=12 format-patch -q --cover-letter --cover-from-description=subject \
		--no-signature --zero-commit --base=base -o "$out" $rfc "$@" "$from..$to" ||
		die "git format-patch of $from..$to failed"
}
if [ -z "$postings" ]; then
	fmt "$tmp/out" base "$branch"
else
	from=base
	set -- $ends
	for p in $postings; do
		to=$1
		shift
		git rev-parse -q --verify "refs/heads/$to" > /dev/null ||
			die "no branch $to in ${tree#"$TOP"/} for the posting $p"
		git merge-base --is-ancestor "$from" "$to" ||
			die "the posting $p ($to) does not build on $from: rebase with --update-refs"
		[ "$(git rev-parse "$from")" != "$(git rev-parse "$to")" ] ||
			die "the posting $p ($to) has no patches"
		s=$(git config "branch.$branch.standin-$p")
		if [ -n "$s" ]; then
			sb=$branch.$s
			git merge-base --is-ancestor "$from" "$sb" && git merge-base --is-ancestor "$sb" "$to" ||
				die "the stand-in $sb is not between $from and $to: rebase with --update-refs"
			[ "$(git rev-parse "$sb")" != "$(git rev-parse "$from")" ] ||
				die "the stand-in $sb has no commits"
			[ "$(git rev-parse "$sb")" != "$(git rev-parse "$to")" ] ||
				die "the posting $p has no commits after its stand-in $sb"
			HOME=$BUILD/state/empty-home XDG_CONFIG_HOME=$BUILD/state/empty-home GIT_CONFIG_NOSYSTEM=1 \
				pgit -c core.abbrev=12 format-patch -q --no-signature --zero-commit \
				-o "$tmp/standin/$s" "$from..$sb" ||
				die "git format-patch of the stand-in $from..$sb failed"
			# The posting without it, on a branch of its own for
			# fmt (its description is the cover letter).
			top=$(replay "$from" "$sb" "$to") ||
				die "the posting $p does not apply without its stand-in testing/$s"
			git config --remove-section "branch.$branch.export-$p" 2> /dev/null
			git branch -f "$branch.export-$p" "$top" > /dev/null &&
				git config "branch.$branch.export-$p.description" "$(git config "branch.$to.description")" ||
				die "cannot make the branch $branch.export-$p"
			git config --bool "branch.$to.workbench-rfc" > /dev/null &&
				git config "branch.$branch.export-$p.workbench-rfc" "$(git config --bool "branch.$to.workbench-rfc")"
			end=$to
			to=$branch.export-$p
		fi
		v=$(sent_last "$p")
		if [ -n "$v" ]; then
			old=$(sent_commits "$from" "${SENT_DIR:-$TOP/sent}/$p/v$v") ||
				die "cannot rebuild sent/$p/v$v on $from for the range-diff"
			fmt "$tmp/out/$p" "$from" "$to" -v$((v + 1)) --range-diff="$from..$old"
		else
			fmt "$tmp/out/$p" "$from" "$to"
		fi
		if [ -n "$s" ]; then
			git branch -q -D "$to"
			git config --remove-section "branch.$to" 2> /dev/null
			to=$end
		fi
		from=$to
	done
	echo "$postings" | tr ' ' '\n' > "$tmp/out/postings"

	# git 2.39's format-patch computes the prerequisite patch ids
	# without the indent heuristic that its diffs use, so that for some
	# patches they are not the patch ids of the patches as written (what
	# a recipient computes with git patch-id --stable, and what
	# postings-check.sh checks).  They are written again from the files.
	ids=
	for p in $postings; do
		c=$(posting_cover "$tmp/out/$p")
		if [ -n "$ids" ] && [ -n "$c" ]; then
			# Only the lines after base-commit:, which format-patch
			# writes at the end of the cover letter.
			printf '%s\n' "$ids" > "$tmp/ids"
			awk 'FNR == NR { id[n++] = $0; next }
			     /^base-commit: / { tail = 1 }
			     tail && /^prerequisite-patch-id: / {
				if (!done)
					for (i = 0; i < n; i++)
						print "prerequisite-patch-id: " id[i]
				done = 1
				next
			     }
			     { print }' "$tmp/ids" "$c" > "$c.new" && [ -s "$c.new" ] && mv "$c.new" "$c" ||
				die "cannot rewrite the prerequisites of $p"
		fi
		for f in $(dir_patches "$tmp/out/$p"); do
			ids=$(printf '%s\n%s' "$ids" "$(git patch-id --stable < "$f" | cut -d' ' -f1)" | grep .)
		done
	done
fi

mkdir -p "$series"
rm -f "$series"/[0-9][0-9][0-9][0-9]-*.patch "$series"/v[0-9]*-[0-9][0-9][0-9][0-9]-*.patch "$series"/postings
for d in "$series"/*/; do
	[ -d "$d" ] && rm -f "$d"[0-9][0-9][0-9][0-9]-*.patch "$d"v[0-9]*-[0-9][0-9][0-9][0-9]-*.patch &&
		rmdir "$d" 2> /dev/null
done
cp -r "$tmp/out"/. "$series"/
for d in "$tmp/standin"/*/; do
	[ -d "$d" ] || continue
	s=$(basename "$d")
	mkdir -p "$standins/$s"
	rm -f "$standins/$s"/[0-9][0-9][0-9][0-9]-*.patch
	cp "$d"*.patch "$standins/$s"/
	msg "export: the stand-in $s, $(ls "$d" | wc -l) patches, in ${standins#"$TOP"/}/$s"
done
rm -rf "$tmp"
git rev-parse HEAD > "$BUILD/state/$(basename "$tree").applied"
msg "export: $(series_postings "$series" | while read -r d; do dir_patches "$d"; done | wc -l) patches${postings:+ in the postings $postings}, with their cover letters, in ${series#"$TOP"/}"

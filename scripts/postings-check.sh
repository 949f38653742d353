#!/bin/sh
# Check series/ as a folder of postings, as a maintainer receives them:
#  - series/postings names existing directories, and every directory with
#    patches is named there;
#  - each posting has its cover letter and patches 1..N, each subject
#    "[PATCH (vV )i/N]" with the version that sent/ implies (V = the last
#    sent version + 1, no "vV" for a first version);
#  - every posting has the same base-commit, and each one's
#    prerequisite-patch-id lines are the stable patch ids of all the
#    patches of the postings before it, in order (none for the first);
#  - a reroll's cover letter has "Changes in vV" and a range-diff
#    against the sent version;
#  - the "fixes" posting: at most five patches, no uAPI (no file under
#    include/uapi/ or arch/*/include/uapi/), each with a Fixes: tag and
#    a "Cc: stable@vger.kernel.org # VERSION" line.
#
# usage: postings-check.sh [SERIESDIR]
# Prints one line per problem and a summary; exits 1 on any problem.
. "$(dirname "$0")/lib.sh"

series=${1:-$TOP/series}
bad=0
problem() { echo "FAIL: $*"; bad=1; }

[ -r "$series/postings" ] || { echo "FAIL: no ${series#"$TOP"/}/postings"; exit 1; }
postings=$(series_postings "$series") || exit 1
for d in "$series"/*/; do
	d=${d%/}
	[ -n "$(series_patches "$d")" ] || continue
	echo "$postings" | grep -q -x -F "$d" ||
		problem "$(basename "$d")/ holds patches but is not in ${series#"$TOP"/}/postings"
done

base=
prereqs=	# the patch ids of the postings so far, one per line
for d in $postings; do
	name=$(basename "$d")
	cover=$(posting_cover "$d")
	[ -n "$cover" ] || { problem "$name: no cover letter"; continue; }
	patches=$(series_patches "$d")
	n=$(echo "$patches" | grep -c .)
	last=$(sent_last "$name")
	v=$(( ${last:-0} + 1 ))
	vp=
	[ "$v" -gt 1 ] && vp="v$v "

	# Subjects: [PATCH (vV )i/N], with i counting from 0 (the cover).
	i=0
	for f in $cover $patches; do
		s=$(sed -n 's/^Subject: //p' "$f" | head -n 1)
		w=$(printf '%0*d' ${#n} "$i")
		case $s in
		"[PATCH $vp$w/$n] "*|"[RFC PATCH $vp$w/$n] "*) ;;
		*) problem "$name/$(basename "$f"): subject \"$s\", expected \"[PATCH $vp$w/$n] ...\"" ;;
		esac
		i=$((i + 1))
	done

	b=$(sed -n 's/^base-commit: //p' "$cover")
	[ -n "$b" ] || problem "$name: no base-commit in its cover letter"
	[ -z "$base" ] && base=$b
	[ "$b" = "$base" ] || problem "$name: base-commit $b, the first posting has $base"
	got=$(sed -n 's/^prerequisite-patch-id: //p' "$cover")
	[ "$got" = "$prereqs" ] ||
		problem "$name: its prerequisite-patch-id lines are not the patch ids of the postings before it"
	for f in $patches; do
		prereqs=$(printf '%s\n%s' "$prereqs" "$(git patch-id --stable < "$f" | cut -d' ' -f1)" | grep .)
	done

	if [ "$v" -gt 1 ]; then
		grep -q "^Changes in v$v" "$cover" || problem "$name: version $v without a \"Changes in v$v\" section"
		grep -q "^Range-diff against v$last" "$cover" || problem "$name: version $v without a range-diff against v$last"
	fi

	if [ "$name" = fixes ]; then
		[ "$n" -le 5 ] || problem "fixes: $n patches, at most 5"
		for f in $patches; do
			p=$(basename "$f")
			grep -E -q '^\+\+\+ b/(include/uapi|arch/[^/]*/include/uapi)/' "$f" &&
				problem "fixes/$p changes uAPI"
			grep -q '^Fixes: [0-9a-f]\{12\} ("' "$f" || problem "fixes/$p: no Fixes: tag"
			grep -q '^Cc: stable@vger\.kernel\.org # [0-9]' "$f" ||
				problem "fixes/$p: no \"Cc: stable@vger.kernel.org # VERSION\""
		done
	fi
	echo "$name: version $v, $n patches${vp:+, a reroll}"
done
[ $bad = 0 ] && echo "postings: $(echo "$postings" | wc -l) checked, base $base"
exit $bad

#!/bin/sh
# Prepare sending the series: write build/send/series.mbox and print the
# git send-email command, with To/Cc from scripts/get_maintainer.pl plus
# kernel/cc-extra.txt.  Nothing is sent unless SEND=1, and never under the
# project's identity: only the person who sends can certify the DCO.
. "$(dirname "$0")/lib.sh"

series=$TOP/series
out=$BUILD/send
wt=$BUILD/verify-linux-7.3
patches=$(ls "$series"/[0-9][0-9][0-9][0-9]-*.patch 2>/dev/null)
[ -n "$patches" ] || die "series/ has no patches"
[ -d "$wt" ] || die "no verified tree at ${wt#"$TOP"/}: run \"make\" first"
mkdir -p "$out"

cat $patches > "$out/series.mbox"

# get_maintainer.pl on every patch: maintainers and reviewers as To, the
# lists (and everyone else) as Cc.
gm()
{
	# --no-fixes: the base has no history to look the Fixes: commits up in.
	(cd "$wt" && perl scripts/get_maintainer.pl --no-rolestats --no-git --no-git-fallback --no-fixes "$@" \
		$(series_patches "$series"))
}
to=$(gm --no-l --no-r | sort -u)
# Cc: everyone else, less who is already in To.
cc=$( { gm --no-m | sort -u; grep -v '^#' "$TOP/kernel/cc-extra.txt"; } | grep . | sort -u |
	grep -v -x -F "$to")

args=
while IFS= read -r a; do [ -n "$a" ] && args="$args --to='$a'"; done <<TO
$to
TO
while IFS= read -r a; do [ -n "$a" ] && args="$args --cc='$a'"; done <<CC
$cc
CC
echo "$to" > "$out/to.txt"
echo "$cc" > "$out/cc.txt"

me_name=$(git -C "$TOP" config user.name 2>/dev/null)
me_mail=$(git -C "$TOP" config user.email 2>/dev/null)

echo "mbox:  ${out#"$TOP"/}/series.mbox ($(echo "$patches" | wc -l) messages)"
echo "To:    $(echo "$to" | paste -sd, | sed 's/,/, /g')"
echo "Cc:    $(echo "$cc" | paste -sd, | sed 's/,/, /g')"
echo
echo "Command:"
echo "  git send-email --confirm=always --suppress-cc=self$args ${series#"$TOP"/}/*.patch"
echo

if [ "$me_mail" = "$PROJECT_EMAIL" ] || [ -z "$me_mail" ] ||
   ! grep -q "^Signed-off-by: .*<$me_mail>" $patches; then
	cat <<TAKEOVER
The patches carry the project's identity ($PROJECT_NAME <$PROJECT_EMAIL>).
Only the person who sends can certify the Developer's Certificate of Origin,
so this series is not sent under that identity.  To take it over:
  git config --global user.name  "Your Name"
  git config --global user.email "you@example.com"
  make tree
  git -C build/tree rebase --exec 'git commit --amend --no-edit --reset-author -s' base
  (then remove the project's Signed-off-by from each changelog if it should go)
  make export && make send
TAKEOVER
	[ "${SEND:-0}" = 1 ] && die "refusing to send under the project's identity ($me_name <$me_mail>)"
	exit 0
fi

if [ "${SEND:-0}" = 1 ]; then
	eval "git send-email --confirm=always --suppress-cc=self$args \"$series\"/*.patch"
else
	echo "Nothing sent.  SEND=1 make send sends it with the command above."
fi

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

echo "$to" > "$out/to.txt"
echo "$cc" > "$out/cc.txt"

me_name=$(git -C "$TOP" config user.name 2>/dev/null)
me_mail=$(git -C "$TOP" config user.email 2>/dev/null)
me="$me_name <$me_mail>"

# What goes out: the series, with the cover letter (which export writes
# under the project's identity) from the sender.
rm -rf "$out/outgoing"
mkdir -p "$out/outgoing"
cp $patches "$out/outgoing/"
sed -i "1,/^\$/s/^From: .*/From: $(printf '%s' "$me" | sed 's/[\/&]/\\&/g')/" \
	"$out/outgoing/0000-cover-letter.patch" 2>/dev/null
cat "$out"/outgoing/*.patch > "$out/series.mbox"

# The arguments of git send-email, as words (no eval: names may hold
# quotes), and as a command to print, each word single-quoted.
set --
while IFS= read -r a; do [ -n "$a" ] && set -- "$@" "--to=$a"; done < "$out/to.txt"
while IFS= read -r a; do [ -n "$a" ] && set -- "$@" "--cc=$a"; done < "$out/cc.txt"
shown=
for a in "$@"; do
	shown="$shown '$(printf '%s' "$a" | sed "s/'/'\\\\''/g")'"
done

echo "mbox:  ${out#"$TOP"/}/series.mbox ($(echo "$patches" | wc -l) messages)"
echo "To:    $(paste -sd, "$out/to.txt" | sed 's/,/, /g')"
echo "Cc:    $(paste -sd, "$out/cc.txt" | sed 's/,/, /g')"
echo
echo "Command:"
echo "  git send-email --confirm=always --suppress-cc=self$shown ${out#"$TOP"/}/outgoing/*.patch"
echo

# The sender must have taken the series over: every patch authored by
# them (not the project) and their Signed-off-by last.
taken=yes
[ -n "$me_name" ] && [ -n "$me_mail" ] && [ "$me_mail" != "$PROJECT_EMAIL" ] || taken=no
for p in $(series_patches "$series"); do
	[ $taken = yes ] || break
	from=$(sed -n '1,/^$/s/^From: //p' "$p" | head -n 1)
	last=$(grep '^Signed-off-by: ' "$p" | tail -n 1)
	case $from in *"<$PROJECT_EMAIL>"*) taken=no ;; esac
	[ "$last" = "Signed-off-by: $me" ] || taken=no
	[ $taken = yes ] || echo "not taken over: $(basename "$p") (From: $from; last $last)"
done

if [ $taken = no ]; then
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
	[ -n "$me_mail" ] || me="nobody (git config user.email is not set)"
	[ "${SEND:-0}" = 1 ] && die "refusing to send: the series is not taken over by $me"
	exit 0
fi

if [ "${SEND:-0}" = 1 ]; then
	git send-email --confirm=always --suppress-cc=self "$@" "$out"/outgoing/*.patch
else
	echo "Nothing sent.  SEND=1 make send sends it with the command above."
fi

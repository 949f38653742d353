#!/bin/sh
# Prepare sending one posting of the series: write build/send/NAME.mbox and
# print the git send-email command, with To/Cc from scripts/get_maintainer.pl
# plus kernel/cc-extra.txt.  Nothing is sent unless SEND=1, and never under
# the project's identity: only the person who sends can certify the DCO.
#
# usage: POSTING=NAME send.sh	(NAME: a line of series/postings)
# env:   SEND=1       send it with git send-email, then keep what was sent
#        MARK_SENT=1  keep it as sent without sending (it went out another
#                     way): sent/NAME/vN, a copy of what went out
#
# The copy in sent/ (commit it) makes the next "make export" write the
# posting as version N+1, with a git range-diff against vN in its cover
# letter, whose blurb must then have a "Changes in vN+1" section.
. "$(dirname "$0")/lib.sh"

series=${SERIES_DIR:-$TOP/series}
out=$BUILD/send
sentdir=${SENT_DIR:-$TOP/sent}
wt=$(kwork_tree verify linux-7.3)
if [ -e "$series/postings" ]; then
	names=$(series_postings "$series" | sed 's|.*/||' | paste -sd' ')
	[ -n "$POSTING" ] || die "which posting? POSTING=NAME, one of: $names"
	case " $names " in *" $POSTING "*) ;; *) die "no posting $POSTING; the postings are: $names" ;; esac
	dir=$series/$POSTING
else
	POSTING=${POSTING:-series}
	dir=$series
fi
patches=$(series_patches "$dir")
cover=$(posting_cover "$dir")
[ -n "$patches" ] || die "${dir#"$TOP"/} has no patches"
[ -n "$cover" ] || die "${dir#"$TOP"/} has no cover letter"
mkdir -p "$out"

# The version this is, and what a reroll needs.
last=$(sent_last "$POSTING")
version=$(( ${last:-0} + 1 ))
subject=$(sed -n 's/^Subject: //p' "$cover" | head -n 1)
if [ "$version" -gt 1 ]; then
	case $subject in
	*"v$version "*) ;;
	*) die "sent/$POSTING/v$last exists, but the cover letter's subject is \"$subject\": run make export (it writes v$version)" ;;
	esac
	grep -q "^Changes in v$version" "$cover" ||
		die "${cover#"$TOP"/} has no \"Changes in v$version\" section: write it in the tree's branch description (git branch --edit-description), then make export"
	grep -q "^Range-diff against v$last" "$cover" ||
		die "${cover#"$TOP"/} has no range-diff against v$last: run make export"
fi
[ -e "$sentdir/$POSTING/v$version" ] && die "sent/$POSTING/v$version already exists"
[ -d "$wt" ] || die "no verified tree at ${wt#"$TOP"/}: run \"make\" first"

# get_maintainer.pl on every patch: maintainers and reviewers as To, the
# lists (and everyone else) as Cc.
gm()
{
	# --no-fixes: the base has no history to look the Fixes: commits up in.
	(cd "$wt" && perl scripts/get_maintainer.pl --no-rolestats --no-git --no-git-fallback --no-fixes "$@" \
		$patches)
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
og=$out/outgoing/$POSTING
rm -rf "$og"
mkdir -p "$og"
cp "$cover" $patches "$og/"
sed -i "1,/^\$/s/^From: .*/From: $(printf '%s' "$me" | sed 's/[\/&]/\\&/g')/" \
	"$og/$(basename "$cover")"
cat "$og"/*.patch > "$out/$POSTING.mbox"

# The arguments of git send-email, as words (no eval: names may hold
# quotes), and as a command to print, each word single-quoted.
set --
while IFS= read -r a; do [ -n "$a" ] && set -- "$@" "--to=$a"; done < "$out/to.txt"
while IFS= read -r a; do [ -n "$a" ] && set -- "$@" "--cc=$a"; done < "$out/cc.txt"
shown=
for a in "$@"; do
	shown="$shown '$(printf '%s' "$a" | sed "s/'/'\\\\''/g")'"
done

echo "posting: $POSTING, version $version: $subject"
echo "mbox:  ${out#"$TOP"/}/$POSTING.mbox ($(($(echo "$patches" | wc -l) + 1)) messages)"
echo "To:    $(paste -sd, "$out/to.txt" | sed 's/,/, /g')"
echo "Cc:    $(paste -sd, "$out/cc.txt" | sed 's/,/, /g')"
echo
echo "Command:"
echo "  git send-email --confirm=always --suppress-cc=self$shown ${og#"$TOP"/}/*.patch"
echo

# The sender must have taken the series over: every patch authored by
# them (not the project) and their Signed-off-by last.
taken=yes
[ -n "$me_name" ] && [ -n "$me_mail" ] && [ "$me_mail" != "$PROJECT_EMAIL" ] || taken=no
for p in $patches; do
	[ $taken = yes ] || break
	from=$(sed -n '1,/^$/s/^From: //p' "$p" | head -n 1)
	last=$(grep '^Signed-off-by: ' "$p" | tail -n 1)
	case $from in *"<$PROJECT_EMAIL>"*) taken=no ;; esac
	[ "$last" = "Signed-off-by: $me" ] || taken=no
	[ $taken = yes ] || echo "not taken over: $(basename "$p") (From: $from; last $last)"
done

# keep_sent: the copy of what went out, for the next version's range-diff.
keep_sent()
{
	mkdir -p "$sentdir/$POSTING/v$version" &&
		cp "$og"/*.patch "$sentdir/$POSTING/v$version/" ||
		die "cannot keep the sent copy in sent/$POSTING/v$version"
	msg "kept what was sent in sent/$POSTING/v$version: commit it, so that the next export writes v$((version + 1))"
}

if [ $taken = no ]; then
	cat <<TAKEOVER
The patches carry the project's identity ($PROJECT_NAME <$PROJECT_EMAIL>).
Only the person who sends can certify the Developer's Certificate of Origin,
so this series is not sent under that identity.  To take it over:
  git config --global user.name  "Your Name"
  git config --global user.email "you@example.com"
  make tree
  git -C build/tree rebase --update-refs --exec 'git commit --amend --no-edit --reset-author -s' base
  (then remove the project's Signed-off-by from each changelog if it should go)
  make export && make send POSTING=$POSTING
TAKEOVER
	[ -n "$me_mail" ] || me="nobody (git config user.email is not set)"
	[ "${SEND:-0}" = 1 ] && die "refusing to send: the series is not taken over by $me"
	[ "${MARK_SENT:-0}" = 1 ] && die "refusing to mark as sent: the series is not taken over by $me"
	exit 0
fi

if [ "${SEND:-0}" = 1 ]; then
	git send-email --confirm=always --suppress-cc=self "$@" "$og"/*.patch ||
		die "git send-email failed; nothing was kept as sent"
	keep_sent
elif [ "${MARK_SENT:-0}" = 1 ]; then
	keep_sent
else
	echo "Nothing sent.  SEND=1 make send POSTING=$POSTING sends it with the command above."
fi

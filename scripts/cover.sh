#!/bin/sh
# The cover letter's own text.
#   cover.sh get FILE	print subject (first paragraph) and blurb
# git format-patch --cover-from-description=subject writes them back.
. "$(dirname "$0")/lib.sh"

[ "$1" = get ] && [ -r "$2" ] || die "usage: cover.sh get FILE"
awk '
	# Headers: unfold the Subject and drop the "[PATCH 0/N] " prefix.
	hdr && /^$/ { hdr = 0; body = 1; next }
	hdr && /^Subject: / { subj = substr($0, 10); insubj = 1; next }
	hdr && insubj && /^[ \t]/ { sub(/^[ \t]+/, " "); subj = subj $0; next }
	hdr { insubj = 0; next }
	# The body stops where git shortlog starts ("Name (N):").
	body && /^[^ \t].* \([0-9]+\):$/ { exit }
	body { line[++n] = $0 }
	BEGIN { hdr = 1 }
	END {
		sub(/^\[[^]]*\] */, "", subj)
		while (n > 0 && line[n] == "") n--
		print subj
		print ""
		for (i = 1; i <= n; i++) print line[i]
	}' "$2"

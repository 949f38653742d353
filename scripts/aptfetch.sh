#!/bin/sh
# Download the package a pin file names, through a private apt
# configuration under build/apt (its own sources list, lists and cache):
# /etc/apt is read for the archive addresses but never changed.
#
# usage: aptfetch.sh PINFILE DESTDIR
# Writes DESTDIR/fetched.info with VERSION, FILE, SHA256 and FALLBACK.
. "$(dirname "$0")/lib.sh"

pin=$1 dest=$2
[ -n "$pin" ] && [ -n "$dest" ] || die "usage: aptfetch.sh PINFILE DESTDIR"
load_pin "$pin" P_
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

APT=$BUILD/apt
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" \
	"$APT/etc/sources.list.d" "$APT/etc/preferences.d"

# The addresses of Debian's archive and security archive, as this machine's
# apt is set up (deb822 .sources and one-line .list files).
system_uri()	# system_uri debian|debian-security
{
	{
		for f in /etc/apt/sources.list.d/*.sources; do
			[ -r "$f" ] && awk '
				/^URIs:/ { for (i = 2; i <= NF; i++) u[++n] = $i }
				/^Suites:/ { s = $0 }
				/^$/ { flush() }
				function flush() { for (i = 1; i <= n; i++) print u[i], s; n = 0; s = "" }
				END { flush() }' "$f"
		done
		cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
			awk '$1 == "deb" { u = $2; if (u ~ /^\[/) { for (i = 2; $i !~ /\]$/; i++); u = $(i + 1); s = $(i + 2) } else s = $3; print u, "Suites: " s }'
	} | awk -v want="$1" '
		{ sec = ($0 ~ /-security/) }
		want == "debian-security" && sec { print $1; exit }
		want == "debian" && !sec && $1 !~ /security/ && $1 ~ /debian\/?$/ { print $1; exit }'
}

main_uri=$(system_uri debian)
sec_uri=$(system_uri debian-security)
[ -n "$main_uri" ] || die "no Debian archive found in /etc/apt sources"
main_uri=${main_uri%/}
[ -n "$sec_uri" ] || sec_uri=${main_uri%/debian}/debian-security
key=/usr/share/keyrings/debian-archive-keyring.gpg
{
	for s in trixie trixie-backports; do
		echo "deb [signed-by=$key] $main_uri $s main"
	done
	echo "deb [signed-by=$key] $sec_uri bookworm-security main"
	echo "deb-src [signed-by=$key] $main_uri sid main"
} > "$APT/etc/sources.list.new"
cmp -s "$APT/etc/sources.list.new" "$APT/etc/sources.list" 2>/dev/null &&
	rm "$APT/etc/sources.list.new" ||
	{ mv "$APT/etc/sources.list.new" "$APT/etc/sources.list"; rm -f "$APT/updated"; }

aptopts="-o Dir::Etc::sourcelist=$APT/etc/sources.list
-o Dir::Etc::sourceparts=$APT/etc/sources.list.d
-o Dir::Etc::preferencesparts=$APT/etc/preferences.d
-o Dir::State::Lists=$APT/lists -o Dir::Cache=$APT/cache
-o Dir::State::status=/dev/null -o APT::Sandbox::User=root
-o Debug::NoLocking=1 -q"

# Update the private lists at most once an hour, and only when something
# must be downloaded: a pinned file already here needs no archive.
update_lists()
{
	[ -z "$(find "$APT/updated" -mmin -60 2>/dev/null)" ] || return 0
	msg "apt: updating the private package lists (build/apt)"
	# shellcheck disable=SC2086
	apt-get $aptopts update > "$APT/update.log" 2>&1 ||
		{ cat "$APT/update.log" >&2; die "apt-get update (private lists) failed"; }
	touch "$APT/updated"
}

offered()	# offered VERSION: the archive offers this version of the package
{
	# shellcheck disable=SC2086
	if [ $kind = source ]; then
		apt-cache $aptopts showsrc "$P_PACKAGE" 2>/dev/null
	else
		apt-cache $aptopts show "$P_PACKAGE" 2>/dev/null
	fi | sed -n 's/^Version: //p' | grep -q -x -F "$1"
}

fallback=no
version=$P_VERSION
cd "$dest" || exit 1

if [ "$P_SUITE" = sid ]; then
	kind=source	# the .dsc is pinned; dpkg-source checks the tarballs
else
	kind=download
fi

file_of()	# file_of VERSION
{
	if [ $kind = source ]; then
		echo "${P_PACKAGE}_$(echo "$1" | sed 's/^[0-9]*://').dsc"
	else
		echo "${P_PACKAGE}_$(echo "$1" | sed 's/^[0-9]*://')_all.deb"
	fi
}

fetch()		# fetch VERSION
{
	local only
	only=
	[ $kind = source ] && only=--download-only
	# shellcheck disable=SC2086
	apt-get $aptopts $kind $only "$P_PACKAGE=$1" > apt-$kind.log 2>&1
}

file=$(file_of "$version")
if [ ! -r "$file" ] || ! echo "$P_SHA256  $file" | sha256sum -c --status; then
	rm -f "$file"
	update_lists
	msg "apt: downloading $P_PACKAGE $version"
	if ! fetch "$version"; then
		# A failed download of a version the archive still offers is a
		# network or archive problem, not a reason to fall back.
		offered "$version" &&
			{ cat apt-$kind.log >&2; die "cannot download the pinned $P_PACKAGE $version (the archive offers it)"; }
		fallback=yes
		if [ $kind = source ]; then
			# shellcheck disable=SC2086
			version=$(apt-cache $aptopts showsrc "$P_PACKAGE" 2>/dev/null |
				sed -n 's/^Version: //p' | sort -V | tail -n 1)
		else
			# shellcheck disable=SC2086
			version=$(apt-cache $aptopts show "$P_PACKAGE" 2>/dev/null |
				sed -n 's/^Version: //p' | sort -V | tail -n 1)
		fi
		[ -n "$version" ] ||
			die "$P_PACKAGE: pinned $P_VERSION is gone and no other version is offered"
		warn "================================================================"
		warn "$P_PACKAGE $P_VERSION (pinned) is no longer in the archive."
		warn "FALLING BACK to the newest $P_PACKAGE: $version."
		warn "Update $(basename "$pin") once this version is confirmed."
		warn "================================================================"
		fetch "$version" ||
			{ cat apt-$kind.log >&2; die "cannot download $P_PACKAGE $version"; }
		file=$(file_of "$version")
	fi
fi
[ -r "$file" ] || die "$P_PACKAGE: $file missing after download"
sha=$(sha256sum "$file" | cut -d' ' -f1)
if [ $fallback = no ] && [ "$sha" != "$P_SHA256" ]; then
	die "$file: sha256 $sha does not match the pin $P_SHA256"
fi
printf 'VERSION=%s\nFILE=%s\nSHA256=%s\nFALLBACK=%s\n' "$version" "$dest/$file" "$sha" "$fallback" \
	> fetched.info

#!/bin/sh
# Make the base tree of a pin (kernel/NAME.pin) available as a git
# repository with one deterministic commit, tagged "base":
#   build/src/NAME.git   bare, with objects shared from the machine cache
# The unpacked and committed tree is kept in a cache outside the clone
# ($BASE_CACHE), so that a fresh clone on the same machine does not unpack
# again.
#
# usage: base.sh NAME		(NAME: linux-7.3, linux-6.12)
. "$(dirname "$0")/lib.sh"

name=$1
[ -n "$name" ] || die "usage: base.sh NAME"
pin=$TOP/kernel/$name.pin
load_pin "$pin" P_

cache=$BASE_CACHE/$name.git
tag_of()	# tag_of VERSION: DEP-14 style tag of a package version
{
	echo "debian/$(echo "$1" | sed 's/:/%/; s/~/_/g')"
}

# The cache already holding the pinned commit is the pinned package (its
# commit message carries the .deb's sha256): nothing to download.
cached=$(git --git-dir="$cache" rev-parse -q --verify "refs/tags/$(tag_of "$P_VERSION")^{commit}" 2>/dev/null)
mkdir -p "$BUILD/dl/$name"
if [ -n "$P_BASE_COMMIT" ] && [ "$cached" = "$P_BASE_COMMIT" ]; then
	printf 'VERSION=%s\nFILE=%s\nSHA256=%s\nFALLBACK=no\n' "$P_VERSION" \
		"(not downloaded: the pinned base is in $BASE_CACHE)" "$P_SHA256" \
		> "$BUILD/dl/$name/fetched.info"
else
	sh "$TOP/scripts/aptfetch.sh" "$pin" "$BUILD/dl/$name" || exit 1
fi
load_pin "$BUILD/dl/$name/fetched.info" F_
tag=$(tag_of "$F_VERSION")
src=$BUILD/src/$name.git

if ! git --git-dir="$cache" rev-parse -q --verify "refs/tags/$tag^{commit}" > /dev/null 2>&1; then
	msg "base $name: unpacking $P_PACKAGE $F_VERSION"
	unpack=$BUILD/unpack-$name
	rm -rf "$unpack"
	mkdir -p "$unpack/deb"
	dpkg-deb -x "$F_FILE" "$unpack/deb" || die "dpkg-deb -x $F_FILE failed"
	tarball=$(ls "$unpack"/deb/usr/src/linux-source-*.tar.xz 2>/dev/null | head -n 1)
	[ -n "$tarball" ] || die "$F_FILE: no linux-source tarball inside"
	tar -C "$unpack" -xf "$tarball" || die "cannot unpack $tarball"
	tree=$(ls -d "$unpack"/linux-source-* 2>/dev/null | grep -v '\.tar' | head -n 1)
	[ -d "$tree" ] || die "$tarball: no linux-source-* directory"

	# Debian's .gitignore ends with a block that ignores the whole top
	# level ("/*" then "!/debian/"): it would hide every new file a patch
	# adds.  Disable its two rules; the change is part of the base commit.
	neutralised=no
	if grep -q '^# Debian packaging: ignore everything at the top level' "$tree/.gitignore"; then
		sed -i '/^# Debian packaging: ignore everything at the top level/,$ {
			s|^/\*$|# /* (disabled by the workbench: hides new files)|
			s|^!/debian/$|# !/debian/ (disabled by the workbench)|
		}' "$tree/.gitignore"
		neutralised=yes
	fi
	! grep -q -x -e '/\*' -e '!/debian/' "$tree/.gitignore" ||
		die "$tree/.gitignore still ignores the whole top level (\"/*\"): Debian's block changed; update base.sh"

	# The commit date is the package's upload date (its changelog), so
	# the same package gives the same commit id everywhere.
	date=$(zcat "$unpack"/deb/usr/share/doc/"$P_PACKAGE"/changelog.Debian.gz |
		sed -n 's/^ -- .*>  //p' | head -n 1)
	[ -n "$date" ] || die "$F_FILE: no date in changelog.Debian.gz"
	upstream=$(sed -n 's/^VERSION = //p; s/^PATCHLEVEL = //p; s/^SUBLEVEL = //p' "$tree/Makefile" |
		paste -sd.)

	mkdir -p "$BASE_CACHE"
	[ -d "$cache" ] || git init -q --bare "$cache"
	export GIT_DIR="$cache" GIT_WORK_TREE="$tree"
	rm -f "$cache/index"
	# Force: upstream's ".*" rule would keep every dotfile (.mailmap,
	# .cocciconfig, the .kunitconfig and .gitignore files) out.
	git -c core.autocrlf=false add -f -A . || die "git add failed"
	left=$(git ls-files --others | head -n 5)
	[ -z "$left" ] || die "files left untracked in the base: $left"
	msgfile=$unpack/commit-msg
	{
		echo "Debian $P_PACKAGE $F_VERSION (upstream $upstream)"
		echo
		echo "Unpacked from $(basename "$F_FILE")"
		echo "sha256 $F_SHA256"
		if [ $neutralised = yes ]; then
			echo
			echo "Debian's .gitignore block that ignores the whole top level"
			echo "(\"/*\", \"!/debian/\") is disabled, so that new files are seen."
		fi
	} > "$msgfile"
	treeid=$(git write-tree) || die "git write-tree failed"
	commit=$(GIT_AUTHOR_NAME="Debian Kernel Team" GIT_AUTHOR_EMAIL="debian-kernel@lists.debian.org" \
		GIT_COMMITTER_NAME="Debian Kernel Team" GIT_COMMITTER_EMAIL="debian-kernel@lists.debian.org" \
		GIT_AUTHOR_DATE="$date" GIT_COMMITTER_DATE="$date" \
		git commit-tree "$treeid" -F "$msgfile") || die "git commit-tree failed"
	git tag -f "$tag" "$commit" > /dev/null
	git notes --ref=workbench add -f -m "upstream=$upstream neutralised=$neutralised" "$commit"
	rm -f "$cache/index"
	unset GIT_DIR GIT_WORK_TREE
	rm -rf "$unpack"
	msg "base $name: committed $commit"
fi

commit=$(git --git-dir="$cache" rev-parse "refs/tags/$tag^{commit}")
note=$(git --git-dir="$cache" notes --ref=workbench show "$commit" 2>/dev/null)
upstream=$(echo "$note" | sed -n 's/.*upstream=\([^ ]*\).*/\1/p')
neutralised=$(echo "$note" | sed -n 's/.*neutralised=\([^ ]*\).*/\1/p')

if [ "$F_FALLBACK" = no ] && [ -n "$P_BASE_COMMIT" ] && [ "$commit" != "$P_BASE_COMMIT" ]; then
	die "base $name: commit $commit differs from the pinned $P_BASE_COMMIT (not reproducible?)"
fi
[ -n "$P_BASE_COMMIT" ] || warn "base $name: no BASE_COMMIT pinned; this machine made $commit"

if [ ! -d "$src" ]; then
	mkdir -p "$BUILD/src"
	git clone -q --bare --shared "$cache" "$src" || die "cannot clone $cache"
fi
git --git-dir="$src" fetch -q "$cache" "refs/tags/$tag:refs/tags/$tag" 2>/dev/null
git --git-dir="$src" tag -f base "$commit" > /dev/null

cat > "$BUILD/src/$name.info" <<INFO
PACKAGE=$P_PACKAGE
VERSION=$F_VERSION
PINNED_VERSION=$P_VERSION
SHA256=$F_SHA256
UPSTREAM=$upstream
FALLBACK=$F_FALLBACK
COMMIT=$commit
GITIGNORE_NEUTRALISED=$neutralised
INFO
msg "base $name: $P_PACKAGE $F_VERSION (upstream $upstream), commit $(echo "$commit" | cut -c1-12)"

#!/bin/sh
# Build the pinned sparse from Debian's source package into build/tools.
# Prints the path of the sparse binary.
. "$(dirname "$0")/lib.sh"

load_pin "$TOP/kernel/sparse.pin" P_
prefix=$BUILD/tools/sparse
bin=$prefix/bin/sparse
# .pin: the pinned version this build answers (after a fallback, the
# version built is another one, in .version).
if [ -x "$bin" ] && { [ "$(cat "$prefix/.pin" 2>/dev/null)" = "$P_VERSION" ] ||
	[ "$(cat "$prefix/.version" 2>/dev/null)" = "$P_VERSION" ]; }; then
	echo "$bin"
	exit 0
fi

sh "$TOP/scripts/aptfetch.sh" "$TOP/kernel/sparse.pin" "$BUILD/dl/sparse" >&2 || exit 1
load_pin "$BUILD/dl/sparse/fetched.info" F_
msg "sparse: building $F_VERSION from Debian's source package" >&2
srcdir=$BUILD/tools/sparse-src
rm -rf "$srcdir"
mkdir -p "$BUILD/tools"
dpkg-source -x "$F_FILE" "$srcdir" > "$BUILD/tools/sparse-unpack.log" 2>&1 ||
	{ cat "$BUILD/tools/sparse-unpack.log" >&2; die "dpkg-source -x $F_FILE failed"; }
make -C "$srcdir" -j"$JOBS" CC=gcc HAVE_LLVM=no HAVE_GTK=no HAVE_LIBXML=no HAVE_SQLITE=no \
	PREFIX="$prefix" install > "$BUILD/tools/sparse-build.log" 2>&1 ||
	{ tail -n 20 "$BUILD/tools/sparse-build.log" >&2; die "building sparse failed"; }
echo "$F_VERSION" > "$prefix/.version"
[ "$F_FALLBACK" = no ] || echo "$F_VERSION (FALLBACK from $P_VERSION)" > "$prefix/.version"
echo "$P_VERSION" > "$prefix/.pin"
echo "$bin"

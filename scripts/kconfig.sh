#!/bin/sh
# Configure an output directory: tinyconfig, then the fragments, then
# olddefconfig; fail if any option a fragment asks for did not stick
# (olddefconfig silently drops what it cannot satisfy).  Does nothing when
# the directory is already configured from the same fragments, and
# restores the earlier result when it was configured from them before.
#
# usage: kconfig.sh SRCDIR OUTDIR FRAGMENT...
. "$(dirname "$0")/lib.sh"

src=$1 out=$2
shift 2
[ -d "$src" ] && [ -n "$out" ] && [ $# -gt 0 ] || die "usage: kconfig.sh SRCDIR OUTDIR FRAGMENT..."

want=$(cat "$@" | sha256sum | cut -d' ' -f1)
if [ -r "$out/.config" ] && [ "$(cat "$out/.workbench-config" 2>/dev/null)" = "$want" ]; then
	exit 0
fi
# A directory that two sets of fragments take turns in (inkernel.sh's
# variants) keeps the result of each: switching back is a copy, and no
# copy at all when both give the same .config.
saved=$out/.workbench-config.$want
if [ -r "$saved" ] && [ -r "$out/.config" ]; then
	cmp -s "$saved" "$out/.config" || cp "$saved" "$out/.config" || die "cannot restore $saved"
	echo "$want" > "$out/.workbench-config"
	exit 0
fi
mkdir -p "$out"
kmake "$src" "$out" tinyconfig > /dev/null || die "make tinyconfig failed in $out"
"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "$@" > "$out/merge.log" 2>&1 ||
	{ cat "$out/merge.log" >&2; die "merge_config.sh failed in $out"; }
kmake "$src" "$out" olddefconfig > /dev/null || die "make olddefconfig failed in $out"

bad=
for f in "$@"; do
	while read -r line; do
		case $line in
		CONFIG_*=*)
			grep -qxF "$line" "$out/.config" || bad="$bad
  $line (from $(basename "$f"))"
			;;
		"# CONFIG_"*" is not set")
			opt=${line#\# }
			opt=${opt%% *}
			grep -q "^$opt=" "$out/.config" && bad="$bad
  $line (from $(basename "$f"))"
			;;
		esac
	done < "$f"
done
[ -z "$bad" ] || die "options that did not stick in $out/.config:$bad"
cp "$out/.config" "$saved"
echo "$want" > "$out/.workbench-config"

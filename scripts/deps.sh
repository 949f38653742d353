#!/bin/sh
# Install the Debian packages the workbench needs, if any is missing.
# Only the system's own apt configuration is used here; nothing in
# /etc/apt is changed.
. "$(dirname "$0")/lib.sh"

pkgs="build-essential git make flex bison bc cpio kmod xz-utils dpkg-dev
libelf-dev libssl-dev ccache perl python3
coccinelle ocaml-nox python3-sphinx python3-yaml
qemu-system-x86 busybox-static rsync uuid-dev"
[ -r "$TOP/scripts/runner-deps.txt" ] &&
	pkgs="$pkgs $(grep -v '^#' "$TOP/scripts/runner-deps.txt")"

missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing="$missing $p"
done

if [ -z "$missing" ]; then
	msg "deps: all $(echo $pkgs | wc -w) packages present"
	exit 0
fi

mkdir -p "$BUILD"
[ "$(id -u)" -eq 0 ] || die "missing packages:$missing (run as root, or install them)"
msg "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q > "$BUILD/apt-update.log" 2>&1 ||
	{ mkdir -p "$BUILD"; cat "$BUILD/apt-update.log" >&2; die "apt-get update failed"; }
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing > "$BUILD/apt-install.log" 2>&1 ||
	{ tail -n 20 "$BUILD/apt-install.log" >&2; die "apt-get install failed:$missing"; }
msg "deps: installed$missing"

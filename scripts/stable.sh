#!/bin/sh
# A posting meant for a stable kernel, on that kernel: each patch applies
# (git am, in order) to the pinned base, and KVM's objects build after
# each one, in one configuration with TDX and SEV (KVM_WERROR, no
# warning).  "make arch/x86/kvm/" only: the full checks (both
# configurations through modpost, W=1, sparse, checkpatch) run on 7.3.
#
# usage: stable.sh NAME POSTINGDIR	(e.g. linux-7.2 series/fixes)
. "$(dirname "$0")/lib.sh"

name=$1 posting=$2
[ -n "$name" ] && [ -d "$posting" ] || die "usage: stable.sh NAME POSTINGDIR"
posting=$(cd "$posting" && pwd)
[ -n "$(series_patches "$posting")" ] || die "${posting#"$TOP"/} has no patches"
wt=$(kwork_tree stable "$name")
out=$(kwork_out "$name")/kvm || die "cannot make the output directories of $name"
logs=$BUILD/logs/$name
scope="stable $name: $(basename "$posting")"
mkdir -p "$logs" "$BUILD/state"
failures=0

if ! sh "$TOP/scripts/base.sh" "$name" > "$logs/base.log" 2>&1; then
	cat "$logs/base.log"
	record "$scope" "base $name" FAIL 0 "$logs/base.log"
	exit 1
fi
shared_worktree "$name" "$wt" || die "cannot prepare $wt"
cd "$wt" || exit 1
sh "$TOP/scripts/kconfig.sh" "$wt" "$out" "$TOP/kernel/config/base.config" \
	"$TOP/kernel/config/kvm-modules.config" > "$logs/kconfig.log" 2>&1 ||
	{ cat "$logs/kconfig.log"; record "$scope" "configure (TDX, SEV)" FAIL 0 "$logs/kconfig.log"; exit 1; }

t0=$(date +%s)
am_series "$posting" > "$BUILD/state/stable-$name-applied" 2> "$logs/apply.log"
am=$?
applied=$(wc -l < "$BUILD/state/stable-$name-applied")
i=0
for patch in $(series_patches "$posting"); do
	i=$((i + 1))
	p=$(basename "$posting")/$(basename "$patch")
	if [ "$i" -gt "$applied" ]; then
		if [ "$i" -eq $((applied + 1)) ] && [ $am -ne 0 ]; then
			record "$p" "applies to $name" FAIL $(($(date +%s) - t0)) "$logs/apply.log"
			sed 's/^/    /' "$logs/apply.log"
			failures=$((failures + 1))
		else
			record "$p" "not checked on $name: an earlier patch does not apply" skip 0
		fi
		continue
	fi
	record "$p" "applies to $name" pass 0
	commit=$(sed -n "${i}p" "$BUILD/state/stable-$name-applied" | cut -d' ' -f1)
	git checkout -q --detach "$commit" ||
		{ record "$p" "checkout on $name" FAIL 0; failures=$((failures + 1)); continue; }
	check "$p" "$name: make arch/x86/kvm/ (TDX, SEV, WERROR)" "$logs/$i-kvm.log" \
		clean_run kmake "$wt" "$out" arch/x86/kvm/ || failures=$((failures + 1))
done
[ $failures -eq 0 ]

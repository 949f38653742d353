#!/bin/sh
# Verify every patch of a series on its own, then the whole series.
#
# usage: verify.sh [NAME [SERIESDIR]]
# env:   PATCH=N      verify only patch N (and skip the whole-series checks)
#        WHOLE=0      skip the whole-series checks
#
# Per patch: the KVM modules through modpost (TDX and SEV on, KVM_WERROR),
# the same in a 64-bit config without TDX and SEV, W=1 on the KVM objects
# the patch touches, checkpatch --strict, sparse on the touched .c files
# against the committed base results, and the KVM selftests when the patch
# touches a uapi header or tools/ (and always for the last patch).
# Whole series: coccicheck on every touched .c file and the touched
# documentation, both against the committed base results.
#
# A patch whose commit was verified before, in a run whose checks all
# passed, with the same patch file, checks, configurations, base results
# and tools, is not verified again: its results are reused from the memo
# in $KWORK/verify-memo (VERIFY_MEMO=0 verifies every patch).  The commit
# names the whole tree and history up to the patch (git am with a fixed
# identity and dates makes the same commit from the same patches), so the
# same commit means the same sources for every check.
#
# Every check is recorded in build/report/results.tsv; a failed check
# names the patch, the check and the first lines of its output, and the run
# goes on.  Exit status: the number of failed checks, capped at 1.
. "$(dirname "$0")/lib.sh"

name=${1:-linux-7.3}
series=${2:-$TOP/series}
wt=$(kwork_tree verify "$name")
out=$(kwork_out "$name") || die "cannot make the output directories of $name"
logs=$BUILD/logs/$name
baseline=$TOP/kernel/baseline/$name
cfgdir=$TOP/kernel/config
mkdir -p "$BUILD/state" "$logs"

sh "$TOP/scripts/base.sh" "$name" || exit 1
sparse=$(sh "$TOP/scripts/sparse.sh") || die "no sparse"

shared_worktree "$name" "$wt" || die "cannot prepare $wt"

# The committed base results belong to one base commit; after a fallback
# to another package they may not fit.
using=$(git --git-dir="$BUILD/src/$name.git" rev-parse base)
for f in "$baseline"/*.txt; do
	[ -r "$f" ] || continue
	head -n 1 "$f" | grep -q "($using)" ||
		warn "$(basename "$f"): base results of another base than $using; new findings may be the base's (make baseline)"
done
cd "$wt" || exit 1

failures=0
fail() { failures=$((failures + 1)); }

# Apply the series, one commit per patch.
t0=$(date +%s)
if ! am_series "$series" > "$BUILD/state/verify-applied" 2> "$logs/apply.log"; then
	applied=$(wc -l < "$BUILD/state/verify-applied")
	bad=$(series_patches "$series" | sed -n "$((applied + 1))p")
	record "$(patch_label "$series" "$bad")" "applies to $name" FAIL $(($(date +%s) - t0)) "$logs/apply.log"
	sed 's/^/    /' "$logs/apply.log"
	fail
	# The patches after it are not checked; the report still lists them.
	series_patches "$series" | sed "1,$((applied + 1))d" | while read -r later; do
		record "$(patch_label "$series" "$later")" "not checked: $(patch_label "$series" "$bad") does not apply" skip 0
	done
fi
n=$(wc -l < "$BUILD/state/verify-applied")
msg "verify: $n patches applied to $name"

# The output directories: the per-patch builds, and W=1 in its own
# directory so that switching flags does not rebuild the others.
git checkout -q --detach base
# shellcheck disable=SC2046
for cfg in kvm-modules kvm-w1; do
	sh "$TOP/scripts/kconfig.sh" "$wt" "$out/$cfg" $(kvm_modules_frags) || die "cannot configure $cfg"
done
sh "$TOP/scripts/kconfig.sh" "$wt" "$out/kvm-nocc" "$cfgdir/base.config" "$cfgdir/kvm-nocc.config" ||
	die "cannot configure kvm-nocc"

sparse_check()	# sparse_check OBJS...: no new sparse warnings
{
	kmake "$wt" "$out/kvm-modules" C=2 CHECK="$sparse" "$@" > "$logs/sparse.raw" 2>&1 ||
		{ cat "$logs/sparse.raw"; echo "FAIL: the build under sparse failed"; return 1; }
	cat "$logs/sparse.raw"
	if grep -q 'sparse is not available or not up to date' "$logs/sparse.raw"; then
		echo "the kernel refused $sparse: nothing was checked"
		return 1
	fi
	normalise "$wt" < "$logs/sparse.raw" > "$logs/sparse.now"
	new_against "$baseline/sparse.txt" "$logs/sparse.now"
}

checkpatch_check()	# checkpatch_check PATCHFILE
{
	checkpatch_patch "$wt" "$1" "$logs/checkpatch.raw" || return 1
	grep -q "^Signed-off-by: $PROJECT_NAME <$PROJECT_EMAIL>" "$1" ||
		{ echo "FAIL: no Signed-off-by: $PROJECT_NAME <$PROJECT_EMAIL>"; return 1; }
}

# compiled_in OUTDIR FILE...: false when every file is a .c file of
# arch/x86/kvm/ whose object the configuration of OUTDIR, built before
# in this run, does not have: that kernel does not depend on them.
compiled_in()
{
	local o f
	o=$1
	shift
	for f in "$@"; do
		case $f in
		arch/x86/kvm/*.c) [ -e "$o/${f%.c}.o" ] && return 0 ;;
		*) return 0 ;;
		esac
	done
	return 1
}

# What the verdict of a patch depends on besides its commit and its file:
# the checks themselves, the configurations and base results, the tools.
memo_dir=$KWORK/verify-memo
envkey=$( { echo "$name"; cat "$TOP/scripts/verify.sh" "$TOP/scripts/lib.sh" \
	"$TOP/scripts/kconfig.sh" "$TOP/scripts/sparse.sh" "$TOP/kernel/checkpatch-allow.txt" \
	"$cfgdir"/*.config "$baseline"/*.txt 2> /dev/null
	gcc --version; ld --version | head -n 1; make --version | head -n 1
	"$sparse" --version 2>&1; git --version; perl -v | grep -m 1 version
	dpkg-query -W libc6-dev libelf-dev libssl-dev pahole dwarves bison flex 2> /dev/null
	env | grep -E '^(KCFLAGS|KCPPFLAGS|KAFLAGS|KBUILD_[A-Z_]*|LLVM|CC|HOSTCC|CROSS_COMPILE|ARCH|CFLAGS|LDFLAGS)=' |
		LC_ALL=C sort; } |
	sha256sum | cut -c1-64)
mkdir -p "$memo_dir" 2> /dev/null
# Entries not used for 60 days go.
find "$memo_dir" -type f -mtime +60 -delete 2> /dev/null

i=0
built=
built_nocc=
while read -r commit patch; do
	i=$((i + 1))
	[ -n "$PATCH" ] && [ "$PATCH" != "$i" ] && continue
	p=$(patch_label "$series" "$patch")
	if ! git checkout -q --detach "$commit" 2> "$logs/$i-checkout.log"; then
		record "$p" "checkout of its commit" FAIL 0 "$logs/$i-checkout.log"
		fail
		continue
	fi
	files=$(git diff --no-renames --name-only "$commit~1" "$commit")
	msg "patch $i/$n: $p"

	# Whether it is the last patch too: the last one always builds the
	# selftests.
	mkey=$(printf '%s\n%s\n%s\n%s\n' "$envkey" "$commit" "$(sha256sum < "$patch" | cut -c1-64)" \
		"$([ "$i" -eq "$n" ] && echo last)" | sha256sum | cut -c1-64)
	mfile=$memo_dir/$mkey
	if [ "${VERIFY_MEMO:-1}" != 0 ] && [ -s "$mfile" ]; then
		when=$(head -n 1 "$mfile")
		msg "$p: verified on $when with the same commit, patch file, checks and tools: results reused"
		touch "$mfile" 2> /dev/null
		tail -n +2 "$mfile" > "$BUILD/state/verify-memo-rows-$name"
		while IFS='	' read -r name_ status_ secs_ note_; do
			record "$p" "$name_" "$status_" 0 "" \
				"reused: verified on $when ($secs_ s then), same commit ${commit%"${commit#????????????}"}, patch, checks and tools${note_:+; $note_}"
		done < "$BUILD/state/verify-memo-rows-$name"
		grep -q '^build: KVM modules' "$BUILD/state/verify-memo-rows-$name" && built=$i
		grep -q '^build: KVM without TDX and SEV, through modpost	pass' "$BUILD/state/verify-memo-rows-$name" &&
			built_nocc=$i
		continue
	fi
	rows0=$(cat "$RESULTS" 2> /dev/null | wc -l)

	# W=1: the touched KVM .c files; all of KVM when a kernel header or
	# a file of virt/kvm (built from arch/x86/kvm) changes.  Headers
	# under tools/ are the selftests', which are checked below.
	objs=
	for f in $files; do
		case $f in
		tools/*|Documentation/*|scripts/*|samples/*) ;;
		arch/x86/kvm/*.c) objs="$objs ${f%.c}.o" ;;
		*.h|virt/kvm/*) objs=" arch/x86/kvm/"; break ;;
		esac
	done
	cobjs=
	for f in $files; do
		case $f in
		tools/*|Documentation/*|scripts/*|samples/*) ;;
		virt/kvm/*.c) cobjs="$cobjs arch/x86/kvm/" ;;
		*.c) [ -e "$f" ] && cobjs="$cobjs ${f%.c}.o" ;;
		esac
	done

	# A patch that changes only tools/testing/ and Documentation/ leaves
	# the kernel as the previous patch (or the base) had it: that kernel
	# was built and checked with that patch, so it is not built again.
	# (Other parts of tools/, objtool's sources, take part in the build.)
	#
	# The kernel checks of a patch run side by side, in three lanes under
	# one hold of the machine's build lock: when a patch changes a few
	# files, each make spends most of its time reading makefiles and
	# walking the tree on one CPU.  Lane 1: the configuration with TDX
	# and SEV, then sparse in its output directory; lane 2: the one
	# without them; lane 3: W=1, in a directory of its own.
	# shellcheck disable=SC2086
	if ! kernel_untouched $files; then
		built=$i
		build_lock
		(
			r=0
			check "$p" "build: KVM modules (TDX, SEV, WERROR) through modpost" "$logs/$i-build-modules.log" \
				clean_run kmake "$wt" "$out/kvm-modules" vmlinux modules || r=1
			if [ -n "$cobjs" ]; then
				check "$p" "sparse on$cobjs" "$logs/$i-sparse.log" sparse_check $cobjs || r=1
			fi
			exit $r
		) &
		lane1=$!
		# Through modpost too: a function declared for all configs but
		# defined only with TDX or SEV compiles, and fails only at modpost.
		# A patch that changes only KVM .c files which that
		# configuration does not compile (svm/sev.c, vmx/tdx.c) leaves
		# its kernel as it was: not built again.
		lane2=
		if [ -n "$built_nocc" ] && ! compiled_in "$out/kvm-nocc" $files; then
			record "$p" "build: KVM without TDX and SEV" skip 0 "" \
				"not built: $(echo $files) not compiled without TDX and SEV, the kernel is patch $built_nocc's"
		else
			built_nocc=$i
			check "$p" "build: KVM without TDX and SEV, through modpost" "$logs/$i-build-nocc.log" \
				clean_run kmake "$wt" "$out/kvm-nocc" vmlinux modules &
			lane2=$!
		fi
		lane3=
		if [ -n "$objs" ]; then
			check "$p" "W=1 on$objs" "$logs/$i-w1.log" clean_run kmake "$wt" "$out/kvm-w1" W=1 $objs &
			lane3=$!
		fi
		for l in $lane1 $lane2 $lane3; do
			wait "$l" || fail
		done
		build_unlock
	else
		prev="the base's"
		[ -n "$built" ] && prev="patch $built's"
		record "$p" "build: both kernel configurations" skip 0 "" \
			"not built: only tools/testing/ and Documentation/ change, the kernel is $prev"
		msg "$p: only tools/testing/ and Documentation/: no kernel build (the kernel is $prev)"
	fi

	check "$p" "checkpatch --strict" "$logs/$i-checkpatch.log" checkpatch_check "$patch" || fail

	need_st=no
	for f in $files; do
		case $f in include/uapi/*|arch/x86/include/uapi/*|tools/*) need_st=yes ;; esac
	done
	[ "$i" -eq "$n" ] && need_st=yes
	if [ $need_st = yes ]; then
		rm -f "$out/kvm-modules/.workbench-selftests"
		if check "$p" "KVM selftests build, no warnings" "$logs/$i-selftests.log" \
			clean_run kselftests_build "$wt" "$out/kvm-modules"; then
			# Which tree the selftests in $out/kvm-modules are of:
			# inkernel.sh reuses them for the same tools/ and uapi
			# headers (host.sh, building there too, records its own).
			echo "$commit" > "$out/kvm-modules/.workbench-selftests"
		else
			fail
		fi
	fi

	# Remember a patch all of whose checks passed (or were skipped), in a
	# run with no failure so far: a skip ("the kernel is patch K's")
	# leans on the patches before it, and a failure may have no row.
	tail -n +$((rows0 + 1)) "$RESULTS" | awk -F'\t' -v p="$p" '$1 == p' > "$BUILD/state/verify-rows-$name"
	if [ "$failures" -eq 0 ] && [ -s "$BUILD/state/verify-rows-$name" ] &&
	   ! awk -F'\t' '$3 != "pass" && $3 != "skip"' "$BUILD/state/verify-rows-$name" | grep -q .; then
		{ date -u '+%Y-%m-%d %H:%M UTC'
		  awk -F'\t' 'BEGIN { OFS = "\t" } { print $2, $3, $4, $6 }' "$BUILD/state/verify-rows-$name"; } \
			> "$mfile.tmp.$$" 2> /dev/null && mv "$mfile.tmp.$$" "$mfile" 2> /dev/null
	fi
done < "$BUILD/state/verify-applied"

if [ -z "$PATCH" ] && [ "${WHOLE:-1}" != 0 ] && [ "$n" -gt 0 ]; then
	sh "$TOP/scripts/whole.sh" "$name" "$wt" "$out" || fail
fi

[ $failures -eq 0 ]

#!/bin/sh
# The Debian 6.12 backport, backports/debian-6.12: its patches drop into
# debian/patches/ of Debian's linux source package (see its README.md).
#
# usage: backport.sh [STEP...]     STEP: apply, build, each, kunit, all
#                                  (default: apply build; all: every step)
#   apply  the series file lists exactly the NNNN-*.patch files, in their
#          order; each has the DEP-3 fields Origin and Forwarded right after
#          its Subject and the project's Signed-off-by; none adds the
#          upstream series' capability or flags bit; checkpatch --strict
#          on each (no error, only the types of kernel/checkpatch-allow.txt);
#          git am of all of them on the pinned base (kernel/linux-6.12.pin)
#          in a fresh worktree, build/backport-linux-6.12;
#   build  tinyconfig + kernel/config/base.config + kernel/config/boot.config
#          + the backport's config/kvm-modules.config (KVM_AMD_SEV=y,
#          KVM_WERROR=y), then "make vmlinux modules", so that modpost runs;
#          no warning allowed;
#   each   the same build after each patch on its own (about 40 s each,
#          incremental), as maintainer-kvm-x86.rst asks of a series;
#   kunit  scripts/inkernel.sh linux-6.12 with the backport's patches and its
#          testing/ (KUnit only, no selftests): the 6.12 bzImage booted
#          under QEMU TCG, every KUnit case must pass.  Built in the same
#          worktree as the module build, and first from a copy of its output
#          directory (the configurations differ only in how KVM is built and
#          in the KUnit suite), so that a new machine does not build a second
#          6.12 kernel from nothing.
# Every check is recorded for the report.  Exit status 1 on any failure.
. "$(dirname "$0")/lib.sh"

name=linux-6.12
dir=$TOP/backports/debian-6.12
# frags_of WHICH: the configuration fragments of the module build
# (kvm-modules) or of the KUnit image (inkernel).  Both have base.config
# and boot.config, so that the image can start from the module build.
frags_of()
{
	echo "$TOP/kernel/config/base.config $TOP/kernel/config/boot.config $dir/config/$1.config"
}
wt=$(kwork_tree backport "$name")
out=$(kwork_out "$name")/kvm-modules || die "cannot make the output directories of $name"
logs=$BUILD/logs/$name/backport
scope="backport debian-6.12"
mkdir -p "$logs"

steps=${*:-apply build}
[ "$steps" = all ] && steps="apply build each kunit"
for s in $steps; do
	case $s in apply|build|each|kunit) ;; *) die "unknown step $s (apply, build, each, kunit, all)" ;; esac
done

failures=0
fail() { failures=$((failures + 1)); }

# The patch files named by the series file, in its order.
listed()
{
	sed -e 's/#.*//' -e 's/[[:space:]]*$//' "$dir/series" | grep -v '^$'
}

# series names each NNNN-*.patch once, in the order of their numbers, and
# nothing else (inkernel.sh applies them in that order, Debian in the
# series file's).
series_check()
{
	local want got
	[ -r "$dir/series" ] || { echo "no $dir/series"; return 1; }
	want=$(series_patches "$dir" | sed 's|.*/||')
	got=$(listed)
	[ -n "$want" ] || { echo "no patches in $dir"; return 1; }
	if [ "$want" != "$got" ]; then
		echo "series does not list the patches of the directory in their order:"
		echo "$want" > "$logs/series.want"
		echo "$got" > "$logs/series.got"
		diff "$logs/series.want" "$logs/series.got"
		return 1
	fi
	echo "series: $(echo "$got" | wc -l) patches"
}

# Each patch: Origin and Forwarded right after the Subject (and its
# continuation lines) in the mail header, an Origin in our series that
# names an existing posting's patch, our Signed-off-by, and no capability
# or flags bit of the upstream series in its diff.
headers_check()
{
	local p f bad o t n
	bad=0
	for f in $(listed) $(cd "$dir/testing" && ls [0-9][0-9][0-9][0-9]-*.patch 2>/dev/null); do
		p=$dir/$f
		[ -r "$p" ] || p=$dir/testing/$f
		awk '
			/^$/ { exit }
			state == 0 && /^Subject:/ { state = 1; next }
			state == 1 && /^[ \t]/ { next }
			state == 1 { f1 = $1; state = 2; next }
			state == 2 { f2 = $1; state = 3; next }
			END {
				if (!((f1 == "Origin:" && f2 == "Forwarded:") ||
				      (f1 == "Forwarded:" && f2 == "Origin:"))) {
					printf "%s: no DEP-3 Origin and Forwarded right after Subject\n", FILENAME
					exit 1
				}
			}' "$p" || bad=1
		grep -q "^Signed-off-by: $PROJECT_NAME <$PROJECT_EMAIL>" "$p" ||
			{ echo "$f: no Signed-off-by: $PROJECT_NAME"; bad=1; }
		if sed -n '/^diff --git/,$p' "$p" | grep '^+' | grep -v '^+++' |
		   grep -E 'KVM_CAP_EXIT_HYPERCALL_RET|KVM_EXIT_HYPERCALL_RET_TRANSLATED|KVM_(X86_)?HYPERCALL_RET_ERRNO'; then
			echo "$f: adds the capability or flags bit that the backport leaves out"
			bad=1
		fi
		# An Origin that names a posting of our series names its patch
		# file there too, and that file must exist in series/ (a
		# re-split renames them).  A 6.12-only patch names none.
		o=$(sed -n 's/^Origin: //p' "$p" | head -n 1)
		case $o in
		*'posting "'*)
			n=$(echo "$o" | sed -n 's/.*posting "\([a-z0-9-]*\)".*/\1/p')
			t=$(echo "$o" | grep -o "$n/[0-9][0-9][0-9][0-9]-[^ ]*\\.patch" | head -n 1)
			if [ -z "$n" ] || [ -z "$t" ]; then
				echo "$f: its Origin names the posting \"$n\" but no patch of it ($n/NNNN-....patch)"
				bad=1
			elif [ ! -r "$TOP/series/$t" ]; then
				echo "$f: its Origin names series/$t, which does not exist"
				bad=1
			fi
			;;
		esac
		echo "$f: $(sed -n '/^Origin:/p; /^Forwarded:/p' "$p" | cut -c1-100 | tr '\n' ' ')"
	done
	return $bad
}

# checkpatch.pl --strict of the base on each patch: no error, warnings
# and checks only of the types that the series may carry.
checkpatch_all()
{
	local f bad=0
	for f in $(listed); do
		echo "== $f"
		checkpatch_patch "$wt" "$dir/$f" "$logs/checkpatch.raw" > "$logs/checkpatch.out" || bad=1
		grep -E '^(total:|ERROR|WARNING|CHECK|FAIL)' "$logs/checkpatch.out"
	done
	return $bad
}

apply_all()
{
	(cd "$wt" && am_series "$dir") || return 1
	echo "HEAD $(git -C "$wt" rev-parse HEAD) on base $(git -C "$wt" rev-parse base)"
}

modules_build()
{
	sh "$TOP/scripts/kconfig.sh" "$wt" "$out" $(frags_of kvm-modules) || return 1
	grep -E '^CONFIG_(KVM|KVM_AMD|KVM_INTEL|KVM_AMD_SEV|KVM_WERROR)=' "$out/.config"
	clean_run kmake "$wt" "$out" vmlinux modules || return 1
	ls -l "$out/arch/x86/kvm/kvm.ko" "$out/arch/x86/kvm/kvm-amd.ko" || return 1
}

# The worktree holds the backport: the apply step ran, or an earlier run
# left it there.
holds_backport()
{
	[ $applied = yes ] && return 0
	[ "$(git -C "$wt" log --format=%s base..HEAD 2>/dev/null | wc -l)" -eq "$(listed | wc -l)" ] &&
		return 0
	record "$scope" "build: $1" FAIL 0 "" "the worktree does not hold the backport: run the apply step first"
	return 1
}

applied=no
for s in $steps; do
	case $s in
	apply)
		sh "$TOP/scripts/base.sh" "$name" || { record "$scope" "base $name" FAIL 0; exit 1; }
		check "$scope" "series file lists the patches in order" "$logs/series.log" series_check || fail
		check "$scope" "DEP-3 headers, Signed-off-by, no capability or flags bit" \
			"$logs/headers.log" headers_check || fail
		shared_worktree "$name" "$wt" || die "cannot prepare $wt"
		check "$scope" "checkpatch --strict" "$logs/checkpatch.log" checkpatch_all || fail
		if check "$scope" "apply: the series to the pinned $name base (git am)" \
			"$logs/apply.log" apply_all; then
			applied=yes
		else
			fail
		fi
		;;
	build)
		holds_backport "KVM modules" || { fail; continue; }
		check "$scope" "build: KVM modules (SEV, WERROR) through modpost" "$logs/build-modules.log" \
			modules_build || fail
		;;
	each)
		holds_backport "KVM modules after each patch" || { fail; continue; }
		tip=$(git -C "$wt" rev-parse HEAD)
		i=0
		for c in $(git -C "$wt" rev-list --reverse base.."$tip"); do
			i=$((i + 1))
			git -C "$wt" checkout -q --detach "$c"
			check "$scope" "$(listed | sed -n "${i}p"): build: KVM modules (SEV, WERROR)" \
				"$logs/build-modules-$i.log" modules_build || fail
		done
		git -C "$wt" checkout -q --detach "$tip"
		;;
	kunit)
		# The image is the backport plus its testing patch, in this
		# worktree (inkernel.sh's default for linux-6.12, as is starting
		# from the kvm-modules output directory); afterwards the worktree holds the backport alone
		# again, as the other steps expect.
		tip=$(git -C "$wt" rev-parse -q --verify HEAD 2> /dev/null)
		INKERNEL_SERIES=$dir INKERNEL_TESTING=$dir/testing INKERNEL_TESTS=none \
		INKERNEL_CONFIG="$(frags_of inkernel)" \
			sh "$TOP/scripts/inkernel.sh" "$name" || fail
		if [ $applied = yes ] && [ -n "$tip" ]; then
			git -C "$wt" checkout -q --detach "$tip" || fail
		fi
		;;
	esac
done

[ $failures -eq 0 ]

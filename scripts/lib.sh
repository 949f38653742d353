# Common shell functions of the workbench.  Sourced, never executed.
# POSIX sh plus `local`, which dash and bash both have.

TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$TOP/build
REPORT_DIR=$BUILD/report
RESULTS=$REPORT_DIR/results.tsv

# The compiler cache lives outside the clone, so that a fresh clone on the
# same machine (CI) finds it warm.  BASEDIR makes its keys independent of
# where the clone is.
: "${CCACHE_DIR:=/var/cache/kvm-mapgpa-ccache}"
export CCACHE_DIR
export CCACHE_BASEDIR="$TOP"
export CCACHE_NOHASHDIR=true
export CCACHE_DEPEND=true
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}

# The kernel trees that get built, and their output directories, live
# outside the clone as well, at fixed paths (kbuild's dependency files and
# ccache's keys hold them relative to $KWORK): $KWORK/ROLE-NAME, one
# worktree of the base cache's repository per role (verify, backport,
# stable; an in-kernel image uses its base's, see inkernel.sh), and
# $KWORK/out/NAME/CONFIG, as build/ had them.  Git
# rewrites a file of a worktree only where a checkout changes it, so a
# fresh clone's first build is incremental from the machine's last run
# instead of a whole kernel from ccache.  The trees of one base serve one
# workbench at a time (shared_worktree locks them).
: "${KWORK:=/var/cache/kvm-mapgpa/work}"
: "${BASE_CACHE:=/var/cache/kvm-mapgpa/bases}"
export KWORK BASE_CACHE

# Identity used for every commit the workbench makes, and carried by the
# patches of the series.  Fixed dates make the commits reproducible.
PROJECT_NAME="KVM MapGPA ABI project"
PROJECT_EMAIL="kvm-mapgpa-abi@example.org"

JOBS=${JOBS:-$(nproc)}
KMAKE_ARCH=x86_64

START_TIME=${START_TIME:-$(date +%s)}
export START_TIME

elapsed()
{
	echo $(( $(date +%s) - START_TIME ))
}

msg()
{
	printf '[%5ss] %s\n' "$(elapsed)" "$*"
}

warn()
{
	printf '[%5ss] WARNING: %s\n' "$(elapsed)" "$*" >&2
}

die()
{
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# Read KEY=VALUE lines of a pin file into variables with a prefix.
# load_pin FILE PREFIX
load_pin()
{
	[ -r "$1" ] || die "no pin file $1"
	while IFS='=' read -r key value; do
		case $key in
		''|'#'*) continue ;;
		*[!A-Z0-9_]*) die "$1: bad key '$key'" ;;
		esac
		eval "$2$key=\$value"
	done < "$1"
}

# Record one result for the report.
# record SCOPE CHECK STATUS SECONDS [LOG] [NOTE]
record()
{
	mkdir -p "$REPORT_DIR"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${5:-}" "${6:-}" >> "$RESULTS"
}

# Run a command as one check: its output goes to LOG, its status and time
# into the results.  On failure, print the patch, the check and the first
# lines of the output, and go on.
# check SCOPE CHECK LOG COMMAND...
check()
{
	local scope name log t0 t1 rc
	scope=$1 name=$2 log=$3
	shift 3
	mkdir -p "$(dirname "$log")"
	t0=$(date +%s)
	msg "$scope: $name"
	"$@" > "$log" 2>&1
	rc=$?
	t1=$(date +%s)
	if [ $rc -eq 0 ]; then
		record "$scope" "$name" pass $((t1 - t0)) "$log"
	else
		record "$scope" "$name" FAIL $((t1 - t0)) "$log"
		printf '  FAIL: %s: %s (exit %s), first lines of %s:\n' \
			"$scope" "$name" "$rc" "${log#"$TOP"/}"
		grep -m 12 -E 'error|warning|ERROR|WARNING|FAIL|new:' "$log" |
			sed 's/^/    /' | cut -c1-200
		[ -s "$log" ] && ! grep -q -m1 -E 'error|warning|ERROR|WARNING|FAIL|new:' "$log" &&
			tail -n 8 "$log" | sed 's/^/    /' | cut -c1-200
	fi
	return $rc
}

# Run a step that records its own checks (verify.sh, inkernel.sh, ...).  A
# step that fails without recording a failure stopped early (a die before
# its checks, say): record that, so the report and the exit status cannot
# pass.  step SCOPE NAME COMMAND...
step()
{
	local scope name before t0 rc
	scope=$1 name=$2
	shift 2
	before=$(fail_rows)
	t0=$(date +%s)
	"$@"
	rc=$?
	if [ $rc -ne 0 ] && [ "$(fail_rows)" -eq "$before" ]; then
		record "$scope" "$name stopped early (exit $rc), see its output" FAIL \
			$(($(date +%s) - t0)) ""
		printf '  FAIL: %s: %s stopped early (exit %s)\n' "$scope" "$name" "$rc"
	fi
	return $rc
}

fail_rows()
{
	awk -F'\t' '$3 == "FAIL"' "$RESULTS" 2>/dev/null | wc -l
}

# Run a command; fail when it fails or prints any compiler, modpost or
# kernel-doc warning.
clean_run()
{
	local tmp rc
	mkdir -p "$BUILD/state"
	# Not $$: checks that run side by side share it (verify.sh's lanes).
	tmp=$(mktemp "$BUILD/state/clean_run.XXXXXX") || return 1
	"$@" > "$tmp" 2>&1
	rc=$?
	cat "$tmp"
	if [ $rc -ne 0 ]; then
		rm -f "$tmp"
		return 1
	fi
	if grep -E -q '(warning|WARNING):' "$tmp"; then
		rm -f "$tmp"
		echo "FAIL: warnings in the output"
		return 1
	fi
	rm -f "$tmp"
}

# The fragments of the per-patch build with TDX and SEV (output directory
# kvm-modules, and kvm-w1 for W=1): KVM as modules, on the platform of the
# in-kernel test image (boot.config, selftests.config), whose first build
# on a machine starts from a copy of that output directory.
kvm_modules_frags()
{
	echo "$TOP/kernel/config/base.config $TOP/kernel/config/boot.config" \
		"$TOP/kernel/config/selftests.config $TOP/kernel/config/kvm-modules.config"
}

# The compiler command for kernel builds.
kcc()
{
	if command -v ccache > /dev/null 2>&1; then
		echo "ccache gcc"
	else
		echo gcc
	fi
}

# kmake SRCDIR OUTDIR ARGS...: a kernel make with the project's settings.
kmake()
{
	local src out lock
	src=$1 out=$2
	shift 2
	# One kernel build at a time on this machine, whoever runs it
	# (unless the caller holds the lock for several, see build_lock).
	lock="flock /tmp/kbuild.lock"
	[ -n "${KBUILD_LOCK_HELD:-}" ] && lock=
	# The trees are under $KWORK (kwork_tree), not in the clone.
	CCACHE_BASEDIR=$KWORK $lock \
	make ${KMAKE_QUIET--s} -C "$src" O="$out" ARCH=$KMAKE_ARCH CC="$(kcc)" HOSTCC="$(kcc)" \
		KBUILD_BUILD_TIMESTAMP=2026-01-01 KBUILD_BUILD_USER=workbench \
		KBUILD_BUILD_HOST=workbench -j"$JOBS" "$@"
}

# build_lock: take the machine's build lock for the kernel builds that
# follow until build_unlock, e.g. to run several makes side by side (each
# with -j$JOBS: they share the CPUs); kmake does not take it again
# meanwhile.
build_lock()
{
	exec 8> /tmp/kbuild.lock
	flock 8
	KBUILD_LOCK_HELD=1
}

build_unlock()
{
	KBUILD_LOCK_HELD=
	flock -u 8
	exec 8>&-
}

# kselftests_build SRCDIR OUTDIR: the uapi headers and the KVM selftests of
# a tree, in OUTDIR/kselftest/kvm.
kselftests_build()
{
	kmake "$1" "$2" headers > /dev/null 2>&1 || { echo "make headers failed"; return 1; }
	# The selftests' lib.mk sets CC := gcc and their Makefile drops
	# make's command line, so kmake's "ccache gcc" does not reach them:
	# Debian's ccache directory first in PATH does.
	(
		[ -d /usr/lib/ccache ] && PATH=/usr/lib/ccache:$PATH && export PATH
		kmake "$1" "$2" kselftest-all TARGETS=kvm
	)
}

# Git with the project's fixed identity and dates, for reproducible commits.
pgit()
{
	GIT_AUTHOR_NAME="$PROJECT_NAME" GIT_AUTHOR_EMAIL="$PROJECT_EMAIL" \
	GIT_COMMITTER_NAME="$PROJECT_NAME" GIT_COMMITTER_EMAIL="$PROJECT_EMAIL" \
	git -c core.autocrlf=false -c gc.auto=0 -c advice.detachedHead=false \
		-c am.threeWay=false "$@"
}

# A series directory is either one posting (NNNN-*.patch, as git
# format-patch writes them) or a folder of postings: a file "postings"
# names, one per line and in the order they apply, the subdirectories that
# each hold one posting.  series/ is the latter; the backport and the
# round trip's copies may be either.
#
# The posting directories of a series directory, in order (the directory
# itself when it has no "postings" file).  Fails on a listed posting that
# does not exist.
series_postings()
{
	local n
	if [ ! -e "$1/postings" ]; then
		echo "$1"
		return 0
	fi
	for n in $(sed -e 's/#.*//' "$1/postings"); do
		[ -d "$1/$n" ] || { echo "$1/postings names $n, but there is no $1/$n" >&2; return 1; }
		echo "$1/$n"
	done
}

# A stand-in is a directory of patches under testing/ that is never posted
# but that a posting needs in order to build and run here (our own version
# of a series that the posting builds on and that we don't have).  It is
# applied right before that posting, in a folder of postings: every step
# that applies series/ applies it, and "make tree"/"make export" keep it
# on a branch of its own (BRANCH.DIR), out of the posting's --base.  The
# file testing/stand-ins has one line "POSTING DIR" per stand-in.
#
# The stand-in directory (under testing/) of a posting, or nothing.
standin_of()
{
	sed -e 's/#.*//' "${STANDINS:-$TOP/testing/stand-ins}" 2>/dev/null |
		awk -v p="$1" '$1 == p { print $2; exit }'
}

# The patch files of one directory, in order, without the cover letter.
# A posting's files are NNNN-*.patch, or vN-NNNN-*.patch for version N.
dir_patches()
{
	ls "$1"/[0-9][0-9][0-9][0-9]-*.patch "$1"/v[0-9]*-[0-9][0-9][0-9][0-9]-*.patch 2>/dev/null |
		grep -v '/\(v[0-9]*-\)\{0,1\}0000-cover-letter\.patch$'
}

# The patches of a series directory, in the order they apply, without the
# cover letters; in a folder of postings, with each posting's stand-in
# right before it.
series_patches()
{
	local d s
	for d in $(series_postings "$1"); do
		if [ -e "$1/postings" ]; then
			s=$(standin_of "$(basename "$d")")
			if [ -n "$s" ]; then
				[ -n "$(dir_patches "$TOP/testing/$s")" ] ||
					{ echo "testing/stand-ins names testing/$s for $(basename "$d"), which has no patches" >&2; return 1; }
				dir_patches "$TOP/testing/$s"
			fi
		fi
		dir_patches "$d"
	done
}

# kernel_untouched FILE...: true when every file is under tools/testing/
# or Documentation/, so that the kernel is the same without the change.
# (Other parts of tools/, objtool's sources, take part in the build.)
kernel_untouched()
{
	local f
	[ $# -gt 0 ] || return 1
	for f in "$@"; do
		case $f in
		tools/testing/*|Documentation/*) ;;
		*) return 1 ;;
		esac
	done
}

# The cover letter of one posting directory (nothing if it has none).
posting_cover()
{
	ls "$1"/0000-cover-letter.patch "$1"/v[0-9]*-0000-cover-letter.patch 2>/dev/null | head -n 1
}

# The last version of a posting that was sent (sent/NAME/vN, kept by
# send.sh), or nothing.  sent_last NAME
sent_last()
{
	ls -d "${SENT_DIR:-$TOP/sent}/$1"/v[0-9]* 2>/dev/null | sed 's|.*/v||' | grep -x '[0-9]*' | sort -n | tail -n 1
}

# How reports name a patch: its path under the series directory
# (fixes/0001-....patch), or under the clone for a stand-in's
# (testing/DIR/0001-....patch).  patch_label SERIESDIR PATCH
patch_label()
{
	case $2 in
	"$1"/*) echo "${2#"$1"/}" ;;
	*) echo "${2#"$TOP"/}" ;;	# a stand-in's, testing/DIR/....patch
	esac
}

# Apply the patches of a series directory in the current git worktree,
# starting from the base.  Prints one line "COMMIT PATCHFILE" per patch.
# On a patch that does not apply: aborts git am, prints its reason to
# stderr and returns 1 (the commits applied so far stay printed).
#
# git am with a fixed committer and --committer-date-is-author-date makes
# the same commit from the same parent and patch file, so the results are
# remembered in the repository shared by all worktrees of a base (parent,
# sha256 of the patch file, commit): patches that did not change since the
# last run are not applied again, only the ones from the first change on.
# git am runs without user or system configuration, and the memo is kept
# per git version.  AM_MEMO=0 applies every patch (the round trip does).
am_series()
{
	local p reason log memo sum cur hit pending empty list
	# One log per worktree, so that two steps applying at once do not mix.
	log=$(git rev-parse --absolute-git-dir)/workbench-am.log
	memo=$(git rev-parse --path-format=absolute --git-common-dir)/workbench-am-$(git --version |
		tr -c 'a-z0-9.\n' _).memo
	[ "${AM_MEMO:-1}" = 0 ] && memo=/dev/null
	empty=$BUILD/state/empty-home
	mkdir -p "$empty"
	cur=$(git rev-parse --verify -q 'base^{commit}') || return 1
	pending=1	# the worktree is not yet at $cur
	list=$(series_patches "$1") || return 1
	for p in $list; do
		sum=$(sha256sum < "$p" | cut -c1-64)
		if [ -n "$pending" ]; then
			hit=$(grep "^$cur $sum [0-9a-f]\{40\}\$" "$memo" 2>/dev/null | tail -n 1 | cut -d' ' -f3)
			if [ -n "$hit" ] && git cat-file -e "$hit^{commit}" 2>/dev/null &&
			   [ "$(git rev-parse -q --verify "$hit^")" = "$cur" ]; then
				cur=$hit
				echo "$cur $p"
				continue
			fi
			git checkout -q --detach "$cur" || return 1
			pending=
		fi
		if ! HOME=$empty XDG_CONFIG_HOME=$empty GIT_CONFIG_NOSYSTEM=1 \
		     pgit am -q --committer-date-is-author-date "$p" > "$log" 2>&1; then
			reason=$(grep -v -e '^hint:' -e '^When you have' -e '^If you prefer' \
				-e '^To restore' "$log" | head -n 8)
			git am --abort > /dev/null 2>&1
			printf '%s does not apply:\n%s\n' "$(patch_label "$1" "$p")" "$reason" >&2
			return 1
		fi
		hit=$(git rev-parse HEAD)
		[ "$memo" = /dev/null ] || echo "$cur $sum $hit" >> "$memo"
		cur=$hit
		echo "$cur $p"
	done
	[ -z "$pending" ] || git checkout -q --detach "$cur"
}

# Normalise checker output for comparison with the base: drop line and
# column numbers and the absolute worktree path.  normalise WORKTREE
normalise()
{
	sed -E -e "s|$1/||g" -e 's|^(\.\./)+||' \
		-e 's/^([^: ]+):[0-9]+(:[0-9]+)?: /\1: /' |
		grep -E '^[^ :]+: (warning|error|WARNING|ERROR|CHECK|INFO|note)' | LC_ALL=C sort
}

# new_against BASEFILE CURRENT: print the lines that CURRENT has more often
# than BASEFILE (comment lines "#" in BASEFILE are ignored); return 1 if any.
new_against()
{
	awk '
		NR == FNR { if ($0 !~ /^#/) base[$0]++; next }
		{ cur[$0]++ }
		END {
			bad = 0
			for (l in cur)
				if (cur[l] > base[l]) { print "new: " l; bad = 1 }
			exit bad
		}' "$1" "$2"
}

# Coccinelle in report mode on objects, without writing into the tree.
# run_coccicheck WORKTREE OUTDIR OBJS...
run_coccicheck()
{
	local wt o
	wt=$1 o=$2
	shift 2
	# Not silent: kbuild's -s sinks the checker's stdout, where
	# coccicheck writes its reports.
	KMAKE_QUIET= kmake "$wt" "$o" C=2 CHECK="$wt/scripts/coccicheck" MODE=report "$@"
}

# The kernel's Sphinx build of some top-level documentation directories.
# run_htmldocs WORKTREE OUTDIR DIRS...
run_htmldocs()
{
	local wt o
	wt=$1 o=$2
	shift 2
	flock /tmp/kbuild.lock make -C "$wt" O="$o" SPHINXDIRS="$*" htmldocs
}

# Make DIR a detached worktree of the base repository of NAME (at the base),
# unless it is one already.  ensure_worktree NAME DIR
ensure_worktree()
{
	[ -d "$2" ] && return 0
	msg "checking out the base of $1 into ${2#"$TOP"/}"
	git --git-dir="$BUILD/src/$1.git" worktree prune
	git --git-dir="$BUILD/src/$1.git" worktree add -q --detach "$2" base
}

# The branch of an editable tree: "series" for build/tree, the directory's
# name for another (the round trip's), as two worktrees of one repository
# must not share a branch.  tree_branch TREEDIR
tree_branch()
{
	if [ "$1" = "$BUILD/tree" ]; then echo series; else basename "$1"; fi
}

# The same, then drop whatever an earlier run left in it: an unfinished
# git am, changes, untracked and ignored files.  fresh_worktree NAME DIR
fresh_worktree()
{
	ensure_worktree "$1" "$2" || return 1
	clean_worktree "$2"
}

clean_worktree()
{
	git -C "$1" am --abort > /dev/null 2>&1
	git -C "$1" reset -q --hard && git -C "$1" clean -q -fdx
}

# The machine-wide worktree of a role and its base, and the output
# directories of a base's builds (see KWORK).  The clone's build/out is a
# link to the latter, for people and for the runner's tests; the builds
# use the real path.  kwork_tree ROLE NAME, kwork_out NAME
kwork_tree()
{
	echo "$KWORK/$1-$2"
}

kwork_out()
{
	mkdir -p "$KWORK/out/$1" "$BUILD" || return 1
	if [ ! -L "$BUILD/out" ]; then
		# An older clone's own output directories: they are not used.
		rm -rf "$BUILD/out"
		ln -s "$KWORK/out" "$BUILD/out"
	fi
	echo "$KWORK/out/$1"
}

# lock_base NAME: this process and its children are the only workbench on
# the machine that uses the trees and output directories of NAME, until
# they all exit.  A step run from one that holds the lock (inkernel.sh from
# backport.sh) goes on under it.
lock_base()
{
	[ "${KWORK_LOCKED:-}" = "$1" ] && return 0
	[ -z "${KWORK_LOCKED:-}" ] ||
		{ echo "lock_base: $1 asked for under the lock of $KWORK_LOCKED" >&2; return 1; }
	mkdir -p "$KWORK" || return 1
	exec 9> "$KWORK/$1.lock"
	if ! flock -n 9; then
		msg "waiting for another workbench on this machine to finish with the $1 trees"
		flock 9 || return 1
	fi
	KWORK_LOCKED=$1
	export KWORK_LOCKED
}

# shared_worktree NAME DIR: DIR (from kwork_tree) as a clean, detached
# worktree of the base cache's repository of NAME, whose tag "base" is
# this clone's base; under lock_base NAME.  The commits made in it (git am)
# go to that repository, with their memo (am_series).
shared_worktree()
{
	local repo commit
	lock_base "$1" || return 1
	repo=$BASE_CACHE/$1.git
	commit=$(git --git-dir="$BUILD/src/$1.git" rev-parse -q --verify 'base^{commit}') &&
		git --git-dir="$repo" cat-file -e "$commit^{commit}" || {
		echo "shared_worktree: the base of $1 is not in $repo (run base.sh $1)" >&2
		return 1
	}
	git --git-dir="$repo" tag -f base "$commit" > /dev/null || return 1
	# A directory that is not a worktree of that repository (an
	# interrupted creation, a moved cache) is made again.
	if [ -e "$2" ] && [ "$(git -C "$2" rev-parse --path-format=absolute --git-common-dir 2> /dev/null)" != \
	     "$(cd "$repo" && pwd -P)" ]; then
		rm -rf "$2"
	fi
	if [ ! -d "$2" ]; then
		msg "checking out the base of $1 into $2 (once per machine)"
		git --git-dir="$repo" worktree prune
		mkdir -p "$(dirname "$2")"
		git --git-dir="$repo" worktree add -q --detach "$2" base || return 1
	fi
	clean_worktree "$2"
}

# Sort the files a series touches (paths relative to the current worktree)
# into the kernel's .c files ($cfiles) and the top-level documentation
# directories of its .rst files ($docdirs), adding to what those hold.
# classify_touched FILE...
classify_touched()
{
	local f d
	for f in "$@"; do
		case $f in
		tools/*|scripts/*|samples/*|Documentation/*.c) ;;
		*.c)
			[ -e "$f" ] || continue
			case " $cfiles " in *" $f "*) ;; *) cfiles="$cfiles $f" ;; esac
			;;
		Documentation/*.rst)
			d=${f#Documentation/}
			d=${d%%/*}
			case " $docdirs " in *" $d "*) ;; *) docdirs="$docdirs $d" ;; esac
			;;
		esac
	done
}

# checkpatch_patch TREE PATCH RAW: checkpatch.pl --strict of TREE on PATCH,
# its output in RAW and on stdout; fails on any error, and on a warning or
# check whose type is not in kernel/checkpatch-allow.txt.
checkpatch_patch()
{
	local t types bad=0
	[ -r "$2" ] || { echo "FAIL: no patch $2"; return 1; }
	# Without the user's ~/.checkpatch.conf: the same verdict for everyone.
	mkdir -p "$BUILD/state/empty-home"
	HOME=$BUILD/state/empty-home perl "$1/scripts/checkpatch.pl" --strict --show-types --no-color "$2" > "$3" 2>&1
	cat "$3"
	grep -q '^ERROR:' "$3" && { echo "FAIL: checkpatch errors"; bad=1; }
	# A checkpatch that died half-way prints no errors, and no total.
	grep -q '^total: 0 errors, ' "$3" ||
		{ echo "FAIL: checkpatch did not finish with \"total: 0 errors\""; bad=1; }
	types=$(sed -n -E 's/^(WARNING|CHECK):([A-Z0-9_]+):.*/\2/p' "$3" | sort -u)
	grep -E '^(WARNING|CHECK):' "$3" | grep -v -q -E '^(WARNING|CHECK):[A-Z0-9_]+:' &&
		{ echo "FAIL: a checkpatch warning without its type"; bad=1; }
	for t in $types; do
		grep -q "^${t}[[:space:]]" "$TOP/kernel/checkpatch-allow.txt" 2> /dev/null ||
			{ echo "FAIL: $t is not in kernel/checkpatch-allow.txt"; bad=1; }
	done
	return $bad
}

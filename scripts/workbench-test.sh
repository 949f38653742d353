#!/bin/sh
# Tests of the workbench's own shell steps, on what make check has already
# set up (the verify and round-trip worktrees).  Each case prints "ok" or
# "not ok" with what went wrong; the exit status is the number of failures,
# capped at 1.
. "$(dirname "$0")/lib.sh"

tmp=$BUILD/state/workbench-test
rm -rf "$tmp"
mkdir -p "$tmp"
bad=0
ok()	{ echo "ok: $*"; }
notok()	{ echo "not ok: $*"; bad=1; }

# checkpatch_patch: a typed warning outside the allow-list (IF_0, whose
# type has a digit) fails, a missing patch fails, a clean patch passes.
wt=$(kwork_tree verify linux-7.3)
[ -d "$wt" ] || shared_worktree linux-7.3 "$wt" || die "no worktree $wt"
cat > "$tmp/if0.patch" <<'EOF'
From: A U Thor <author@example.org>
Subject: [PATCH] x: add dead code

Dead code.

Signed-off-by: A U Thor <author@example.org>
---
 init/version.c | 2 ++
 1 file changed, 2 insertions(+)

diff --git a/init/version.c b/init/version.c
--- a/init/version.c
+++ b/init/version.c
@@ -1,1 +1,3 @@
 // SPDX-License-Identifier: GPL-2.0-only
+#if 0
+#endif
EOF
if checkpatch_patch "$wt" "$tmp/if0.patch" "$tmp/cp.raw" > "$tmp/cp.out"; then
	notok "checkpatch_patch passed a patch with IF_0"
elif grep -q 'IF_0 is not in' "$tmp/cp.out"; then
	ok "checkpatch_patch fails IF_0"
else
	notok "checkpatch_patch failed the IF_0 patch for another reason: $(grep FAIL "$tmp/cp.out" | head -n 1)"
fi
if checkpatch_patch "$wt" "$tmp/missing.patch" "$tmp/cp.raw" > /dev/null; then
	notok "checkpatch_patch passed a missing patch"
else
	ok "checkpatch_patch fails a missing patch"
fi
first=$(series_patches "$TOP/series" | head -n 1)
if checkpatch_patch "$wt" "$first" "$tmp/cp.raw" > "$tmp/cp.out"; then
	ok "checkpatch_patch passes $(basename "$first")"
else
	notok "checkpatch_patch fails $(basename "$first"): $(grep FAIL "$tmp/cp.out" | head -n 1)"
fi

# step: a step that fails without recording a failure gets one; a step
# that recorded its own failure gets no second one.
(
	RESULTS=$tmp/results.tsv
	step scope-a "dies early" sh -c 'exit 3' > /dev/null
	step scope-b "records" sh -c "printf 'scope-b\tx\tFAIL\t0\t\t\n' >> '$RESULTS'; exit 1" > /dev/null
	step scope-c "passes" true
)
got=$(cut -f1,3 "$tmp/results.tsv" | tr '\t\n' ' ')
if [ "$got" = "scope-a FAIL scope-b FAIL " ]; then
	ok "step records a step that stops early, once"
else
	notok "step: results are \"$got\""
fi

# tree.sh: a patch that does not apply names its file and leaves the tree
# on its commit and branch.  Uses the round trip's worktree, never build/tree.
rt=$BUILD/roundtrip
FORCE=1 AM_MEMO=0 sh "$TOP/scripts/tree.sh" linux-7.3 "$TOP/series" "$rt" > "$tmp/tree.log" 2>&1 ||
	{ cat "$tmp/tree.log"; die "tree.sh on series/ failed"; }
head=$(git -C "$rt" rev-parse HEAD)
mkdir -p "$tmp/broken"
cp -r "$TOP"/series/. "$tmp/broken/"
victim=$(series_patches "$tmp/broken" | sed -n 2p)
sed -i '0,/^@@ /s/^@@ .*/@@ -1,3 +1,3 @@ broken on purpose/' "$victim"
if FORCE=1 sh "$TOP/scripts/tree.sh" linux-7.3 "$tmp/broken" "$rt" > "$tmp/tree.log" 2>&1; then
	notok "tree.sh applied a corrupt patch"
elif ! grep -q "$(basename "$victim") does not apply" "$tmp/tree.log"; then
	notok "tree.sh did not name $(basename "$victim"): $(head -n 3 "$tmp/tree.log")"
elif [ "$(git -C "$rt" rev-parse HEAD)" != "$head" ] ||
     [ "$(git -C "$rt" symbolic-ref -q --short HEAD)" != "$(tree_branch "$rt")" ]; then
	notok "tree.sh moved the tree: $(git -C "$rt" log -1 --format='%h %d')"
else
	ok "tree.sh names a patch that does not apply and leaves the tree as it was"
fi

# am_series: the memo gives the same commits as git am itself.
FORCE=1 sh "$TOP/scripts/tree.sh" linux-7.3 "$TOP/series" "$rt" > "$tmp/tree.log" 2>&1 &&
	FORCE=1 sh "$TOP/scripts/tree.sh" linux-7.3 "$TOP/series" "$rt" > "$tmp/tree.log" 2>&1 ||
	{ cat "$tmp/tree.log"; die "tree.sh on series/ failed"; }
if [ "$(git -C "$rt" rev-parse HEAD)" = "$head" ]; then
	ok "am_series from its memo gives the commits git am gives"
else
	notok "am_series from its memo gives $(git -C "$rt" rev-parse HEAD), git am $head"
fi

# kernel_untouched: which patches verify.sh builds no kernel for.
if kernel_untouched tools/testing/selftests/kvm/x86/a.c Documentation/virt/kvm/api.rst &&
   ! kernel_untouched tools/objtool/check.c && ! kernel_untouched arch/x86/kvm/x86.c &&
   ! kernel_untouched tools/testing/selftests/kvm/a.c include/uapi/linux/kvm.h &&
   ! kernel_untouched; then
	ok "kernel_untouched: only tools/testing/ and Documentation/ skip the kernel builds"
else
	notok "kernel_untouched classifies a change wrongly"
fi

# make send: never under the project's identity.
if GIT_CONFIG_COUNT=2 GIT_CONFIG_KEY_0=user.name GIT_CONFIG_VALUE_0="$PROJECT_NAME" \
   GIT_CONFIG_KEY_1=user.email GIT_CONFIG_VALUE_1="$PROJECT_EMAIL" \
   POSTING=fixes SEND=1 sh "$TOP/scripts/send.sh" > "$tmp/send.log" 2>&1; then
	notok "send.sh SEND=1 went ahead under the project's identity"
elif grep -q 'refusing to send' "$tmp/send.log"; then
	ok "send.sh refuses to send under the project's identity"
else
	notok "send.sh failed for another reason: $(tail -n 2 "$tmp/send.log")"
fi

# make send: one posting at a time, named.
if sh "$TOP/scripts/send.sh" > "$tmp/send.log" 2>&1; then
	notok "send.sh without POSTING= went ahead"
elif grep -q 'which posting? POSTING=NAME, one of: fixes' "$tmp/send.log"; then
	ok "send.sh without POSTING= names the postings"
else
	notok "send.sh without POSTING=: $(tail -n 2 "$tmp/send.log")"
fi

# A reroll: with fixes kept as sent (v1), export writes fixes as v2 with a
# range-diff, the other postings as they were; send.sh refuses v2 without
# its "Changes in v2" section; postings-check.sh says the same; and the
# export is byte-identical after a round trip through git am.
SENT_DIR=$tmp/sent
export SENT_DIR
mkdir -p "$SENT_DIR/fixes/v1"
cp "$TOP"/series/fixes/*.patch "$SENT_DIR/fixes/v1/"
FORCE=1 sh "$TOP/scripts/tree.sh" linux-7.3 "$TOP/series" "$rt" > "$tmp/tree.log" 2>&1 &&
	sh "$TOP/scripts/export.sh" "$rt" "$tmp/v2" "$tmp/v2-standins" > "$tmp/export.log" 2>&1 ||
	{ cat "$tmp/tree.log" "$tmp/export.log"; die "tree.sh or export.sh for the reroll failed"; }
c=$tmp/v2/fixes/v2-0000-cover-letter.patch
if [ -r "$c" ] && grep -q '^Subject: \[PATCH v2 0/' "$c" && grep -q '^Range-diff against v1:' "$c" &&
   [ -r "$tmp/v2/abi/0000-cover-letter.patch" ]; then
	ok "export writes a sent posting as v2 with a range-diff, the others as v1"
else
	notok "export after sent/fixes/v1: $(ls "$tmp/v2/fixes" | head -n 2 | paste -sd' ')"
fi
if SERIES_DIR=$tmp/v2 POSTING=fixes sh "$TOP/scripts/send.sh" > "$tmp/send.log" 2>&1; then
	notok "send.sh prepared v2 without a \"Changes in v2\" section"
elif grep -q 'no "Changes in v2" section' "$tmp/send.log"; then
	ok "send.sh refuses a v2 without its \"Changes in v2\" section"
else
	notok "send.sh on v2: $(tail -n 2 "$tmp/send.log")"
fi
if sh "$TOP/scripts/postings-check.sh" "$tmp/v2" > "$tmp/pc.log" 2>&1; then
	notok "postings-check.sh passed a v2 without \"Changes in v2\""
elif grep -q 'fixes: version 2 without a "Changes in v2" section' "$tmp/pc.log"; then
	ok "postings-check.sh fails a v2 without \"Changes in v2\""
else
	notok "postings-check.sh on v2: $(tail -n 2 "$tmp/pc.log")"
fi
FORCE=1 AM_MEMO=0 sh "$TOP/scripts/tree.sh" linux-7.3 "$tmp/v2" "$rt" > "$tmp/tree.log" 2>&1 &&
	sh "$TOP/scripts/export.sh" "$rt" "$tmp/v2again" "$tmp/v2again-standins" > "$tmp/export.log" 2>&1 ||
	{ cat "$tmp/tree.log" "$tmp/export.log"; die "the reroll's round trip failed"; }
if diff -r "$tmp/v2" "$tmp/v2again" > "$tmp/v2.diff"; then
	ok "a v2 with its range-diff survives a round trip byte for byte"
else
	notok "the v2 changed in a round trip: $(head -n 5 "$tmp/v2.diff" | paste -sd' ')"
fi
unset SENT_DIR

# Stand-ins: applied right before their posting, never part of it.
all=$(series_patches "$TOP/series")
tail=$(echo "$all" | grep -A1 -F "/testing/tdx-standin/" | tail -n 1)
n=$(grep -c '^prerequisite-patch-id: ' "$TOP/series/tdx-tests/0000-cover-letter.patch")
want=$( (dir_patches "$TOP/series/fixes"; dir_patches "$TOP/series/abi") | wc -l)
if [ "$(standin_of tdx-tests)" = tdx-standin ] && [ "${tail#"$TOP"/series/}" != "$tail" ] &&
   [ "$(basename "$(dirname "$tail")")" = tdx-tests ] && [ "$n" -eq "$want" ]; then
	ok "the stand-in applies right before tdx-tests, and its prerequisites are fixes and abi only ($n)"
else
	notok "stand-in order or prerequisites: after it $tail; $n prerequisites, $want wanted"
fi

# A stand-in that is missing fails the series, naming it, and leaves the
# tree as it was.
head=$(git -C "$rt" rev-parse HEAD)
printf 'tdx-tests\tno-such-stand-in\n' > "$tmp/stand-ins"
if STANDINS=$tmp/stand-ins FORCE=1 AM_MEMO=0 sh "$TOP/scripts/tree.sh" linux-7.3 "$TOP/series" "$rt" \
	> "$tmp/tree.log" 2>&1; then
	notok "tree.sh applied tdx-tests without its stand-in"
elif grep -q 'testing/no-such-stand-in for tdx-tests, which has no patches' "$tmp/tree.log" &&
     [ "$(git -C "$rt" rev-parse HEAD)" = "$head" ]; then
	ok "a missing stand-in fails tree.sh, named, and the tree stays as it was"
else
	notok "a missing stand-in: $(head -n 2 "$tmp/tree.log" | paste -sd' ')"
fi

# postings-check.sh: prerequisites that are not the earlier patches fail.
cp -r "$TOP/series" "$tmp/noprereq"
sed -i '/^prerequisite-patch-id: /d' "$tmp/noprereq/abi/0000-cover-letter.patch"
if sh "$TOP/scripts/postings-check.sh" "$tmp/noprereq" > "$tmp/pc.log" 2>&1; then
	notok "postings-check.sh passed a posting without its prerequisite-patch-id lines"
else
	ok "postings-check.sh fails a posting without its prerequisite-patch-id lines"
fi

exit $bad

#!/bin/sh
# Read every KTAP file the runner's tests produced with the kernel's own
# tools/testing/kunit/kunit_parser.py and compare what it counts with the
# mapping in runner/README.md ("KTAP").
#
# usage: runner-ktap-check.sh [KUNIT [ARTIFACTS]]
#   KUNIT      the directory holding kunit_parser.py (a tree's
#              tools/testing/kunit), or a kernel git repository (bare or
#              not) to take tools/testing/kunit from, at $KUNIT_REV (default
#              "base"); default $KUNIT_DIR
#   ARTIFACTS  where the runner's ctest left its KTAP files (NAME.ktap, and
#              NAME.expect with the counts the mapping gives); default
#              $KTAP_ARTIFACTS, else build/runner/ktap-artifacts, which
#              scripts/runner-check.sh fills
#
# For every file: it must be UTF-8 text without control characters;
# kunit_parser must parse it, see as many tests as its plan
# says, and count every test whose line is "not ok" (FAIL, TIMEOUT, CRASH,
# ERROR) as failed or crashed, so that no run with a failure reads as a
# success; a test without results of its own must count as exactly one
# passed (PASS, XFAIL) or skipped (SKIP).  Where NAME.expect exists, the
# counts of every test and of the whole file must be the expected ones.
# Exit status: 0 all as expected, 1 a mismatch, 2 nothing to check.
set -eu
cd "$(dirname "$0")/.."

kunit=${1:-${KUNIT_DIR:-}}
artifacts=${2:-${KTAP_ARTIFACTS:-build/runner/ktap-artifacts}}
if [ -z "$kunit" ]; then
    echo "usage: $0 KUNIT_DIR|KERNEL_GIT_DIR [ARTIFACTS_DIR]" >&2
    exit 2
fi

tmp=
trap '[ -z "$tmp" ] || rm -rf "$tmp"' EXIT INT TERM
gitdir=
if [ ! -f "$kunit/kunit_parser.py" ]; then
    if [ -d "$kunit/.git" ]; then
        gitdir=$kunit/.git
    elif git --git-dir="$kunit" rev-parse --git-dir >/dev/null 2>&1; then
        gitdir=$kunit
    fi
fi
if [ -n "$gitdir" ]; then
    rev=${KUNIT_REV:-base}
    tmp=$(mktemp -d)
    if ! git --git-dir="$gitdir" archive "$rev" tools/testing/kunit | tar -x -C "$tmp"; then
        echo "runner-ktap-check: cannot take tools/testing/kunit from $kunit at $rev" >&2
        exit 2
    fi
    echo "runner-ktap-check: kunit_parser.py of $kunit at $rev"
    kunit=$tmp/tools/testing/kunit
fi
if [ ! -f "$kunit/kunit_parser.py" ]; then
    echo "runner-ktap-check: no kunit_parser.py in $kunit" >&2
    exit 2
fi
if ! ls "$artifacts"/*.ktap >/dev/null 2>&1; then
    echo "runner-ktap-check: no KTAP files in $artifacts: run scripts/runner-check.sh first" >&2
    exit 2
fi

python3 - "$kunit" "$artifacts" <<'EOF'
import glob
import io
import os
import sys

kunit_dir, artifacts = sys.argv[1], sys.argv[2]
sys.path.insert(0, kunit_dir)
import kunit_parser as kp  # noqa: E402
import kunit_printer  # noqa: E402

FIELDS = ('passed', 'failed', 'crashed', 'skipped', 'errors')


def counts(test):
    return tuple(getattr(test.counts, f) for f in FIELDS)


def show(c):
    return ' '.join(f'{f}:{n}' for f, n in zip(FIELDS, c))


def check(path):
    problems = []
    log = io.StringIO()
    with open(path, 'rb') as f:
        raw = f.read()
    try:
        text = raw.decode('utf-8', errors='strict')
    except UnicodeDecodeError as e:
        return [f'not valid UTF-8: {e}'], None
    controls = sorted({f'U+{ord(ch):04X}' for ch in text
                       if (ord(ch) < 0x20 and ch != '\n') or 0x7f <= ord(ch) < 0xa0})
    if controls:
        problems.append('control characters in the file: ' + ' '.join(controls))
    lines = text.splitlines()
    try:
        main = kp.parse_run_tests(lines, kunit_printer.Printer(print=True, output=log))
    except Exception as e:  # the parser must not crash on our KTAP
        return [f'kunit_parser raised {type(e).__name__}: {e}'], None
    if main.status == kp.TestStatus.FAILURE_TO_PARSE_TESTS:
        return ['kunit_parser found no KTAP'], None
    if main.expected_count != len(main.subtests):
        problems.append(f'plan 1..{main.expected_count} but kunit_parser saw {len(main.subtests)} tests')
    any_failed = False
    for t in main.subtests:
        bad = t.status in (kp.TestStatus.FAILURE, kp.TestStatus.TEST_CRASHED)
        c = t.counts
        if bad:
            any_failed = True
            if c.failed + c.crashed == 0:
                problems.append(f'{t.name}: "not ok" but counted {show(counts(t))}')
        elif not t.subtests and counts(t) not in ((1, 0, 0, 0, 0), (0, 0, 0, 1, 0)):
            problems.append(f'{t.name}: "ok" without results of its own but counted {show(counts(t))}')
    if any_failed and main.status not in (kp.TestStatus.FAILURE, kp.TestStatus.TEST_CRASHED):
        problems.append(f'a test failed but the file reads as {main.status.name}')

    expect = path[:-len('.ktap')] + '.expect'
    if os.path.exists(expect):
        by_name = {}
        for t in main.subtests:
            by_name.setdefault(t.name, counts(t))
        with open(expect, encoding='utf-8') as f:
            for line in f.read().splitlines():
                name, *nums = line.split('\t')
                want = tuple(int(n) for n in nums)
                got = counts(main) if name == 'TOTAL' else by_name.get(name)
                if got is None:
                    problems.append(f'{name}: not in the file as kunit_parser reads it')
                elif got != want:
                    problems.append(f'{name}: kunit_parser counts {show(got)}, the mapping says {show(want)}')
    if problems and log.getvalue():
        problems.append('kunit_parser said:\n    ' + log.getvalue().rstrip().replace('\n', '\n    '))
    return problems, main


files = sorted(glob.glob(os.path.join(artifacts, '*.ktap')))
bad = 0
# The files with expected counts that ctest must have left: a case that
# stopped writing its file must not pass unnoticed.
for name in ('Issue17.P3_all_categories', 'Issue17More.R1_hash_after_directive',
             'Issue17More.R3_supervisor_lost'):
    if not os.path.exists(os.path.join(artifacts, name + '.expect')):
        bad += 1
        print(f'FAIL {name}.ktap: missing (its ctest case did not write it)')
expected = 0
for path in files:
    name = os.path.basename(path)
    has_expect = os.path.exists(path[:-len('.ktap')] + '.expect')
    expected += has_expect
    problems, main = check(path)
    if problems:
        bad += 1
        print(f'FAIL {name}')
        for p in problems:
            print(f'  {p}')
    else:
        what = 'counts as the mapping says' if has_expect else 'no false green'
        print(f'ok   {name}: {main.status.name}, {main.counts}; {what}')
if expected == 0:
    print('runner-ktap-check: no NAME.expect file: nothing compared with the mapping')
    sys.exit(1)
print(f'runner-ktap-check: {len(files)} KTAP files, {expected} with expected counts, {bad} failed')
sys.exit(1 if bad else 0)
EOF

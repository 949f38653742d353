#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Check the KUnit KTAP of a console log with the kernel's own parser.

usage: ktap-check.py KUNIT_DIR CONSOLE_LOG CASES_OUT
       ktap-check.py KUNIT_DIR --selftest

KUNIT_DIR is the tree's tools/testing/kunit (its kunit_parser module is
used).  Only the console up to the initramfs' first "@@inkernel" line is
parsed: built-in suites run before init, and the selftests that run later
print TAP of their own.

Writes one line per case to CASES_OUT ("STATUS<TAB>suite.case<TAB>note")
and a summary as the last line of stdout.  Exit status:
  0  every declared case ran, and passed or skipped
  1  a case failed or crashed, fewer cases ran than a plan declares, the
     parser reported an error, or there is no KTAP at all
  77 KUnit ran and its plan declares 0 suites: nothing to check

--selftest feeds synthetic consoles (a failing case, a short plan, a
crash, no KTAP, an empty plan, a good run) through the same check and
exits 0 only when each one gets the verdict it must get.
"""

import inspect
import io
import os
import sys

MARK = '@@inkernel'
NOTHING = 77


def load_parser(kunit_dir):
    sys.path.insert(0, kunit_dir)
    import kunit_parser  # pylint: disable=import-outside-toplevel
    import kunit_printer  # pylint: disable=import-outside-toplevel
    return kunit_parser, kunit_printer


def kunit_part(lines):
    """The console before our init printed anything."""
    for i, line in enumerate(lines):
        if MARK in line:
            return lines[:i]
    return lines


def check(kp, kprint, lines, cases_out, log):
    """Return (status, summary); write per-case lines to cases_out."""
    if len(inspect.signature(kp.parse_run_tests).parameters) >= 2:
        printer = kprint.Printer(print=True, output=log)
        top = kp.parse_run_tests(kunit_part(lines), printer)
    else:
        # Older parsers (Linux 6.12) print through the module's stdout.
        kp.stdout = kprint.Printer(log)
        top = kp.parse_run_tests(kunit_part(lines))
    if top.status == kp.TestStatus.FAILURE_TO_PARSE_TESTS:
        return 1, 'no KTAP output on the console: KUnit did not run (or the kernel died first)'
    if top.expected_count == 0 and not top.subtests:
        return NOTHING, '0 KUnit suites ran: the KTAP plan declares 0 (no suite is built in)'

    problems = []
    counts = {'pass': 0, 'FAIL': 0, 'skip': 0}

    def walk(test, path):
        name = '.'.join(path)
        # KUnit prints no plan for the parameters of a parameterized case
        # (Linux 6.12); the suite's plan still counts the case itself.
        if test.expected_count is None and test.subtests and len(path) < 2:
            problems.append(f'{name or "top"}: no KTAP plan')
        if test.expected_count and len(test.subtests) < test.expected_count:
            problems.append(f'{name or "top"}: {len(test.subtests)} of '
                            f'{test.expected_count} declared subtests ran')
        if not test.subtests and path:
            st = test.status
            if st == kp.TestStatus.SUCCESS:
                tag, note = 'pass', ''
            elif st == kp.TestStatus.SKIPPED:
                tag, note = 'skip', getattr(test, 'skip_reason', '') or ''
            else:
                why = [l.strip() for l in test.log
                       if 'FAILED at' in l or 'ASSERTION' in l or 'EXPECTATION' in l]
                tag, note = 'FAIL', st.name + (': ' + why[0] if why else '')
                problems.append(f'{name}: {st.name}')
            counts[tag] += 1
            cases_out.write(f'{tag}\t{name}\t{note}\n')
            return
        for i, sub in enumerate(test.subtests, 1):
            walk(sub, path + [sub.name or f'(missing subtest {i})'])

    walk(top, [])
    if top.counts.errors:
        problems.append(f'the KTAP parser reported {top.counts.errors} error(s)')
    if top.status not in (kp.TestStatus.SUCCESS, kp.TestStatus.SKIPPED):
        problems.append(f'overall status {top.status.name}')
    summary = (f'{len(top.subtests)} suite(s) of {top.expected_count} declared, '
               f'{sum(counts.values())} case(s): {counts["pass"]} passed, '
               f'{counts["FAIL"]} failed, {counts["skip"]} skipped')
    if problems:
        for p in problems:
            log.write(f'PROBLEM: {p}\n')
        return 1, summary + '; ' + '; '.join(problems[:3])
    return 0, summary


def selftest(kp, kprint):
    pre = '[    1.000000] '
    good = ['KTAP version 1', '1..1', '    KTAP version 1', '    # Subtest: s',
            '    1..2', '    ok 1 a', '    ok 2 b # SKIP no hardware', 'ok 1 s']
    cases = {
        'good run': (good, 0),
        'failing case': (good[:5] + ['    not ok 1 a', '    ok 2 b', 'not ok 1 s'], 1),
        'short plan': (good[:5] + ['    ok 1 a', 'ok 1 s'], 1),
        'suite missing': (['KTAP version 1', '1..2'] + good[2:], 1),
        'crash mid-suite': (good[:6] + ['BUG: kernel NULL pointer dereference'], 1),
        'no KTAP': (['Linux version 7.3.4'], 1),
        'empty plan': (['KTAP version 1', '1..0'], NOTHING),
        'selftest TAP after init ignored': (
            good + ['@@inkernel init-start 1.0', 'TAP version 13', '1..1', 'not ok 1 x'], 0),
    }
    bad = 0
    for what, (lines, want) in cases.items():
        log = io.StringIO()
        got, summary = check(kp, kprint, [pre + l for l in lines], io.StringIO(), log)
        ok = got == want
        bad += not ok
        print(f'{"ok" if ok else "WRONG"}: {what}: exit {got} (want {want}): {summary}')
    return 1 if bad else 0


def main(argv):
    if len(argv) == 3 and argv[2] == '--selftest':
        kp, kprint = load_parser(argv[1])
        return selftest(kp, kprint)
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 1
    kp, kprint = load_parser(argv[1])
    with open(argv[2], errors='replace') as f:
        lines = f.read().splitlines()
    with open(argv[3], 'w') as cases_out:
        status, summary = check(kp, kprint, lines, cases_out, sys.stdout)
    print(summary)
    return status


if __name__ == '__main__':
    sys.exit(main(sys.argv))

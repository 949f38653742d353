#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Check the KUnit results of an in-kernel test guest with the kernel's parser.

usage: ktap-check.py KUNIT_DIR CHANNEL SUITES RESULTS_DIR CASES_OUT [CONSOLE]
       ktap-check.py KUNIT_DIR --selftest

KUNIT_DIR is the tree's tools/testing/kunit (its kunit_parser module is
used).  CHANNEL is what the guest's /init wrote to its second serial port,
where nothing else writes: each suite's KTAP document, copied whole from
/sys/kernel/debug/kunit/SUITE/results (KUNIT_DEBUGFS), framed by

    @@kunit-results-begin
    @@suite-begin SUITE
    ...the results file...
    @@suite-end SUITE LINES
    @@kunit-results-end COUNT

SUITES lists, one a line ("#" starts a comment), the suites the image must
run: debugfs only shows suites that ran, so a suite that is missing there
and one that is not listed both fail.  Each document is written to
RESULTS_DIR/SUITE.ktap and parsed on its own; CASES_OUT gets one line per
case ("STATUS<TAB>suite.case<TAB>note").  CONSOLE (the kernel's console,
which warnings and other CPUs' output interleave) is only read to say why
the channel is incomplete; its KTAP decides nothing.

The summary is the last line of stdout.  Exit status:
  0  every listed suite ran, every declared case ran, and passed or skipped
  1  anything else: a failed or crashed case, a short plan, a parser error,
     a missing or unlisted suite, or a channel without its end (the kernel
     or /init died before the results were copied)
  77 the list is empty or absent and no suite ran: nothing to check

--selftest feeds synthetic channels and consoles through the same check
and exits 0 only when each one gets the verdict it must get.
"""

import inspect
import io
import os
import re
import sys

NOTHING = 77
BAD_KERNEL = re.compile(r'Kernel panic|BUG:|Oops|general protection fault|'
                        r'WARNING:|Unable to mount root|Kernel Offset')


def load_parser(kunit_dir):
    sys.path.insert(0, kunit_dir)
    import kunit_parser  # pylint: disable=import-outside-toplevel
    import kunit_printer  # pylint: disable=import-outside-toplevel
    return kunit_parser, kunit_printer


def parse(kp, kprint, lines, log):
    """Parse one KTAP document with the kernel's parser."""
    if len(inspect.signature(kp.parse_run_tests).parameters) >= 2:
        return kp.parse_run_tests(lines, kprint.Printer(print=True, output=log))
    # Older parsers (Linux 6.12) print through the module's stdout.
    kp.stdout = kprint.Printer(log)
    return kp.parse_run_tests(lines)


def check_document(kp, kprint, suite, lines, cases_out, log):
    """Check one suite's results document; return (problems, counts)."""
    counts = {'pass': 0, 'FAIL': 0, 'skip': 0}
    top = parse(kp, kprint, lines, log)
    if top.status == kp.TestStatus.FAILURE_TO_PARSE_TESTS:
        return [f'{suite}: its results file is not KTAP'], counts
    problems = []
    if len(top.subtests) != 1 or top.subtests[0].name != suite:
        names = [t.name for t in top.subtests]
        problems.append(f'{suite}: the document holds {names}, not the suite')

    def walk(test, path):
        name = '.'.join(path)
        # KUnit prints no plan for the parameters of a parameterized case
        # (Linux 6.12); the suite's plan still counts the case itself.
        if test.expected_count is None and test.subtests and len(path) < 2:
            problems.append(f'{name or suite}: no KTAP plan')
        if test.expected_count and len(test.subtests) < test.expected_count:
            problems.append(f'{name or suite}: {len(test.subtests)} of '
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
        problems.append(f'{suite}: the KTAP parser reported {top.counts.errors} error(s)')
    if top.status not in (kp.TestStatus.SUCCESS, kp.TestStatus.SKIPPED):
        problems.append(f'{suite}: overall status {top.status.name}')
    return problems, counts


def split_channel(lines):
    """The framed documents of the channel: ({suite: lines}, problems, ended)."""
    docs, problems = {}, []
    ended = begun = False
    cur = None
    for line in lines:
        if line.startswith('@@kunit-results-begin'):
            begun = True
        elif line.startswith('@@suite-begin '):
            if cur is not None:
                problems.append(f'{cur}: no end line')
            cur = line.split(None, 1)[1].strip()
            if cur in docs:
                problems.append(f'{cur}: copied twice')
            docs[cur] = []
        elif line.startswith('@@suite-end '):
            f = line.split()
            if cur is None or len(f) != 3 or f[1] != cur:
                problems.append(f'channel: unmatched "{line.strip()}"')
            elif not f[2].isdigit() or int(f[2]) != len(docs[cur]):
                problems.append(f'{cur}: {len(docs[cur])} lines arrived, '
                                f'the guest sent {f[2]}')
            cur = None
        elif line.startswith('@@kunit-results-end '):
            f = line.split()
            if cur is not None:
                problems.append(f'{cur}: no end line')
            if len(f) != 2 or not f[1].isdigit() or int(f[1]) != len(docs):
                problems.append(f'channel: {len(docs)} suites arrived, the guest '
                                f'sent {f[1:] or "?"}')
            ended = True
            cur = None
        elif cur is not None:
            docs[cur].append(line)
        elif line.strip():
            problems.append(f'channel: a line outside any suite: {line.strip()[:60]}')
    return docs, problems, begun and ended


def why_incomplete(console):
    """The console's last word on why the guest stopped, if it has one."""
    bad = [l.strip() for l in console if BAD_KERNEL.search(l)]
    if bad:
        return f'; the console says: {bad[0][:100]}'
    if console:
        return f'; the console ends with: {console[-1].strip()[:100]}'
    return '; the console is empty'


def check(kp, kprint, channel, wanted, results_dir, cases_out, log, console=None):
    """Return (status, summary).  channel: lines; wanted: suite names or None."""
    docs, problems, ended = split_channel(channel)
    if not ended:
        what = ('no KUnit results arrived: the kernel or /init died before they were copied'
                if not channel else
                'the KUnit results stop half-way: the kernel or /init died while copying them')
        return 1, what + why_incomplete(console or [])
    if not wanted and not docs:
        return NOTHING, '0 KUnit suites ran and none is listed: nothing to check'

    counts = {'pass': 0, 'FAIL': 0, 'skip': 0}
    for suite in sorted(wanted or []):
        if suite not in docs:
            problems.append(f'{suite}: listed, but it did not run (no debugfs results)')
    for suite in sorted(docs):
        if wanted is not None and suite not in wanted:
            problems.append(f'{suite}: ran, but it is not in the list of suites')
        if results_dir:
            safe = re.sub(r'[^A-Za-z0-9_.-]', '_', suite)
            with open(os.path.join(results_dir, safe + '.ktap'), 'w') as f:
                f.write(''.join(l + '\n' for l in docs[suite]))
        p, c = check_document(kp, kprint, suite, docs[suite], cases_out, log)
        problems += p
        for k in counts:
            counts[k] += c[k]

    summary = (f'{len(docs)} suite(s) of {len(wanted or [])} listed, '
               f'{sum(counts.values())} case(s): {counts["pass"]} passed, '
               f'{counts["FAIL"]} failed, {counts["skip"]} skipped')
    if problems:
        for p in problems:
            log.write(f'PROBLEM: {p}\n')
        more = f' (+{len(problems) - 3} more)' if len(problems) > 3 else ''
        return 1, summary + '; ' + '; '.join(problems[:3]) + more
    return 0, summary


def read_list(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return {l.split('#', 1)[0].strip() for l in f} - {''}


def selftest(kp, kprint):
    def suite(name, *cases):
        body = ['KTAP version 1', '1..1', '    KTAP version 1', f'    # Subtest: {name}',
                f'    1..{len(cases)}']
        body += ['    ' + c for c in cases]
        fail = any(c.startswith('not ok') for c in cases)
        return body + [f'{"not ok" if fail else "ok"} 1 {name}']

    def channel(*docs, count=None, cut=None):
        out = ['@@kunit-results-begin']
        for name, body in docs:
            out += [f'@@suite-begin {name}'] + body + [f'@@suite-end {name} {len(body)}']
        out.append(f'@@kunit-results-end {len(docs) if count is None else count}')
        return out[:cut] if cut else out

    a = ('a', suite('a', 'ok 1 x', 'ok 2 y # SKIP no hardware'))
    b = ('b', suite('b', 'ok 1 z'))
    good = channel(a, b)
    # What made the old console check flaky: another CPU's line in the
    # middle of a suite header.  The console decides nothing now.
    interleaved = ['[    1.0] KTAP version 1', '[    1.0] 1..2',
                   '[    1.0]     KTAP version 1[    1.1] kvm_amd: Nested Paging enabled',
                   '[    1.2]     1..2', '@@inkernel init-start 1.3']
    died = ['[    1.0] KTAP version 1', '[    1.1] BUG: kernel NULL pointer dereference',
            '[    1.1] Kernel panic - not syncing: Fatal exception']
    cases = {
        'good run, interleaved console': (good, {'a', 'b'}, interleaved, 0),
        'failing case': (channel(a, ('b', suite('b', 'not ok 1 z'))), {'a', 'b'}, [], 1),
        'short plan': (channel(a, ('b', suite('b', 'ok 1 z')[:4] + ['    1..2', '    ok 1 z',
                                                                  'ok 1 b'])),
                       {'a', 'b'}, [], 1),
        'listed suite missing': (channel(a), {'a', 'b'}, [], 1),
        'suite not listed': (good, {'a'}, [], 1),
        'kernel died before init': ([], {'a', 'b'}, died, 1),
        # The console's KTAP is never a fallback for a missing channel.
        'no channel, interleaved console with whole KTAP': (
            [], {'a', 'b'}, interleaved + ['[    1.4] ok 1 a', '[    1.5] ok 2 b'], 1),
        'channel cut mid-suite': (good[:5], {'a', 'b'}, [], 1),
        'lines lost in a suite': (good[:4] + good[5:], {'a', 'b'}, [], 1),
        'end line lost before the next suite': (
            [l for l in good if not l.startswith('@@suite-end a')], {'a', 'b'}, [], 1),
        'suite count differs': (channel(a, b, count=3), {'a', 'b'}, [], 1),
        'document that is not KTAP': (channel(('a', ['garbage'])), {'a'}, [], 1),
        'nothing listed, nothing ran': (channel(), None, [], NOTHING),
        'nothing ran, but suites listed': (channel(), {'a'}, [], 1),
    }
    bad = 0
    for what, (chan, wanted, console, want) in cases.items():
        got, summary = check(kp, kprint, chan, wanted, None, io.StringIO(), io.StringIO(),
                             console)
        ok = got == want
        bad += not ok
        print(f'{"ok" if ok else "WRONG"}: {what}: exit {got} (want {want}): {summary}')
    return 1 if bad else 0


def main(argv):
    if len(argv) == 3 and argv[2] == '--selftest':
        kp, kprint = load_parser(argv[1])
        return selftest(kp, kprint)
    if len(argv) not in (6, 7):
        sys.stderr.write(__doc__)
        return 1
    kp, kprint = load_parser(argv[1])
    channel = []
    if os.path.exists(argv[2]):
        with open(argv[2], errors='replace') as f:
            channel = f.read().replace('\r', '').splitlines()
    wanted = read_list(argv[3])
    console = []
    if len(argv) == 7 and os.path.exists(argv[6]):
        with open(argv[6], errors='replace') as f:
            console = f.read().splitlines()
    os.makedirs(argv[4], exist_ok=True)
    with open(argv[5], 'w') as cases_out:
        status, summary = check(kp, kprint, channel, wanted, argv[4], cases_out,
                                sys.stdout, console)
    print(summary)
    return status


if __name__ == '__main__':
    sys.exit(main(sys.argv))

// The per-test supervisor: a small process between the runner and a test.
//
// The runner starts it as "<runner> __supervise PPID CGROUP SETTLE_MS
// PROGRAM ARGS..." (CGROUP is "-" without one) with fd 0 /dev/null, fds 1
// and 2 the test's output pipes, fd 3 a socket for the runner's commands and
// fd 4 a pipe for its reports.  It
//  - is a child subreaper, so whatever the test's processes leave behind
//    (a daemon that double-forks and calls setsid(), say) is re-parented to
//    it and stays countable;
//  - starts the test in a session of its own and, given a cgroup, moves it
//    there before exec;
//  - reports "started PID MODE", "exit CODE" or "signal SIG CORE" when the
//    test's main process ends, then waits up to SETTLE_MS for the rest of
//    the test's processes to end by themselves; what is still alive then is
//    reported ("leftover N DESC...") and killed (cgroup.kill and SIGKILL to
//    every descendant, until none is left), and it ends with "done";
//  - obeys "T" (SIGTERM to the test's process group and every process of the
//    test) and "K" (kill them all) from the runner;
//  - when the runner dies (PR_SET_PDEATHSIG, or end of file on fd 3, however
//    the runner ended, SIGKILL included), kills everything of the test,
//    removes its cgroup and exits.
#pragma once

namespace kvmsr {

inline constexpr const char* kSuperviseArg = "__supervise";

// main() of the supervisor; argv[1] is kSuperviseArg.
int supervise_main(int argc, char** argv);

}  // namespace kvmsr

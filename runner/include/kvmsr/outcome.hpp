// Turning what a test did (exit status, output, TAP) into one verdict.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kvmsr/ktap.hpp"
#include "kvmsr/process.hpp"
#include "kvmsr/suite.hpp"

namespace kvmsr {

// XFAIL: the test exited with kselftest's KSFT_XFAIL (2), a failure it
// expected; like PASS and SKIP it does not fail the run.
enum class Status { Pass, Xfail, Skip, Fail, Timeout, Crash, Error };

const char* status_name(Status s);  // "PASS", "XFAIL", "SKIP", "FAIL", "TIMEOUT", "CRASH", "ERROR"
bool is_failure(Status s);          // everything but Pass, Xfail and Skip

struct Outcome {
    std::string name;
    std::string path;
    Status status = Status::Error;
    std::string reason;                // one line: why it failed / skipped; empty for a clean pass
    std::vector<std::string> notes;    // secondary facts (truncation, leftovers, TAP oddities)
    std::optional<int> exit_code;
    std::optional<int> signal;
    double seconds = 0;
    double timeout_s = 0;              // the timeout the test ran with
    bool ran = false;                  // a process was started
    bool truncated = false;
    std::string isolation;             // "cgroup" or "subreaper" (tests that ran)
    int leftover_processes = 0;        // still alive after the test ended; killed
    std::vector<std::string> leftovers;  // "sleep (pid 1234)"
    std::size_t out_bytes = 0, err_bytes = 0;
    std::string out, err;              // captured (possibly truncated) text
    std::string stdout_file, stderr_file;  // where -o DIR put them
    std::vector<std::string> args;     // the arguments it ran with (test-case files)
    std::string testcase;              // its test-case file
    KtapDoc ktap;                      // parsed from stdout
};

// kselftest exit codes: 0 pass, 4 skip, anything else fails.  TAP printed by
// the test can turn an exit-0 into a failure (not ok / bail out / Totals
// fail>0 / plan not met) but never a failure into a pass.
Outcome classify(const PlannedTest& test, const ProcessResult& pr);

// For tests that could not be started (not built, not found, ...).
Outcome outcome_for_problem(const PlannedTest& test);

// For tests never started because the run was interrupted.
Outcome outcome_not_run(const PlannedTest& test, const std::string& why);

std::string signal_name(int sig);  // "SIGSEGV"

// The most telling line of a failed test's free-text output (KVM selftest
// assertion block, else the last non-empty line), at most `max` chars.
std::string failure_line(const std::string& out, const std::string& err, std::size_t max = 240);

}  // namespace kvmsr

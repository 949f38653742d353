// Runs a planned set of tests, up to N at a time, with progress output.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "kvmsr/outcome.hpp"
#include "kvmsr/suite.hpp"

namespace kvmsr {

struct RunOptions {
    int jobs = 1;
    std::chrono::milliseconds timeout{120'000};
    std::chrono::milliseconds kill_grace{2'000};
    std::size_t output_cap = 4u << 20;
    std::vector<std::string> env_extra;  // "KEY=VALUE" added to the clean environment
    std::string cgroup_root;             // Isolation::cgroup_root; empty: subreaper only
    bool live = false;                   // redraw a status line (stdout is a terminal)
    bool quiet = false;                  // no progress output at all
    std::FILE* progress = stdout;
    // Every `heartbeat`, a line naming each test still running (0: never).
    std::chrono::milliseconds heartbeat{60'000};
    // Where each test's stdout and stderr go (NAME.stdout, NAME.stderr); empty: nowhere.
    std::string output_dir;
};

// Errors of the run that are not a test's: output files that could not be
// written.  Filled by run_tests().
struct RunProblems {
    std::vector<std::string> write_errors;
};

// The file below `dir` for a test's output: its name with every path
// component made safe ("." and ".." and control bytes replaced), so that a
// name cannot point outside `dir`.
std::string output_path(const std::string& dir, const std::string& name, const char* ext);

// Outcomes in plan order.  `cancel` (may be null) stops the run: running
// tests are killed, the rest are reported as not run.
std::vector<Outcome> run_tests(const std::vector<PlannedTest>& plan, const RunOptions& opt,
                               const std::atomic<bool>* cancel, RunProblems* problems = nullptr);

}  // namespace kvmsr

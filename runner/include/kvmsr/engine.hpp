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
};

// Outcomes in plan order.  `cancel` (may be null) stops the run: running
// tests are killed, the rest are reported as not run.
std::vector<Outcome> run_tests(const std::vector<PlannedTest>& plan, const RunOptions& opt,
                               const std::atomic<bool>* cancel);

}  // namespace kvmsr

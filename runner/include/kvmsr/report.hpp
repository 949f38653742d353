// Reports of a run: console table, JUnit XML, KTAP summary, JSON.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "kvmsr/outcome.hpp"
#include "kvmsr/text.hpp"

namespace kvmsr {

struct RunReport {
    std::string directory;    // the test directory the user gave
    std::string started;      // ISO 8601 local time, e.g. 2026-11-25T22:01:02
    double seconds = 0;       // wall time of the whole run
    std::string hostname;
    std::string kernel;       // uname -r
    int jobs = 1;
    std::string isolation;    // how tests were contained (Isolation::why)
    std::vector<Outcome> outcomes;
};

struct Summary {
    int total = 0, pass = 0, xfail = 0, skip = 0, fail = 0, timeout = 0, crash = 0, error = 0;
    int failures() const { return fail + timeout + crash + error; }
    // Tests ran (or were selected) and every one skipped: nothing was tested.
    bool all_skipped() const { return total > 0 && skip == total; }
};
Summary summarize(const std::vector<Outcome>& outcomes);

// The table printed at the end of `run`: test x result x duration, then the
// skips and the failures with their reasons, then one summary line.
std::string format_table(const RunReport& r);
std::string summary_line(const Summary& s, double seconds);
// "Failed: x86/a (FAIL), b (TIMEOUT)", every failed test named; empty when none failed.
std::string failed_line(const std::vector<Outcome>& outcomes);

// At most `max` code points of display text, "..." marking a cut.
std::string clip_display(const std::string& s, std::size_t max);

std::string to_junit(const RunReport& r);
std::string to_ktap(const RunReport& r);
nlohmann::json to_json(const RunReport& r);

}  // namespace kvmsr

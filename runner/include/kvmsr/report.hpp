// Reports of a run: console table, JUnit XML, KTAP summary, JSON.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "kvmsr/outcome.hpp"

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
    int total = 0, pass = 0, skip = 0, fail = 0, timeout = 0, crash = 0, error = 0;
    int failures() const { return fail + timeout + crash + error; }
};
Summary summarize(const std::vector<Outcome>& outcomes);

// The table printed at the end of `run`: test x result x duration, then the
// skips and the failures with their reasons, then one summary line.
std::string format_table(const RunReport& r);
std::string summary_line(const Summary& s, double seconds);

std::string to_junit(const RunReport& r);
std::string to_ktap(const RunReport& r);
nlohmann::json to_json(const RunReport& r);

// Valid UTF-8 without the control characters XML 1.0 forbids; everything
// else becomes U+FFFD.
std::string xml_safe(std::string_view s);

}  // namespace kvmsr

// KTAP / TAP parser for kselftest output.
//
// Parses the (possibly garbage, truncated or huge) text a selftest printed and
// extracts what TAP it contains: headers, plans, results with directives,
// nested subtests (by indentation, KTAP style), "# Subtest:" names, bail-outs
// and the kselftest "# Totals:" line.  Lines that are not TAP are kept only as
// a count; the parser never throws on bad input.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kvmsr {

// SKIP, TODO, XFAIL, TIMEOUT and ERROR are KTAP's directives (ktap.rst);
// XPASS and kselftest's lower-case "# error" are read too.
enum class Directive { None, Skip, Todo, Xfail, Xpass, Error, Timeout };

std::string_view directive_name(Directive d);

struct KtapResult {
    bool ok = false;
    std::optional<long> number;
    std::string description;
    Directive directive = Directive::None;
    // Text after the directive keyword; without a directive, the diagnostic
    // data after the '#' ("ok 5 check # rcode=0").
    std::string reason;
    std::vector<std::string> diagnostics;  // "# ..." lines seen before the result, same level
    std::vector<KtapResult> subtests;
    std::optional<long> subtest_plan;
    // true when no result line closed this subtest group (output ended or
    // was cut while the subtest was still running).
    bool unterminated = false;

    // A result counts as failed when it says "not ok" (unless it is a SKIP or
    // TODO, which TAP treats as not failing) or carries an ERROR or TIMEOUT
    // directive, or when it is an unterminated group.
    bool failed() const;
    bool skipped() const { return directive == Directive::Skip; }
};

struct KtapTotals {
    long pass = 0, fail = 0, xfail = 0, xpass = 0, skip = 0, error = 0;
    bool operator==(const KtapTotals&) const = default;
};

struct KtapCounts {
    long pass = 0, fail = 0, skip = 0, xfail = 0, xpass = 0, error = 0, todo = 0;
    long total() const { return pass + fail + skip + xfail + xpass + error + todo; }
    bool operator==(const KtapCounts&) const = default;
};

struct KtapDoc {
    std::optional<int> version;   // from "KTAP version N" / "TAP version N"
    bool ktap = false;            // header said KTAP (not TAP)
    std::optional<long> plan;     // top-level "1..N"
    bool plan_skip = false;       // "1..0 # SKIP reason"
    std::string plan_skip_reason;
    std::vector<KtapResult> results;  // top-level results
    std::optional<KtapTotals> totals; // kselftest "# Totals:" at top level
    bool bailed_out = false;
    std::string bail_reason;
    std::size_t lines = 0;            // lines read
    std::size_t tap_lines = 0;        // lines recognised as (K)TAP
    std::size_t malformed_lines = 0;  // lines that start like a result but do not parse
    std::size_t unterminated_groups = 0;
    bool last_line_incomplete = false;  // text did not end with a newline

    bool has_tap() const { return tap_lines > 0; }
    // Leaf results (a result with subtests counts through its subtests).
    KtapCounts leaf_counts() const;
    // Top-level results only.
    KtapCounts top_counts() const;
    // First failed top-level result (depth-first description of where), if any.
    std::optional<std::string> first_failure() const;
    // First skip reason found (plan skip first, then results depth-first).
    std::optional<std::string> first_skip_reason() const;
};

KtapDoc parse_ktap(std::string_view text);

// Parses one "# Totals: pass:N fail:N ..." line body (after the indent).
std::optional<KtapTotals> parse_totals_line(std::string_view line);

// What the top level of a whole output stream says as TAP, counted line by
// line as the bytes arrive: the capture keeps only the beginning and the
// end of a test's output (--output-cap), and the plan check and the search
// for a failure must still see the middle.  Only a line's first 4 KiB is
// looked at.  The rules are parse_ktap's: a result counts only after a
// version line, a plan or a "# Subtest:" line (or, in TAP without a version
// line but with a plan, anywhere: `results_before_header` keeps those).
class TapStreamCounter {
public:
    void feed(const char* data, std::size_t n);
    void finish();  // a last line without a newline

    std::optional<long> plan;        // the first top-level plan
    long results = 0;                // top-level results after a header
    long results_before_header = 0;  // top-level "ok"/"not ok" lines before one
    long failures = 0;               // of `results`, those that fail (KtapResult::failed)
    std::string first_failure;       // the first such line, clipped
    long failures_before_header = 0;  // the same for `results_before_header`
    std::string first_failure_before_header;
    bool version_line = false;

private:
    void line_done();
    std::string line_;
    bool header_ = false;
};

}  // namespace kvmsr

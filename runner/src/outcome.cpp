#include "kvmsr/outcome.hpp"

#include <cctype>
#include <cstring>

#include <fmt/format.h>

namespace kvmsr {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
        s.remove_suffix(1);
    return s;
}

std::vector<std::string_view> lines_of(std::string_view text) {
    std::vector<std::string_view> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        out.push_back(text.substr(pos, nl - pos));
        pos = nl + 1;
    }
    return out;
}

// Printable, single line, bounded.
std::string clip(std::string_view s, std::size_t max) {
    std::string out;
    for (char c : s) {
        unsigned char u = static_cast<unsigned char>(c);
        if (u == '\t') out += ' ';
        else if (u < 0x20 || u == 0x7f) continue;
        else out += c;
    }
    if (out.size() > max) {
        out.resize(max);
        // do not cut a UTF-8 sequence in half
        while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
        if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
        out += "...";
    }
    return out;
}

bool is_runner_marker(std::string_view l) { return l.starts_with("[kvm-selftest-runner:"); }

std::optional<std::string> assertion_line(std::string_view text, std::size_t max) {
    const std::string_view hdr = "==== Test Assertion Failure ====";
    auto at = text.find(hdr);
    if (at == std::string_view::npos) return std::nullopt;
    auto ls = lines_of(text.substr(at + hdr.size()));
    std::string_view where, last;
    bool started = false;
    for (auto l : ls) {
        auto t = trim(l);
        if (t.empty()) {
            if (started) break;
            continue;
        }
        if (is_runner_marker(t)) continue;
        if (!started) {
            where = t;
            started = true;
            continue;
        }
        last = t;
    }
    if (where.empty()) return std::string("test assertion failure");
    std::string msg = "assertion failed: " + std::string(where);
    if (!last.empty() && !last.starts_with("pid=")) msg += " | " + std::string(last);
    return clip(msg, max);
}

std::optional<std::string> last_line(std::string_view text, std::size_t max,
                                     std::string_view must_contain = {}) {
    auto ls = lines_of(text);
    for (auto it = ls.rbegin(); it != ls.rend(); ++it) {
        auto t = trim(*it);
        if (t.empty() || is_runner_marker(t)) continue;
        if (t.starts_with("# Totals:") || t.starts_with("# Planned tests")) continue;
        if (!must_contain.empty() && t.find(must_contain) == std::string_view::npos) continue;
        return clip(t, max);
    }
    return std::nullopt;
}

const char* exit_code_name(int code) {
    switch (code) {
        case 1: return "KSFT_FAIL";
        case 2: return "KSFT_XFAIL";  // with leftovers only: else XFAIL
        case 3: return "KSFT_XPASS";
        case 254: return "KVM TEST_ASSERT";
        default: return nullptr;
    }
}

// What the TAP says against an exit code that claims success/skip.
std::optional<std::string> tap_disagreement(const KtapDoc& k, const ProcessResult& pr) {
    if (k.bailed_out)
        return "TAP bailed out" + (k.bail_reason.empty() ? std::string() : ": " + k.bail_reason);
    if (auto f = k.first_failure()) return "TAP reports " + *f;
    if (k.totals && (k.totals->fail > 0 || k.totals->error > 0))
        return fmt::format("TAP '# Totals' reports fail:{} error:{}", k.totals->fail, k.totals->error);
    if (pr.out_truncated) {
        // The capture lost the middle of stdout; the stream counter saw all
        // of it.  The plan is checked against every top-level result the
        // test printed, and a failure in the dropped part still fails.
        const auto& s = pr.out_tap;
        const bool throughout = !s.version_line && (k.plan || s.plan);  // TAP without a version line
        const long fails = s.failures + (throughout ? s.failures_before_header : 0);
        if (fails > 0) {
            const std::string& line = s.failures > 0 ? s.first_failure : s.first_failure_before_header;
            return fmt::format("TAP reports {} failed result{} in the part of its output that --output-cap "
                               "dropped from the capture: {}",
                               fails, fails == 1 ? "" : "s", line);
        }
        const std::optional<long> plan = k.plan ? k.plan : s.plan;
        const long n = s.results + (throughout ? s.results_before_header : 0);
        if (plan && !k.plan_skip && n != *plan)
            return fmt::format("TAP plan 1..{} but {} result{} in its whole output of {} bytes (counted as it "
                               "arrived; the capture was cut by --output-cap)",
                               *plan, n, n == 1 ? "" : "s", pr.out_bytes);
        return std::nullopt;
    }
    if (k.plan && !k.plan_skip && !k.bailed_out) {
        long n = static_cast<long>(k.results.size());
        if (n < *k.plan)
            return fmt::format("TAP plan 1..{} but only {} result{}", *k.plan, n, n == 1 ? "" : "s");
        if (n > *k.plan) return fmt::format("TAP plan 1..{} but {} results", *k.plan, n);
    }
    return std::nullopt;
}

// "2 processes of the test were still running after it ended: sleep (pid
// 12), sh (pid 13); killed"
std::string leftover_text(const ProcessResult& pr) {
    const int n = pr.leftover_processes;
    std::string names;
    for (const auto& l : pr.leftovers) names += (names.empty() ? "" : ", ") + l;
    return fmt::format("{} process{} of the test {} still running after it ended{}{}; killed", n, n == 1 ? "" : "es",
                       n == 1 ? "was" : "were", names.empty() ? "" : ": ", names);
}

std::string seconds_text(std::chrono::milliseconds ms) {
    if (ms.count() % 1000 == 0) return std::to_string(ms.count() / 1000);
    return fmt::format("{:.1f}", static_cast<double>(ms.count()) / 1000.0);
}

std::optional<std::string> first_xfail_reason(const std::vector<KtapResult>& rs) {
    for (const auto& r : rs) {
        if (r.directive == Directive::Xfail) {
            if (!r.reason.empty()) return r.reason;
            if (!r.description.empty()) return r.description;
        }
        if (auto s = first_xfail_reason(r.subtests)) return s;
    }
    return std::nullopt;
}

std::string join_args(const std::vector<std::string>& args) {
    std::string out;
    for (const auto& a : args) out += (out.empty() ? "" : " ") + a;
    return out;
}

// For a test run with arguments: the line of its output that says it did not
// take them (getopt's complaint, or a "usage:" line), if any.
std::optional<std::string> rejected_arguments(const PlannedTest& test, const ProcessResult& pr) {
    if (test.args.empty()) return std::nullopt;
    for (const std::string* text : {&pr.err, &pr.out}) {
        for (auto l : lines_of(*text)) {
            auto t = trim(l);
            const bool getopt = t.find("invalid option -- ") != std::string_view::npos ||
                                t.find("unrecognized option '") != std::string_view::npos ||
                                t.find("option requires an argument -- ") != std::string_view::npos ||
                                t.find("doesn't allow an argument") != std::string_view::npos;
            bool usage = t.size() >= 6;
            for (std::size_t i = 0; usage && i < 6; ++i)
                usage = std::tolower(static_cast<unsigned char>(t[i])) == "usage:"[i];
            if (getopt || usage) return clip(t, 120);
        }
    }
    return std::nullopt;
}

}  // namespace

const char* status_name(Status s) {
    switch (s) {
        case Status::Pass: return "PASS";
        case Status::Xfail: return "XFAIL";
        case Status::Skip: return "SKIP";
        case Status::Fail: return "FAIL";
        case Status::Timeout: return "TIMEOUT";
        case Status::Crash: return "CRASH";
        case Status::Error: return "ERROR";
    }
    return "?";
}

bool is_failure(Status s) { return s != Status::Pass && s != Status::Skip && s != Status::Xfail; }

std::string signal_name(int sig) {
    if (const char* abbrev = ::sigabbrev_np(sig)) return std::string("SIG") + abbrev;
    return fmt::format("signal {}", sig);
}

std::string failure_line(const std::string& out, const std::string& err, std::size_t max) {
    if (auto a = assertion_line(err, max)) return *a;
    if (auto a = assertion_line(out, max)) return *a;
    if (auto l = last_line(err, max)) return *l;
    if (auto l = last_line(out, max)) return *l;
    return {};
}

Outcome classify(const PlannedTest& test, const ProcessResult& pr) {
    Outcome o;
    o.name = test.name;
    o.path = test.path.string();
    o.args = test.args;
    o.testcase = test.testcase;
    o.ran = pr.started;
    o.seconds = std::chrono::duration<double>(pr.duration).count();
    o.timeout_s = std::chrono::duration<double>(pr.timeout).count();
    o.truncated = pr.truncated;
    o.out_bytes = pr.out_bytes;
    o.err_bytes = pr.err_bytes;
    o.out = pr.out;
    o.err = pr.err;
    o.isolation = pr.started ? pr.isolation : std::string();
    o.leftover_processes = pr.leftover_processes;
    o.leftovers = pr.leftovers;
    o.ktap = parse_ktap(pr.out);
    if (pr.exited) o.exit_code = pr.exit_code;
    if (pr.signaled) o.signal = pr.signal;

    const auto& k = o.ktap;
    if (!pr.started) {
        o.status = Status::Error;
        o.reason = pr.spawn_error;
    } else if (pr.cancelled) {
        o.status = Status::Error;
        o.reason = "interrupted: the runner was asked to stop; the test and all its processes were killed";
    } else if (pr.timed_out) {
        o.status = Status::Timeout;
        // The timeout, not the time it took to kill the test (which adds the
        // kill grace): "timed out after 3 s" for --timeout 3.
        o.reason = fmt::format("timed out after {} s; the test and all its processes were killed",
                               seconds_text(pr.timeout));
        if (pr.unkillable) o.reason += ", but the test did not die and was left behind";
        if (auto l = failure_line(pr.out, pr.err, 160); !l.empty()) o.notes.push_back("last output: " + l);
    } else if (pr.signaled) {
        o.status = Status::Crash;
        o.reason = fmt::format("killed by {} ({}){}", signal_name(pr.signal), pr.signal,
                               pr.core_dumped ? ", core dumped" : "");
        if (auto l = failure_line(pr.out, pr.err, 160); !l.empty()) o.reason += ": " + l;
    } else if (!pr.exited && !pr.signaled) {
        o.status = Status::Error;
        o.reason = pr.supervisor_error.empty() ? std::string("the test's exit status could not be collected")
                                               : pr.supervisor_error;
    } else if (auto u = pr.exited && (pr.exit_code == 0 || pr.exit_code == 2 || pr.exit_code == 4)
                            ? rejected_arguments(test, pr)
                            : std::nullopt) {
        // Several KVM selftests print their usage and exit 0 on an option
        // they do not know (argparse and others exit 2): that is no pass,
        // skip or expected failure.
        o.status = Status::Fail;
        o.reason = fmt::format("exit code {} but the test printed its usage or an option error (\"{}\"): "
                               "it did not take its arguments: {}",
                               pr.exit_code, *u, join_args(test.args));
    } else if (pr.exited && pr.exit_code == 2 && pr.leftover_processes == 0) {
        // kselftest's KSFT_XFAIL: the test expected this failure.  Its TAP
        // may well say "not ok"; that is what it expected.
        o.status = Status::Xfail;
        if (auto r = first_xfail_reason(k.results)) o.reason = *r;
        else if (auto l = last_line(pr.out, 240)) o.reason = *l;
        else if (auto l2 = last_line(pr.err, 240)) o.reason = *l2;
        else o.reason = "exit code 2 (KSFT_XFAIL), no reason printed";
    } else if (pr.exited) {
        const int code = pr.exit_code;
        if (code == 0 || code == 4) {
            if (auto d = tap_disagreement(k, pr)) {
                o.status = Status::Fail;
                o.reason = fmt::format("exit code {} ({}) but {}", code, code == 0 ? "pass" : "skip", *d);
            } else if (pr.leftover_processes > 0) {
                // Nothing a test starts may outlive it: a daemon it left is a
                // failure, whatever the exit code says.
                o.status = Status::Fail;
                o.reason = fmt::format("exit code {} but {}", code, leftover_text(pr));
            } else if (code == 0) {
                o.status = Status::Pass;
            } else {
                o.status = Status::Skip;
                if (auto r = k.first_skip_reason()) o.reason = *r;
                else if (auto l = last_line(pr.out, 240, "skipping test")) o.reason = *l;
                else if (auto l2 = last_line(pr.out, 240)) o.reason = *l2;
                else if (auto l3 = last_line(pr.err, 240)) o.reason = *l3;
                else o.reason = "exit code 4 (KSFT_SKIP), no reason printed";
            }
        } else {
            o.status = Status::Fail;
            const char* cname = exit_code_name(code);
            std::string head = cname ? fmt::format("exit code {} ({})", code, cname) : fmt::format("exit code {}", code);
            if (code == 3) head += ": the test passed where it expected to fail";
            if (pr.leftover_processes > 0) head += " and " + leftover_text(pr);
            std::string detail;
            if (k.bailed_out) detail = "Bail out! " + k.bail_reason;
            else if (auto f = k.first_failure()) detail = *f;
            if (auto l = failure_line(pr.out, pr.err, 200); !l.empty()) {
                if (detail.empty()) detail = l;
                else if (detail.size() < 40 || l.rfind("assertion failed", 0) == 0) detail += " | " + l;
            }
            o.reason = detail.empty() ? head : head + ": " + clip(detail, 300);
        }
    } else {
        o.status = Status::Error;
        o.reason = "the test's exit status could not be collected";
    }

    // A runner that could not confirm that everything of the test ended
    // (its supervisor died before saying so, or something outside the test
    // held its output after all of the test was killed) reports no pass,
    // skip or expected failure: something of the test may still run.
    if (pr.started && !is_failure(o.status) && (!pr.supervisor_error.empty() || pr.pipes_abandoned)) {
        const std::string why = !pr.supervisor_error.empty()
                                    ? pr.supervisor_error
                                    : std::string("its output stayed open after all its processes were killed, "
                                                  "held by a process the runner does not know");
        o.reason = fmt::format("exit code {} ({}), but the runner could not confirm that every process of the test "
                               "ended: {}",
                               pr.exit_code, status_name(o.status), why);
        o.status = Status::Error;
    }

    if (pr.truncated)
        o.notes.push_back(fmt::format("output truncated: stdout {} bytes, stderr {} bytes written; "
                                      "the beginning and the end were kept",
                                      pr.out_bytes, pr.err_bytes));
    if (pr.leftover_processes > 0 && o.reason.find("still running") == std::string::npos)
        o.notes.push_back(leftover_text(pr));
    if (pr.unkillable_processes > 0)
        o.notes.push_back(fmt::format("{} of them did not die even after SIGKILL (uninterruptible sleep?)",
                                      pr.unkillable_processes));
    if (pr.pipes_abandoned)
        o.notes.push_back("the test's output stayed open after all its processes were killed "
                          "(held by a process outside the test); stopped reading");
    if (!pr.isolation_note.empty()) o.notes.push_back(pr.isolation_note);
    if (!pr.supervisor_error.empty() && o.reason.find(pr.supervisor_error) == std::string::npos)
        o.notes.push_back(pr.supervisor_error);
    if (k.malformed_lines > 0)
        o.notes.push_back(fmt::format("{} malformed TAP line{}", k.malformed_lines, k.malformed_lines == 1 ? "" : "s"));
    if (k.unterminated_groups > 0)
        o.notes.push_back(fmt::format("{} TAP subtest group{} without a result line", k.unterminated_groups,
                                      k.unterminated_groups == 1 ? "" : "s"));
    o.reason = clip(o.reason, 400);
    return o;
}

Outcome outcome_for_problem(const PlannedTest& test) {
    Outcome o;
    o.name = test.name;
    o.path = test.path.string();
    o.args = test.args;
    o.testcase = test.testcase;
    o.status = test.problem == PlannedTest::Problem::NotBuilt || test.problem == PlannedTest::Problem::Excluded
                   ? Status::Skip
                   : Status::Error;
    o.reason = test.problem_text;
    return o;
}

Outcome outcome_not_run(const PlannedTest& test, const std::string& why) {
    Outcome o;
    o.name = test.name;
    o.path = test.path.string();
    o.args = test.args;
    o.testcase = test.testcase;
    o.status = Status::Error;
    o.reason = why;
    return o;
}

}  // namespace kvmsr

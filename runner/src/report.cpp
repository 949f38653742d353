#include "kvmsr/report.hpp"

#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <pugixml.hpp>

namespace kvmsr {

namespace {

// ---- KTAP (Documentation/dev-tools/ktap.rst) ---------------------------------

// A name or description on a KTAP result line: one line of printable UTF-8
// (display_safe), no '#' (KTAP allows none in a description), no trailing
// blank.  '#', '%' and a leading '-' (which parsers strip as TAP's "- "
// separator) are written as %23, %25 and %2D.
std::string ktap_name(std::string_view s) {
    std::string safe = display_safe(s);
    while (!safe.empty() && safe.back() == ' ') safe.pop_back();
    std::string out;
    out.reserve(safe.size());
    for (std::size_t i = 0; i < safe.size(); ++i) {
        const char c = safe[i];
        if (c == '#') out += "%23";
        else if (c == '%') out += "%25";
        else if (c == '-' && i == 0) out += "%2D";
        else out += c;
    }
    return out;
}

// A diagnostic line "# text".  Text that would read as a "# Subtest:" header
// is put in parentheses.
std::string ktap_diag(const std::string& indent, std::string_view text) {
    std::string t = display_safe(text);
    if (t.starts_with("Subtest:")) t = "(" + t + ")";
    return indent + "# " + t + "\n";
}

// The data after a directive (a reason, a nested result's diagnostic data):
// one line, printable, and no '#' either.  kunit_parser.py takes a result
// line for a skip when " # SKIP" appears anywhere in it (its regex is
// "(.*) # SKIP ?(.*)$", greedy), so an ERROR whose reason quotes "# SKIP",
// or a nested "not ok ... # TODO see # SKIP" would read as a skip, and a
// failure would vanish from its count.  '#' and '%' are written as %23
// and %25, as in names.
std::string ktap_data(std::string_view text) {
    const std::string safe = display_safe(text);
    std::string out;
    out.reserve(safe.size());
    for (const char c : safe) {
        if (c == '#') out += "%23";
        else if (c == '%') out += "%25";
        else out += c;
    }
    return out;
}

// How a result reads in KTAP: its own ok / not ok (a nested "not ok ... #
// TODO" stays "not ok"), its directive and data.
std::string ktap_result_line(const std::string& indent, bool ok, long number, const std::string& name,
                             std::string_view directive, std::string_view data) {
    std::string line = indent;
    line += ok ? "ok " : "not ok ";
    line += std::to_string(number);
    if (!name.empty()) {
        line += ' ';
        line += name;
    }
    if (!directive.empty() || !data.empty()) {
        line += " #";
        if (!directive.empty()) {
            line += ' ';
            line += directive;
        }
        if (!data.empty()) {
            line += ' ';
            line += ktap_data(data);
        }
    }
    return line + "\n";
}

// The test's own results, as it gave them: its ok / not ok, directives,
// descriptions, diagnostics and its own plan, even a wrong one.  Results
// beyond its plan would be read as the next test's, so they are written as
// diagnostic lines.  Results are numbered 1, 2, ... as KTAP requires.
void write_own_results(std::string& out, const std::vector<KtapResult>& rs, std::optional<long> plan,
                       std::size_t depth) {
    const std::string ind(depth * 2, ' ');
    if (plan) out += fmt::format("{}1..{}\n", ind, *plan);
    long n = 0;
    for (const auto& r : rs) {
        ++n;
        std::string name = ktap_name(r.description);
        if (r.unterminated) name += " (no result line)";
        const bool ok = r.ok && !r.unterminated;
        std::string_view dir = directive_name(r.directive);
        if (plan && n > *plan) {
            out += ktap_diag(ind, fmt::format("beyond the plan 1..{}: {} {} {}{}{}", *plan, ok ? "ok" : "not ok",
                                              r.number ? *r.number : n, name, dir.empty() ? "" : " # ",
                                              dir.empty() ? std::string() : std::string(dir) + " " + r.reason));
            continue;
        }
        if (!r.subtests.empty()) {
            const std::string sub(ind + "  ");
            out += sub + "KTAP version 1\n";
            // A group without a plan ends where a result line carries its
            // name: a group needs one.
            if (name.empty() && !r.subtest_plan) name = fmt::format("subtest {}", n);
            if (!name.empty()) out += sub + "# Subtest: " + name + "\n";
            write_own_results(out, r.subtests, r.subtest_plan, depth + 1);
        }
        for (const auto& d : r.diagnostics) out += ktap_diag(ind, d);
        out += ktap_result_line(ind, ok, n, name, dir, r.reason);
    }
}

// True when kunit_parser would count something other than skips in these
// results: a leaf without SKIP, an unterminated group, or fewer results
// than a plan (counted as crashed).
bool counts_beyond_skips(const std::vector<KtapResult>& rs, std::optional<long> plan) {
    if (plan && static_cast<long>(rs.size()) < *plan) return true;
    for (const auto& r : rs) {
        if (r.unterminated) return true;
        if (r.subtests.empty() ? r.directive != Directive::Skip : counts_beyond_skips(r.subtests, r.subtest_plan))
            return true;
    }
    return false;
}

void write_as_diagnostics(std::string& out, const std::vector<KtapResult>& rs, const std::string& indent) {
    for (const auto& r : rs) {
        std::string_view dir = directive_name(r.directive);
        std::string desc = ktap_name(r.description);
        out += ktap_diag(indent, fmt::format("its TAP: {}{}{}{}{}", r.ok ? "ok" : "not ok", desc.empty() ? "" : " ",
                                             desc, dir.empty() ? "" : " # ",
                                             dir.empty() ? std::string() : std::string(dir) + " " + r.reason));
        write_as_diagnostics(out, r.subtests, indent + "  ");
    }
}

std::string fmt_seconds(double s) { return fmt::format("{:.2f}s", s); }

}  // namespace

std::string clip_display(const std::string& s, std::size_t max) {
    if (display_width(s) <= max) return s;
    std::size_t keep = 0, chars = 0;
    while (keep < s.size() && chars < max - 3) {
        ++keep;
        while (keep < s.size() && (static_cast<unsigned char>(s[keep]) & 0xC0) == 0x80) ++keep;
        ++chars;
    }
    return s.substr(0, keep) + "...";
}

namespace {

std::string classname_of(const std::string& name) {
    auto slash = name.rfind('/');
    if (slash == std::string::npos || name.front() == '/') return "kvm";
    std::string dir = name.substr(0, slash);
    for (char& c : dir)
        if (c == '/') c = '.';
    return "kvm." + dir;
}

}  // namespace

Summary summarize(const std::vector<Outcome>& outcomes) {
    Summary s;
    for (const auto& o : outcomes) {
        ++s.total;
        switch (o.status) {
            case Status::Pass: ++s.pass; break;
            case Status::Xfail: ++s.xfail; break;
            case Status::Skip: ++s.skip; break;
            case Status::Fail: ++s.fail; break;
            case Status::Timeout: ++s.timeout; break;
            case Status::Crash: ++s.crash; break;
            case Status::Error: ++s.error; break;
        }
    }
    return s;
}

std::string summary_line(const Summary& s, double seconds) {
    return fmt::format("Summary: {} test{}: {} passed, {}{} skipped, {} failed ({} fail, {} timeout, {} crash, {} error) "
                       "in {:.1f} s",
                       s.total, s.total == 1 ? "" : "s", s.pass, s.xfail ? fmt::format("{} xfail, ", s.xfail) : "",
                       s.skip, s.failures(), s.fail, s.timeout, s.crash, s.error, seconds) +
           (s.all_skipped() ? fmt::format("; all {} test{} skipped: nothing was tested", s.total,
                                          s.total == 1 ? "" : "s")
                            : std::string());
}

std::string failed_line(const std::vector<Outcome>& outcomes) {
    std::string names;
    for (const auto& o : outcomes)
        if (is_failure(o.status))
            names += fmt::format("{}{} ({})", names.empty() ? "" : ", ", display_safe(o.name), status_name(o.status));
    return names.empty() ? std::string() : "Failed: " + names;
}

std::string format_table(const RunReport& r) {
    // Everything that came from a test (names, reasons, notes) is printed
    // through display_safe(): no escape sequence, newline or invalid byte
    // reaches the terminal.
    std::size_t w = 4;
    for (const auto& o : r.outcomes) w = std::max(w, display_width(display_safe(o.name)));
    w = std::min<std::size_t>(w, 60);
    std::string out;
    out += fmt::format("{:<{}}  {:<7}  {:>9}  {}\n", "TEST", w, "RESULT", "DURATION", "DETAILS");
    out += fmt::format("{}\n", std::string(w + 2 + 7 + 2 + 9 + 2 + 7, '-'));
    for (const auto& o : r.outcomes) {
        std::string detail = display_safe(o.reason);
        if (o.status == Status::Pass && o.ktap.has_tap() && !o.ktap.results.empty()) {
            auto c = o.ktap.leaf_counts();
            detail = fmt::format("TAP: {} ok, {} skip", c.pass + c.xfail + c.xpass, c.skip);
        }
        detail = clip_display(detail, 90);
        out += fmt::format("{:<{}}  {:<7}  {:>9}  {}\n", display_safe(o.name), w, status_name(o.status),
                           o.ran ? fmt_seconds(o.seconds) : std::string("-"), detail);
    }
    std::vector<const Outcome*> skips, fails;
    for (const auto& o : r.outcomes) {
        if (o.status == Status::Skip) skips.push_back(&o);
        if (is_failure(o.status)) fails.push_back(&o);
    }
    if (!skips.empty()) {
        out += fmt::format("\nSkipped ({}):\n", skips.size());
        for (const auto* o : skips) out += fmt::format("  {}: {}\n", display_safe(o->name), display_safe(o->reason));
    }
    if (!fails.empty()) {
        out += fmt::format("\nFailed ({}):\n", fails.size());
        for (const auto* o : fails) {
            out += fmt::format("  {} [{}]: {}\n", display_safe(o->name), status_name(o->status),
                               display_safe(o->reason));
            for (const auto& n : o->notes) out += fmt::format("      note: {}\n", display_safe(n));
        }
    }
    out += fmt::format("\n{}\n", summary_line(summarize(r.outcomes), r.seconds));
    if (auto f = failed_line(r.outcomes); !f.empty()) out += f + "\n";
    return out;
}

std::string to_junit(const RunReport& r) {
    const Summary s = summarize(r.outcomes);
    pugi::xml_document doc;
    auto decl = doc.append_child(pugi::node_declaration);
    decl.append_attribute("version") = "1.0";
    decl.append_attribute("encoding") = "UTF-8";

    // <testsuites> and its one <testsuite> carry the same totals.
    const auto totals = [&](pugi::xml_node n, const char* name) {
        n.append_attribute("name") = name;
        n.append_attribute("tests") = s.total;
        n.append_attribute("failures") = s.fail + s.timeout + s.crash;
        n.append_attribute("errors") = s.error;
        n.append_attribute("skipped") = s.skip + s.xfail;
        n.append_attribute("time") = fmt::format("{:.3f}", r.seconds).c_str();
    };
    auto suites = doc.append_child("testsuites");
    totals(suites, "kvm-selftest-runner");

    auto suite = suites.append_child("testsuite");
    totals(suite, "kvm");
    if (!r.started.empty()) suite.append_attribute("timestamp") = r.started.c_str();
    if (!r.hostname.empty()) suite.append_attribute("hostname") = xml_safe(r.hostname).c_str();
    auto props = suite.append_child("properties");
    auto prop = [&](const char* name, const std::string& value) {
        auto p = props.append_child("property");
        p.append_attribute("name") = name;
        p.append_attribute("value") = xml_safe(value).c_str();
    };
    prop("directory", r.directory);
    prop("kernel", r.kernel);
    prop("jobs", std::to_string(r.jobs));
    if (!r.isolation.empty()) prop("isolation", r.isolation);

    for (const auto& o : r.outcomes) {
        auto tc = suite.append_child("testcase");
        tc.append_attribute("name") = xml_safe(o.name).c_str();
        tc.append_attribute("classname") = xml_safe(classname_of(o.name)).c_str();
        tc.append_attribute("time") = fmt::format("{:.3f}", o.seconds).c_str();
        std::string body = o.reason;
        for (const auto& n : o.notes) body += "\nnote: " + n;
        if (o.exit_code) body += fmt::format("\nexit code: {}", *o.exit_code);
        if (o.signal) body += fmt::format("\nsignal: {} ({})", signal_name(*o.signal), *o.signal);
        switch (o.status) {
            case Status::Pass:
                break;
            case Status::Skip: {
                auto sk = tc.append_child("skipped");
                sk.append_attribute("message") = xml_safe(o.reason).c_str();
                break;
            }
            case Status::Xfail: {
                // JUnit has no expected failure; like pytest, a skip of type xfail.
                auto sk = tc.append_child("skipped");
                sk.append_attribute("type") = "xfail";
                sk.append_attribute("message") = xml_safe("XFAIL: " + o.reason).c_str();
                break;
            }
            case Status::Error: {
                auto e = tc.append_child("error");
                e.append_attribute("message") = xml_safe(o.reason).c_str();
                e.append_attribute("type") = status_name(o.status);
                e.text().set(xml_safe(body).c_str());
                break;
            }
            default: {
                auto f = tc.append_child("failure");
                f.append_attribute("message") = xml_safe(o.reason).c_str();
                f.append_attribute("type") = status_name(o.status);
                f.text().set(xml_safe(body).c_str());
                break;
            }
        }
        if (!o.out.empty()) tc.append_child("system-out").text().set(xml_safe(o.out).c_str());
        if (!o.err.empty()) tc.append_child("system-err").text().set(xml_safe(o.err).c_str());
    }
    std::ostringstream os;
    doc.save(os, "  ", pugi::format_default, pugi::encoding_utf8);
    return os.str();
}

// The KTAP summary.  Each test is one result; its category maps to KTAP as
// README.md's table says, and the test's own TAP results are nested below
// it.
std::string to_ktap(const RunReport& r) {
    const Summary s = summarize(r.outcomes);
    std::string out = "KTAP version 1\n";
    out += ktap_diag("", fmt::format("kvm-selftest-runner: {} (kernel {}, {})", r.directory, r.kernel, r.started));
    out += fmt::format("1..{}\n", r.outcomes.size());
    long n = 0;
    for (const auto& o : r.outcomes) {
        ++n;
        const std::string name = ktap_name(o.name);
        const bool bad = is_failure(o.status);
        const auto& own = o.ktap.results;
        // A failed test whose own results are all skips would be counted by
        // kunit_parser as skipped (it counts a parent through its
        // subtests): those results become diagnostics, the test one failure.
        const bool nest = !own.empty() && (!bad || counts_beyond_skips(own, o.ktap.plan));
        if (nest) {
            out += "  KTAP version 1\n";
            out += "  # Subtest: " + name + "\n";
            write_own_results(out, own, o.ktap.plan_skip ? std::nullopt : o.ktap.plan, 1);
            if (o.ktap.bailed_out) out += ktap_diag("  ", "Bail out! " + o.ktap.bail_reason);
        } else if (!own.empty()) {
            write_as_diagnostics(out, own, "");
        }
        if (bad && !o.reason.empty()) out += ktap_diag("", o.reason);
        for (const auto& note : o.notes) out += ktap_diag("", "note: " + note);
        std::string_view dir;
        std::string data;
        switch (o.status) {
            case Status::Pass: break;
            case Status::Xfail: dir = "XFAIL"; data = o.reason; break;
            case Status::Skip: dir = "SKIP"; data = o.reason; break;
            case Status::Fail:
                if (o.exit_code) data = fmt::format("exit={}", *o.exit_code);
                break;
            case Status::Crash:
                if (o.signal) data = fmt::format("signal={}", signal_name(*o.signal));
                break;
            case Status::Timeout:
                dir = "TIMEOUT";
                data = fmt::format("{:g} seconds", o.timeout_s);
                break;
            case Status::Error: dir = "ERROR"; data = o.reason; break;
        }
        out += ktap_result_line("", !bad, n, name, dir, data);
    }
    out += fmt::format("# Totals: pass:{} fail:{} xfail:{} xpass:0 skip:{} error:{}\n", s.pass,
                       s.fail + s.timeout + s.crash, s.xfail, s.skip, s.error);
    return out;
}

nlohmann::json to_json(const RunReport& r) {
    const Summary s = summarize(r.outcomes);
    nlohmann::json j;
    j["runner"] = "kvm-selftest-runner";
    j["directory"] = xml_safe(r.directory);
    j["started"] = r.started;
    j["duration_s"] = r.seconds;
    j["hostname"] = xml_safe(r.hostname);
    j["kernel"] = xml_safe(r.kernel);
    j["jobs"] = r.jobs;
    j["isolation"] = r.isolation;
    j["summary"] = {{"total", s.total},     {"pass", s.pass},   {"xfail", s.xfail}, {"skip", s.skip},
                    {"fail", s.fail},       {"timeout", s.timeout}, {"crash", s.crash},
                    {"error", s.error},     {"failures", s.failures()}};
    j["success"] = s.failures() == 0;
    j["all_skipped"] = s.all_skipped();
    nlohmann::json tests = nlohmann::json::array();
    for (const auto& o : r.outcomes) {
        nlohmann::json t;
        t["name"] = xml_safe(o.name);
        t["path"] = xml_safe(o.path);
        t["status"] = status_name(o.status);
        t["failed"] = is_failure(o.status);
        t["reason"] = xml_safe(o.reason);
        nlohmann::json notes = nlohmann::json::array();
        for (const auto& n : o.notes) notes.push_back(xml_safe(n));
        t["notes"] = notes;
        t["ran"] = o.ran;
        t["exit_code"] = o.exit_code ? nlohmann::json(*o.exit_code) : nlohmann::json(nullptr);
        t["signal"] = o.signal ? nlohmann::json(*o.signal) : nlohmann::json(nullptr);
        t["duration_s"] = o.seconds;
        t["isolation"] = o.isolation.empty() ? nlohmann::json(nullptr) : nlohmann::json(o.isolation);
        t["leftover_processes"] = o.leftover_processes;
        nlohmann::json left = nlohmann::json::array();
        for (const auto& l : o.leftovers) left.push_back(xml_safe(l));
        t["leftovers"] = left;
        t["args"] = nlohmann::json::array();
        for (const auto& a : o.args) t["args"].push_back(xml_safe(a));
        t["testcase"] = o.testcase.empty() ? nlohmann::json(nullptr) : nlohmann::json(xml_safe(o.testcase));
        t["stdout_file"] = o.stdout_file.empty() ? nlohmann::json(nullptr) : nlohmann::json(xml_safe(o.stdout_file));
        t["stderr_file"] = o.stderr_file.empty() ? nlohmann::json(nullptr) : nlohmann::json(xml_safe(o.stderr_file));
        t["truncated"] = o.truncated;
        t["stdout_bytes"] = o.out_bytes;
        t["stderr_bytes"] = o.err_bytes;
        nlohmann::json k;
        k["present"] = o.ktap.has_tap();
        if (o.ktap.has_tap()) {
            if (o.ktap.version) k["version"] = *o.ktap.version;
            if (o.ktap.plan) k["plan"] = *o.ktap.plan;
            auto c = o.ktap.leaf_counts();
            k["counts"] = {{"pass", c.pass}, {"fail", c.fail}, {"skip", c.skip}, {"xfail", c.xfail},
                           {"xpass", c.xpass}, {"error", c.error}, {"todo", c.todo}};
            if (o.ktap.totals)
                k["totals"] = {{"pass", o.ktap.totals->pass},   {"fail", o.ktap.totals->fail},
                               {"xfail", o.ktap.totals->xfail}, {"xpass", o.ktap.totals->xpass},
                               {"skip", o.ktap.totals->skip},   {"error", o.ktap.totals->error}};
            k["bailed_out"] = o.ktap.bailed_out;
            if (o.ktap.bailed_out) k["bail_reason"] = xml_safe(o.ktap.bail_reason);
        }
        t["ktap"] = k;
        t["stdout"] = xml_safe(o.out);
        t["stderr"] = xml_safe(o.err);
        tests.push_back(std::move(t));
    }
    j["tests"] = tests;
    return j;
}

}  // namespace kvmsr

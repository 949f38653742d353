// Issue 17, the points a cold review left open after the first round, each
// through the built kvm-selftest-runner on fake tests generated here.  The
// test names carry the point of the review (R1 ... R8).
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <sstream>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "kvmsr/ktap.hpp"
#include "test_helpers.hpp"

namespace kvmsr {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::read_file;
using testing::run_cli;
using testing::TempDir;
using testing::write_file;

// ---- R1. '#' after a directive must not turn a failure into a skip --------

// kunit_parser.py (Linux 7.3) reads a result line with these two regexes;
// the second, greedy, makes the line a skip when " # SKIP" appears anywhere.
const std::regex kKunitResult(R"(^\s*(ok|not ok) ([0-9]+) ?(:?- )?([^#]*)( # .*)?$)");
const std::regex kKunitSkip(R"(^\s*(ok|not ok) ([0-9]+) ?(:?- )?(.*) # SKIP ?(.*)$)");

struct KunitLine {
    bool result = false;    // kunit_parser takes it for a result line
    bool skip = false;      // ... and for a skip
    bool we_skip = false;   // our writer gave it the SKIP directive
    std::string line;
};

std::vector<KunitLine> kunit_result_lines(const std::string& text) {
    std::vector<KunitLine> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        std::string_view l = line;
        while (l.starts_with(' ')) l.remove_prefix(1);
        if (!l.starts_with("ok ") && !l.starts_with("not ok ")) continue;
        KunitLine k;
        k.line = line;
        k.result = std::regex_match(line, kKunitResult);
        k.skip = std::regex_match(line, kKunitSkip);
        auto hash = l.find('#');
        k.we_skip = hash != std::string_view::npos && l.substr(hash).starts_with("# SKIP");
        out.push_back(std::move(k));
    }
    return out;
}

TEST(Issue17More, R1_HashAfterADirectiveDoesNotMakeKunitParserReadASkip) {
    TempDir d;
    // A PASS whose nested TODO result quotes "# SKIP": kunit_parser must
    // still count the nested "not ok" as failed (README, KTAP mapping).
    write_file(d / "todo_hash_test",
               "#!/bin/sh\nprintf 'TAP version 13\\n1..2\\nok 1 a\\nnot ok 2 b # TODO see # SKIP later\\n'\n", 0755);
    // A FAIL whose nested ERROR result quotes "# SKIP".
    write_file(d / "error_hash_test",
               "#!/bin/sh\nprintf 'TAP version 13\\n1..2\\nok 1 a\\nnot ok 2 b # ERROR broken # SKIP maybe\\n'\n"
               "exit 1\n",
               0755);
    // An XFAIL whose reason (its last line) holds "# SKIP": passed, not skipped.
    write_file(d / "xfail_hash_test", "#!/bin/sh\necho 'known bug # SKIP on Tuesdays'\nexit 2\n", 0755);
    // A SKIP whose reason holds '#' and '%': still one skip.
    write_file(d / "skip_hash_test", "#!/bin/sh\necho '1..0 # SKIP needs # of CPUs > 50%'\nexit 4\n", 0755);
    // A named test that does not exist, "# SKIP" in its name: ERROR whose
    // reason (the path) holds it.
    auto r = run_cli({"run", d.path().string(), "todo_hash_test", "error_hash_test", "xfail_hash_test",
                      "skip_hash_test", "gone # SKIP later", "--progress", "never",
                      "--ktap", (d / "k.ktap").string(), "--json", (d / "r.json").string()},
                     60s);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    json j = json::parse(read_file(d / "r.json"));
    std::vector<std::string> status;
    for (const auto& t : j["tests"]) status.push_back(t["status"]);
    EXPECT_EQ(status, (std::vector<std::string>{"PASS", "FAIL", "XFAIL", "SKIP", "ERROR"})) << j.dump(1);

    const std::string text = read_file(d / "k.ktap");
    // Every result line reads as one for kunit_parser, and as a skip exactly
    // when we wrote the SKIP directive.
    auto lines = kunit_result_lines(text);
    EXPECT_EQ(lines.size(), 5u + 4u) << text;
    for (const auto& l : lines) {
        EXPECT_TRUE(l.result) << l.line;
        EXPECT_EQ(l.skip, l.we_skip) << "kunit_parser would read this as " << (l.skip ? "a skip" : "no skip") << ": "
                                     << l.line;
    }
    EXPECT_NE(text.find("  not ok 2 b # TODO see %23 SKIP later\n"), std::string::npos) << text;
    EXPECT_NE(text.find("ok 3 xfail_hash_test # XFAIL known bug %23 SKIP on Tuesdays\n"), std::string::npos) << text;
    EXPECT_NE(text.find("ok 4 skip_hash_test # SKIP needs %23 of CPUs > 50%25\n"), std::string::npos) << text;
    // The runner's own parser still reads it whole.
    auto k = parse_ktap(text);
    EXPECT_EQ(k.malformed_lines, 0u);
    ASSERT_EQ(k.results.size(), 5u);
    EXPECT_EQ(k.results[0].subtests.at(1).directive, Directive::Todo);
    EXPECT_EQ(k.results[3].directive, Directive::Skip);
    for (std::size_t i : {1u, 4u}) EXPECT_TRUE(k.results[i].failed()) << i;

    // What kunit_parser must count (README, KTAP), for make check.
    testing::keep_ktap("Issue17More.R1_hash_after_directive", text,
                       "todo_hash_test\t1\t1\t0\t0\t0\n"
                       "error_hash_test\t1\t1\t0\t0\t0\n"
                       "xfail_hash_test\t1\t0\t0\t0\t0\n"
                       "skip_hash_test\t0\t0\t0\t1\t0\n"
                       "gone %23 SKIP later\t0\t1\t0\t0\t0\n"
                       "TOTAL\t3\t3\t0\t1\t0\n");
}


// ---- R2. the output cap must not switch the plan check off ------------------

TEST(Issue17More, R2_OutputCapDoesNotSwitchOffThePlanCheck) {
    TempDir d;
    // 3 MiB of 32-byte lines (98304 of them), through a 1 MiB cap: the middle is dropped.
    const std::string flood = "yes 'debug output line 0123456789abc' | head -n 98304\n";
    auto tap = [&](const std::string& middle, const std::string& tail) {
        return "#!/bin/sh\nprintf 'TAP version 13\\n1..3\\nok 1 a\\n'\n" + flood + "printf '" + middle + "'\n" + flood +
               "printf '" + tail + "'\nexit 0\n";
    };
    // Its results are all there, one in the dropped middle: PASS.
    write_file(d / "whole_test", tap("ok 2 b\\n", "ok 3 c\\n"), 0755);
    // One result is missing, where the cap drops output: the plan says 3.
    write_file(d / "short_test", tap("", "ok 3 c\\n"), 0755);
    // The failure is in the dropped middle.
    write_file(d / "hidden_fail_test", tap("not ok 2 b\\n", "ok 3 c\\n"), 0755);
    // Its stderr floods, its stdout is short of its plan.
    write_file(d / "stderr_flood_test",
               "#!/bin/sh\nprintf 'TAP version 13\\n1..3\\nok 1 a\\nok 2 b\\n'\n" + flood.substr(0, flood.size() - 1) +
                   " >&2\nexit 0\n",
               0755);
    // TAP without a version line, plan at the end, a failure in the middle.
    write_file(d / "trailing_plan_test",
               "#!/bin/sh\nprintf 'ok 1 a\\n'\n" + flood + "printf 'not ok 2 b\\n'\n" + flood +
                   "printf 'ok 3 c\\n1..3\\n'\nexit 0\n",
               0755);
    auto r = run_cli({"run", d.path().string(), "whole_test", "short_test", "hidden_fail_test", "stderr_flood_test",
                      "trailing_plan_test", "--output-cap", "1", "--progress", "never", "--json",
                      (d / "r.json").string(), "--ktap", (d / "k.ktap").string()},
                     120s);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    json j = json::parse(read_file(d / "r.json"));
    std::map<std::string, json> t;
    for (const auto& x : j["tests"]) t[x["name"]] = x;
    for (const auto& [name, x] : t) EXPECT_EQ(x["truncated"], true) << name;
    EXPECT_EQ(t["whole_test"]["status"], "PASS") << t["whole_test"]["reason"];
    EXPECT_EQ(t["short_test"]["status"], "FAIL");
    EXPECT_NE(t["short_test"]["reason"].get<std::string>().find("TAP plan 1..3 but 2 results in its whole output"),
              std::string::npos)
        << t["short_test"]["reason"];
    EXPECT_EQ(t["hidden_fail_test"]["status"], "FAIL");
    EXPECT_NE(t["hidden_fail_test"]["reason"].get<std::string>().find(
                  "TAP reports 1 failed result in the part of its output that --output-cap dropped from the "
                  "capture: not ok 2 b"),
              std::string::npos)
        << t["hidden_fail_test"]["reason"];
    EXPECT_EQ(t["stderr_flood_test"]["status"], "FAIL");
    EXPECT_NE(t["stderr_flood_test"]["reason"].get<std::string>().find("TAP plan 1..3 but only 2 results"),
              std::string::npos)
        << t["stderr_flood_test"]["reason"];
    EXPECT_EQ(t["trailing_plan_test"]["status"], "FAIL");
    EXPECT_NE(t["trailing_plan_test"]["reason"].get<std::string>().find("not ok 2 b"), std::string::npos)
        << t["trailing_plan_test"]["reason"];
    testing::keep_ktap("Issue17More.R2_output_cap", read_file(d / "k.ktap"));
}


// ---- R3. an unconfirmed end is no PASS ------------------------------------

TEST(Issue17More, R3_SupervisorLostAfterExitZeroIsAnErrorInEveryReport) {
    TempDir d;
    // It exits 0 at once; a child it leaves kills its supervisor (its
    // parent) while the supervisor waits for the rest of the test to end:
    // nobody can confirm any more that everything of the test ended.
    write_file(d / "killsup_test",
               "#!/bin/sh\nsup=$PPID\n(sleep 0.3; kill -KILL $sup; sleep 30) &\necho $! > pids\nexit 0\n", 0755);
    auto r = run_cli({"run", d.path().string(), "killsup_test", "--progress", "never", "--junit",
                      (d / "j.xml").string(), "--ktap", (d / "k.ktap").string(), "--json", (d / "r.json").string()},
                     60s);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    const std::string why = "could not confirm that every process of the test ended: the test's supervisor was "
                            "killed by signal 9";
    EXPECT_NE(r.out.find("killsup_test [ERROR]: exit code 0 (PASS), but the runner " + why), std::string::npos)
        << r.out;
    json j = json::parse(read_file(d / "r.json"));
    EXPECT_EQ(j["tests"][0]["status"], "ERROR");
    EXPECT_EQ(j["success"], false);
    EXPECT_NE(j["tests"][0]["reason"].get<std::string>().find(why), std::string::npos) << j["tests"][0]["reason"];
    const std::string xml = read_file(d / "j.xml");
    EXPECT_NE(xml.find("<error message=\"exit code 0 (PASS), but the runner " + why), std::string::npos) << xml;
    bool valid = false;
    const std::string lint = testing::validate_junit(d / "j.xml", valid);
    EXPECT_TRUE(valid) << lint;
    const std::string ktap = read_file(d / "k.ktap");
    EXPECT_NE(ktap.find("not ok 1 killsup_test # ERROR exit code 0 (PASS), but the runner " + why), std::string::npos)
        << ktap;
    testing::keep_ktap("Issue17More.R3_supervisor_lost", ktap, "killsup_test\t0\t1\t0\t0\t0\nTOTAL\t0\t1\t0\t0\t0\n");
    // And its child did not outlive the runner.
    EXPECT_TRUE(testing::all_gone(testing::read_pids(d / "pids"), 5s));
}


// ---- R5. probe's exit codes ---------------------------------------------------

TEST(Issue17More, R5_ProbeExitStatusSaysWhetherTheTestsCanRun) {
    // The default stays 0 whenever the report was produced (README, and
    // scripts that run "probe" under set -e).
    auto plain = run_cli({"probe", "--device", "/dev/kvm-missing"});
    EXPECT_EQ(plain.exit_code, 0) << plain.err;
    // --exit-status: kselftest's codes; here neither test can run: 4.
    auto skip = run_cli({"probe", "--device", "/dev/kvm-missing", "--exit-status"});
    EXPECT_EQ(skip.exit_code, 4) << skip.err;
    EXPECT_NE(skip.out.find("cannot run: no /dev/kvm-missing"), std::string::npos) << skip.out;
    auto skip_json = run_cli({"probe", "--device", "/dev/kvm-missing", "--exit-status", "--json"});
    EXPECT_EQ(skip_json.exit_code, 4);
    EXPECT_TRUE(json::accept(skip_json.out)) << skip_json.out;
    // A report that cannot be written: probe failed, 1, with or without.
    for (const char* extra : {"", " --exit-status"}) {
        auto full = testing::run_program(
            "/bin/sh", {"-c", std::string(testing::kBinary) + " probe --device /dev/kvm-missing" + extra + " >/dev/full"});
        EXPECT_EQ(full.exit_code, 1) << extra << full.err;
        EXPECT_NE(full.err.find("cannot write the report"), std::string::npos) << full.err;
    }
}

// ---- R6. a run of nothing but skips ---------------------------------------------

TEST(Issue17More, R6_AllSkippedSaysSoAndCanBeRefused) {
    TempDir d;
    write_file(d / "a_test", "#!/bin/sh\necho '1..0 # SKIP no TDX here'\nexit 4\n", 0755);
    write_file(d / "b_test", "#!/bin/sh\nexit 4\n", 0755);
    write_file(d / "c_test", "#!/bin/sh\nexit 0\n", 0755);
    // kselftest: a skip is no failure, so all skipped is exit 0, said plainly.
    auto r = run_cli({"run", d.path().string(), "a_test", "b_test", "--progress", "never", "--json",
                      (d / "r.json").string()});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("0 failed (0 fail, 0 timeout, 0 crash, 0 error) in "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(" s; all 2 tests skipped: nothing was tested\n"), std::string::npos) << r.out;
    EXPECT_EQ(json::parse(read_file(d / "r.json"))["all_skipped"], true);
    auto q = run_cli({"run", d.path().string(), "a_test", "b_test", "-q"});
    EXPECT_NE(q.out.find("all 2 tests skipped: nothing was tested"), std::string::npos) << q.out;
    // A CI that must have tested something refuses it.
    auto refused = run_cli({"run", d.path().string(), "a_test", "b_test", "--fail-on-all-skipped", "-q"});
    EXPECT_EQ(refused.exit_code, 4) << refused.out << refused.err;
    EXPECT_NE(refused.err.find("every test skipped and --fail-on-all-skipped was given"), std::string::npos)
        << refused.err;
    // One test that ran is enough; the summary says nothing of the kind.
    auto some = run_cli({"run", d.path().string(), "a_test", "c_test", "--fail-on-all-skipped", "-q", "--json",
                         (d / "r2.json").string()});
    EXPECT_EQ(some.exit_code, 0) << some.out << some.err;
    EXPECT_EQ(some.out.find("nothing was tested"), std::string::npos) << some.out;
    EXPECT_EQ(json::parse(read_file(d / "r2.json"))["all_skipped"], false);
}


// ---- R8. what a host team tried ---------------------------------------------

// A test-case file saved by an editor that writes a byte order mark and
// CRLF line ends: the test is found and gets its arguments.
TEST(Issue17More, R8_TestCaseFileWithByteOrderMarkAndCrlf) {
    TempDir d;
    write_file(d / "args_test", "#!/bin/sh\necho \"args: $*\"\nexit 0\n", 0755);
    write_file(d / "bom.test", "\xEF\xBB\xBFtimeout=5\r\nargs_test a 'b c'\r\n");
    auto r = run_cli({"run", d.path().string(), "--testcases", (d / "bom.test").string(), "--progress", "never",
                      "--json", (d / "r.json").string()});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    json j = json::parse(read_file(d / "r.json"));
    ASSERT_EQ(j["tests"].size(), 1u);
    EXPECT_EQ(j["tests"][0]["status"], "PASS") << j["tests"][0]["reason"];
    EXPECT_EQ(j["tests"][0]["args"], json::array({"a", "b c"}));
    EXPECT_EQ(j["tests"][0]["stdout"], "args: a b c\n");
}

}  // namespace
}  // namespace kvmsr

// Issue 17, point by point: every case the issue lists, run through the
// built kvm-selftest-runner on fake tests generated here.  The test names
// carry the point (P1 ... P7, then the features host teams asked for).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <pugixml.hpp>

#include "kvmsr/engine.hpp"
#include "kvmsr/isolation.hpp"
#include "kvmsr/ktap.hpp"
#include "kvmsr/text.hpp"
#include "test_helpers.hpp"

namespace kvmsr {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::read_file;
using testing::run_cli;
using testing::TempDir;
using testing::write_file;

// True when s is valid UTF-8 with no control character but newline and tab
// (--list separates with a tab), once the runner's own redraws of its live
// status line ("\r\033[K") are taken out.
bool clean_terminal_text(std::string s) {
    for (std::size_t at; (at = s.find("\r\033[K")) != std::string::npos;) s.erase(at, 4);
    for (std::size_t i = 0; i < s.size();) {
        std::uint32_t cp = 0;
        std::size_t n = utf8_char(s, i, cp);
        if (n == 0) return false;
        if ((cp < 0x20 && cp != '\n' && cp != '\t') || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) return false;
        i += n;
    }
    return true;
}

// ---- 1. a mistyped directory must not pass ---------------------------------

TEST(Issue17, P1_AllOnAnEmptyDirectoryIsAnError) {
    TempDir d;
    auto r = run_cli({"run", d.path().string(), "--all", "--junit", (d / "j.xml").string()});
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("no test found in"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("it is empty"), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(d / "j.xml"));  // no green JUnit
}

// An earlier run's report must not survive a run that fails before its
// own reports are written, or one that is killed.
TEST(Issue17, P1_AnOldReportDoesNotSurviveAFailedRun) {
    TempDir d;
    write_file(d / "j.xml", "<testsuites tests=\"1\" failures=\"0\"/>\n");
    write_file(d / "k.ktap", "KTAP version 1\n1..1\nok 1 old\n");
    auto r = run_cli({"run", d.path().string(), "--all", "--junit", (d / "j.xml").string(), "--ktap",
                      (d / "k.ktap").string()});
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_EQ(read_file(d / "j.xml"), "");
    EXPECT_EQ(read_file(d / "k.ktap"), "");
}

TEST(Issue17, P1_AllOnADirectoryOfScriptsIsAnError) {
    TempDir d;
    write_file(d / "a.sh", "#!/bin/sh\nexit 0\n", 0755);
    write_file(d / "x86/b.sh", "#!/bin/sh\nexit 0\n", 0755);
    write_file(d / "README", "text\n");
    auto r = run_cli({"run", d.path().string(), "--all"});
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("2 executable scripts and no ELF executable"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("SKIP"), std::string::npos) << r.out;  // no fallback to the default set
}

TEST(Issue17, P1_DefaultSetWithNothingBuiltIsAnError) {
    TempDir d;
    write_file(d / "unrelated_test", "#!/bin/sh\nexit 0\n", 0755);
    auto r = run_cli({"run", d.path().string()});
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("holds none of the default tests"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("x86/sev_smoke_test: not built"), std::string::npos) << r.err;
}

TEST(Issue17, P1_OnlyAbsentNamedTestsIsAnError) {
    TempDir d;
    write_file(d / "present_test", "#!/bin/sh\nexit 0\n", 0755);
    auto r = run_cli({"run", d.path().string(), "x86/snp_psc_test", "nope_test"});
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("none of the 2 selected tests can run"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("nope_test: test program not found"), std::string::npos) << r.err;
}

TEST(Issue17, P1_AllowNoTestsIsTheExplicitWayToRunNothing) {
    TempDir d;
    auto r = run_cli({"run", d.path().string(), "--all", "--allow-no-tests", "--progress", "never", "--json",
                      (d / "r.json").string()});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    json j = json::parse(read_file(d / "r.json"));
    EXPECT_EQ(j["summary"]["total"], 0);
    // The default set, nothing built, explicitly accepted: six skips, exit 0.
    auto s = run_cli({"run", d.path().string(), "--allow-no-tests", "--progress", "never"});
    EXPECT_EQ(s.exit_code, 0) << s.out << s.err;
    EXPECT_NE(s.out.find("6 skipped"), std::string::npos) << s.out;
}

// ---- 2. nothing a test starts outlives it ------------------------------------

// Runs twice: --isolation cgroup (skipped where the host has no usable
// cgroup v2) and --isolation subreaper (the fallback, forced).
class P2 : public ::testing::TestWithParam<IsolationMode> {
protected:
    void SetUp() override {
        if (GetParam() != IsolationMode::Cgroup) return;
        std::string err;
        auto iso = setup_isolation(IsolationMode::Cgroup, err);
        if (!iso) GTEST_SKIP() << "no usable cgroup v2 on this host: " << err;
        teardown_isolation(*iso);
    }
    std::string mode() const { return isolation_name(GetParam()); }
};

INSTANTIATE_TEST_SUITE_P(Issue17, P2, ::testing::Values(IsolationMode::Cgroup, IsolationMode::Subreaper),
                         [](const ::testing::TestParamInfo<IsolationMode>& i) {
                             return std::string(isolation_name(i.param));
                         });

TEST_P(P2, DaemonThatEscapesMakesThePassingTestFailInEveryReport) {
    TempDir d;
    // Copies of the fake selftest; the name picks the mode: a double fork
    // and setsid() with the output pipes kept open, and with them closed.
    for (const char* t : {"open/daemon_test", "closed/daemon_closed_test"}) {
        std::filesystem::create_directories((d / t).parent_path());
        std::filesystem::copy_file(kvmsr::testing::kFakeSelftest, d / t);
    }
    auto r = run_cli({"run", d.path().string(), "open/daemon_test", "closed/daemon_closed_test", "--isolation",
                      mode(), "--progress", "never", "--junit", (d / "j.xml").string(), "--ktap",
                      (d / "k.ktap").string(), "--json", (d / "r.json").string()},
                     60s);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("isolation: " + mode()), std::string::npos) << r.out;
    // Console: both named with what was left.
    EXPECT_NE(r.out.find("Failed (2):"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("open/daemon_test [FAIL]: exit code 0 but 1 process of the test was still running"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("closed/daemon_closed_test [FAIL]: exit code 0 but 1 process"), std::string::npos) << r.out;
    // JSON
    json j = json::parse(read_file(d / "r.json"));
    for (const auto& t : j["tests"]) {
        EXPECT_EQ(t["status"], "FAIL") << t["name"];
        EXPECT_EQ(t["exit_code"], 0);
        EXPECT_EQ(t["isolation"], mode());
        EXPECT_EQ(t["leftover_processes"], 1);
        ASSERT_EQ(t["leftovers"].size(), 1u);
        EXPECT_NE(t["leftovers"][0].get<std::string>().find("daemon"), std::string::npos) << t["leftovers"];
    }
    // JUnit
    pugi::xml_document doc;
    ASSERT_TRUE(doc.load_file((d / "j.xml").c_str()));
    int failures = 0;
    for (auto tc : doc.child("testsuites").child("testsuite").children("testcase")) {
        auto f = tc.child("failure");
        ASSERT_TRUE(f) << tc.attribute("name").value();
        EXPECT_NE(std::string(f.attribute("message").value()).find("still running after it ended"),
                  std::string::npos);
        ++failures;
    }
    EXPECT_EQ(failures, 2);
    // KTAP
    testing::keep_ktap("Issue17.P2_daemon_" + mode(), read_file(d / "k.ktap"));
    auto k = parse_ktap(read_file(d / "k.ktap"));
    ASSERT_EQ(k.results.size(), 2u);
    for (const auto& res : k.results) {
        EXPECT_TRUE(res.failed());
        bool said = false;
        for (const auto& diag : res.diagnostics) said = said || diag.find("still running after it ended") != std::string::npos;
        EXPECT_TRUE(said) << res.description;
    }
    // And the daemons are gone.
    for (const char* dir : {"open", "closed"}) {
        auto pids = testing::read_pids(d / dir / "pids");
        EXPECT_EQ(pids.size(), 2u) << dir;
        EXPECT_TRUE(testing::all_gone(pids)) << dir;
    }
}

TEST_P(P2, SigkilledRunnerLeavesNoTestRunning) {
    TempDir d;
    // A test with a child, a grandchild in a session of its own and a
    // harness-style child in a group of its own, all hanging.
    write_file(d / "hang_test",
               "#!/bin/sh\n"
               "echo $$ >> pids\n"
               "sleep 300 & echo $! >> pids\n"
               "(setsid sleep 300 & echo $! >> pids)\n"
               "exec sleep 300\n",
               0755);
    // The supervisors of a dead runner are re-parented: to this process, so
    // that they can be reaped here (PID 1 of a container may not reap).
    ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
    int runner = testing::spawn_cli({"run", d.path().string(), "hang_test", "--isolation", mode(), "--timeout", "600",
                                     "--progress", "never"},
                                    d / "runner.log");
    ASSERT_TRUE(testing::wait_for_pids(d / "pids", 3, 20s)) << read_file(d / "runner.log");
    auto pids = testing::read_pids(d / "pids");
    ASSERT_EQ(::kill(runner, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(runner, &status, 0), runner);
    EXPECT_TRUE(WIFSIGNALED(status));
    // Bounded: the supervisor notices within its poll interval and kills.
    EXPECT_TRUE(testing::all_gone(pids, 10s)) << read_file(d / "runner.log");
    // Reap the supervisor, which exits once its test is gone.
    const auto until = std::chrono::steady_clock::now() + 10s;
    for (;;) {
        pid_t w = ::waitpid(-1, &status, WNOHANG);
        if (w < 0) break;  // no children left
        if (std::chrono::steady_clock::now() >= until) {
            ADD_FAILURE() << "a supervisor did not exit after its runner was killed";
            break;
        }
        if (w == 0) std::this_thread::sleep_for(20ms);
    }
    if (GetParam() == IsolationMode::Cgroup) {
        // Its cgroups are gone too.
        std::ifstream cg("/proc/self/cgroup");
        std::string text((std::istreambuf_iterator<char>(cg)), std::istreambuf_iterator<char>());
        std::ifstream mi("/proc/self/mountinfo");
        std::string mounts((std::istreambuf_iterator<char>(mi)), std::istreambuf_iterator<char>());
        auto own = parse_unified_cgroup(text);
        ASSERT_TRUE(own);
        for (const auto& m : parse_cgroup2_mounts(mounts)) {
            if (auto dir = cgroup_dir_on(m, *own)) {
                EXPECT_FALSE(std::filesystem::exists(*dir + "/kvmsr-" + std::to_string(runner)));
            }
        }
    }
}

// ---- 3. KTAP that the kernel's tools read -------------------------------------

// One fake test per KTAP mapping case (README.md "KTAP"), with what the
// kernel's kunit_parser.py (Linux 7.3) must count for it: scripts/
// runner-ktap-check.sh compares in make check.
struct KtapCase {
    const char* name;
    const char* script;  // body of a /bin/sh script; empty: a copy of the fake selftest
    int passed, failed, crashed, skipped, errors;
};

const KtapCase kKtapCases[] = {
    {"pass_test", "exit 0", 1, 0, 0, 0, 0},
    {"tap_pass_test", "printf 'TAP version 13\\n1..2\\nok 1 a\\nok 2 b # SKIP no b here\\n'", 1, 0, 0, 1, 0},
    // TAP: a TODO result does not fail, nor does the runner; KTAP does not
    // know TODO, kunit_parser counts the "not ok".
    {"todo_test", "printf 'TAP version 13\\n1..2\\nok 1 a\\nnot ok 2 b # TODO not yet\\n'", 1, 1, 0, 0, 0},
    {"hash#name_test", "exit 0", 1, 0, 0, 0, 0},
    {"garbage_test",
     "printf 'TAP version 13\\n1..2\\n# \\033[2J\\000\\007\\n"
     "ok 1 \\033[31mred\\033[0m \\000 \\007 \\377\\376 # no\\033data\\n"
     "ok 2 \\377 # SKIP \\033]0;title\\007\\n'",
     1, 0, 0, 1, 0},
    // Its own plan, wrong, is kept: the two missing results are "crashed".
    {"bogus_plan_test", "printf 'TAP version 13\\n1..5\\nok 1 a\\nok 2 b\\nok 3 c\\n'; exit 1", 3, 0, 2, 0, 2},
    {"xfail_test", "printf 'TAP version 13\\n1..1\\nok 1 # XFAIL erratum 42\\n'; exit 2", 1, 0, 0, 0, 0},
    {"skip_test", "echo '1..0 # SKIP - Requirement not met: SEV'; exit 4", 0, 0, 0, 1, 0},
    {"assert_test", "echo '==== Test Assertion Failure ====' >&2; exit 254", 0, 1, 0, 0, 0},
    // A "not ok" parent whose results all passed: kunit_parser adds a failure.
    {"fail_after_ok_test", "printf 'TAP version 13\\n1..1\\nok 1 a\\n'; exit 254", 1, 1, 0, 0, 0},
    // Failed with only skips of its own: not nested, one failure.
    {"fail_skips_only_test", "printf 'TAP version 13\\n1..1\\nok 1 # SKIP x\\n'; exit 1", 0, 1, 0, 0, 0},
    {"crash_test", "kill -SEGV $$", 0, 1, 0, 0, 0},
    {"timeout_test", "exec sleep 60", 0, 1, 0, 0, 0},
    {"extra_results_test", "printf 'TAP version 13\\n1..1\\nok 1 a\\nok 2 b\\n'", 1, 1, 0, 0, 0},
    {"nested_group_test",
     "printf 'TAP version 13\\n1..2\\n    # Subtest: grp\\n    1..2\\n    ok 1 x\\n    not ok 2 y\\n"
     "not ok 1 grp\\nok 2 z\\n'; exit 1",
     2, 1, 0, 0, 0},
    {"daemon_test", "", 1, 1, 0, 0, 0},
    {"data_test", "printf 'TAP version 13\\n1..1\\nok 1 check # rcode=0\\n'", 1, 0, 0, 0, 0},
    {"unterminated_test", "printf 'TAP version 13\\n1..2\\nok 1 a\\n    KTAP version 1\\n    1..2\\n    ok 1 x\\n'", 2, 0,
     1, 0, 1},
    {"missing_test", nullptr, 0, 1, 0, 0, 0},
};

TEST(Issue17, P3_KtapSummaryFollowsKtapAndKeepsTheTestsOwnResults) {
    TempDir d;
    std::vector<std::string> args = {"run", d.path().string()};
    std::string expect;
    int tp = 0, tf = 0, tc = 0, ts = 0, te = 0;
    for (const auto& c : kKtapCases) {
        if (c.script && *c.script) write_file(d / c.name, std::string("#!/bin/sh\n") + c.script + "\n", 0755);
        else if (c.script) std::filesystem::copy_file(kvmsr::testing::kFakeSelftest, d / c.name);
        args.push_back(c.name);
        // The name as the KTAP file has it ('#' is not allowed there).
        std::string kname = c.name;
        if (auto h = kname.find('#'); h != std::string::npos) kname.replace(h, 1, "%23");
        expect += fmt::format("{}\t{}\t{}\t{}\t{}\t{}\n", kname, c.passed, c.failed, c.crashed, c.skipped, c.errors);
        tp += c.passed, tf += c.failed, tc += c.crashed, ts += c.skipped, te += c.errors;
    }
    expect += fmt::format("TOTAL\t{}\t{}\t{}\t{}\t{}\n", tp, tf, tc, ts, te);
    for (const char* a : {"-j", "4", "--timeout", "1", "--kill-grace", "0.2", "--progress", "never"}) args.push_back(a);
    args.insert(args.end(), {"--ktap", (d / "k.ktap").string(), "--json", (d / "r.json").string()});
    auto r = run_cli(args, 60s);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    const std::string text = read_file(d / "k.ktap");
    testing::keep_ktap("Issue17.P3_all_categories", text, expect);

    // The runner's verdicts are the ones the mapping assumes.
    json j = json::parse(read_file(d / "r.json"));
    std::map<std::string, std::string> status;
    for (const auto& t : j["tests"]) status[t["name"]] = t["status"];
    EXPECT_EQ(status["pass_test"], "PASS");
    EXPECT_EQ(status["todo_test"], "PASS");
    EXPECT_EQ(status["bogus_plan_test"], "FAIL");
    EXPECT_EQ(status["xfail_test"], "XFAIL");
    EXPECT_EQ(status["skip_test"], "SKIP");
    EXPECT_EQ(status["crash_test"], "CRASH");
    EXPECT_EQ(status["timeout_test"], "TIMEOUT");
    EXPECT_EQ(status["extra_results_test"], "FAIL");
    EXPECT_EQ(status["daemon_test"], "FAIL");
    EXPECT_EQ(status["unterminated_test"], "FAIL");
    EXPECT_EQ(status["missing_test"], "ERROR");

    // Valid UTF-8, no control characters: nothing of the garbage test's ESC,
    // NUL, BEL or invalid bytes.
    EXPECT_TRUE(clean_terminal_text(text)) << text;
    EXPECT_EQ(text.find('\t'), std::string::npos);
    // No '#' in a description: the only '#' on a result line opens its
    // directive or data, as " # ".
    std::istringstream lines(text);
    std::string line;
    int result_lines = 0;
    while (std::getline(lines, line)) {
        std::string_view l = line;
        while (l.starts_with(' ')) l.remove_prefix(1);
        if (!l.starts_with("ok ") && !l.starts_with("not ok ")) continue;
        ++result_lines;
        auto hash = l.find('#');
        if (hash != std::string_view::npos) {
            EXPECT_EQ(l.substr(hash - 1, 3), " # ") << line;
        }
    }
    EXPECT_GT(result_lines, 19);
    EXPECT_NE(text.find("ok 4 hash%23name_test\n"), std::string::npos) << text;
    // A nested "not ok ... # TODO" stays "not ok"; the test's own plan stays,
    // wrong as it is; nesting is by two spaces, KTAP's indentation.
    EXPECT_NE(text.find("\n  # Subtest: todo_test\n  1..2\n  ok 1 a\n  not ok 2 b # TODO not yet\n"), std::string::npos)
        << text;
    EXPECT_NE(text.find("\n  # Subtest: bogus_plan_test\n  1..5\n  ok 1 a\n"), std::string::npos) << text;
    EXPECT_NE(text.find("not ok 13 timeout_test # TIMEOUT 1 seconds\n"), std::string::npos) << text;
    EXPECT_NE(text.find("not ok 12 crash_test # signal=SIGSEGV\n"), std::string::npos) << text;
    EXPECT_NE(text.find("not ok 9 assert_test # exit=254\n"), std::string::npos) << text;
    EXPECT_NE(text.find("ok 7 xfail_test # XFAIL erratum 42\n"), std::string::npos) << text;
    EXPECT_NE(text.find("not ok 19 missing_test # ERROR test program not found"), std::string::npos) << text;
    EXPECT_NE(text.find("  ok 1 check # rcode=0\n"), std::string::npos) << text;

    // And the runner's own parser reads it back whole.
    auto k = parse_ktap(text);
    EXPECT_TRUE(k.ktap);
    EXPECT_EQ(k.plan, static_cast<long>(std::size(kKtapCases)));
    ASSERT_EQ(k.results.size(), std::size(kKtapCases));
    EXPECT_EQ(k.malformed_lines, 0u);
    EXPECT_EQ(k.results[2].subtests.size(), 2u);
    EXPECT_EQ(k.results[2].subtests[1].directive, Directive::Todo);
    EXPECT_FALSE(k.results[2].subtests[1].ok);
    EXPECT_EQ(k.results[5].subtest_plan, 5);
    // A failed test with only skips of its own is not nested (kunit_parser
    // would count it as skipped): its results are diagnostics.
    EXPECT_TRUE(k.results[10].subtests.empty());
    EXPECT_NE(text.find("# its TAP: ok # SKIP x\n# exit code 1"), std::string::npos) << text;
}

// ---- 5. free text that starts like a result is text ------------------------

TEST(Issue17, P5_FreeTextStartingWithNotOkIsNotAResult) {
    TempDir d;
    write_file(d / "hugepages_test",
               "#!/bin/sh\necho 'Random seed: 0x1'\necho 'not ok to use hugepages, skipping'\n"
               "echo 'ok, using 4K pages'\nexit 0\n",
               0755);
    auto r = run_cli({"run", d.path().string(), "hugepages_test", "--progress", "never", "--json",
                      (d / "r.json").string()});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    json j = json::parse(read_file(d / "r.json"));
    EXPECT_EQ(j["tests"][0]["status"], "PASS");
    EXPECT_EQ(j["tests"][0]["ktap"]["present"], false);
}

TEST(Issue17, P5_ResultsInsideATapDocumentStillCount) {
    TempDir d;
    // The same text before the header stays text; after it, "not ok" fails.
    write_file(d / "tap_test",
               "#!/bin/sh\necho 'not ok to use hugepages'\necho 'TAP version 13'\necho '1..1'\n"
               "echo 'not ok 1 real failure'\nexit 0\n",
               0755);
    auto r = run_cli({"run", d.path().string(), "tap_test", "--progress", "never"});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("TAP reports not ok real failure"), std::string::npos) << r.out;
}

// ---- 6. report paths ------------------------------------------------------------

// A test that would show that it ran: it leaves a file.
void marker_test(const TempDir& d) { write_file(d / "marker_test", "#!/bin/sh\ntouch ran\nexit 0\n", 0755); }

TEST(Issue17, P6_BadReportPathsStopTheRunBeforeItStartsAndAreAllNamed) {
    TempDir d;
    marker_test(d);
    std::filesystem::create_directories(d / "adir");
    auto r = run_cli({"run", d.path().string(), "marker_test", "--junit", (d / "no/such/dir/j.xml").string(), "--ktap",
                      (d / "adir").string(), "--json", (d / "fine.json").string()});
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("cannot write the JUnit report " + (d / "no/such/dir/j.xml").string() + " (--junit)"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("cannot write the KTAP report " + (d / "adir").string() + " (--ktap): Is a directory"),
              std::string::npos)
        << r.err;
    EXPECT_FALSE(std::filesystem::exists(d / "ran"));         // nothing ran
    EXPECT_FALSE(std::filesystem::exists(d / "fine.json"));  // and nothing was left behind
}

TEST(Issue17, P6_TwoReportsInOneFileAreRefused) {
    TempDir d;
    marker_test(d);
    auto same = run_cli({"run", d.path().string(), "marker_test", "--junit", (d / "r.out").string(), "--ktap",
                         (d / "." / "r.out").string()});
    EXPECT_EQ(same.exit_code, 2) << same.out << same.err;
    EXPECT_NE(same.err.find("--junit and --ktap name the same file"), std::string::npos) << same.err;
    std::filesystem::create_symlink(d / "r.out", d / "link.out");
    write_file(d / "r.out", "old\n");
    auto link = run_cli({"run", d.path().string(), "marker_test", "--json", (d / "r.out").string(), "--ktap",
                         (d / "link.out").string()});
    EXPECT_EQ(link.exit_code, 2) << link.err;
    EXPECT_NE(link.err.find("--ktap and --json name the same file"), std::string::npos) << link.err;
    EXPECT_EQ(read_file(d / "r.out"), "");  // emptied: an earlier report must not look like this run's
    auto out = run_cli({"run", d.path().string(), "marker_test", "--json", "-", "--junit", "-"});
    EXPECT_EQ(out.exit_code, 2) << out.err;
    EXPECT_FALSE(std::filesystem::exists(d / "ran"));
}

TEST(Issue17, P6_AReportLostAtTheEndIsNamedAndDoesNotHideFailures) {
    TempDir d;
    marker_test(d);
    write_file(d / "fail_test", "#!/bin/sh\nexit 1\n", 0755);
    // /dev/full opens, and every write to it fails: the late error path.
    auto failing = run_cli({"run", d.path().string(), "marker_test", "fail_test", "--progress", "never", "--json",
                            "/dev/full", "--junit", "/dev/full", "--ktap", (d / "k.ktap").string()});
    EXPECT_EQ(failing.exit_code, 1) << failing.out << failing.err;  // the test failure is the exit code
    EXPECT_NE(failing.err.find("cannot write the JUnit report /dev/full: No space left on device"), std::string::npos)
        << failing.err;
    EXPECT_NE(failing.err.find("cannot write the JSON report /dev/full: No space left on device"), std::string::npos)
        << failing.err;
    EXPECT_NE(failing.err.find("2 reports not written; 1 test failed (exit code 1)"), std::string::npos)
        << failing.err;
    EXPECT_NE(failing.out.find("fail_test [FAIL]"), std::string::npos) << failing.out;
    EXPECT_TRUE(std::filesystem::exists(d / "k.ktap"));  // the others are written
    auto passing = run_cli({"run", d.path().string(), "marker_test", "--progress", "never", "--json", "/dev/full"});
    EXPECT_EQ(passing.exit_code, 2) << passing.err;  // all passed, but a report is missing
    EXPECT_NE(passing.err.find("no test failed (exit code 2)"), std::string::npos) << passing.err;
}

// ---- 7. XFAIL, the timeout message, the console -------------------------------

TEST(Issue17, P7_ExitCode2IsXfailNotAFailure) {
    TempDir d;
    write_file(d / "xfail_test",
               "#!/bin/sh\necho 'TAP version 13'\necho '1..1'\necho 'ok 1 # XFAIL erratum 1234 not fixed yet'\nexit 2\n",
               0755);
    write_file(d / "xpass_test", "#!/bin/sh\nexit 3\n", 0755);
    auto r = run_cli({"run", d.path().string(), "xfail_test", "--progress", "never", "--json", (d / "r.json").string(),
                      "--junit", (d / "j.xml").string()});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("[1/1] XFAIL   xfail_test"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("1 xfail"), std::string::npos) << r.out;
    json j = json::parse(read_file(d / "r.json"));
    EXPECT_EQ(j["tests"][0]["status"], "XFAIL");
    EXPECT_EQ(j["tests"][0]["failed"], false);
    EXPECT_EQ(j["tests"][0]["reason"], "erratum 1234 not fixed yet");
    EXPECT_EQ(j["summary"]["xfail"], 1);
    EXPECT_EQ(j["success"], true);
    pugi::xml_document doc;
    ASSERT_TRUE(doc.load_file((d / "j.xml").c_str()));
    auto sk = doc.child("testsuites").child("testsuite").child("testcase").child("skipped");
    ASSERT_TRUE(sk);
    EXPECT_STREQ(sk.attribute("type").value(), "xfail");
    bool ok = false;
    auto msg = testing::validate_junit(d / "j.xml", ok);
    EXPECT_TRUE(ok) << msg;
    // Exit 3, KSFT_XPASS: it passed where it expected to fail.
    auto x = run_cli({"run", d.path().string(), "xpass_test", "--progress", "never"});
    EXPECT_EQ(x.exit_code, 1) << x.out;
    EXPECT_NE(x.out.find("exit code 3 (KSFT_XPASS): the test passed where it expected to fail"), std::string::npos)
        << x.out;
}

TEST(Issue17, P7_TimeoutMessageNamesTheTimeoutNotTheKillGrace) {
    TempDir d;
    write_file(d / "stubborn_test", "#!/bin/sh\ntrap '' TERM\nwhile :; do sleep 0.1; done\n", 0755);
    auto r = run_cli({"run", d.path().string(), "stubborn_test", "--timeout", "1", "--kill-grace", "1.5",
                      "--progress", "never", "--json", (d / "r.json").string()});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    json j = json::parse(read_file(d / "r.json"));
    EXPECT_EQ(j["tests"][0]["status"], "TIMEOUT");
    const std::string reason = j["tests"][0]["reason"];
    EXPECT_EQ(reason.rfind("timed out after 1 s;", 0), 0u) << reason;
    EXPECT_GE(j["tests"][0]["duration_s"].get<double>(), 2.4);  // it took the grace too
}

TEST(Issue17, P7_NamesAndOutputWithBadBytesDoNotReachTheConsole) {
    TempDir d;
    const std::string evil = "evil\n\x1b[2J\x07\xff_test";
    write_file(d / evil,
               "#!/bin/sh\nprintf 'TAP version 13\\n1..1\\nnot ok 1 \\033]0;pwned\\007 \\377\\376\\n'\n"
               "printf '\\033[31mred\\000nul\\n' >&2\nexit 1\n",
               0755);
    for (const char* extra : {"--progress=never", "--progress=always", "-q"}) {
        SCOPED_TRACE(extra);
        auto r = run_cli({"run", d.path().string(), evil, extra});
        EXPECT_EQ(r.exit_code, 1) << r.out;
        EXPECT_TRUE(clean_terminal_text(r.out)) << r.out;
        EXPECT_TRUE(clean_terminal_text(r.err)) << r.err;
    }
    auto r = run_cli({"run", d.path().string(), evil, "--progress=never"});
    EXPECT_NE(r.out.find("evil\xEF\xBF\xBD"), std::string::npos) << r.out;  // U+FFFD for the newline
    // The list of tests is printed the same way.
    auto l = run_cli({"run", d.path().string(), evil, "--list"});
    EXPECT_TRUE(clean_terminal_text(l.out)) << l.out;
}

TEST(Issue17, P7_ProbeOnANestedGuestSaysWhatItFound) {
    // This machine's case: the kvm module (and kvm_pvm) loaded, no /dev/kvm,
    // no SVM or VMX; read from a fake /proc and /sys.
    TempDir d;
    write_file(d / "proc/cpuinfo", "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 hypervisor avx2\n");
    write_file(d / "sys/module/kvm/parameters/halt_poll_ns", "200000\n");
    write_file(d / "sys/module/kvm_pvm/parameters/nx_huge_pages", "N\n");
    std::filesystem::create_directories(d / "sys/class/misc/tun");
    auto r = run_cli({"probe", "--sysroot", d.path().string(), "--device", (d / "dev/kvm").string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.find("KVM is not loaded"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("not a KVM host"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("AMD EPYC; hardware virtualization: neither VMX nor SVM; runs under a hypervisor"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("kvm, kvm_pvm loaded or built in"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("the kvm module is loaded; kvm_pvm is loaded but registered no KVM device"),
              std::string::npos)
        << r.out;
    auto j = run_cli({"probe", "--json", "--sysroot", d.path().string(), "--device", (d / "dev/kvm").string()});
    json pj = json::parse(j.out);
    EXPECT_EQ(pj["host"]["kvm_device_registered"], false);
    EXPECT_EQ(pj["host"]["cpu_model"], "AMD EPYC");
}

// ---- what host teams asked for ---------------------------------------------------

// A fake KVM selftest that parses options as the real ones do: -v and -n N
// are known; anything else prints the usage and exits 0, as several KVM
// selftests' help() does.
const char* kOptionsTest =
    "#!/bin/sh\n"
    "while [ $# -gt 0 ]; do\n"
    "  case $1 in\n"
    "    -v) echo verbose ;;\n"
    "    -n) echo \"n=$2\"; shift ;;\n"
    "    *) echo \"usage: $0 [-v] [-n N]\"; exit 0 ;;\n"
    "  esac\n"
    "  shift\n"
    "done\n"
    "printf 'args:'; for a in \"$@\"; do printf ' [%s]' \"$a\"; done; echo\n"
    "exit 0\n";

TEST(Issue17, Feature_TestCaseFilesCarryArgumentsAndARejectedArgumentFails) {
    TempDir d;
    write_file(d / "x86/options_test", kOptionsTest, 0755);
    write_file(d / "cases/options_test/verbose.test", "# the verbose run\noptions_test -v -n 'two words'\n");
    write_file(d / "cases/options_test/bad_option.test", "x86/options_test -v --bogus\n");
    write_file(d / "cases/options_test/quoted.test", "timeout=30\noptions_test -n \"a \\\"b\\\" c\"\n");
    write_file(d / "cases/two_lines.test", "options_test -v\noptions_test -n 1\n");
    write_file(d / "cases/missing_program.test", "no_such_test -v\n");
    // An argparse-style program: usage on stderr and exit 2, which alone
    // would read as XFAIL.
    write_file(d / "x86/argparse_test",
               "#!/bin/sh\necho 'usage: argparse_test [-h]' >&2\n"
               "echo 'argparse_test: error: unrecognized arguments: --bogus' >&2\nexit 2\n",
               0755);
    write_file(d / "cases/argparse.test", "argparse_test --bogus\n");
    auto r = run_cli({"run", d.path().string(), "--testcases", (d / "cases").string(), "--progress", "never",
                      "--json", (d / "r.json").string()});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    json j = json::parse(read_file(d / "r.json"));
    std::map<std::string, json> t;
    for (const auto& x : j["tests"]) t[x["name"]] = x;
    ASSERT_EQ(t.size(), 6u) << j.dump(2);
    EXPECT_EQ(t["argparse"]["status"], "FAIL");
    EXPECT_EQ(t["argparse"]["exit_code"], 2);
    EXPECT_EQ(t["options_test/verbose"]["status"], "PASS");
    EXPECT_EQ(t["options_test/verbose"]["args"], json::array({"-v", "-n", "two words"}));
    EXPECT_NE(t["options_test/verbose"]["stdout"].get<std::string>().find("n=two words"), std::string::npos);
    EXPECT_EQ(t["options_test/quoted"]["status"], "PASS");
    EXPECT_NE(t["options_test/quoted"]["stdout"].get<std::string>().find("n=a \"b\" c"), std::string::npos);
    // Usage printed, exit 0: not a pass.
    EXPECT_EQ(t["options_test/bad_option"]["status"], "FAIL");
    EXPECT_EQ(t["options_test/bad_option"]["exit_code"], 0);
    EXPECT_NE(t["options_test/bad_option"]["reason"].get<std::string>().find("did not take its arguments: -v --bogus"),
              std::string::npos)
        << t["options_test/bad_option"]["reason"];
    EXPECT_EQ(t["two_lines"]["status"], "ERROR");
    EXPECT_NE(t["two_lines"]["reason"].get<std::string>().find("a test-case file holds one test case"),
              std::string::npos);
    EXPECT_EQ(t["missing_program"]["status"], "ERROR");
    // One file on the command line works as well.
    auto one = run_cli({"run", d.path().string(), (d / "cases/options_test/verbose.test").string(), "--list"});
    EXPECT_EQ(one.exit_code, 0) << one.err;
    EXPECT_NE(one.out.find("options_test -v -n two words"), std::string::npos) << one.out;
}

TEST(Issue17, Feature_ExcludeListWithReasons) {
    TempDir d;
    write_file(d / "x86/a_test", "#!/bin/sh\nexit 0\n", 0755);
    write_file(d / "x86/b_perf_test", "#!/bin/sh\nexit 1\n", 0755);
    write_file(d / "c_test", "#!/bin/sh\nexit 1\n", 0755);
    write_file(d / "exclude.txt",
               "# known to fail on this host\n"
               "x86/*_perf_test   too slow for CI (JIRA-12)\n"
               "kvm:c_test\tneeds a second NUMA node\n"
               "nonexistent_test  gone\n");
    auto r = run_cli({"run", d.path().string(), "x86/a_test", "x86/b_perf_test", "c_test", "--exclude",
                      (d / "exclude.txt").string(), "--progress", "never", "--json", (d / "r.json").string()});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    json j = json::parse(read_file(d / "r.json"));
    EXPECT_EQ(j["tests"][1]["status"], "SKIP");
    EXPECT_EQ(j["tests"][1]["reason"], "excluded: too slow for CI (JIRA-12) (" + (d / "exclude.txt").string() + ":2)");
    EXPECT_EQ(j["tests"][1]["ran"], false);
    EXPECT_EQ(j["tests"][2]["status"], "SKIP");
    EXPECT_NE(r.err.find("exclude.txt:4: nonexistent_test matches no selected test"), std::string::npos) << r.err;
    // An exclusion without a reason is refused before anything runs.
    write_file(d / "bad.txt", "x86/a_test\n");
    auto bad = run_cli({"run", d.path().string(), "x86/a_test", "--exclude", (d / "bad.txt").string()});
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_NE(bad.err.find("bad.txt:1: \"x86/a_test\" has no reason"), std::string::npos) << bad.err;
    // Excluding everything selected is a selection with nothing to run.
    write_file(d / "all.txt", "* not today\n");
    auto all = run_cli({"run", d.path().string(), "x86/a_test", "--exclude", (d / "all.txt").string()});
    EXPECT_EQ(all.exit_code, 2) << all.out << all.err;
}

TEST(Issue17, Feature_OutputDirHoldsEachTestsStdoutAndStderr) {
    TempDir d;
    write_file(d / "x86/talk_test", "#!/bin/sh\necho to-stdout\necho to-stderr >&2\nexit 0\n", 0755);
    write_file(d / "quiet_test", "#!/bin/sh\nexit 1\n", 0755);
    auto r = run_cli({"run", d.path().string(), "x86/talk_test", "quiet_test", "-o", (d / "out/logs").string(),
                      "--progress", "never", "--json", (d / "r.json").string()});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_EQ(read_file(d / "out/logs/x86/talk_test.stdout"), "to-stdout\n");
    EXPECT_EQ(read_file(d / "out/logs/x86/talk_test.stderr"), "to-stderr\n");
    EXPECT_TRUE(std::filesystem::exists(d / "out/logs/quiet_test.stdout"));  // empty, but there
    json j = json::parse(read_file(d / "r.json"));
    EXPECT_EQ(j["tests"][0]["stdout_file"], (d / "out/logs/x86/talk_test.stdout").string());
    // A name cannot reach outside the directory.
    EXPECT_EQ(output_path("/o", "../../etc/passwd", ".stdout"), "/o/_._/_._/etc/passwd.stdout");
    EXPECT_EQ(output_path("/o", "/abs/x\n", ".stderr"), "/o/abs/x_.stderr");
    // An unusable directory stops the run first.
    write_file(d / "afile", "x");
    auto bad = run_cli({"run", d.path().string(), "quiet_test", "-o", (d / "afile").string()});
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_NE(bad.err.find("cannot write the output directory"), std::string::npos) << bad.err;
}

TEST(Issue17, Feature_HeartbeatNamesALongTest) {
    TempDir d;
    write_file(d / "slow_test", "#!/bin/sh\nsleep 2\nexit 0\n", 0755);
    auto r = run_cli({"run", d.path().string(), "slow_test", "--heartbeat", "0.5", "--progress", "never"});
    EXPECT_EQ(r.exit_code, 0) << r.out;
    // Every half second (ticks are half a second apart, and a loaded machine
    // may delay them): at least two beats in two seconds, each naming the test.
    std::size_t beats = 0;
    for (std::size_t at = 0; (at = r.out.find("[heartbeat] slow_test: still running after ", at)) != std::string::npos;
         ++at)
        ++beats;
    EXPECT_GE(beats, 2u) << r.out;
    EXPECT_NE(r.out.find(" s (timeout 120 s)\n"), std::string::npos) << r.out;
    auto off = run_cli({"run", d.path().string(), "slow_test", "--heartbeat", "0", "--progress", "never"});
    EXPECT_EQ(off.out.find("[heartbeat]"), std::string::npos) << off.out;
}

TEST(Issue17, Feature_SummaryAlwaysNamesWhatFailed) {
    TempDir d;
    write_file(d / "ok_test", "#!/bin/sh\nexit 0\n", 0755);
    write_file(d / "x86/bad_test", "#!/bin/sh\nexit 1\n", 0755);
    write_file(d / "crash_test", "#!/bin/sh\nkill -SEGV $$\n", 0755);
    for (const char* mode : {"--progress=never", "-q"}) {
        SCOPED_TRACE(mode);
        auto r = run_cli({"run", d.path().string(), "ok_test", "x86/bad_test", "crash_test", mode});
        EXPECT_EQ(r.exit_code, 1);
        EXPECT_NE(r.out.find("Summary: 3 tests: 1 passed, 0 skipped, 2 failed"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("\nFailed: x86/bad_test (FAIL), crash_test (CRASH)\n"), std::string::npos) << r.out;
    }
    auto ok = run_cli({"run", d.path().string(), "ok_test", "-q"});
    EXPECT_EQ(ok.out.find("Failed:"), std::string::npos) << ok.out;
}

}  // namespace
}  // namespace kvmsr

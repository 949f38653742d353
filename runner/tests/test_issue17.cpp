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

#include <nlohmann/json.hpp>
#include <pugixml.hpp>

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

// ---- 1. a mistyped directory must not pass ---------------------------------

TEST(Issue17, P1_AllOnAnEmptyDirectoryIsAnError) {
    TempDir d;
    auto r = run_cli({"run", d.path().string(), "--all", "--junit", (d / "j.xml").string()});
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("no test found in"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("it is empty"), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(d / "j.xml"));  // no green JUnit
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
    EXPECT_NE(r.err.find("none of the 2 selected tests exists"), std::string::npos) << r.err;
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
        std::filesystem::copy_file(KVMSR_FAKE_SELFTEST, d / t);
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

}  // namespace
}  // namespace kvmsr

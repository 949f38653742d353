// Issue 17, point by point: every case the issue lists, run through the
// built kvm-selftest-runner on fake tests generated here.  The test names
// carry the point (P1 ... P7, then the features host teams asked for).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

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

}  // namespace
}  // namespace kvmsr

// The kvm-selftest-runner binary end to end, on fake tests generated here.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <thread>

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

// A fake KVM selftests directory with one misbehaving test per case.
void make_fake_suite(const std::filesystem::path& d) {
    write_file(d / "pass_test", "#!/bin/sh\necho 'Random seed: 0x6b8b4567'\nexit 0\n", 0755);
    write_file(d / "x86/skip_tap_test",
               "#!/bin/sh\necho '1..0 # SKIP - Requirement not met: kvm_cpu_has(X86_FEATURE_SEV)'\nexit 4\n", 0755);
    write_file(d / "x86/assert_test",
               "#!/bin/sh\nprintf '\\n==== Test Assertion Failure ====\\n  lib/kvm_util.c:99: r == 0\\n"
               "  pid=1 tid=1 errno=22 - Invalid argument\\n  KVM_SET_USER_MEMORY_REGION2 failed\\n' >&2\nexit 254\n",
               0755);
    write_file(d / "x86/hang_test", "#!/bin/sh\necho started\nexec sleep 300\n", 0755);
    write_file(d / "x86/fork_hang_test",
               "#!/bin/sh\nsleep 300 & echo $! >> \"$0.pids\"\nsh -c 'sleep 300' & echo $! >> \"$0.pids\"\nwait\n",
               0755);
    write_file(d / "x86/orphan_test", "#!/bin/sh\nsleep 300 & echo $! >> \"$0.pids\"\necho bye\nexit 0\n", 0755);
    write_file(d / "x86/flood_test",
               "#!/bin/sh\necho 'TAP version 13'\necho '1..1'\nhead -c 8388608 /dev/zero | tr '\\0' 'z'\n"
               "echo\necho 'ok 1 flood'\nexit 0\n",
               0755);
    std::string garbage;
    for (int i = 0; i < 65536; ++i) garbage.push_back(static_cast<char>((i * 7919) & 0xff));
    write_file(d / "x86/garbage.bin", garbage, 0644);
    write_file(d / "x86/garbage_test", "#!/bin/sh\ncat garbage.bin\ncat garbage.bin >&2\nexit 0\n", 0755);
    write_file(d / "x86/truncated_tap_test",
               "#!/bin/sh\nprintf 'TAP version 13\\n1..3\\nok 1 a\\n    KTAP version 1\\n    1..2\\n    ok 1 x\\n"
               "    not o'\nexit 0\n",
               0755);
    write_file(d / "x86/crash_test", "#!/bin/sh\necho 'TAP version 13'\necho '1..2'\necho 'ok 1 a'\nkill -SEGV $$\n",
               0755);
    write_file(d / "x86/noexec_test", "#!/bin/sh\nexit 0\n", 0644);
    // Copies of the fake harness-like selftest; the mode comes from the name.
    for (const char* t : {"harness1/pgrp_hang_test", "harness2/pgrp_orphan_test"}) {
        std::filesystem::create_directories((d / t).parent_path());
        std::filesystem::copy_file(kvmsr::testing::kFakeSelftest, d / t);
    }
    write_file(d / "x86/notelf_test", "this is not a program\n", 0755);
}

std::vector<long> pids_in(const std::filesystem::path& p) {
    std::vector<long> v;
    std::ifstream f(p);
    long x;
    while (f >> x) v.push_back(x);
    return v;
}

bool gone(long pid) {
    for (int i = 0; i < 100; ++i) {
        std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
        std::string s;
        if (!std::getline(f, s)) return true;
        auto rp = s.rfind(')');
        if (rp != std::string::npos && rp + 2 < s.size() && s[rp + 2] == 'Z') return true;
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

TEST(Cli, BadInputsGiveFailedResultsNotHangsOrCrashes) {
    TempDir d;
    make_fake_suite(d.path());
    const auto out = d / "out";
    std::filesystem::create_directories(out);
    std::vector<std::string> names = {"pass_test",         "x86/skip_tap_test", "x86/assert_test",
                                      "x86/hang_test",     "x86/fork_hang_test", "x86/orphan_test",
                                      "x86/flood_test",    "x86/garbage_test",  "x86/truncated_tap_test",
                                      "x86/crash_test",    "x86/noexec_test",   "x86/notelf_test",
                                      "x86/missing_test",  "harness1/pgrp_hang_test",
                                      "harness2/pgrp_orphan_test"};
    std::vector<std::string> args = {"run", d.path().string()};
    args.insert(args.end(), names.begin(), names.end());
    for (const char* a : {"-j", "3", "--timeout", "1", "--kill-grace", "0.2", "--output-cap", "1", "--progress",
                          "never"})
        args.push_back(a);
    args.insert(args.end(), {"--junit", (out / "junit.xml").string(), "--ktap", (out / "summary.ktap").string(),
                             "--json", (out / "report.json").string()});
    // 15 tests, three of which hang for 300 s or forever: bounded by the 1 s timeout.
    auto r = run_cli(args, 120s);
    ASSERT_TRUE(r.exited) << "runner crashed or hung; signal " << r.signal;
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;

    json j = json::parse(read_file(out / "report.json"));
    std::map<std::string, json> by_name;
    for (auto& t : j["tests"]) by_name[t["name"].get<std::string>()] = t;
    ASSERT_EQ(by_name.size(), names.size());
    auto status = [&](const std::string& n) { return by_name[n]["status"].get<std::string>(); };
    EXPECT_EQ(status("pass_test"), "PASS");
    EXPECT_EQ(status("x86/skip_tap_test"), "SKIP");
    EXPECT_EQ(by_name["x86/skip_tap_test"]["reason"], "Requirement not met: kvm_cpu_has(X86_FEATURE_SEV)");
    EXPECT_EQ(status("x86/assert_test"), "FAIL");
    EXPECT_NE(by_name["x86/assert_test"]["reason"].get<std::string>().find("lib/kvm_util.c:99"), std::string::npos);
    EXPECT_EQ(status("x86/hang_test"), "TIMEOUT");
    EXPECT_EQ(status("x86/fork_hang_test"), "TIMEOUT");
    EXPECT_EQ(status("x86/orphan_test"), "FAIL");
    EXPECT_EQ(by_name["x86/orphan_test"]["exit_code"], 0);
    EXPECT_EQ(status("x86/flood_test"), "PASS");
    EXPECT_EQ(by_name["x86/flood_test"]["truncated"], true);
    EXPECT_GT(by_name["x86/flood_test"]["stdout_bytes"].get<std::size_t>(), 8u << 20);
    EXPECT_LE(by_name["x86/flood_test"]["stdout"].get<std::string>().size(), (1u << 20));
    EXPECT_EQ(status("x86/garbage_test"), "PASS");
    EXPECT_EQ(status("x86/truncated_tap_test"), "FAIL");
    EXPECT_EQ(status("x86/crash_test"), "CRASH");
    EXPECT_EQ(status("x86/noexec_test"), "ERROR");
    EXPECT_NE(by_name["x86/noexec_test"]["reason"].get<std::string>().find("not executable"), std::string::npos);
    EXPECT_EQ(status("x86/notelf_test"), "ERROR");
    EXPECT_NE(by_name["x86/notelf_test"]["reason"].get<std::string>().find("Exec format error"), std::string::npos);
    EXPECT_EQ(status("x86/missing_test"), "ERROR");
    EXPECT_EQ(status("harness1/pgrp_hang_test"), "TIMEOUT");
    EXPECT_EQ(status("harness2/pgrp_orphan_test"), "FAIL");
    EXPECT_NE(by_name["harness2/pgrp_orphan_test"]["reason"].get<std::string>().find("still running"),
              std::string::npos);
    EXPECT_EQ(j["summary"]["pass"], 3);
    EXPECT_EQ(j["summary"]["skip"], 1);
    EXPECT_EQ(j["success"], false);

    // Hung children of the hanging tests are gone.
    for (const char* t : {"x86/fork_hang_test.pids", "x86/orphan_test.pids", "harness1/pids", "harness2/pids"}) {
        auto pids = pids_in(d / t);
        EXPECT_FALSE(pids.empty()) << t;
        for (long p : pids) EXPECT_TRUE(gone(p)) << t << " left pid " << p;
    }

    bool ok = false;
    auto msg = testing::validate_junit(out / "junit.xml", ok);
    EXPECT_TRUE(ok) << msg;

    testing::keep_ktap("Cli.BadInputsGiveFailedResultsNotHangsOrCrashes", read_file(out / "summary.ktap"));
    auto k = parse_ktap(read_file(out / "summary.ktap"));
    EXPECT_EQ(k.plan, static_cast<long>(names.size()));
    EXPECT_EQ(k.results.size(), names.size());
    EXPECT_EQ(k.malformed_lines, 0u);
    ASSERT_TRUE(k.totals);
    EXPECT_EQ(k.totals->pass, 3);
    EXPECT_EQ(k.totals->skip, 1);
    EXPECT_EQ(k.totals->fail, 8);   // assert, 2 orphans, truncated TAP, 3 timeouts, crash
    EXPECT_EQ(k.totals->error, 3);  // noexec, notelf, missing
}

TEST(Cli, RelativeDirectoryRunsItsTests) {
    // Found by hand: a relative DIR gave relative program paths, which the
    // supervisor looked up from the test's own directory: ENOENT.
    TempDir d;
    write_file(d / "suite/x86/rel_test", "#!/bin/sh\necho here\nexit 0\n", 0755);
    auto r = testing::run_program(kvmsr::testing::kBinary, {"run", "suite", "x86/rel_test", "--progress", "never"}, 60s,
                                  d.path().string());
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("[1/1] PASS    x86/rel_test"), std::string::npos) << r.out;
}

TEST(Cli, MissingDirectoryIsAClearError) {
    auto r = run_cli({"run", "/nonexistent/kvm-selftests"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("test directory does not exist: /nonexistent/kvm-selftests"), std::string::npos) << r.err;
}

TEST(Cli, DirectoryWithoutKvmTestsIsAClearError) {
    TempDir d;
    auto r = run_cli({"run", d.path().string()});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("holds none of the default tests"), std::string::npos) << r.err;
}

TEST(Cli, DefaultSetReportsOurTestsAsNotBuilt) {
    TempDir d;
    write_file(d / "x86/sev_smoke_test", "#!/bin/sh\necho '1..0 # SKIP - Requirement not met: SEV'\nexit 4\n", 0755);
    write_file(d / "x86/private_mem_conversions_test", "#!/bin/sh\nexit 0\n", 0755);
    auto r = run_cli({"run", d.path().string(), "--progress", "never", "--json", (d / "r.json").string()});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    json j = json::parse(read_file(d / "r.json"));
    EXPECT_EQ(j["tests"][0]["name"], "x86/snp_psc_test");
    EXPECT_EQ(j["tests"][0]["status"], "SKIP");
    EXPECT_NE(j["tests"][0]["reason"].get<std::string>().find("not built"), std::string::npos);
    EXPECT_EQ(j["tests"][1]["name"], "x86/tdx_map_gpa_test");
    EXPECT_EQ(j["tests"][1]["status"], "SKIP");
    EXPECT_NE(r.out.find("Skipped ("), std::string::npos);
    EXPECT_NE(r.out.find("x86/snp_psc_test: not built"), std::string::npos);
}

TEST(Cli, ExplicitlyListedMissingTestFails) {
    TempDir d;
    write_file(d / "x86/sev_smoke_test", "#!/bin/sh\nexit 0\n", 0755);
    auto r = run_cli({"run", d.path().string(), "x86/snp_psc_test", "x86/sev_smoke_test", "--progress", "never"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.out.find("test program not found"), std::string::npos) << r.out;
}

TEST(Cli, InstallDirectoryIsAccepted) {
    TempDir d;
    write_file(d / "kselftest-list.txt", "kvm:x86/sev_smoke_test\n");
    write_file(d / "kvm/x86/sev_smoke_test", "#!/bin/sh\nexit 0\n", 0755);
    auto r = run_cli({"run", d.path().string(), "--all", "--progress", "never"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("(kselftest install)"), std::string::npos);
}

TEST(Cli, ProgressLinesWithoutTerminal) {
    TempDir d;
    write_file(d / "a_test", "#!/bin/sh\nexit 0\n", 0755);
    auto r = run_cli({"run", d.path().string(), "a_test"});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_NE(r.out.find("[1/1] PASS    a_test"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("\033[K"), std::string::npos);  // no redraws into a pipe
}

TEST(Cli, EnvOptionTakesOneValueEachAndReachesTheTest) {
    TempDir d;
    write_file(d / "env_test", "#!/bin/sh\n/usr/bin/env\n", 0755);
    auto r = run_cli({"run", d.path().string(), "--env", "FOO=1", "env_test", "--env", "BAR=2", "--progress",
                      "never", "--json", (d / "r.json").string()});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    auto out = json::parse(read_file(d / "r.json"))["tests"][0]["stdout"].get<std::string>();
    EXPECT_NE(out.find("FOO=1\n"), std::string::npos) << out;
    EXPECT_NE(out.find("BAR=2\n"), std::string::npos) << out;
    EXPECT_EQ(run_cli({"run", d.path().string(), "--env", "NOEQUALS", "env_test"}).exit_code, 2);
}

TEST(Cli, UsageErrors) {
    EXPECT_EQ(run_cli({}).exit_code, 2);
    EXPECT_EQ(run_cli({"run"}).exit_code, 2);
    EXPECT_EQ(run_cli({"run", "/tmp", "-j", "0"}).exit_code, 2);
    EXPECT_EQ(run_cli({"frobnicate"}).exit_code, 2);
    EXPECT_EQ(run_cli({"--help"}).exit_code, 0);
}

TEST(Cli, ProbeWithoutDevice) {
    auto r = run_cli({"probe", "--device", "/dev/kvm-missing", "--json"});
    EXPECT_EQ(r.exit_code, 0);
    json j = json::parse(r.out);
    EXPECT_EQ(j["tdx"]["blocker"], "no-device");
    EXPECT_EQ(j["snp"]["blocker"], "no-device");
    auto t = run_cli({"probe", "--device", "/dev/kvm-missing"});
    EXPECT_NE(t.out.find("TDX selftests"), std::string::npos);
    EXPECT_NE(t.out.find("cannot run: no /dev/kvm-missing"), std::string::npos) << t.out;
}

TEST(Cli, ProbeRealKvm) {
    if (::access("/dev/kvm", R_OK | W_OK) != 0) GTEST_SKIP() << "no usable /dev/kvm on this machine";
    auto r = run_cli({"probe", "--json"});
    ASSERT_EQ(r.exit_code, 0);
    json j = json::parse(r.out);
    EXPECT_EQ(j["api_version"], 12);
    EXPECT_TRUE(j["cap_vm_types"]["offered"]["default"].get<bool>());
    // Every VM type offered was created and asked about the new capability.
    EXPECT_EQ(j["vms"].size(), static_cast<std::size_t>(__builtin_popcountll(j["cap_vm_types"]["mask"].get<unsigned long long>())));
}

}  // namespace
}  // namespace kvmsr

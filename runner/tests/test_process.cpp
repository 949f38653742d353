// run_process against small fake tests that misbehave: hang, fork children
// that hang, flood output, print garbage, ignore SIGTERM, cannot be executed.
// Every case must come back, bounded by the timeouts given here (and by
// CTest's TIMEOUT), with the children gone.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <thread>

#include "kvmsr/isolation.hpp"
#include "kvmsr/process.hpp"
#include "test_helpers.hpp"

namespace kvmsr {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;
using testing::write_file;

ProcessSpec spec_for(const std::filesystem::path& p, std::chrono::milliseconds timeout) {
    ProcessSpec s;
    s.path = p.string();
    s.cwd = p.parent_path().string();
    s.env = clean_environment();
    s.timeout = timeout;
    s.kill_grace = 300ms;
    s.drain_grace = 300ms;
    s.output_cap = 1u << 20;
    return s;
}

// True when pid is gone or only a zombie (reparented, waiting for init).
bool dead(long pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    if (!std::getline(f, stat)) return true;
    auto rp = stat.rfind(')');
    return rp != std::string::npos && rp + 2 < stat.size() && (stat[rp + 2] == 'Z' || stat[rp + 2] == 'X');
}

std::vector<long> read_pids(const std::filesystem::path& p) {
    std::vector<long> pids;
    std::ifstream f(p);
    long pid;
    while (f >> pid) pids.push_back(pid);
    return pids;
}

// The cases that kill run twice: with a cgroup per test (skipped where the
// host has no usable cgroup v2) and with the subreaper fallback alone.
class Isolated : public ::testing::TestWithParam<IsolationMode> {
protected:
    void SetUp() override {
        std::string err;
        auto iso = setup_isolation(GetParam(), err);
        if (!iso) GTEST_SKIP() << "no usable cgroup v2 on this host: " << err;
        iso_ = *iso;
    }
    void TearDown() override {
        if (!iso_) return;
        teardown_isolation(*iso_);
        if (!iso_->cgroup_root.empty()) {
            EXPECT_NE(::access(iso_->cgroup_root.c_str(), F_OK), 0) << "cgroups of tests left behind";
        }
    }
    ProcessSpec spec(const std::filesystem::path& p, std::chrono::milliseconds timeout) const {
        ProcessSpec s = spec_for(p, timeout);
        s.cgroup_root = iso_->cgroup_root;
        return s;
    }
    void expect_isolation(const ProcessResult& r) const {
        EXPECT_EQ(r.isolation, GetParam() == IsolationMode::Cgroup ? "cgroup" : "subreaper") << r.isolation_note;
    }
    std::optional<Isolation> iso_;
};

INSTANTIATE_TEST_SUITE_P(Both, Isolated, ::testing::Values(IsolationMode::Cgroup, IsolationMode::Subreaper),
                         [](const ::testing::TestParamInfo<IsolationMode>& i) {
                             return std::string(isolation_name(i.param));
                         });

// Polls for a little while: killed processes take a moment to disappear.
bool all_dead(const std::vector<long>& pids) {
    for (int i = 0; i < 100; ++i) {
        bool ok = true;
        for (long p : pids) ok = ok && dead(p);
        if (ok) return true;
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

TEST(Process, PassAndExitCodes) {
    TempDir d;
    write_file(d / "ok.sh", "#!/bin/sh\necho hello\necho oops >&2\nexit 0\n", 0755);
    write_file(d / "skip.sh", "#!/bin/sh\nexit 4\n", 0755);
    auto r = run_process(spec_for(d / "ok.sh", 30s));
    ASSERT_TRUE(r.started) << r.spawn_error;
    EXPECT_TRUE(r.exited);
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.out, "hello\n");
    EXPECT_EQ(r.err, "oops\n");
    EXPECT_FALSE(r.timed_out);
    EXPECT_FALSE(r.truncated);
    auto s = run_process(spec_for(d / "skip.sh", 30s));
    EXPECT_EQ(s.exit_code, 4);
}

TEST_P(Isolated, HangingTestIsKilledAtTimeout) {
    TempDir d;
    const int hang_s = 300;
    write_file(d / "hang.sh", "#!/bin/sh\necho $$ > pids\nexec sleep " + std::to_string(hang_s) + "\n", 0755);
    auto t0 = std::chrono::steady_clock::now();
    auto r = run_process(spec(d / "hang.sh", 500ms));
    auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_TRUE(r.timed_out);
    EXPECT_FALSE(r.exited);
    EXPECT_TRUE(r.signaled);
    EXPECT_EQ(r.signal, SIGTERM);
    // Bounded: it came back long before the test would have ended by itself.
    EXPECT_LT(took, std::chrono::seconds(hang_s) / 10);
    EXPECT_TRUE(all_dead(read_pids(d / "pids")));
}

TEST_P(Isolated, TestIgnoringSigtermGetsSigkill) {
    TempDir d;
    write_file(d / "stubborn.sh", "#!/bin/sh\ntrap '' TERM\necho $$ > pids\nwhile :; do sleep 1; done\n", 0755);
    auto r = run_process(spec(d / "stubborn.sh", 500ms));
    EXPECT_TRUE(r.timed_out);
    EXPECT_TRUE(r.signaled);
    EXPECT_EQ(r.signal, SIGKILL);
    EXPECT_TRUE(all_dead(read_pids(d / "pids")));
}

TEST_P(Isolated, ForkedChildrenThatHangAreKilledWithTheGroup) {
    TempDir d;
    // The test waits for children that never finish (a kselftest harness
    // child spinning): the whole group must go, not only the parent.
    write_file(d / "forks.sh",
               "#!/bin/sh\n"
               "sleep 300 & echo $! >> pids\n"
               "sh -c 'while :; do :; done' & echo $! >> pids\n"
               "echo $$ >> pids\n"
               "wait\n",
               0755);
    auto r = run_process(spec(d / "forks.sh", 700ms));
    EXPECT_TRUE(r.timed_out);
    auto pids = read_pids(d / "pids");
    ASSERT_EQ(pids.size(), 3u);
    EXPECT_TRUE(all_dead(pids));
}

TEST_P(Isolated, HarnessChildInItsOwnProcessGroupIsKilledOnTimeout) {
    // kselftest_harness.h children call setpgrp(): a group kill misses them,
    // the session kill must not.
    TempDir d;
    ProcessSpec s = spec(kvmsr::testing::kFakeSelftest, 700ms);
    s.args = {"pgrp-hang"};
    s.cwd = d.path().string();
    auto r = run_process(s);
    EXPECT_TRUE(r.timed_out);
    auto pids = read_pids(d / "pids");
    ASSERT_EQ(pids.size(), 2u);
    EXPECT_TRUE(all_dead(pids));
}

TEST_P(Isolated, HarnessChildLeftBehindByAnExitingParentIsKilled) {
    TempDir d;
    ProcessSpec s = spec(kvmsr::testing::kFakeSelftest, 60s);
    s.args = {"pgrp-orphan"};
    s.cwd = d.path().string();
    auto r = run_process(s);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.leftover_processes, 1);
    auto pids = read_pids(d / "pids");
    ASSERT_EQ(pids.size(), 2u);
    EXPECT_TRUE(all_dead(pids));
}

TEST_P(Isolated, ChildKeepingOutputOpenAfterParentExits) {
    TempDir d;
    // The parent exits 0 at once; its child keeps stdout open and hangs.
    write_file(d / "orphan.sh",
               "#!/bin/sh\n"
               "sleep 300 & echo $! > pids\n"
               "echo parent done\n"
               "exit 0\n",
               0755);
    auto t0 = std::chrono::steady_clock::now();
    auto r = run_process(spec(d / "orphan.sh", 60s));
    auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_FALSE(r.timed_out);
    EXPECT_TRUE(r.exited);
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.leftover_processes, 1);
    EXPECT_EQ(r.out, "parent done\n");
    // Came back after the drain grace, not after the test timeout.
    EXPECT_LT(took, std::chrono::seconds(60));
    EXPECT_TRUE(all_dead(read_pids(d / "pids")));
}

TEST_P(Isolated, ChildDetachedFromOutputIsFoundAndKilled) {
    TempDir d;
    write_file(d / "daemonish.sh",
               "#!/bin/sh\n"
               "sleep 300 >/dev/null 2>&1 </dev/null & echo $! > pids\n"
               "exit 0\n",
               0755);
    auto r = run_process(spec(d / "daemonish.sh", 60s));
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.leftover_processes, 1);
    EXPECT_TRUE(all_dead(read_pids(d / "pids")));
}

TEST_P(Isolated, DaemonThatDoubleForksAndCallsSetsidIsKilled) {
    // The case: a test double-forks and setsid()s a sleeper, then
    // exits 0.  It left its session, so no session or group kill finds it;
    // it is a descendant of the supervisor (a subreaper) and in the cgroup.
    for (const char* mode : {"daemon", "daemon-closed"}) {
        SCOPED_TRACE(mode);
        TempDir d;
        ProcessSpec s = spec(kvmsr::testing::kFakeSelftest, 60s);
        s.args = {mode};
        s.cwd = d.path().string();
        auto t0 = std::chrono::steady_clock::now();
        auto r = run_process(s);
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s);
        expect_isolation(r);
        EXPECT_FALSE(r.timed_out);
        EXPECT_EQ(r.exit_code, 0);
        EXPECT_EQ(r.leftover_processes, 1);
        ASSERT_EQ(r.leftovers.size(), 1u);
        auto pids = read_pids(d / "pids");
        ASSERT_EQ(pids.size(), 2u);  // the test and its daemon
        EXPECT_NE(r.leftovers[0].find("(pid " + std::to_string(pids[1]) + ")"), std::string::npos) << r.leftovers[0];
        EXPECT_TRUE(all_dead(pids));
        EXPECT_FALSE(r.pipes_abandoned);
    }
}

TEST_P(Isolated, CleanTestLeavesNothingAndIsNotALeftover) {
    TempDir d;
    write_file(d / "ok.sh", "#!/bin/sh\n(sleep 0.1; echo child) &\nwait\necho parent\n", 0755);
    auto r = run_process(spec(d / "ok.sh", 30s));
    expect_isolation(r);
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.leftover_processes, 0);
    EXPECT_EQ(r.out, "child\nparent\n");
}

TEST(Process, MegabytesOfOutputAreCappedAndCounted) {
    TempDir d;
    // 24 MiB on stdout and 3 MiB on stderr; the cap keeps 1 MiB in all.
    write_file(d / "flood.sh",
               "#!/bin/sh\n"
               "echo FIRST-LINE\n"
               "head -c 25165824 /dev/zero | tr '\\0' 'x'\n"
               "echo\necho LAST-LINE\n"
               "head -c 3145728 /dev/zero | tr '\\0' 'e' >&2\n"
               "exit 1\n",
               0755);
    auto spec = spec_for(d / "flood.sh", 120s);
    spec.output_cap = 1u << 20;
    auto r = run_process(spec);
    EXPECT_TRUE(r.exited);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_TRUE(r.truncated);
    EXPECT_EQ(r.out_bytes, 11u + 25165824u + 1u + 10u);
    EXPECT_EQ(r.err_bytes, 3145728u);
    const std::size_t marker_room = 200;
    EXPECT_LE(r.out.size() + r.err.size(), (1u << 20) + 2 * marker_room);
    EXPECT_EQ(r.out.rfind("FIRST-LINE\n", 0), 0u);
    EXPECT_NE(r.out.find("LAST-LINE"), std::string::npos);  // the end is kept too
    EXPECT_NE(r.out.find("output truncated"), std::string::npos);
}

TEST(Process, NotExecutableIsASpawnError) {
    TempDir d;
    write_file(d / "noexec.sh", "#!/bin/sh\nexit 0\n", 0644);
    auto r = run_process(spec_for(d / "noexec.sh", 10s));
    EXPECT_FALSE(r.started);
    EXPECT_EQ(r.spawn_errno, EACCES);
    EXPECT_NE(r.spawn_error.find("Permission denied"), std::string::npos);
}

TEST(Process, GarbageExecutableIsASpawnError) {
    TempDir d;
    write_file(d / "garbage", std::string("\x01\x02garbage\xff\xfe not a program", 24), 0755);
    auto r = run_process(spec_for(d / "garbage", 10s));
    EXPECT_FALSE(r.started);
    EXPECT_EQ(r.spawn_errno, ENOEXEC);
}

TEST(Process, MissingProgramIsASpawnError) {
    TempDir d;
    auto r = run_process(spec_for(d / "does-not-exist", 10s));
    EXPECT_FALSE(r.started);
    EXPECT_EQ(r.spawn_errno, ENOENT);
}

TEST(Process, CleanEnvironmentAndWorkingDirectory) {
    TempDir d;
    ::setenv("TERM", "xterm-256color", 1);
    ::setenv("KVMSR_SECRET_FROM_PARENT", "1", 1);
    write_file(d / "env.sh", "#!/bin/sh\npwd\n/usr/bin/env | sort\ncat\n", 0755);
    auto r = run_process(spec_for(d / "env.sh", 30s));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.rfind(std::filesystem::canonical(d.path()).string() + "\n", 0), 0u);
    EXPECT_EQ(r.out.find("TERM="), std::string::npos);
    EXPECT_EQ(r.out.find("KVMSR_SECRET_FROM_PARENT"), std::string::npos);
    EXPECT_NE(r.out.find("\nLC_ALL=C\n"), std::string::npos);
    EXPECT_NE(r.out.find("\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"), std::string::npos);
    ::unsetenv("KVMSR_SECRET_FROM_PARENT");
}

TEST(Process, CleanEnvironmentExtrasOverride) {
    auto env = clean_environment({"LC_ALL=C.UTF-8", "FOO=bar"});
    EXPECT_EQ(std::count(env.begin(), env.end(), "LC_ALL=C.UTF-8"), 1);
    EXPECT_EQ(std::count(env.begin(), env.end(), "LC_ALL=C"), 0);
    EXPECT_EQ(std::count(env.begin(), env.end(), "FOO=bar"), 1);
}

TEST(Process, CrashIsReportedAsSignal) {
    TempDir d;
    write_file(d / "crash.sh", "#!/bin/sh\necho 'TAP version 13'\necho '1..2'\necho 'ok 1 first'\nkill -SEGV $$\n", 0755);
    auto r = run_process(spec_for(d / "crash.sh", 30s));
    EXPECT_TRUE(r.signaled);
    EXPECT_EQ(r.signal, SIGSEGV);
    EXPECT_FALSE(r.timed_out);
}

TEST_P(Isolated, CancelStopsARunningTest) {
    TempDir d;
    write_file(d / "hang.sh", "#!/bin/sh\nexec sleep 300\n", 0755);
    std::atomic<bool> cancel{false};
    auto sp = spec(d / "hang.sh", 300s);
    sp.cancel = &cancel;
    std::thread t([&] {
        std::this_thread::sleep_for(200ms);
        cancel = true;
    });
    auto r = run_process(sp);
    t.join();
    EXPECT_TRUE(r.cancelled);
    EXPECT_FALSE(r.timed_out);
    EXPECT_TRUE(r.signaled);
}

TEST(CappedBuffer, KeepsHeadAndTail) {
    CappedBuffer b(1000);  // tail 250, head 750
    std::string head(750, 'h'), middle(5000, 'm'), tail(250, 't');
    b.append(head.data(), head.size());
    b.append(middle.data(), middle.size());
    for (char c : tail) b.append(&c, 1);
    EXPECT_TRUE(b.truncated());
    EXPECT_EQ(b.total_bytes(), 6000u);
    std::string s = b.str();
    EXPECT_EQ(s.substr(0, 750), head);
    EXPECT_EQ(s.substr(s.size() - 250), tail);
    EXPECT_NE(s.find("5000 of 6000 bytes dropped"), std::string::npos);
}

TEST(CappedBuffer, SmallStreamIsVerbatim) {
    CappedBuffer b(1000);
    b.append("abc", 3);
    EXPECT_FALSE(b.truncated());
    EXPECT_EQ(b.str(), "abc");
}

}  // namespace
}  // namespace kvmsr

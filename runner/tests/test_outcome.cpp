// Verdicts from exit status + output + TAP.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <sstream>

#include "kvmsr/outcome.hpp"
#include "test_helpers.hpp"

namespace kvmsr {
namespace {

PlannedTest test_named(const std::string& n) {
    PlannedTest t;
    t.name = n;
    t.path = "/kvm/" + n;
    return t;
}

ProcessResult exited(int code, std::string out = {}, std::string err = {}) {
    ProcessResult r;
    r.started = true;
    r.exited = true;
    r.exit_code = code;
    r.out = std::move(out);
    r.err = std::move(err);
    return r;
}

TEST(Classify, ExitCodesAreTheMainCase) {
    EXPECT_EQ(classify(test_named("a"), exited(0, "free text\n")).status, Status::Pass);
    EXPECT_EQ(classify(test_named("a"), exited(4)).status, Status::Skip);
    EXPECT_EQ(classify(test_named("a"), exited(2)).status, Status::Xfail);  // KSFT_XFAIL
    EXPECT_FALSE(is_failure(Status::Xfail));
    for (int code : {1, 3, 5, 127, 254, 255})
        EXPECT_EQ(classify(test_named("a"), exited(code)).status, Status::Fail) << code;
}

TEST(Classify, SkipReasonFromTapPlanLine) {
    auto o = classify(test_named("x86/sev_smoke_test"),
                      exited(4, "1..0 # SKIP - Requirement not met: kvm_cpu_has(X86_FEATURE_SEV)\n"));
    EXPECT_EQ(o.status, Status::Skip);
    EXPECT_EQ(o.reason, "Requirement not met: kvm_cpu_has(X86_FEATURE_SEV)");
}

TEST(Classify, SkipReasonFromPrintSkip) {
    auto o = classify(test_named("t"), exited(4, "blah\nKVM_CAP_FOO not available, skipping test\n"));
    EXPECT_EQ(o.reason, "KVM_CAP_FOO not available, skipping test");
    auto none = classify(test_named("t"), exited(4));
    EXPECT_NE(none.reason.find("no reason printed"), std::string::npos);
}

TEST(Classify, AssertionFailureGivesLocationAndMessage) {
    std::string err =
        "\n==== Test Assertion Failure ====\n"
        "  lib/kvm_util.c:523: vcpu->fd >= 0\n"
        "  pid=123 tid=123 errno=22 - Invalid argument\n"
        "     1\t0x0000000000402b1c: vm_vcpu_add at kvm_util.c:523\n"
        "  KVM_CREATE_VCPU failed, rc: -1 errno: 22 (Invalid argument)\n";
    auto o = classify(test_named("t"), exited(254, "", err));
    EXPECT_EQ(o.status, Status::Fail);
    EXPECT_NE(o.reason.find("exit code 254"), std::string::npos);
    EXPECT_NE(o.reason.find("lib/kvm_util.c:523: vcpu->fd >= 0"), std::string::npos) << o.reason;
    EXPECT_NE(o.reason.find("KVM_CREATE_VCPU failed"), std::string::npos) << o.reason;
}

TEST(Classify, TapCanTurnExitZeroIntoFailure) {
    auto notok = classify(test_named("t"), exited(0, "TAP version 13\n1..2\nok 1 a\nnot ok 2 b\n"));
    EXPECT_EQ(notok.status, Status::Fail);
    EXPECT_NE(notok.reason.find("not ok b"), std::string::npos) << notok.reason;

    auto bail = classify(test_named("t"), exited(0, "TAP version 13\nBail out! broken\n"));
    EXPECT_EQ(bail.status, Status::Fail);
    EXPECT_NE(bail.reason.find("bailed out: broken"), std::string::npos);

    auto totals = classify(test_named("t"),
                           exited(0, "# Totals: pass:3 fail:1 xfail:0 xpass:0 skip:0 error:0\n"));
    EXPECT_EQ(totals.status, Status::Fail);

    auto plan = classify(test_named("t"), exited(0, "TAP version 13\n1..3\nok 1 a\nok 2 b\n"));
    EXPECT_EQ(plan.status, Status::Fail);
    EXPECT_NE(plan.reason.find("plan 1..3 but only 2 results"), std::string::npos);
}

TEST(Classify, TapNeverTurnsFailureIntoPass) {
    auto o = classify(test_named("t"), exited(1, "TAP version 13\n1..1\nok 1 a\n"));
    EXPECT_EQ(o.status, Status::Fail);
}

// The capture lost "ok 2 b"; the stream counter saw it: the plan holds.
TEST(Classify, TruncatedOutputChecksThePlanOverTheWholeStream) {
    auto r = exited(0, "TAP version 13\n1..3\nok 1 a\n[kvm-selftest-runner: output truncated]\nok 3 c\n");
    r.truncated = r.out_truncated = true;
    const std::string whole = "TAP version 13\n1..3\nok 1 a\nok 2 b\nok 3 c\n";
    r.out_tap.feed(whole.data(), whole.size());
    auto o = classify(test_named("t"), r);
    EXPECT_EQ(o.status, Status::Pass) << o.reason;
    ASSERT_FALSE(o.notes.empty());
    EXPECT_NE(o.notes[0].find("truncated"), std::string::npos);

    // It printed only two: the plan check still applies.
    auto r2 = r;
    r2.out_tap = TapStreamCounter{};
    const std::string two = "TAP version 13\n1..3\nok 1 a\nok 3 c\n";
    r2.out_tap.feed(two.data(), two.size());
    auto o2 = classify(test_named("t"), r2);
    EXPECT_EQ(o2.status, Status::Fail);
    EXPECT_NE(o2.reason.find("TAP plan 1..3 but 2 results in its whole output"), std::string::npos) << o2.reason;
}

TEST(Classify, SkipsInsideAPassingRunStayPass) {
    auto o = classify(test_named("t"), exited(0, "TAP version 13\n1..2\nok 1 a\nok 2 b # SKIP no foo\n"));
    EXPECT_EQ(o.status, Status::Pass);
}

TEST(Classify, SignalsAreCrashes) {
    ProcessResult r;
    r.started = true;
    r.signaled = true;
    r.signal = SIGSEGV;
    r.core_dumped = true;
    auto o = classify(test_named("t"), r);
    EXPECT_EQ(o.status, Status::Crash);
    EXPECT_TRUE(is_failure(o.status));
    EXPECT_NE(o.reason.find("SIGSEGV (11), core dumped"), std::string::npos);
    EXPECT_EQ(o.signal, SIGSEGV);
}

TEST(Classify, TimeoutWinsOverTheSignalItCaused) {
    ProcessResult r;
    r.started = true;
    r.signaled = true;
    r.signal = SIGTERM;
    r.timed_out = true;
    r.timeout = std::chrono::milliseconds(1500);
    r.duration = std::chrono::milliseconds(3500);  // the timeout, then the kill grace
    auto o = classify(test_named("t"), r);
    EXPECT_EQ(o.status, Status::Timeout);
    EXPECT_NE(o.reason.find("timed out after 1.5 s"), std::string::npos) << o.reason;
    r.timeout = std::chrono::milliseconds(3000);
    EXPECT_NE(classify(test_named("t"), r).reason.find("timed out after 3 s;"), std::string::npos);
}

TEST(Classify, LeftoverProcessesFailAPass) {
    auto r = exited(0);
    r.leftover_processes = 2;
    auto o = classify(test_named("t"), r);
    EXPECT_EQ(o.status, Status::Fail);
    EXPECT_NE(o.reason.find("2 processes"), std::string::npos);
}

// The runner could not confirm that the test's processes all ended: no
// PASS, SKIP or XFAIL, but ERROR with the reason; a failure stays one.
TEST(Classify, UnconfirmedEndIsAnErrorNotAPass) {
    for (int code : {0, 4, 2}) {
        auto r = exited(code);
        r.supervisor_error = "the test's supervisor was killed by signal 9";
        auto o = classify(test_named("t"), r);
        EXPECT_EQ(o.status, Status::Error) << code;
        EXPECT_NE(o.reason.find("could not confirm that every process of the test ended: the test's supervisor was "
                                "killed by signal 9"),
                  std::string::npos)
            << o.reason;
    }
    auto held = exited(0);
    held.pipes_abandoned = true;
    EXPECT_EQ(classify(test_named("t"), held).status, Status::Error);
    auto failed = exited(1);
    failed.supervisor_error = "the test's supervisor was killed by signal 9";
    auto f = classify(test_named("t"), failed);
    EXPECT_EQ(f.status, Status::Fail);
    ASSERT_FALSE(f.notes.empty());
    EXPECT_EQ(f.notes.back(), "the test's supervisor was killed by signal 9");
}

TEST(Classify, SpawnFailureIsError) {
    ProcessResult r;
    r.spawn_errno = EACCES;
    r.spawn_error = "cannot execute /x: Permission denied (EACCES)";
    auto o = classify(test_named("t"), r);
    EXPECT_EQ(o.status, Status::Error);
    EXPECT_EQ(o.reason, r.spawn_error);
}

TEST(Classify, ProblemsBeforeRunning) {
    auto t = test_named("x86/snp_psc_test");
    t.problem = PlannedTest::Problem::NotBuilt;
    t.problem_text = "not built";
    EXPECT_EQ(outcome_for_problem(t).status, Status::Skip);
    t.problem = PlannedTest::Problem::NotFound;
    EXPECT_EQ(outcome_for_problem(t).status, Status::Error);
    t.problem = PlannedTest::Problem::NotExecutable;
    EXPECT_EQ(outcome_for_problem(t).status, Status::Error);
}

TEST(Classify, GarbageOutputIsHarmless) {
    std::string garbage;
    for (int i = 0; i < 20000; ++i) garbage.push_back(static_cast<char>((i * 131) & 0xff));
    auto o = classify(test_named("t"), exited(3, garbage, garbage));
    EXPECT_EQ(o.status, Status::Fail);
    EXPECT_LE(o.reason.size(), 410u);
}

TEST(FailureLine, PicksLastMeaningfulLine) {
    EXPECT_EQ(failure_line("a\nb\n\n", ""), "b");
    EXPECT_EQ(failure_line("a\n", "err line\n  \n"), "err line");
    EXPECT_EQ(failure_line("", ""), "");
}

}  // namespace
}  // namespace kvmsr

// ---- verdicts on real captures (tests/data/captures/MANIFEST.tsv) ------------

namespace kvmsr {
namespace {

TEST(ClassifyCapture, EveryCaptureGetsTheVerdictInTheManifest) {
    std::ifstream m(testing::data_path("captures/MANIFEST.tsv"));
    std::string line;
    int checked = 0;
    while (std::getline(m, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream ls(line);
        std::string name, how, verdict;
        std::getline(ls, name, '\t');
        std::getline(ls, how, '\t');
        std::getline(ls, verdict, '\t');
        ProcessResult r;
        r.started = true;
        r.out = testing::read_file(testing::data_path("captures/" + name + ".stdout"));
        r.err = testing::read_file(testing::data_path("captures/" + name + ".stderr"));
        if (how.rfind("exit ", 0) == 0) {
            r.exited = true;
            r.exit_code = std::stoi(how.substr(5));
        } else {
            r.timed_out = true;
            r.signaled = true;
            r.signal = SIGKILL;
        }
        auto o = classify(test_named(name), r);
        EXPECT_STREQ(status_name(o.status), verdict.c_str()) << name << ": " << o.reason;
        if (o.status != Status::Pass) {
            EXPECT_FALSE(o.reason.empty()) << name;
        }
        ++checked;
    }
    EXPECT_EQ(checked, 14);
}

TEST(ClassifyCapture, RealAssertionReason) {
    ProcessResult r = exited(254, testing::read_file(testing::data_path("captures/guest_memfd_test.stdout")),
                             testing::read_file(testing::data_path("captures/guest_memfd_test.stderr")));
    auto o = classify(test_named("guest_memfd_test"), r);
    EXPECT_EQ(o.reason,
              "exit code 254 (KVM TEST_ASSERT): assertion failed: guest_memfd_test.c:354: r && errno == EINVAL | "
              "Memslot with out-of-range offset+size should fail");
}

}  // namespace
}  // namespace kvmsr

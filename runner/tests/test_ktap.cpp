// KTAP/TAP parser: constructed cases first, then real captures from KVM
// selftests run on this machine (tests/data/captures, see README there).
#include <gtest/gtest.h>

#include "kvmsr/ktap.hpp"
#include "test_helpers.hpp"

namespace kvmsr {
namespace {

TEST(Ktap, FreeTextIsNotTap) {
    auto d = parse_ktap(
        "Random seed: 0x6b8b4567\nTesting guest mode: PA-bits:ANY, VA-bits:48, 4K pages\nokay\n"
        "    ok so far, continuing\n  1..3 vcpus\n");
    EXPECT_FALSE(d.has_tap());
    EXPECT_EQ(d.lines, 5u);
    EXPECT_EQ(d.unterminated_groups, 0u);
    EXPECT_TRUE(d.results.empty());
    EXPECT_EQ(d.malformed_lines, 0u);
}

TEST(Ktap, ResultLinesOutsideATapDocumentAreText) {
    auto d = parse_ktap("not ok to use hugepages, skipping\nok 1 looks like TAP\nBail out? no\n");
    EXPECT_FALSE(d.has_tap());
    EXPECT_TRUE(d.results.empty());
    auto later = parse_ktap("not ok to use hugepages\nTAP version 13\n1..1\nok 1 real\n");
    ASSERT_EQ(later.results.size(), 1u);
    EXPECT_EQ(later.results[0].description, "real");
    EXPECT_FALSE(later.first_failure());
    // TAP without a version line, plan last (TAP 13 allows it): results count.
    auto trailing = parse_ktap("ok 1 a\nnot ok 2 b\n1..2\n");
    ASSERT_EQ(trailing.results.size(), 2u);
    EXPECT_TRUE(trailing.results[1].failed());
}

TEST(Ktap, KselftestFlat) {
    auto d = parse_ktap(
        "TAP version 13\n"
        "1..4\n"
        "# a diagnostic\n"
        "ok 1 first\n"
        "not ok 2 second\n"
        "ok 3 # SKIP - no bar\n"
        "ok 4 fourth # XFAIL known broken\n"
        "# Totals: pass:1 fail:1 xfail:1 xpass:0 skip:1 error:0\n");
    EXPECT_EQ(d.version, 13);
    EXPECT_FALSE(d.ktap);
    EXPECT_EQ(d.plan, 4);
    ASSERT_EQ(d.results.size(), 4u);
    EXPECT_TRUE(d.results[0].ok);
    EXPECT_EQ(d.results[0].number, 1);
    EXPECT_EQ(d.results[0].description, "first");
    EXPECT_EQ(d.results[0].diagnostics, (std::vector<std::string>{"a diagnostic"}));
    EXPECT_FALSE(d.results[1].ok);
    EXPECT_TRUE(d.results[1].failed());
    EXPECT_EQ(d.results[2].directive, Directive::Skip);
    EXPECT_EQ(d.results[2].reason, "no bar");
    EXPECT_EQ(d.results[2].description, "");
    EXPECT_EQ(d.results[3].directive, Directive::Xfail);
    EXPECT_EQ(d.results[3].description, "fourth");
    ASSERT_TRUE(d.totals);
    EXPECT_EQ(*d.totals, (KtapTotals{1, 1, 1, 0, 1, 0}));
    EXPECT_EQ(d.first_failure(), "not ok second");
    EXPECT_EQ(d.first_skip_reason(), "no bar");
    auto c = d.leaf_counts();
    EXPECT_EQ(c.pass, 1);
    EXPECT_EQ(c.fail, 1);
    EXPECT_EQ(c.skip, 1);
    EXPECT_EQ(c.xfail, 1);
}

TEST(Ktap, PlanSkip) {
    auto d = parse_ktap("1..0 # SKIP - Requirement not met: kvm_has_cap(KVM_CAP_VM_TYPES)\n");
    EXPECT_EQ(d.plan, 0);
    EXPECT_TRUE(d.plan_skip);
    EXPECT_EQ(d.first_skip_reason(), "Requirement not met: kvm_has_cap(KVM_CAP_VM_TYPES)");
    auto lower = parse_ktap("1..0 # skipped: no hardware\n");
    EXPECT_TRUE(lower.plan_skip);
    EXPECT_EQ(lower.plan_skip_reason, "no hardware");
}

TEST(Ktap, NestedKtapV1) {
    auto d = parse_ktap(
        "KTAP version 1\n"
        "1..2\n"
        "    KTAP version 1\n"
        "    # Subtest: suite_a\n"
        "    1..2\n"
        "        KTAP version 1\n"
        "        1..1\n"
        "        ok 1 deep\n"
        "    ok 1 case_1\n"
        "    not ok 2 case_2\n"
        "not ok 1 suite_a\n"
        "    KTAP version 1\n"
        "    1..1\n"
        "    ok 1 case_x # SKIP needs hw\n"
        "ok 2 suite_b\n");
    EXPECT_TRUE(d.ktap);
    EXPECT_EQ(d.version, 1);
    ASSERT_EQ(d.results.size(), 2u);
    const auto& a = d.results[0];
    EXPECT_EQ(a.description, "suite_a");
    EXPECT_EQ(a.subtest_plan, 2);
    ASSERT_EQ(a.subtests.size(), 2u);
    ASSERT_EQ(a.subtests[0].subtests.size(), 1u);
    EXPECT_EQ(a.subtests[0].subtests[0].description, "deep");
    EXPECT_TRUE(a.subtests[1].failed());
    EXPECT_EQ(d.results[1].subtests.size(), 1u);
    EXPECT_TRUE(d.results[1].subtests[0].skipped());
    EXPECT_EQ(d.first_failure(), "not ok suite_a/case_2");
    auto c = d.leaf_counts();
    EXPECT_EQ(c.pass, 1);   // deep
    EXPECT_EQ(c.fail, 1);   // case_2
    EXPECT_EQ(c.skip, 1);   // case_x
    EXPECT_EQ(d.unterminated_groups, 0u);
}

TEST(Ktap, SubtestNameAtParentIndent) {
    auto d = parse_ktap(
        "TAP version 14\n"
        "1..1\n"
        "# Subtest: group\n"
        "    ok 1 inner\n"
        "ok 1 group\n");
    ASSERT_EQ(d.results.size(), 1u);
    EXPECT_EQ(d.results[0].subtests.size(), 1u);
}

TEST(Ktap, TruncatedInsideSubtest) {
    auto d = parse_ktap(
        "KTAP version 1\n"
        "1..2\n"
        "    # Subtest: running\n"
        "    1..3\n"
        "    ok 1 a\n"
        "    ok 2 b\n"
        "    not o");
    EXPECT_TRUE(d.last_line_incomplete);
    ASSERT_EQ(d.results.size(), 1u);
    EXPECT_TRUE(d.results[0].unterminated);
    EXPECT_EQ(d.results[0].description, "running");
    EXPECT_EQ(d.unterminated_groups, 1u);
    EXPECT_TRUE(d.first_failure().has_value());
}

TEST(Ktap, BailOut) {
    auto d = parse_ktap("TAP version 13\n1..3\nok 1 a\nBail out! KVM_CREATE_VM failed: Cannot allocate memory\n");
    EXPECT_TRUE(d.bailed_out);
    EXPECT_EQ(d.bail_reason, "KVM_CREATE_VM failed: Cannot allocate memory");
}

TEST(Ktap, DirectivesAndEscapes) {
    auto d = parse_ktap(
        "TAP version 13\n"
        "ok 1 - name with \\# hash # TODO later\n"
        "not ok 2 # error something broke\n"
        "ok 3 desc # not a directive\n"
        "ok\n"
        "not ok\n"
        "ok 6 # skip\n"
        "ok 7 # XPASS surprise\n");
    ASSERT_EQ(d.results.size(), 7u);
    EXPECT_EQ(d.results[0].description, "name with # hash");
    EXPECT_EQ(d.results[0].directive, Directive::Todo);
    EXPECT_EQ(d.results[1].directive, Directive::Error);
    EXPECT_TRUE(d.results[1].failed());
    EXPECT_EQ(d.results[2].directive, Directive::None);
    EXPECT_EQ(d.results[2].description, "desc");
    EXPECT_EQ(d.results[2].reason, "not a directive");
    // A directive after a '#' that is not one: the description runs up to it.
    auto late = parse_ktap("TAP version 13\nok 7 case #7 # SKIP maybe\n");
    ASSERT_EQ(late.results.size(), 1u);
    EXPECT_TRUE(late.results[0].skipped());
    EXPECT_EQ(late.results[0].description, "case #7");
    EXPECT_EQ(late.results[0].reason, "maybe");
    EXPECT_FALSE(d.results[3].number.has_value());
    EXPECT_TRUE(d.results[4].failed());
    EXPECT_TRUE(d.results[5].skipped());
    EXPECT_EQ(d.results[6].directive, Directive::Xpass);
}

TEST(Ktap, TotalsLine) {
    auto t = parse_totals_line("# Totals: pass:12 fail:0 xfail:0 xpass:0 skip:3 error:0");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->pass, 12);
    EXPECT_EQ(t->skip, 3);
    EXPECT_FALSE(parse_totals_line("# Totals: pass:x"));
    EXPECT_FALSE(parse_totals_line("# Totals:"));
    auto d = parse_ktap("# Totals: pass:1 fail:oops\n");
    EXPECT_EQ(d.malformed_lines, 1u);
    EXPECT_FALSE(d.totals);
}

TEST(Ktap, MalformedLinesAreCounted) {
    auto d = parse_ktap("TAP version x\n1..y\nKTAP version 99999\nTAP version 14\nok 1 fine\n");
    EXPECT_EQ(d.malformed_lines, 3u);
    EXPECT_EQ(d.results.size(), 1u);
}

TEST(Ktap, GarbageAndHugeInputDoNotBreakIt) {
    std::string g;
    for (int i = 0; i < 1 << 20; ++i) g.push_back(static_cast<char>((i * 2654435761u) >> 13));
    auto d = parse_ktap(g);
    EXPECT_GT(d.lines, 0u);
    // one enormous line with no newline
    std::string huge = "TAP version 13\n" + std::string(16u << 20, 'o');
    huge[15 + 1] = 'k';
    huge[15 + 2] = ' ';
    auto h = parse_ktap(huge);
    EXPECT_EQ(h.lines, 2u);
    EXPECT_EQ(h.results.size(), 1u);
    // absurd nesting is bounded
    std::string deep;
    for (int i = 0; i < 200; ++i) deep += std::string(static_cast<std::size_t>(i) * 4, ' ') + "1..1\n";
    auto n = parse_ktap(deep);
    EXPECT_LE(n.unterminated_groups, 200u);
    // CRLF and tabs
    auto crlf = parse_ktap("TAP version 13\r\n1..1\r\nok 1 win\r\n");
    ASSERT_EQ(crlf.results.size(), 1u);
    EXPECT_EQ(crlf.results[0].description, "win");
}

}  // namespace
}  // namespace kvmsr

// ---- real captures ---------------------------------------------------------

namespace kvmsr {
namespace {

KtapDoc capture(const std::string& name) {
    return parse_ktap(testing::read_file(testing::data_path("captures/" + name + ".stdout")));
}

TEST(KtapCapture, SevSmokeTestPlanSkip) {
    auto d = capture("x86_sev_smoke_test");
    EXPECT_TRUE(d.has_tap());
    EXPECT_FALSE(d.version.has_value());  // ksft_exit_skip before any header
    EXPECT_EQ(d.plan, 0);
    EXPECT_TRUE(d.plan_skip);
    EXPECT_EQ(d.first_skip_reason(), "Requirement not met: kvm_cpu_has(X86_FEATURE_SEV)");
    EXPECT_TRUE(d.results.empty());
}

TEST(KtapCapture, SkipReasonsOfTheDefaultSet) {
    EXPECT_EQ(capture("x86_sev_init2_tests").first_skip_reason(),
              "Requirement not met: __kvm_has_device_attr(kvm_fd, KVM_X86_GRP_SEV, KVM_X86_SEV_VMSA_FEATURES) == 0");
    EXPECT_EQ(capture("x86_private_mem_conversions_test").first_skip_reason(),
              "Requirement not met: kvm_check_cap(KVM_CAP_VM_TYPES) & BIT(KVM_X86_SW_PROTECTED_VM)");
    // Free text before the skip line does not disturb it.
    auto a = capture("access_tracking_perf_test");
    EXPECT_EQ(a.first_skip_reason(),
              "Cannot open '/sys/kernel/mm/page_idle/bitmap': No such file or directory.  Is "
              "CONFIG_IDLE_PAGE_TRACKING enabled?");
    EXPECT_EQ(a.tap_lines, 1u);
}

TEST(KtapCapture, KselftestResultsWithTotals) {
    auto d = capture("kvm_binary_stats_test");
    EXPECT_EQ(d.version, 13);
    EXPECT_EQ(d.plan, 4);
    ASSERT_EQ(d.results.size(), 4u);
    EXPECT_EQ(d.results[3].description, "vm3");
    ASSERT_TRUE(d.totals);
    EXPECT_EQ(*d.totals, (KtapTotals{4, 0, 0, 0, 0, 0}));
    EXPECT_FALSE(d.first_failure());
    EXPECT_EQ(d.leaf_counts().pass, 4);
}

TEST(KtapCapture, HarnessOutputWithDiagnostics) {
    auto d = capture("x86_sync_regs_test");
    EXPECT_EQ(d.plan, 10);
    ASSERT_EQ(d.results.size(), 10u);
    EXPECT_EQ(d.results[7].description, "sync_regs_test.race_cr4");
    // "#  RUN ..." and "#  OK ..." lines belong to the result that follows.
    ASSERT_EQ(d.results[0].diagnostics.size(), 3u);
    EXPECT_EQ(d.results[0].diagnostics[0], "Starting 10 tests from 1 test cases.");
    ASSERT_TRUE(d.totals);
    EXPECT_EQ(d.totals->pass, 10);
    auto u = capture("x86_userspace_msr_exit_test");
    ASSERT_EQ(u.results.size(), 4u);
    EXPECT_EQ(u.malformed_lines, 0u);
    EXPECT_EQ(u.lines, 19u);
}

TEST(KtapCapture, TimedOutHarnessHasPlanButNoResults) {
    auto d = capture("x86_fix_hypercall_test");
    EXPECT_EQ(d.plan, 2);
    EXPECT_TRUE(d.results.empty());
    EXPECT_FALSE(d.totals);
}

TEST(KtapCapture, AssertingTestsPrintNoTapOrOnlyAPlan) {
    EXPECT_FALSE(capture("guest_memfd_test").has_tap());
    EXPECT_FALSE(capture("set_memory_region_test").has_tap());
    EXPECT_FALSE(capture("vm_types_test").has_tap());
    auto t = capture("x86_tsc_msrs_test");
    EXPECT_EQ(t.plan, 5);
    EXPECT_TRUE(t.results.empty());
}

TEST(KtapCapture, RunKselftestTopLevel) {
    auto d = capture("run_kselftest.sh");
    EXPECT_EQ(d.plan, 4);
    ASSERT_EQ(d.results.size(), 4u);
    EXPECT_EQ(d.results[0].description, "selftests: kvm: steal_time");
    EXPECT_TRUE(d.results[1].skipped());
    EXPECT_EQ(d.results[1].reason, "");
    EXPECT_TRUE(d.results[2].failed());
    // "# exit=254" is not a directive: it is diagnostic data (KTAP allows no
    // '#' in a description).
    EXPECT_EQ(d.results[2].description, "selftests: kvm: guest_memfd_test");
    EXPECT_EQ(d.results[2].directive, Directive::None);
    EXPECT_EQ(d.results[2].reason, "exit=254");
    ASSERT_TRUE(d.totals);
    EXPECT_EQ(*d.totals, (KtapTotals{2, 1, 0, 0, 1, 0}));
    EXPECT_EQ(d.first_failure(), "not ok selftests: kvm: guest_memfd_test (exit=254)");
}

TEST(KtapCapture, RunnerSummaryOfAllTestsNested) {
    auto d = parse_ktap(testing::read_file(testing::data_path("captures/runner-all-tests.ktap")));
    EXPECT_TRUE(d.ktap);
    EXPECT_EQ(d.plan, 108);
    ASSERT_EQ(d.results.size(), 108u);
    EXPECT_EQ(d.malformed_lines, 0u);
    EXPECT_EQ(d.unterminated_groups, 0u);
    ASSERT_TRUE(d.totals);
    EXPECT_EQ(*d.totals, (KtapTotals{24, 21, 0, 0, 63, 0}));
    auto c = d.top_counts();
    EXPECT_EQ(c.pass, 24);
    EXPECT_EQ(c.fail, 21);
    EXPECT_EQ(c.skip, 63);
    const KtapResult* sync = nullptr;
    for (const auto& r : d.results)
        if (r.description == "x86/sync_regs_test") sync = &r;
    ASSERT_NE(sync, nullptr);
    EXPECT_EQ(sync->subtest_plan, 10);
    ASSERT_EQ(sync->subtests.size(), 10u);
    EXPECT_EQ(sync->subtests[9].description, "sync_regs_test.race_inj_pen");
    // the failure reason diagnostic sits before its result line
    const KtapResult* gm = nullptr;
    for (const auto& r : d.results)
        if (r.description == "guest_memfd_test") gm = &r;
    ASSERT_NE(gm, nullptr);
    EXPECT_TRUE(gm->failed());
    ASSERT_FALSE(gm->diagnostics.empty());
    EXPECT_NE(gm->diagnostics[0].find("guest_memfd_test.c:354"), std::string::npos);
}

}  // namespace
}  // namespace kvmsr

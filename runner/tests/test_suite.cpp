// Finding the tests: build dir vs install dir, default set, name forms.
#include <gtest/gtest.h>

#include "kvmsr/suite.hpp"
#include "test_helpers.hpp"

namespace kvmsr {
namespace {

using testing::TempDir;
using testing::write_file;

const std::string kElf = std::string("\x7f" "ELF", 4) + "fake";

void fake_build_dir(const std::filesystem::path& d) {
    write_file(d / "x86/sev_smoke_test", kElf, 0755);
    write_file(d / "x86/sev_init2_tests", kElf, 0755);
    write_file(d / "x86/private_mem_conversions_test", kElf, 0755);
    write_file(d / "x86/sev_smoke_test.o", "obj", 0644);
    write_file(d / "set_memory_region_test", kElf, 0755);
    write_file(d / "settings", "timeout=120\n");
}

TEST(TestDir, MissingDirectoryIsAnError) {
    std::string err;
    EXPECT_FALSE(open_test_dir("/nonexistent/kvm-selftests", err));
    EXPECT_NE(err.find("does not exist"), std::string::npos);
    EXPECT_FALSE(open_test_dir("/etc/hostname", err));
    EXPECT_NE(err.find("not a directory"), std::string::npos);
}

TEST(TestDir, BuildDirectory) {
    TempDir d;
    fake_build_dir(d.path());
    std::string err;
    auto td = open_test_dir(d.path(), err);
    ASSERT_TRUE(td) << err;
    EXPECT_FALSE(td->install);
    EXPECT_EQ(td->base, d.path());
    EXPECT_EQ(td->settings_timeout, 120);
}

TEST(TestDir, InstallDirectoryAndItsKvmSubdir) {
    TempDir d;
    fake_build_dir(d / "kvm");
    write_file(d / "kselftest-list.txt", "kvm:x86/sev_smoke_test\nkvm:set_memory_region_test\nnet:foo\n");
    std::string err;
    auto td = open_test_dir(d.path(), err);
    ASSERT_TRUE(td) << err;
    EXPECT_TRUE(td->install);
    EXPECT_EQ(td->base, d / "kvm");
    EXPECT_EQ(td->listed, (std::vector<std::string>{"x86/sev_smoke_test", "set_memory_region_test"}));
    auto sub = open_test_dir(d / "kvm", err);
    ASSERT_TRUE(sub);
    EXPECT_TRUE(sub->install);
    auto slash = open_test_dir((d / "kvm").string() + "/", err);
    ASSERT_TRUE(slash);
    EXPECT_TRUE(slash->install);
    auto all = plan_all_tests(*td);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].name, "x86/sev_smoke_test");
}

TEST(Plan, InstallTreeWithFlatLayout) {
    // `make install` of the KVM selftests drops the x86/ directory.
    TempDir d;
    write_file(d / "kselftest-list.txt", "kvm:sev_smoke_test\nkvm:set_memory_region_test\n");
    write_file(d / "kvm/sev_smoke_test", kElf, 0755);
    write_file(d / "kvm/set_memory_region_test", kElf, 0755);
    std::string err;
    auto td = open_test_dir(d.path(), err);
    ASSERT_TRUE(td) << err;
    auto plan = plan_tests(*td, {"x86/sev_smoke_test"});
    EXPECT_EQ(plan[0].name, "x86/sev_smoke_test");
    EXPECT_EQ(plan[0].path, d / "kvm/sev_smoke_test");
    EXPECT_EQ(plan[0].problem, PlannedTest::Problem::None);
    auto defaults = plan_tests(*td, {});
    EXPECT_FALSE(default_plan_looks_empty(defaults));
    for (const auto& t : defaults)
        if (t.name == "x86/sev_smoke_test") {
            EXPECT_EQ(t.problem, PlannedTest::Problem::None);
        }
}

TEST(Plan, DefaultSetMarksOurMissingTestsNotBuilt) {
    TempDir d;
    fake_build_dir(d.path());
    std::string err;
    auto td = open_test_dir(d.path(), err);
    auto plan = plan_tests(*td, {});
    ASSERT_EQ(plan.size(), default_tests().size());
    EXPECT_EQ(plan[0].name, "x86/snp_psc_test");
    EXPECT_TRUE(plan[0].ours);
    EXPECT_EQ(plan[0].problem, PlannedTest::Problem::NotBuilt);
    EXPECT_NE(plan[0].problem_text.find("not built"), std::string::npos);
    EXPECT_EQ(plan[1].name, "x86/tdx_map_gpa_test");
    EXPECT_EQ(plan[1].problem, PlannedTest::Problem::NotBuilt);
    for (const auto& t : plan) {
        if (t.name == "x86/sev_smoke_test") {
            EXPECT_EQ(t.problem, PlannedTest::Problem::None);
        }
        if (t.name == "x86/private_mem_kvm_exits_test") {
            EXPECT_EQ(t.problem, PlannedTest::Problem::NotBuilt);
        }
    }
    EXPECT_FALSE(default_plan_looks_empty(plan));
}

TEST(Plan, ExplicitMissingTestIsNotFound) {
    TempDir d;
    fake_build_dir(d.path());
    std::string err;
    auto td = open_test_dir(d.path(), err);
    auto plan = plan_tests(*td, {"x86/snp_psc_test", "x86/nope"});
    EXPECT_EQ(plan[0].problem, PlannedTest::Problem::NotFound);
    EXPECT_EQ(plan[1].problem, PlannedTest::Problem::NotFound);
}

TEST(Plan, NameForms) {
    TempDir d;
    fake_build_dir(d.path());
    write_file(d / "x86/noexec_test", kElf, 0644);
    std::string err;
    auto td = open_test_dir(d.path(), err);
    auto plan = plan_tests(*td, {"sev_smoke_test", "kvm:x86/sev_init2_tests", "set_memory_region_test",
                                 (d / "x86/private_mem_conversions_test").string(), "x86", "noexec_test"});
    EXPECT_EQ(plan[0].name, "x86/sev_smoke_test");
    EXPECT_EQ(plan[0].problem, PlannedTest::Problem::None);
    EXPECT_EQ(plan[1].name, "x86/sev_init2_tests");
    EXPECT_EQ(plan[2].path, d / "set_memory_region_test");
    EXPECT_EQ(plan[3].name, "x86/private_mem_conversions_test");
    EXPECT_EQ(plan[4].problem, PlannedTest::Problem::NotAFile);
    EXPECT_EQ(plan[5].problem, PlannedTest::Problem::NotExecutable);
}

TEST(Plan, AllFindsElfExecutablesOnly) {
    TempDir d;
    fake_build_dir(d.path());
    write_file(d / "run.sh", "#!/bin/sh\n", 0755);
    std::string err;
    auto td = open_test_dir(d.path(), err);
    auto all = plan_all_tests(*td);
    std::vector<std::string> names;
    for (const auto& t : all) names.push_back(t.name);
    EXPECT_EQ(names, (std::vector<std::string>{"set_memory_region_test", "x86/private_mem_conversions_test",
                                               "x86/sev_init2_tests", "x86/sev_smoke_test"}));
}

TEST(Plan, AllOnADirectoryWithoutProgramsIsEmptyNotTheDefaultSet) {
    TempDir d;
    write_file(d / "run.sh", "#!/bin/sh\n", 0755);
    std::string err;
    auto td = open_test_dir(d.path(), err);
    ASSERT_TRUE(td);
    EXPECT_TRUE(plan_all_tests(*td).empty());
    EXPECT_NE(describe_no_tests(*td).find("1 executable script and no ELF"), std::string::npos)
        << describe_no_tests(*td);
}

TEST(Plan, NothingToRunWhenEveryTestIsAbsent) {
    TempDir d;
    fake_build_dir(d.path());
    std::string err;
    auto td = open_test_dir(d.path(), err);
    EXPECT_TRUE(nothing_to_run(plan_tests(*td, {"x86/nope", "x86/snp_psc_test"})));
    EXPECT_FALSE(nothing_to_run(plan_tests(*td, {"x86/nope", "x86/sev_smoke_test"})));
    EXPECT_FALSE(nothing_to_run(plan_tests(*td, {})));
}

TEST(Plan, WrongDirectoryLooksEmpty) {
    TempDir d;
    std::string err;
    auto td = open_test_dir(d.path(), err);
    ASSERT_TRUE(td);
    EXPECT_TRUE(default_plan_looks_empty(plan_tests(*td, {})));
}

TEST(TestCase, CommandLinesAndFiles) {
    std::string err;
    EXPECT_EQ(split_command("prog -a 'b c' \"d \\\"e\\\"\" f\\ g", err),
              (std::vector<std::string>{"prog", "-a", "b c", "d \"e\"", "f g"}));
    EXPECT_TRUE(err.empty());
    split_command("prog 'open", err);
    EXPECT_NE(err.find("unterminated"), std::string::npos);
    auto tc = parse_testcase("# comment\n\n  timeout=45\r\ndirty_log_perf_test -v 4 -b 1G\n");
    EXPECT_TRUE(tc.error.empty()) << tc.error;
    EXPECT_EQ(tc.argv, (std::vector<std::string>{"dirty_log_perf_test", "-v", "4", "-b", "1G"}));
    EXPECT_EQ(tc.timeout_s, 45.0);
    EXPECT_NE(parse_testcase("a\nb\n").error.find("line 2: a second command line"), std::string::npos);
    EXPECT_EQ(parse_testcase("# only a comment\n").error, "no command line");
    EXPECT_NE(parse_testcase("timeout=-1\nx\n").error.find("timeout="), std::string::npos);
}

TEST(Exclude, ReasonsAreRequiredAndPatternsMatch) {
    TempDir d;
    write_file(d / "ex", "x86/sev_*  no SEV here\nset_memory_region_test\tflaky (bug 7)\n# c\n\n");
    std::vector<Exclusion> ex;
    std::string err;
    ASSERT_TRUE(read_exclude_file(d / "ex", ex, err)) << err;
    ASSERT_EQ(ex.size(), 2u);
    EXPECT_EQ(ex[1].reason, "flaky (bug 7)");
    fake_build_dir(d / "kvm");
    auto td = open_test_dir(d / "kvm", err);
    auto plan = plan_tests(*td, {"x86/sev_smoke_test", "sev_init2_tests", "set_memory_region_test",
                                 "x86/private_mem_conversions_test"});
    apply_exclusions(plan, ex);
    EXPECT_EQ(plan[0].problem, PlannedTest::Problem::Excluded);
    EXPECT_EQ(plan[1].problem, PlannedTest::Problem::Excluded);
    EXPECT_EQ(plan[2].problem, PlannedTest::Problem::Excluded);
    EXPECT_EQ(plan[2].problem_text, "excluded: flaky (bug 7) (" + (d / "ex").string() + ":2)");
    EXPECT_EQ(plan[3].problem, PlannedTest::Problem::None);
    EXPECT_EQ(ex[0].matched, 2);
    write_file(d / "bad", "x86/sev_smoke_test\n");
    std::vector<Exclusion> none;
    EXPECT_FALSE(read_exclude_file(d / "bad", none, err));
    EXPECT_NE(err.find(":1: \"x86/sev_smoke_test\" has no reason"), std::string::npos) << err;
}

}  // namespace
}  // namespace kvmsr

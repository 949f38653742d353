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

}  // namespace
}  // namespace kvmsr

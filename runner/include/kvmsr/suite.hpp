// Where the tests are and which ones to run.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace kvmsr {

struct TestDir {
    std::filesystem::path given;  // what the user passed
    std::filesystem::path base;   // directory holding x86/..., set_memory_region_test, ...
    bool install = false;         // a kselftest install tree (kvm/ + kselftest-list.txt)
    std::vector<std::string> listed;          // kvm tests from kselftest-list.txt (install trees)
    std::optional<int> settings_timeout;      // "timeout=N" from the kvm "settings" file
};

// Accepts a kselftest KVM build/output directory, a kselftest install
// directory (containing kvm/ and kselftest-list.txt) or its kvm/ directory.
// Returns nullopt and sets `error` when the directory is unusable.
std::optional<TestDir> open_test_dir(const std::filesystem::path& dir, std::string& error);

struct DefaultTest {
    const char* name;
    bool ours;  // written by this project; may be absent from an upstream build
};
// This project's tests first, then the closest upstream tests.
const std::vector<DefaultTest>& default_tests();

enum class Origin { Default, Explicit, All };

struct PlannedTest {
    std::string name;                // as shown in reports, e.g. "x86/sev_smoke_test"
    std::filesystem::path path;      // the executable
    Origin origin = Origin::Explicit;
    bool ours = false;
    // Set when the test cannot be started; decided before running.
    enum class Problem { None, NotBuilt, NotFound, NotExecutable, NotAFile } problem = Problem::None;
    std::string problem_text;
};

// Resolves names ("x86/sev_smoke_test", "sev_smoke_test", "kvm:x86/sev_smoke_test"
// or a path) against the directory.  No names: the default set.
std::vector<PlannedTest> plan_tests(const TestDir& dir, const std::vector<std::string>& names);

// Every test program in the directory (kselftest-list.txt for install trees,
// else executable ELF files under the directory).  Empty when there is none:
// never the default set.
std::vector<PlannedTest> plan_all_tests(const TestDir& dir);

// Why plan_all_tests() found nothing, as a clause ("it is empty", "it holds
// 3 files, 3 executable scripts and no ELF executable ...").
std::string describe_no_tests(const TestDir& dir);

// The test's program is absent (not built, not found).
bool never_built(const PlannedTest& t);

// True when no test of the plan can be started: every one is absent.  A run
// of such a plan could only report skips and errors for programs that do not
// exist, which is almost always a wrong directory or name.
bool nothing_to_run(const std::vector<PlannedTest>& plan);

// True when the default set found none of the upstream tests: almost
// certainly the wrong directory.
bool default_plan_looks_empty(const std::vector<PlannedTest>& plan);

}  // namespace kvmsr

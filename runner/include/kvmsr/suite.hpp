// Where the tests are and which ones to run.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
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

enum class Origin { Default, Explicit, All, TestCase };

struct PlannedTest {
    std::string name;                // as shown in reports, e.g. "x86/sev_smoke_test"
    std::filesystem::path path;      // the executable
    Origin origin = Origin::Explicit;
    bool ours = false;
    std::vector<std::string> args;   // argv[1..], from a test-case file
    std::string testcase;            // the test-case file it came from, if any
    std::optional<double> timeout_s; // "timeout=" of its test-case file
    // Set when the test cannot be started; decided before running.
    enum class Problem {
        None,
        NotBuilt,
        NotFound,
        NotExecutable,
        NotAFile,
        BadTestCase,  // its test-case file cannot be used
        Excluded,     // by an exclude list, with a reason
    } problem = Problem::None;
    std::string problem_text;
};

// ---- test-case files --------------------------------------------------------
//
// One test case per file (as the KVM selftests runner proposed on the kvm
// list does): NAME.test holds one command line, the test program (a name
// as for `run`, resolved in the test directory) and its arguments.  Words
// are split at blanks; '...' and "..." quote, a backslash escapes one
// character; nothing is expanded.  Blank lines and lines starting with '#'
// are ignored; "timeout=SECONDS" (kselftest's settings key) sets the test
// case's timeout.

struct TestCaseFile {
    std::vector<std::string> argv;   // program and arguments
    std::optional<double> timeout_s;
    std::string error;               // why the file cannot be used; empty when it can
};
TestCaseFile parse_testcase(std::string_view text);

// Splits one command line as described above; sets `error` on an
// unterminated quote or a trailing backslash.
std::vector<std::string> split_command(std::string_view line, std::string& error);

// The test cases of `where`: a NAME.test file, or a directory searched for
// *.test files (names are their paths below it, without ".test").  False
// and `error` when `where` is neither; a file that cannot be used is a
// planned test with the problem BadTestCase.
bool plan_testcases(const TestDir& dir, const std::filesystem::path& where, std::vector<PlannedTest>& plan,
                    std::string& error);

// ---- exclude lists -------------------------------------------------------------
//
// One exclusion per line: a test name (as `run` takes it, "kvm:" prefix
// allowed, shell wildcards * ? [...] allowed) and, after blanks, the reason,
// which is required.  Blank lines and lines starting with '#' are ignored.

struct Exclusion {
    std::string pattern;
    std::string reason;
    std::string where;  // FILE:LINE
    int matched = 0;
};
// False and `error` (naming FILE:LINE) when the file cannot be read or a
// line has no reason.
bool read_exclude_file(const std::filesystem::path& file, std::vector<Exclusion>& out, std::string& error);
// Marks the tests an exclusion matches (Problem::Excluded, with its reason);
// counts the matches in each exclusion.
void apply_exclusions(std::vector<PlannedTest>& plan, std::vector<Exclusion>& exclusions);

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

// The test's program is absent (not built, not found), or it is excluded.
bool never_built(const PlannedTest& t);

// True when no test of the plan can be started: every one is absent or
// excluded.  A run
// of such a plan could only report skips and errors for programs that do not
// exist, which is almost always a wrong directory or name.
bool nothing_to_run(const std::vector<PlannedTest>& plan);

// True when the default set found none of the upstream tests: almost
// certainly the wrong directory.
bool default_plan_looks_empty(const std::vector<PlannedTest>& plan);

}  // namespace kvmsr

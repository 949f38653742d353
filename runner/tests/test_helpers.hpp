// Small helpers shared by the tests.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "kvmsr/process.hpp"

namespace kvmsr::testing {

// Paths of this build (tests/test_paths.cpp, the only file compiled with them).
extern const char* const kTestData;        // tests/data
extern const char* const kXmllint;         // xmllint
extern const char* const kBinary;          // the built kvm-selftest-runner
extern const char* const kFakeSelftest;    // tests/fake_selftest.cpp, built ("" in the integration test)
extern const char* const kKtapArtifactsDir;

// A fresh directory under $TMPDIR (or /tmp), removed with its content.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& rel) const { return path_ / rel; }

private:
    std::filesystem::path path_;
};

void write_file(const std::filesystem::path& p, const std::string& content, unsigned mode = 0644);
std::string read_file(const std::filesystem::path& p);
std::string data_path(const std::string& name);  // file in tests/data

// Runs a program with a bounded time; output capped at 64 MiB.
ProcessResult run_program(const std::string& path, const std::vector<std::string>& args,
                          std::chrono::milliseconds timeout = std::chrono::seconds(60),
                          const std::string& cwd = {});

// Runs the built kvm-selftest-runner.
ProcessResult run_cli(const std::vector<std::string>& args,
                      std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Starts the built kvm-selftest-runner without waiting for it, its stdout and
// stderr to `log`; returns its pid.
int spawn_cli(const std::vector<std::string>& args, const std::filesystem::path& log);

// Waits until file `p` holds at least `n` numbers (pids); false on timeout.
bool wait_for_pids(const std::filesystem::path& p, std::size_t n, std::chrono::milliseconds timeout);
std::vector<long> read_pids(const std::filesystem::path& p);

// True when every pid is gone (or a zombie) within `timeout`.
bool all_gone(const std::vector<long>& pids, std::chrono::milliseconds timeout = std::chrono::seconds(2));

// Keeps a KTAP file a test produced, for scripts/runner-ktap-check.sh (make
// check), which reads it with the kernel's kunit_parser.py: as NAME.ktap in
// $KVMSR_KTAP_ARTIFACTS, else in the build's ktap-artifacts directory.
// `expect`, when given, holds what kunit_parser must count, one line per
// top-level test and a last line for the whole file:
//   NAME<TAB>passed<TAB>failed<TAB>crashed<TAB>skipped<TAB>errors
void keep_ktap(const std::string& name, const std::string& ktap, const std::string& expect = {});

// xmllint --noout --schema tests/data/junit.xsd FILE; returns its output
// and sets ok when it exited 0.
std::string validate_junit(const std::filesystem::path& xml, bool& ok);

}  // namespace kvmsr::testing

// Integration test: real KVM selftests from $KVM_SELFTESTS_DIR against this
// machine's /dev/kvm.  Each test is first run here, independently of the
// runner's process code (plain fork/exec/waitpid), to get its exit status;
// then kvm-selftest-runner runs the same tests, and its JSON, JUnit and KTAP
// reports must agree with those exit statuses.
//
// Exit 77 (CTest SKIP_RETURN_CODE) when KVM_SELFTESTS_DIR is unset or
// /dev/kvm is missing: skipped, never passed.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <pugixml.hpp>

#include "kvmsr/ktap.hpp"
#include "kvmsr/supervisor.hpp"
#include "test_helpers.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// Tests that finish within a few seconds on a nested KVM host and whose
// result does not depend on timing.  Which of them pass, skip or fail
// depends on the host; the check is only that the runner agrees.
const std::vector<std::string> kCandidates = {
    "x86/private_mem_conversions_test",  // default set; upstream closest to ours
    "x86/sev_smoke_test",                // default set
    "x86/sev_init2_tests",               // default set
    "x86/private_mem_kvm_exits_test",    // default set
    "set_memory_region_test",
    "x86/sync_regs_test",
    "guest_print_test",
    "kvm_binary_stats_test",
    "x86/cpuid_test",
    "x86/platform_info_test",
    "guest_memfd_test",
    "access_tracking_perf_test",
};

constexpr auto kPerTestTimeout = 60s;

struct Independent {
    bool timed_out = false;
    std::optional<int> exit_code;
    std::optional<int> signal;
};

// Deliberately separate from kvmsr::run_process.
Independent run_independently(const fs::path& prog) {
    Independent res;
    pid_t pid = ::fork();
    if (pid < 0) {
        std::perror("fork");
        std::exit(1);
    }
    if (pid == 0) {
        ::setpgid(0, 0);
        int null = ::open("/dev/null", O_RDWR);
        ::dup2(null, 0);
        ::dup2(null, 1);
        ::dup2(null, 2);
        if (::chdir(prog.parent_path().c_str()) != 0) ::_exit(126);
        const char* home = std::getenv("HOME");
        std::string home_kv = std::string("HOME=") + (home ? home : "/");
        char* envp[] = {const_cast<char*>("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
                        const_cast<char*>(home_kv.c_str()), const_cast<char*>("LC_ALL=C"), nullptr};
        char* argv[] = {const_cast<char*>(prog.c_str()), nullptr};
        ::execve(prog.c_str(), argv, envp);
        ::_exit(127);
    }
    ::setpgid(pid, pid);
    const auto deadline = std::chrono::steady_clock::now() + kPerTestTimeout;
    int status = 0;
    for (;;) {
        pid_t w = ::waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (std::chrono::steady_clock::now() >= deadline) {
            res.timed_out = true;
            ::kill(-pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            break;
        }
        std::this_thread::sleep_for(10ms);
    }
    ::kill(-pid, SIGKILL);  // whatever the test left behind in its group
    if (!res.timed_out) {
        if (WIFEXITED(status)) res.exit_code = WEXITSTATUS(status);
        if (WIFSIGNALED(status)) res.signal = WTERMSIG(status);
    }
    return res;
}

int failures = 0;
void check(bool ok, const std::string& what) {
    if (!ok) {
        ++failures;
        std::printf("MISMATCH: %s\n", what.c_str());
    }
}

}  // namespace

int main(int argc, char** argv) {
    // The helpers' run_process() supervises through /proc/self/exe: this program.
    if (argc > 1 && std::strcmp(argv[1], kvmsr::kSuperviseArg) == 0) return kvmsr::supervise_main(argc, argv);
    const char* env_dir = std::getenv("KVM_SELFTESTS_DIR");
    if (!env_dir || !*env_dir) {
        std::puts("SKIP: KVM_SELFTESTS_DIR is not set; point it at a KVM selftests build or install directory");
        return 77;
    }
    if (::access("/dev/kvm", R_OK | W_OK) != 0) {
        std::printf("SKIP: /dev/kvm is not usable here: %s\n", std::strerror(errno));
        return 77;
    }
    const fs::path dir = env_dir;
    if (!fs::is_directory(dir)) {
        std::printf("FAIL: KVM_SELFTESTS_DIR=%s is not a directory\n", env_dir);
        return 1;
    }
    fs::path base = dir;
    if (fs::exists(dir / "kselftest-list.txt") && fs::is_directory(dir / "kvm")) base = dir / "kvm";

    // Install trees put x86/foo at kvm/foo.
    auto where = [&](const std::string& t) {
        fs::path p = base / t;
        return fs::exists(p) ? p : base / fs::path(t).filename();
    };
    std::vector<std::string> tests;
    for (const auto& t : kCandidates)
        if (::access(where(t).c_str(), X_OK) == 0) tests.push_back(t);
    if (tests.size() < 4) {
        std::printf("FAIL: only %zu of the %zu expected selftests are built in %s\n", tests.size(), kCandidates.size(),
                    base.c_str());
        return 1;
    }

    // 1. Exit statuses, independently.
    std::map<std::string, Independent> truth;
    for (const auto& t : tests) {
        auto r = run_independently(where(t));
        truth[t] = r;
        std::printf("independent: %-36s %s\n", t.c_str(),
                    r.timed_out ? "timeout"
                    : r.signal  ? fmt::format("signal {}", *r.signal).c_str()
                                : fmt::format("exit {}", *r.exit_code).c_str());
    }

    // 2. The runner on the same tests.
    kvmsr::testing::TempDir out;
    std::vector<std::string> args = {"run", dir.string()};
    args.insert(args.end(), tests.begin(), tests.end());
    args.insert(args.end(), {"-j", "2", "--timeout", std::to_string(kPerTestTimeout.count()), "--progress", "never",
                             "--json", (out / "report.json").string(), "--junit", (out / "junit.xml").string(),
                             "--ktap", (out / "summary.ktap").string()});
    auto run = kvmsr::testing::run_cli(args, std::chrono::seconds(kPerTestTimeout * (tests.size() + 2)));
    std::fputs(run.out.c_str(), stdout);
    std::fputs(run.err.c_str(), stdout);
    if (!run.exited) {
        std::printf("FAIL: the runner did not exit normally (timeout=%d signal=%d)\n", run.timed_out, run.signal);
        return 1;
    }

    auto j = nlohmann::json::parse(kvmsr::testing::read_file(out / "report.json"));
    std::map<std::string, nlohmann::json> rep;
    for (auto& t : j["tests"]) rep[t["name"].get<std::string>()] = t;
    check(rep.size() == tests.size(), fmt::format("JSON has {} tests, ran {}", rep.size(), tests.size()));

    bool any_failure = false;
    for (const auto& t : tests) {
        const auto& want = truth[t];
        if (!rep.count(t)) {
            check(false, t + " missing from the JSON report");
            continue;
        }
        const auto& got = rep[t];
        const std::string status = got["status"];
        const std::string reason = got["reason"];
        any_failure = any_failure || got["failed"].get<bool>();
        if (want.timed_out) {
            check(status == "TIMEOUT", fmt::format("{}: timed out independently, runner says {}", t, status));
        } else if (want.signal) {
            check(status == "CRASH" && got["signal"] == *want.signal,
                  fmt::format("{}: killed by signal {}, runner says {} ({})", t, *want.signal, status, reason));
        } else {
            const int code = *want.exit_code;
            check(got["exit_code"] == code, fmt::format("{}: exit code {} vs runner's {}", t, code, got["exit_code"].dump()));
            // TAP printed by the test may turn 0/4 into a failure, with a reason saying so.
            const bool tap_override = status == "FAIL" && (reason.find("TAP") != std::string::npos ||
                                                           reason.find("still running") != std::string::npos);
            if (code == 0) check(status == "PASS" || tap_override, fmt::format("{}: exit 0 but {}", t, status));
            else if (code == 4) check(status == "SKIP" || tap_override, fmt::format("{}: exit 4 but {}", t, status));
            else check(status == "FAIL", fmt::format("{}: exit {} but {}", t, code, status));
            if (status == "SKIP") check(!reason.empty(), t + ": skip without a reason");
            if (status == "FAIL") check(!reason.empty(), t + ": failure without a reason");
        }
    }
    check(run.exit_code == (any_failure ? 1 : 0),
          fmt::format("runner exit code {} but failures present: {}", run.exit_code, any_failure));

    // 3. JUnit: schema-valid and the same verdicts.
    bool valid = false;
    auto msg = kvmsr::testing::validate_junit(out / "junit.xml", valid);
    check(valid, "JUnit does not validate: " + msg);
    pugi::xml_document doc;
    check(static_cast<bool>(doc.load_file((out / "junit.xml").c_str())), "JUnit does not parse");
    for (auto tc : doc.child("testsuites").child("testsuite").children("testcase")) {
        std::string name = tc.attribute("name").value();
        if (!rep.count(name)) {
            check(false, "JUnit has unknown testcase " + name);
            continue;
        }
        std::string status = rep[name]["status"];
        const bool skipped = tc.child("skipped"), failure = tc.child("failure"), error = tc.child("error");
        check(skipped == (status == "SKIP"), name + ": JUnit <skipped> disagrees with " + status);
        check(failure == (status == "FAIL" || status == "TIMEOUT" || status == "CRASH"),
              name + ": JUnit <failure> disagrees with " + status);
        check(error == (status == "ERROR"), name + ": JUnit <error> disagrees with " + status);
    }

    // 4. KTAP summary: one result per test, ok/not ok as the JSON says.
    auto k = kvmsr::parse_ktap(kvmsr::testing::read_file(out / "summary.ktap"));
    check(k.results.size() == tests.size(), "KTAP summary result count");
    for (const auto& r : k.results) {
        if (!rep.count(r.description)) {
            check(false, "KTAP has unknown test " + r.description);
            continue;
        }
        check(r.failed() == rep[r.description]["failed"].get<bool>(), r.description + ": KTAP ok/not ok disagrees");
        check(r.skipped() == (rep[r.description]["status"] == "SKIP"), r.description + ": KTAP SKIP disagrees");
    }

    if (failures) {
        std::printf("FAIL: %d mismatch(es) between the runner's report and the tests' exit codes\n", failures);
        return 1;
    }
    std::printf("OK: the runner's JSON, JUnit and KTAP agree with the exit codes of %zu real KVM selftests\n",
                tests.size());
    return 0;
}

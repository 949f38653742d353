// kvm-selftest-runner: probe the host's KVM for TDX/SNP, run KVM selftests,
// read their exit codes and KTAP, write JUnit / KTAP / JSON reports.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kvmsr/engine.hpp"
#include "kvmsr/isolation.hpp"
#include "kvmsr/probe.hpp"
#include "kvmsr/report.hpp"
#include "kvmsr/suite.hpp"
#include "kvmsr/supervisor.hpp"

#ifndef KVMSR_VERSION
#define KVMSR_VERSION "0.0"
#endif

namespace {

std::atomic<bool> g_cancel{false};

extern "C" void on_signal(int) { g_cancel.store(true); }

void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: let poll() return early
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
}

std::string now_iso() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    return buf;
}

// A report file, opened (not truncated) before any test runs, so that a
// path that cannot be written stops the run at once instead of after it;
// written at the end through the same descriptor.
struct ReportFile {
    const char* what;  // "JUnit", "KTAP", "JSON"
    const char* option;
    std::string path;  // "-": stdout
    int fd = -1;
    bool created = false;
    dev_t dev = 0;
    ino_t ino = 0;
    bool regular = false;  // a device (/dev/null) may take several reports

    bool to_stdout() const { return path == "-"; }

    // Empty string, or why it cannot be written.
    std::string open_early() {
        if (to_stdout()) return {};
        struct stat st;
        created = ::stat(path.c_str(), &st) != 0;
        fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) return fmt::format("cannot write the {} report {} ({}): {}", what, path, option, std::strerror(errno));
        if (::fstat(fd, &st) == 0) {
            dev = st.st_dev;
            ino = st.st_ino;
            regular = S_ISREG(st.st_mode);
        }
        return {};
    }

    // Closes it; removes the file if this run created it and wrote nothing.
    void abandon() {
        if (fd >= 0) ::close(fd);
        fd = -1;
        if (created) ::unlink(path.c_str());
    }

    // Empty string, or the error.
    std::string write(const std::string& text) {
        if (to_stdout()) {
            std::fwrite(text.data(), 1, text.size(), stdout);
            return std::fflush(stdout) == 0 ? std::string()
                                            : fmt::format("cannot write the {} report to stdout: {}", what,
                                                          std::strerror(errno));
        }
        struct stat st;
        if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && ::ftruncate(fd, 0) != 0)
            return fmt::format("cannot write the {} report {}: {}", what, path, std::strerror(errno));
        ::lseek(fd, 0, SEEK_SET);
        const char* p = text.data();
        std::size_t left = text.size();
        while (left > 0) {
            ssize_t n = ::write(fd, p, left);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                std::string e = fmt::format("cannot write the {} report {}: {}", what, path,
                                            n < 0 ? std::strerror(errno) : "short write");
                ::close(fd);
                fd = -1;
                return e;
            }
            p += n;
            left -= static_cast<std::size_t>(n);
        }
        int rc = ::close(fd);
        fd = -1;
        return rc == 0 ? std::string() : fmt::format("cannot write the {} report {}: {}", what, path, std::strerror(errno));
    }
};

struct RunArgs {
    std::string dir;
    std::vector<std::string> tests;
    int jobs = 1;
    double timeout = 0;  // 0: from the kvm "settings" file, else 120
    double kill_grace = 2;
    double output_cap_mib = 4;
    std::string junit, ktap, json;
    bool all = false;
    bool list = false;
    bool allow_no_tests = false;
    bool fail_on_all_skipped = false;
    bool quiet = false;
    std::string progress = "auto";
    std::string isolation = "auto";
    std::vector<std::string> env;
    std::vector<std::string> testcases;
    std::vector<std::string> exclude;
    std::string output_dir;
    double heartbeat = 60;
};

// probe's exit code: 0 always (the report was produced), unless
// --exit-status asks for kselftest's codes: 0 this project's TDX or SNP
// test can run here, 4 (KSFT_SKIP) neither can, 1 probe itself failed.
int cmd_probe(const std::string& device, bool json, const std::string& sysroot, bool exit_status) {
    try {
        kvmsr::ProbeReport rep = kvmsr::decode_probe(kvmsr::probe_host(device, sysroot));
        if (json)
            std::cout << kvmsr::probe_to_json(rep).dump(2) << "\n";
        else
            std::cout << kvmsr::format_probe_text(rep);
        std::cout.flush();
        if (!std::cout) {
            fmt::print(stderr, "kvm-selftest-runner: probe: cannot write the report to stdout\n");
            return 1;
        }
        if (!exit_status) return 0;
        return rep.tdx.ours_can_run || rep.snp.ours_can_run ? 0 : 4;
    } catch (const std::exception& e) {
        fmt::print(stderr, "kvm-selftest-runner: probe failed: {}\n", e.what());
        return 1;
    }
}

// Text from names, paths and tests goes to the terminal through this.
std::string ds(const std::string& s) { return kvmsr::display_safe(s); }

// A report file from an earlier run must not outlive this one: a run that
// stops before writing its reports (a bad selection, a bad path, a kill)
// would otherwise leave CI the last run's green JUnit.  Each existing
// regular file named as a report is emptied first, so that what CI finds
// is this run's report or nothing valid.
void empty_old_reports(const RunArgs& a) {
    for (const std::string* p : {&a.junit, &a.ktap, &a.json}) {
        if (p->empty() || *p == "-") continue;
        struct stat st;
        if (::stat(p->c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) continue;
        int fd = ::open(p->c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
        if (fd >= 0) ::close(fd);
    }
}

int cmd_run(const RunArgs& a) {
    std::string error;
    if (!a.list) empty_old_reports(a);
    auto dir = kvmsr::open_test_dir(a.dir, error);
    if (!dir) {
        fmt::print(stderr, "kvm-selftest-runner: {}\n", ds(error));
        return 2;
    }
    // Names that are test-case files (NAME.test) are test cases; the rest
    // are test programs.  Without names, --all or --testcases: the default set.
    std::vector<std::string> names, testcases = a.testcases;
    for (const auto& n : a.tests) {
        std::error_code ec;
        if (n.ends_with(".test") && std::filesystem::is_regular_file(n, ec)) testcases.push_back(n);
        else names.push_back(n);
    }
    std::vector<kvmsr::PlannedTest> plan;
    if (a.all)
        plan = kvmsr::plan_all_tests(*dir);
    else if (!names.empty() || testcases.empty())
        plan = kvmsr::plan_tests(*dir, names);
    for (const auto& tc : testcases) {
        if (!kvmsr::plan_testcases(*dir, tc, plan, error)) {
            fmt::print(stderr, "kvm-selftest-runner: {}\n", ds(error));
            return 2;
        }
    }
    std::vector<kvmsr::Exclusion> exclusions;
    for (const auto& f : a.exclude) {
        if (!kvmsr::read_exclude_file(f, exclusions, error)) {
            fmt::print(stderr, "kvm-selftest-runner: {}\n", ds(error));
            return 2;
        }
    }
    kvmsr::apply_exclusions(plan, exclusions);
    for (const auto& e : exclusions)
        if (e.matched == 0)
            fmt::print(stderr, "kvm-selftest-runner: warning: {}: {} matches no selected test\n", ds(e.where),
                       ds(e.pattern));
    // A selection that finds nothing to run is an error (exit 2, before
    // anything runs) unless asked for: otherwise a mistyped directory passes
    // CI as a run of skips.
    if (plan.empty() && !a.allow_no_tests) {
        fmt::print(stderr, "kvm-selftest-runner: no test found in {}: {}\n", ds(dir->base.string()),
                   kvmsr::describe_no_tests(*dir));
        fmt::print(stderr, "kvm-selftest-runner: (--allow-no-tests makes this a successful run of no tests)\n");
        return 2;
    }
    if (!plan.empty() && !a.allow_no_tests && kvmsr::nothing_to_run(plan)) {
        if (a.tests.empty() && !a.all && testcases.empty() && exclusions.empty())
            fmt::print(stderr,
                       "kvm-selftest-runner: {} holds none of the default tests (e.g. x86/sev_smoke_test); "
                       "give the KVM selftests build directory or a kselftest install directory\n",
                       ds(dir->base.string()));
        else
            fmt::print(stderr, "kvm-selftest-runner: none of the {} selected test{} can run from {}\n", plan.size(),
                       plan.size() == 1 ? "" : "s", ds(dir->base.string()));
        for (const auto& t : plan) fmt::print(stderr, "  {}: {}\n", ds(t.name), ds(t.problem_text));
        fmt::print(stderr, "kvm-selftest-runner: (--allow-no-tests reports them and runs nothing)\n");
        return 2;
    }
    // The reports: every path is opened now, before anything runs; each
    // problem is named, and two reports in one file are refused.
    std::vector<ReportFile> reports;
    if (!a.junit.empty()) reports.push_back({"JUnit", "--junit", a.junit});
    if (!a.ktap.empty()) reports.push_back({"KTAP", "--ktap", a.ktap});
    if (!a.json.empty()) reports.push_back({"JSON", "--json", a.json});
    if (!a.list) {
        std::vector<std::string> problems;
        for (auto& r : reports)
            if (auto e = r.open_early(); !e.empty()) problems.push_back(e);
        for (std::size_t i = 0; i < reports.size(); ++i)
            for (std::size_t k = i + 1; k < reports.size(); ++k) {
                const auto &x = reports[i], &y = reports[k];
                const bool same = (x.to_stdout() && y.to_stdout()) ||
                                  (x.regular && y.regular && x.dev == y.dev && x.ino == y.ino);
                if (same)
                    problems.push_back(fmt::format("{} and {} name the same file ({}): one would overwrite the other",
                                                   x.option, y.option, x.path));
            }
        if (!a.output_dir.empty()) {
            std::error_code ec;
            std::filesystem::create_directories(a.output_dir, ec);
            if (ec || ::access(a.output_dir.c_str(), W_OK | X_OK) != 0)
                problems.push_back(fmt::format("cannot write the output directory {} (-o): {}", a.output_dir,
                                               ec ? ec.message() : std::string(std::strerror(errno))));
        }
        if (!problems.empty()) {
            for (const auto& p : problems) fmt::print(stderr, "kvm-selftest-runner: {}\n", ds(p));
            fmt::print(stderr, "kvm-selftest-runner: no test was run\n");
            for (auto& r : reports) r.abandon();
            return 2;
        }
    }
    if (a.list) {
        for (const auto& t : plan)
        {
            std::string what = t.path.string();
            for (const auto& arg : t.args) what += " " + arg;
            fmt::print("{}\t{}\n", ds(t.name), ds(t.problem == kvmsr::PlannedTest::Problem::None ? what : t.problem_text));
        }
        return 0;
    }

    const kvmsr::IsolationMode mode = a.isolation == "cgroup"      ? kvmsr::IsolationMode::Cgroup
                                      : a.isolation == "subreaper" ? kvmsr::IsolationMode::Subreaper
                                                                   : kvmsr::IsolationMode::Auto;
    auto iso = kvmsr::setup_isolation(mode, error);
    if (!iso) {
        fmt::print(stderr, "kvm-selftest-runner: {}\n", ds(error));
        for (auto& r : reports) r.abandon();
        return 2;
    }
    struct Teardown {
        const kvmsr::Isolation& iso;
        ~Teardown() { kvmsr::teardown_isolation(iso); }
    } teardown{*iso};

    const bool human_to_stderr = a.junit == "-" || a.ktap == "-" || a.json == "-";
    std::FILE* human = human_to_stderr ? stderr : stdout;

    kvmsr::RunOptions opt;
    opt.jobs = a.jobs;
    double timeout_s = a.timeout > 0 ? a.timeout : dir->settings_timeout.value_or(120);
    opt.timeout = std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000));
    opt.kill_grace = std::chrono::milliseconds(static_cast<long long>(a.kill_grace * 1000));
    opt.output_cap = static_cast<std::size_t>(a.output_cap_mib * 1024 * 1024);
    opt.env_extra = a.env;
    opt.cgroup_root = iso->cgroup_root;
    opt.heartbeat = std::chrono::milliseconds(static_cast<long long>(a.heartbeat * 1000));
    opt.output_dir = a.output_dir;
    opt.quiet = a.quiet;
    opt.progress = human;
    opt.live = a.progress == "always" || (a.progress == "auto" && ::isatty(::fileno(human)));

    struct utsname uts {};
    ::uname(&uts);
    kvmsr::RunReport rep;
    rep.directory = a.dir;
    rep.started = now_iso();
    rep.hostname = uts.nodename;
    rep.kernel = uts.release;
    rep.jobs = a.jobs;
    rep.isolation = iso->why;

    if (!a.quiet)
        fmt::print(human, "kvm-selftest-runner: {} test{} from {}{} (-j {}, timeout {:.0f}s)\n", plan.size(),
                   plan.size() == 1 ? "" : "s", ds(dir->base.string()), dir->install ? " (kselftest install)" : "",
                   a.jobs, timeout_s);
    if (!a.quiet) fmt::print(human, "isolation: {}\n", iso->why);
    std::fflush(human);

    const auto t0 = std::chrono::steady_clock::now();
    kvmsr::RunProblems problems;
    rep.outcomes = kvmsr::run_tests(plan, opt, &g_cancel, &problems);
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    std::vector<std::string> write_errors = problems.write_errors;
    for (auto& r : reports) {
        std::string text = r.what == std::string("JUnit")  ? kvmsr::to_junit(rep)
                           : r.what == std::string("KTAP") ? kvmsr::to_ktap(rep)
                                                           : kvmsr::to_json(rep).dump(
                                                                 2, ' ', false, nlohmann::json::error_handler_t::replace) +
                                                                 "\n";
        if (auto e = r.write(text); !e.empty()) write_errors.push_back(e);
    }

    std::string table = kvmsr::format_table(rep);
    if (!a.quiet) std::fputs(("\n" + table).c_str(), human);
    else {
        std::string failed = kvmsr::failed_line(rep.outcomes);
        std::fputs((kvmsr::summary_line(kvmsr::summarize(rep.outcomes), rep.seconds) + "\n" +
                    (failed.empty() ? "" : failed + "\n"))
                       .c_str(),
                   human);
    }
    std::fflush(human);
    // Every report that could not be written is named.  The exit code still
    // says first whether tests failed: 1 (or 130) with a report error too;
    // 2 only when the tests passed and a report is missing.
    for (const auto& e : write_errors) fmt::print(stderr, "kvm-selftest-runner: {}\n", ds(e));
    const int failures = kvmsr::summarize(rep.outcomes).failures();
    if (!write_errors.empty())
        fmt::print(stderr, "kvm-selftest-runner: {} report{} not written; {}\n", write_errors.size(),
                   write_errors.size() == 1 ? "" : "s",
                   failures ? fmt::format("{} test{} failed (exit code 1)", failures, failures == 1 ? "" : "s")
                            : std::string("no test failed (exit code 2)"));
    if (g_cancel.load()) return 130;
    if (failures) return 1;
    if (!write_errors.empty()) return 2;
    // A run in which every test skipped passes, as in kselftest (a skip is
    // not a failure); a CI that must have tested something refuses it.
    if (a.fail_on_all_skipped && kvmsr::summarize(rep.outcomes).all_skipped()) {
        fmt::print(stderr, "kvm-selftest-runner: every test skipped and --fail-on-all-skipped was given (exit code 4)\n");
        return 4;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    // Each test runs below a supervisor, which is this program again.
    if (argc > 1 && std::strcmp(argv[1], kvmsr::kSuperviseArg) == 0) return kvmsr::supervise_main(argc, argv);

    CLI::App app{"Probe KVM for TDX/SNP support and run KVM selftests with JUnit/KTAP/JSON reports",
                 "kvm-selftest-runner"};
    app.set_version_flag("--version", KVMSR_VERSION);
    app.require_subcommand(1);

    auto* probe = app.add_subcommand("probe", "Report what /dev/kvm offers (API version, VM types, hypercall exits)");
    std::string device = "/dev/kvm";
    bool probe_json = false;
    probe->add_option("--device", device, "KVM device node")->capture_default_str();
    probe->add_flag("--json", probe_json, "Print JSON instead of text");
    std::string sysroot = "/";
    bool probe_exit_status = false;
    probe->add_flag("--exit-status", probe_exit_status,
                    "Exit 0 when this project's TDX or SNP test can run on this host, 4 (KSFT_SKIP) when "
                    "neither can, 1 when probe itself failed (default: 0 whenever the report was produced)");
    probe->add_option("--sysroot", sysroot, "Read /proc/cpuinfo and /sys below DIR (for tests)")->capture_default_str();

    auto* run = app.add_subcommand("run", "Run KVM selftests from a build or kselftest install directory");
    RunArgs ra;
    run->add_option("dir", ra.dir, "KVM selftests build dir, kselftest install dir, or its kvm/ dir")->required();
    auto* tests_opt = run->add_option("tests", ra.tests,
                    "Tests to run (x86/sev_smoke_test, sev_smoke_test, kvm:x86/sev_smoke_test or a path); "
                    "default: this project's tests plus the closest upstream tests");
    run->add_option("-j,--jobs", ra.jobs, "Run up to N tests at once")->check(CLI::Range(1, 256))->capture_default_str();
    run->add_option("--timeout", ra.timeout,
                    "Seconds per test before it and all its processes are killed (default: the kvm 'settings' file, else 120)")
        ->check(CLI::PositiveNumber);
    run->add_option("--kill-grace", ra.kill_grace, "Seconds between SIGTERM and SIGKILL on timeout")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    run->add_option("--output-cap", ra.output_cap_mib, "MiB of stdout+stderr kept per test")
        ->check(CLI::Range(0.004, 1024.0))
        ->capture_default_str();
    run->add_option("--junit", ra.junit, "Write JUnit XML to FILE ('-' for stdout)");
    run->add_option("--ktap", ra.ktap, "Write a KTAP summary to FILE ('-' for stdout)");
    run->add_option("--json", ra.json, "Write a JSON report to FILE ('-' for stdout)");
    run->add_flag("--all", ra.all, "Run every test in the directory")->excludes(tests_opt);
    run->add_flag("--list", ra.list, "List the tests that would run, and stop");
    run->add_option("--testcases", ra.testcases,
                    "Run the test cases of DIR (its *.test files, one test case each: a command line with "
                    "arguments) or of one FILE.test (repeatable)")
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    run->add_option("--exclude", ra.exclude,
                    "Leave out the tests named in FILE, one per line with its reason: NAME REASON... "
                    "(wildcards allowed; repeatable); they are reported as SKIP with the reason")
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    run->add_option("-o,--output-dir", ra.output_dir,
                    "Write each test's stdout and stderr to DIR/NAME.stdout and DIR/NAME.stderr");
    run->add_option("--heartbeat", ra.heartbeat,
                    "Every S seconds, name the tests still running (0: never)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    run->add_flag("--fail-on-all-skipped", ra.fail_on_all_skipped,
                  "Exit 4 (KSFT_SKIP) instead of 0 when every test skipped: nothing was tested");
    run->add_flag("--allow-no-tests", ra.allow_no_tests,
                  "Accept a selection that finds no test or only absent ones (default: exit 2)");
    run->add_option("--env", ra.env, "Add KEY=VALUE to the tests' clean environment (repeatable)")
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->check([](const std::string& s) {
            auto eq = s.find('=');
            return (eq == std::string::npos || eq == 0) ? std::string("expected KEY=VALUE") : std::string();
        });
    run->add_flag("-q,--quiet", ra.quiet, "Only the summary line on the console");
    run->add_option("--progress", ra.progress, "Live progress line: auto (when a terminal), always, never")
        ->check(CLI::IsMember({"auto", "always", "never"}))
        ->capture_default_str();
    run->add_option("--isolation", ra.isolation,
                    "How a test's processes are kept from outliving it: auto (a cgroup v2 per test where "
                    "usable, else subreaper), cgroup (fail if not usable), subreaper")
        ->check(CLI::IsMember({"auto", "cgroup", "subreaper"}))
        ->capture_default_str();

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int code = app.exit(e);
        return code == 0 ? 0 : 2;
    }
    install_signal_handlers();
    if (*probe) return cmd_probe(device, probe_json, sysroot, probe_exit_status);
    return cmd_run(ra);
}

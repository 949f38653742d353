#include "test_helpers.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace kvmsr::testing {

namespace fs = std::filesystem;

TempDir::TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/kvmsr-test-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
    path_ = buf.data();
}

TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

void write_file(const fs::path& p, const std::string& content, unsigned mode) {
    fs::create_directories(p.parent_path());
    {
        std::ofstream f(p, std::ios::binary | std::ios::trunc);
        f << content;
        if (!f) throw std::runtime_error("cannot write " + p.string());
    }
    ::chmod(p.c_str(), mode);
}

std::string read_file(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::string data_path(const std::string& name) { return std::string(kTestData) + "/" + name; }

ProcessResult run_program(const std::string& path, const std::vector<std::string>& args,
                          std::chrono::milliseconds timeout, const std::string& cwd) {
    ProcessSpec spec;
    spec.path = path;
    spec.args = args;
    spec.cwd = cwd;
    spec.env = clean_environment();
    spec.timeout = timeout;
    spec.output_cap = 64u << 20;
    return run_process(spec);
}

ProcessResult run_cli(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
    return run_program(kBinary, args, timeout);
}

int spawn_cli(const std::vector<std::string>& args, const fs::path& log) {
    posix_spawn_file_actions_t fa;
    ::posix_spawn_file_actions_init(&fa);
    ::posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    ::posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::posix_spawn_file_actions_adddup2(&fa, 1, 2);
    std::vector<std::string> all = {kBinary};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    auto env = clean_environment();
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, kBinary, &fa, nullptr, argv.data(), envp.data());
    ::posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot start " + std::string(kBinary));
    return pid;
}

std::vector<long> read_pids(const fs::path& p) {
    std::vector<long> v;
    std::ifstream f(p);
    long x;
    while (f >> x) v.push_back(x);
    return v;
}

bool wait_for_pids(const fs::path& p, std::size_t n, std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (read_pids(p).size() < n) {
        if (std::chrono::steady_clock::now() >= until) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
}

bool all_gone(const std::vector<long>& pids, std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        bool gone = true;
        for (long pid : pids) {
            std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
            std::string stat;
            if (!std::getline(f, stat)) continue;
            auto rp = stat.rfind(')');
            if (rp != std::string::npos && rp + 2 < stat.size() && (stat[rp + 2] == 'Z' || stat[rp + 2] == 'X'))
                continue;
            gone = false;
        }
        if (gone) return true;
        if (std::chrono::steady_clock::now() >= until) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

void keep_ktap(const std::string& name, const std::string& ktap, const std::string& expect) {
    const char* env = std::getenv("KVMSR_KTAP_ARTIFACTS");
    fs::path dir = env && *env ? fs::path(env) : fs::path(kKtapArtifactsDir);
    fs::create_directories(dir);
    write_file(dir / (name + ".ktap"), ktap);
    if (!expect.empty()) write_file(dir / (name + ".expect"), expect);
    else fs::remove(dir / (name + ".expect"));
}

std::string validate_junit(const fs::path& xml, bool& ok) {
    auto r = run_program(kXmllint, {"--noout", "--schema", data_path("junit.xsd"), xml.string()},
                         std::chrono::seconds(60));
    ok = r.exited && r.exit_code == 0;
    return r.out + r.err;
}

}  // namespace kvmsr::testing

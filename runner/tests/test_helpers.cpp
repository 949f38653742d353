#include "test_helpers.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

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

std::string data_path(const std::string& name) { return std::string(KVMSR_TEST_DATA) + "/" + name; }

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
    return run_program(KVMSR_BINARY, args, timeout);
}

std::string validate_junit(const fs::path& xml, bool& ok) {
    auto r = run_program(KVMSR_XMLLINT, {"--noout", "--schema", data_path("junit.xsd"), xml.string()},
                         std::chrono::seconds(60));
    ok = r.exited && r.exit_code == 0;
    return r.out + r.err;
}

}  // namespace kvmsr::testing

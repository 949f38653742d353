#include "kvmsr/suite.hpp"

#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <set>

#include <fmt/format.h>

namespace kvmsr {

namespace fs = std::filesystem;

namespace {

std::optional<int> read_settings_timeout(const fs::path& base) {
    std::ifstream f(base / "settings");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("timeout=", 0) == 0) {
            try {
                int v = std::stoi(line.substr(8));
                if (v > 0) return v;
            } catch (...) {
            }
        }
    }
    return std::nullopt;
}

std::vector<std::string> read_kselftest_list(const fs::path& file) {
    std::vector<std::string> out;
    std::ifstream f(file);
    std::string line;
    while (std::getline(f, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.rfind("kvm:", 0) == 0 && line.size() > 4) out.push_back(line.substr(4));
    }
    return out;
}

bool is_elf_executable(const fs::path& p) {
    struct stat st;
    if (::stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111)) return false;
    std::ifstream f(p, std::ios::binary);
    char magic[4] = {};
    f.read(magic, 4);
    return f.gcount() == 4 && magic[0] == 0x7f && magic[1] == 'E' && magic[2] == 'L' && magic[3] == 'F';
}

void check_program(PlannedTest& t) {
    std::error_code ec;
    auto st = fs::status(t.path, ec);
    if (ec || !fs::exists(st)) {
        if (t.origin == Origin::Default && t.ours) {
            t.problem = PlannedTest::Problem::NotBuilt;
            t.problem_text = "not built: this project's test is absent from this build "
                             "(build the selftests from the patched tree)";
        } else if (t.origin == Origin::Default) {
            t.problem = PlannedTest::Problem::NotBuilt;
            t.problem_text = "not built: absent from this build";
        } else {
            t.problem = PlannedTest::Problem::NotFound;
            t.problem_text = "test program not found: " + t.path.string();
        }
        return;
    }
    if (!fs::is_regular_file(st)) {
        t.problem = PlannedTest::Problem::NotAFile;
        t.problem_text = "not a regular file: " + t.path.string();
        return;
    }
    if (::access(t.path.c_str(), X_OK) != 0) {
        t.problem = PlannedTest::Problem::NotExecutable;
        t.problem_text = "not executable: " + t.path.string() + " (no execute permission)";
    }
}

// kselftest install trees flatten the architecture directories
// (x86/sev_smoke_test is installed as kvm/sev_smoke_test): fall back to the
// file name there.
fs::path locate(const TestDir& dir, const std::string& name) {
    fs::path p = dir.base / name;
    std::error_code ec;
    if (fs::exists(p, ec)) return p;
    fs::path flat = dir.base / fs::path(name).filename();
    if (fs::path(name).has_parent_path() && fs::exists(flat, ec)) return flat;
    return p;
}

}  // namespace

std::optional<TestDir> open_test_dir(const fs::path& given, std::string& error) {
    std::error_code ec;
    fs::path dir = given.lexically_normal();
    if (!dir.empty() && dir.filename().empty()) dir = dir.parent_path();  // "kvm/" -> "kvm"
    if (dir.empty()) {
        error = "no test directory given";
        return std::nullopt;
    }
    auto st = fs::status(dir, ec);
    if (ec || !fs::exists(st)) {
        error = "test directory does not exist: " + dir.string();
        return std::nullopt;
    }
    if (!fs::is_directory(st)) {
        error = "not a directory: " + dir.string();
        return std::nullopt;
    }
    TestDir td;
    td.given = given;
    td.base = dir;
    if (fs::is_directory(dir / "kvm", ec) && fs::exists(dir / "kselftest-list.txt", ec)) {
        td.install = true;
        td.base = dir / "kvm";
        td.listed = read_kselftest_list(dir / "kselftest-list.txt");
    } else if (fs::exists(dir.parent_path() / "kselftest-list.txt", ec) && dir.filename() == "kvm") {
        td.install = true;
        td.listed = read_kselftest_list(dir.parent_path() / "kselftest-list.txt");
    }
    if (::access(td.base.c_str(), R_OK | X_OK) != 0) {
        error = "cannot read test directory " + td.base.string();
        return std::nullopt;
    }
    td.settings_timeout = read_settings_timeout(td.base);
    return td;
}

const std::vector<DefaultTest>& default_tests() {
    static const std::vector<DefaultTest> tests = {
        {"x86/snp_psc_test", true},
        {"x86/tdx_map_gpa_test", true},
        {"x86/private_mem_conversions_test", false},
        {"x86/private_mem_kvm_exits_test", false},
        {"x86/sev_smoke_test", false},
        {"x86/sev_init2_tests", false},
    };
    return tests;
}

std::vector<PlannedTest> plan_tests(const TestDir& dir, const std::vector<std::string>& names) {
    std::vector<PlannedTest> plan;
    if (names.empty()) {
        for (const auto& d : default_tests()) {
            PlannedTest t;
            t.name = d.name;
            t.path = locate(dir, d.name);
            t.origin = Origin::Default;
            t.ours = d.ours;
            check_program(t);
            plan.push_back(std::move(t));
        }
        return plan;
    }
    for (std::string name : names) {
        if (name.rfind("kvm:", 0) == 0) name = name.substr(4);
        PlannedTest t;
        t.origin = Origin::Explicit;
        fs::path p(name);
        std::error_code ec;
        if (p.is_absolute()) {
            t.path = p;
            auto rel = p.lexically_relative(dir.base);
            t.name = (!rel.empty() && *rel.begin() != "..") ? rel.string() : p.string();
        } else {
            t.name = name;
            t.path = locate(dir, name);
            if (!fs::exists(t.path, ec) && !p.has_parent_path()) {
                // Bare name: look in the architecture directories and the list.
                for (const char* sub : {"x86", "x86_64", "arm64", "aarch64", "s390", "riscv", "loongarch"}) {
                    if (fs::exists(dir.base / sub / p, ec)) {
                        t.name = std::string(sub) + "/" + name;
                        t.path = dir.base / t.name;
                        break;
                    }
                }
            }
        }
        for (const auto& d : default_tests())
            if (t.name == d.name) t.ours = d.ours;
        check_program(t);
        plan.push_back(std::move(t));
    }
    return plan;
}

std::vector<PlannedTest> plan_all_tests(const TestDir& dir) {
    std::vector<std::string> names;
    if (!dir.listed.empty()) {
        names = dir.listed;
    } else {
        std::error_code ec;
        for (auto it = fs::recursive_directory_iterator(dir.base, fs::directory_options::skip_permission_denied, ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
            if (it.depth() > 2) {
                it.disable_recursion_pending();
                continue;
            }
            if (it->is_regular_file(ec) && is_elf_executable(it->path())) {
                auto rel = it->path().lexically_relative(dir.base).string();
                if (rel.find("/lib") != std::string::npos || rel.rfind("lib", 0) == 0) continue;
                names.push_back(rel);
            }
        }
        std::sort(names.begin(), names.end());
    }
    // No names must stay no tests: plan_tests() would fall back to the
    // default set, and a mistyped directory would pass as six skips.
    if (names.empty()) return {};
    std::vector<PlannedTest> plan = plan_tests(dir, names);
    for (auto& t : plan) t.origin = Origin::All;
    return plan;
}

std::string describe_no_tests(const TestDir& dir) {
    std::string list = dir.install ? "its kselftest-list.txt lists no kvm tests and " : "";
    std::size_t files = 0, scripts = 0, other_exec = 0;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir.base, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it.depth() > 2) {
            it.disable_recursion_pending();
            continue;
        }
        if (!it->is_regular_file(ec)) continue;
        ++files;
        if (::access(it->path().c_str(), X_OK) != 0) continue;
        std::ifstream f(it->path(), std::ios::binary);
        char magic[2] = {};
        f.read(magic, 2);
        if (f.gcount() == 2 && magic[0] == '#' && magic[1] == '!') ++scripts;
        else ++other_exec;
    }
    if (files == 0) return list + "it is empty";
    std::string what = std::to_string(files) + (files == 1 ? " file" : " files");
    if (scripts) what += ", " + std::to_string(scripts) + (scripts == 1 ? " executable script" : " executable scripts");
    if (other_exec) what += ", " + std::to_string(other_exec) + " other executable" + (other_exec == 1 ? "" : "s");
    return list + "it holds " + what + " and no ELF executable (--all runs the ELF programs of a KVM selftests build; "
           "name scripts explicitly to run them)";
}

bool never_built(const PlannedTest& t) {
    return t.problem == PlannedTest::Problem::NotBuilt || t.problem == PlannedTest::Problem::NotFound ||
           t.problem == PlannedTest::Problem::Excluded;
}

// ---- test-case files ------------------------------------------------------------

std::vector<std::string> split_command(std::string_view line, std::string& error) {
    std::vector<std::string> words;
    std::string cur;
    bool in_word = false;
    char quote = 0;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quote) {
            if (c == quote) quote = 0;
            else if (c == '\\' && quote == '"' && i + 1 < line.size() && (line[i + 1] == '"' || line[i + 1] == '\\'))
                cur += line[++i];
            else cur += c;
            continue;
        }
        if (c == ' ' || c == '\t') {
            if (in_word) words.push_back(std::move(cur));
            cur.clear();
            in_word = false;
            continue;
        }
        in_word = true;
        if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == '\\') {
            if (i + 1 == line.size()) {
                error = "a backslash at the end of the line";
                return {};
            }
            cur += line[++i];
        } else {
            cur += c;
        }
    }
    if (quote) {
        error = std::string("an unterminated ") + (quote == '"' ? "\"" : "'") + " quote";
        return {};
    }
    if (in_word) words.push_back(std::move(cur));
    return words;
}

TestCaseFile parse_testcase(std::string_view text) {
    TestCaseFile tc;
    // A UTF-8 byte order mark, as some editors write one, is no part of the
    // test's name.
    if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
    std::size_t pos = 0, lineno = 0, command_line = 0;
    while (pos <= text.size()) {
        std::size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        std::string_view line = text.substr(pos, nl - pos);
        pos = nl + 1;
        ++lineno;
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
        while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
        if (line.empty() || line.front() == '#') continue;
        if (line.starts_with("timeout=")) {
            std::string v(line.substr(8));
            char* end = nullptr;
            double t = std::strtod(v.c_str(), &end);
            if (v.empty() || *end != '\0' || !(t > 0)) {
                tc.error = fmt::format("line {}: timeout= wants a positive number of seconds", lineno);
                return tc;
            }
            tc.timeout_s = t;
            continue;
        }
        if (command_line) {
            tc.error = fmt::format("line {}: a second command line (line {} is the first): a test-case file holds "
                                   "one test case",
                                   lineno, command_line);
            return tc;
        }
        command_line = lineno;
        std::string err;
        tc.argv = split_command(line, err);
        if (!err.empty()) {
            tc.error = fmt::format("line {}: {}", lineno, err);
            return tc;
        }
    }
    if (tc.argv.empty()) tc.error = "no command line";
    return tc;
}

namespace {

PlannedTest testcase_test(const TestDir& dir, const fs::path& file, std::string name) {
    PlannedTest t;
    t.origin = Origin::TestCase;
    t.testcase = file.string();
    t.name = std::move(name);
    std::ifstream f(file, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    TestCaseFile tc = f ? parse_testcase(text) : TestCaseFile{{}, {}, "cannot be read"};
    if (!tc.error.empty()) {
        t.problem = PlannedTest::Problem::BadTestCase;
        t.problem_text = fmt::format("test-case file {}: {}", file.string(), tc.error);
        return t;
    }
    PlannedTest prog = plan_tests(dir, {tc.argv[0]}).front();
    t.path = prog.path;
    t.ours = prog.ours;
    t.problem = prog.problem == PlannedTest::Problem::NotBuilt ? PlannedTest::Problem::NotFound : prog.problem;
    t.problem_text = prog.problem_text;
    if (t.problem != PlannedTest::Problem::None)
        t.problem_text = fmt::format("{} (test-case file {})", t.problem_text, file.string());
    t.args.assign(tc.argv.begin() + 1, tc.argv.end());
    t.timeout_s = tc.timeout_s;
    return t;
}

}  // namespace

bool plan_testcases(const TestDir& dir, const fs::path& where, std::vector<PlannedTest>& plan, std::string& error) {
    std::error_code ec;
    if (fs::is_regular_file(where, ec)) {
        std::string name = where.string();
        if (name.size() > 5 && name.ends_with(".test")) name.resize(name.size() - 5);
        plan.push_back(testcase_test(dir, where, name));
        return true;
    }
    if (!fs::is_directory(where, ec)) {
        error = fmt::format("test cases: {} is neither a .test file nor a directory", where.string());
        return false;
    }
    std::vector<fs::path> files;
    for (auto it = fs::recursive_directory_iterator(where, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it.depth() > 4) {
            it.disable_recursion_pending();
            continue;
        }
        if (it->is_regular_file(ec) && it->path().extension() == ".test") files.push_back(it->path());
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) {
        error = fmt::format("test cases: no .test file in {}", where.string());
        return false;
    }
    for (const auto& f : files) {
        fs::path rel = f.lexically_relative(where);
        rel.replace_extension();
        plan.push_back(testcase_test(dir, f, rel.string()));
    }
    return true;
}

// ---- exclude lists ------------------------------------------------------------------

bool read_exclude_file(const fs::path& file, std::vector<Exclusion>& out, std::string& error) {
    std::ifstream f(file);
    if (!f) {
        error = fmt::format("cannot read the exclude list {}", file.string());
        return false;
    }
    std::string line;
    int lineno = 0;
    while (std::getline(f, line)) {
        ++lineno;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        std::string_view l = line;
        while (!l.empty() && (l.front() == ' ' || l.front() == '\t')) l.remove_prefix(1);
        while (!l.empty() && (l.back() == ' ' || l.back() == '\t')) l.remove_suffix(1);
        if (l.empty() || l.front() == '#') continue;
        std::size_t end = l.find_first_of(" \t");
        Exclusion e;
        e.where = fmt::format("{}:{}", file.string(), lineno);
        e.pattern = std::string(l.substr(0, end));
        if (e.pattern.rfind("kvm:", 0) == 0) e.pattern.erase(0, 4);
        if (end != std::string_view::npos) {
            std::string_view r = l.substr(end);
            while (!r.empty() && (r.front() == ' ' || r.front() == '\t')) r.remove_prefix(1);
            e.reason = std::string(r);
        }
        if (e.reason.empty()) {
            error = fmt::format("{}: \"{}\" has no reason: every exclusion needs one (NAME REASON...)", e.where,
                                e.pattern);
            return false;
        }
        out.push_back(std::move(e));
    }
    return true;
}

void apply_exclusions(std::vector<PlannedTest>& plan, std::vector<Exclusion>& exclusions) {
    for (auto& t : plan) {
        const std::string base = fs::path(t.name).filename().string();
        for (auto& e : exclusions) {
            // A pattern with a directory matches the whole name; one without
            // matches the file name too (sev_smoke_test for x86/sev_smoke_test).
            const bool hit = ::fnmatch(e.pattern.c_str(), t.name.c_str(), 0) == 0 ||
                             (e.pattern.find('/') == std::string::npos &&
                              ::fnmatch(e.pattern.c_str(), base.c_str(), 0) == 0);
            if (!hit) continue;
            ++e.matched;
            if (t.problem == PlannedTest::Problem::Excluded) continue;  // the first one counts
            t.problem = PlannedTest::Problem::Excluded;
            t.problem_text = fmt::format("excluded: {} ({})", e.reason, e.where);
        }
    }
}

bool nothing_to_run(const std::vector<PlannedTest>& plan) {
    return std::all_of(plan.begin(), plan.end(), never_built);
}

bool default_plan_looks_empty(const std::vector<PlannedTest>& plan) {
    for (const auto& t : plan)
        if (!t.ours && t.problem != PlannedTest::Problem::NotBuilt) return false;
    return true;
}

}  // namespace kvmsr

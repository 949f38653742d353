#include "kvmsr/isolation.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

namespace kvmsr {

namespace {

std::string read_text(const std::string& path) {
    std::ifstream f(path);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_octal(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
            s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
            out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
            i += 3;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

std::vector<std::string_view> fields(std::string_view line) {
    std::vector<std::string_view> f;
    std::size_t pos = 0;
    while (pos < line.size()) {
        while (pos < line.size() && line[pos] == ' ') ++pos;
        std::size_t end = line.find(' ', pos);
        if (end == std::string_view::npos) end = line.size();
        if (end > pos) f.push_back(line.substr(pos, end - pos));
        pos = end;
    }
    return f;
}

bool write_text(const std::string& path, std::string_view text) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ssize_t n = ::write(fd, text.data(), text.size());
    int saved = errno;
    ::close(fd);
    errno = saved;
    return n == static_cast<ssize_t>(text.size());
}

bool is_delegated(const std::string& dir) {
    // systemd marks a cgroup it delegated with this extended attribute.
    for (const char* attr : {"trusted.delegate", "user.delegate"}) {
        char v[8] = {};
        ssize_t n = ::getxattr(dir.c_str(), attr, v, sizeof v - 1);
        if (n > 0 && v[0] == '1') return true;
    }
    return false;
}

bool pid_alive(int pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

// Kills and removes the cgroups left by runners that are gone (SIGKILLed
// runner and supervisors, a crash): kvmsr-PID with PID dead.
void remove_stale(const std::string& parent) {
    DIR* d = ::opendir(parent.c_str());
    if (!d) return;
    std::vector<std::string> stale;
    while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name.rfind("kvmsr-", 0) != 0) continue;
        int pid = 0;
        if (std::sscanf(name.c_str() + 6, "%d", &pid) != 1 || pid <= 0 || pid_alive(pid)) continue;
        stale.push_back(parent + "/" + name);
    }
    ::closedir(d);
    for (const auto& root : stale) {
        DIR* r = ::opendir(root.c_str());
        if (r) {
            while (dirent* e = ::readdir(r)) {
                if (e->d_type != DT_DIR || e->d_name[0] == '.') continue;
                std::string sub = root + "/" + e->d_name;
                cgroup_kill(sub);
                for (int i = 0; i < 50 && !cgroup_remove(sub); ++i)
                    std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            ::closedir(r);
        }
        cgroup_remove(root);
    }
}

}  // namespace

const char* isolation_name(IsolationMode m) {
    switch (m) {
        case IsolationMode::Auto: return "auto";
        case IsolationMode::Cgroup: return "cgroup";
        case IsolationMode::Subreaper: return "subreaper";
    }
    return "?";
}

std::vector<Cgroup2Mount> parse_cgroup2_mounts(std::string_view mountinfo) {
    std::vector<Cgroup2Mount> out;
    std::size_t pos = 0;
    while (pos < mountinfo.size()) {
        std::size_t nl = mountinfo.find('\n', pos);
        if (nl == std::string_view::npos) nl = mountinfo.size();
        auto f = fields(mountinfo.substr(pos, nl - pos));
        pos = nl + 1;
        // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
        std::size_t sep = 0;
        for (std::size_t i = 6; i < f.size(); ++i)
            if (f[i] == "-") {
                sep = i;
                break;
            }
        if (sep == 0 || sep + 1 >= f.size() || f[sep + 1] != "cgroup2") continue;
        out.push_back({unescape_octal(f[3]), unescape_octal(f[4])});
    }
    return out;
}

std::optional<std::string> parse_unified_cgroup(std::string_view text) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        std::string_view line = text.substr(pos, nl - pos);
        pos = nl + 1;
        if (line.starts_with("0::")) return std::string(line.substr(3));
    }
    return std::nullopt;
}

std::optional<std::string> cgroup_dir_on(const Cgroup2Mount& m, const std::string& cgroup) {
    if (cgroup.empty() || cgroup.front() != '/') return std::nullopt;
    if (m.root == "/") return cgroup == "/" ? m.mountpoint : m.mountpoint + cgroup;
    if (cgroup == m.root) return m.mountpoint;
    if (cgroup.rfind(m.root + "/", 0) == 0) return m.mountpoint + cgroup.substr(m.root.size());
    return std::nullopt;
}

std::vector<int> cgroup_members(const std::string& dir) {
    std::vector<int> pids;
    std::ifstream f(dir + "/cgroup.procs");
    int pid;
    while (f >> pid) pids.push_back(pid);
    return pids;
}

bool cgroup_kill(const std::string& dir) { return write_text(dir + "/cgroup.kill", "1"); }

bool cgroup_remove(const std::string& dir) { return ::rmdir(dir.c_str()) == 0 || errno == ENOENT; }

std::optional<Isolation> setup_isolation(IsolationMode requested, std::string& error) {
    // Both modes: what a supervisor leaves behind if it dies is re-parented
    // to the runner, which reaps it.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    Isolation iso;
    if (requested == IsolationMode::Subreaper) {
        iso.why = "subreaper (asked for with --isolation subreaper)";
        return iso;
    }
    std::string why_not;
    auto fallback = [&](std::string reason) -> std::optional<Isolation> {
        if (requested == IsolationMode::Cgroup) {
            error = "--isolation cgroup: " + reason;
            return std::nullopt;
        }
        iso.why = "subreaper (no per-test cgroups: " + reason + ")";
        return iso;
    };
    auto own = parse_unified_cgroup(read_text("/proc/self/cgroup"));
    if (!own) return fallback("this process is in no cgroup v2 hierarchy (/proc/self/cgroup has no 0:: line)");
    auto mounts = parse_cgroup2_mounts(read_text("/proc/self/mountinfo"));
    if (mounts.empty()) return fallback("no cgroup2 file system is mounted (/proc/self/mountinfo)");
    std::string dir;
    for (const auto& m : mounts) {
        auto d = cgroup_dir_on(m, *own);
        struct stat st;
        if (d && ::stat(d->c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
            dir = *d;
            break;
        }
    }
    if (dir.empty())
        return fallback(fmt::format("this process's cgroup {} is not visible on any cgroup2 mount", *own));
    if (::access("/run/systemd/system", F_OK) == 0 && *own != "/" && !is_delegated(dir))
        return fallback(fmt::format("cgroup {} is managed by systemd and not delegated (run under "
                                    "'systemd-run --scope -p Delegate=yes' to get per-test cgroups)",
                                    *own));
    if (::access((dir + "/cgroup.procs").c_str(), W_OK) != 0)
        return fallback(fmt::format("cannot move processes in {}: {}", dir, std::strerror(errno)));
    remove_stale(dir);
    std::string root = fmt::format("{}/kvmsr-{}", dir, ::getpid());
    if (::mkdir(root.c_str(), 0755) != 0 && errno != EEXIST)
        return fallback(fmt::format("cannot create {}: {}", root, std::strerror(errno)));
    if (::access((root + "/cgroup.kill").c_str(), W_OK) != 0) {
        cgroup_remove(root);
        return fallback(fmt::format("{} has no writable cgroup.kill (Linux 5.14 or later is needed)", root));
    }
    iso.mode = IsolationMode::Cgroup;
    iso.cgroup_root = root;
    iso.why = fmt::format("cgroup v2: one cgroup per test below {}", root);
    return iso;
}

void teardown_isolation(const Isolation& iso) {
    if (iso.cgroup_root.empty()) return;
    for (int i = 0; i < 50 && !cgroup_remove(iso.cgroup_root); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

}  // namespace kvmsr

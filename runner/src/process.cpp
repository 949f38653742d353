#include "kvmsr/process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include <fmt/format.h>

namespace kvmsr {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// ---- CappedBuffer ----------------------------------------------------------

CappedBuffer::CappedBuffer(std::size_t limit)
    : head_limit_(limit - std::min<std::size_t>(64 * 1024, limit / 4)),
      tail_limit_(std::min<std::size_t>(64 * 1024, limit / 4)) {}

void CappedBuffer::append(const char* data, std::size_t n) {
    total_ += n;
    if (head_.size() < head_limit_) {
        std::size_t take = std::min(n, head_limit_ - head_.size());
        head_.append(data, take);
        data += take;
        n -= take;
    }
    if (n == 0 || tail_limit_ == 0) return;
    if (n >= tail_limit_) {
        tail_.assign(data + (n - tail_limit_), tail_limit_);
        tail_off_ = 0;
        return;
    }
    tail_.append(data, n);
    if (tail_.size() - tail_off_ > tail_limit_) tail_off_ = tail_.size() - tail_limit_;
    if (tail_off_ > tail_limit_) {
        tail_.erase(0, tail_off_);
        tail_off_ = 0;
    }
}

std::string CappedBuffer::str() const {
    std::string out = head_;
    if (truncated()) {
        std::size_t dropped = total_ - head_.size() - tail_size();
        if (!out.empty() && out.back() != '\n') out += '\n';
        out += fmt::format("[kvm-selftest-runner: output truncated, {} of {} bytes dropped here]\n", dropped,
                           total_);
    }
    out.append(tail_, tail_off_, std::string::npos);
    return out;
}

// ---- environment -----------------------------------------------------------

std::vector<std::string> clean_environment(const std::vector<std::string>& extra) {
    std::string home = "/";
    if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir && *pw->pw_dir) home = pw->pw_dir;
    std::vector<std::string> env = {
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME=" + home,
        "LC_ALL=C",
    };
    for (const auto& kv : extra) {
        auto eq = kv.find('=');
        std::string key = kv.substr(0, eq);
        std::erase_if(env, [&](const std::string& e) { return e.compare(0, key.size() + 1, key + "=") == 0; });
        env.push_back(kv);
    }
    return env;
}

// ---- session inspection ------------------------------------------------------

namespace {

struct ProcStat {
    int pid = 0;
    char state = 0;
    int pgrp = 0;
    int session = 0;
};

template <typename F>
void for_each_process(F&& f) {
    DIR* d = ::opendir("/proc");
    if (!d) return;
    while (dirent* e = ::readdir(d)) {
        const char* name = e->d_name;
        if (!*name || !std::all_of(name, name + std::strlen(name), [](char c) { return c >= '0' && c <= '9'; }))
            continue;
        std::ifstream in(std::string("/proc/") + name + "/stat");
        std::string stat;
        if (!std::getline(in, stat)) continue;
        auto rp = stat.rfind(')');  // the command name may contain anything
        if (rp == std::string::npos || rp + 2 >= stat.size()) continue;
        ProcStat ps;
        ps.pid = std::atoi(name);
        int ppid = 0;
        if (std::sscanf(stat.c_str() + rp + 2, "%c %d %d %d", &ps.state, &ppid, &ps.pgrp, &ps.session) != 4) continue;
        f(ps);
    }
    ::closedir(d);
}

}  // namespace

std::vector<int> session_members(int sid, int except) {
    std::vector<int> pids;
    for_each_process([&](const ProcStat& ps) {
        if (ps.session == sid && ps.pid != except && ps.state != 'Z' && ps.state != 'X') pids.push_back(ps.pid);
    });
    return pids;
}

// Signals the test's process group and every other process of its session
// (kselftest_harness children move to a process group of their own with
// setpgrp(), so the group alone is not enough).  Returns how many processes
// other than `except` were found alive.
int signal_session(int sid, int sig, int except) {
    auto pids = session_members(sid, except);  // count before anything dies
    ::kill(-sid, sig);
    for (int pid : pids) ::kill(pid, sig);
    return static_cast<int>(pids.size());
}

// ---- run_process -------------------------------------------------------------

namespace {

struct Pipe {
    int fd = -1;
    CappedBuffer buf;
    std::size_t bytes = 0;
    explicit Pipe(std::size_t cap) : buf(cap) {}
    bool open() const { return fd >= 0; }
    void close() {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
    // Reads what is there now. Returns false at EOF or on error (and closes).
    void drain() {
        char chunk[65536];
        std::size_t round = 0;
        while (fd >= 0 && round < (8u << 20)) {
            ssize_t n = ::read(fd, chunk, sizeof chunk);
            if (n > 0) {
                buf.append(chunk, static_cast<std::size_t>(n));
                round += static_cast<std::size_t>(n);
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
            close();  // EOF or hard error
        }
    }
};

bool leader_exited(pid_t pid) {
    siginfo_t si;
    std::memset(&si, 0, sizeof si);
    int r;
    do {
        r = ::waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOHANG | WNOWAIT);
    } while (r < 0 && errno == EINTR);
    return r == 0 && si.si_pid == pid;
}

int ms_until(Clock::time_point t, Clock::time_point now) {
    if (t <= now) return 0;
    auto d = std::chrono::duration_cast<milliseconds>(t - now).count() + 1;
    return static_cast<int>(std::min<long long>(d, 1'000'000));
}

}  // namespace

ProcessResult run_process(const ProcessSpec& spec) {
    ProcessResult res;
    const auto t0 = Clock::now();

    int outp[2] = {-1, -1}, errp[2] = {-1, -1};
    if (::pipe2(outp, O_CLOEXEC) != 0 || ::pipe2(errp, O_CLOEXEC) != 0) {
        res.spawn_errno = errno;
        res.spawn_error = fmt::format("cannot create pipes: {}", std::strerror(errno));
        for (int fd : {outp[0], outp[1], errp[0], errp[1]})
            if (fd >= 0) ::close(fd);
        return res;
    }

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    ::posix_spawn_file_actions_init(&fa);
    ::posix_spawnattr_init(&at);
    ::posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    ::posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
    ::posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    if (!spec.cwd.empty()) ::posix_spawn_file_actions_addchdir_np(&fa, spec.cwd.c_str());
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    ::posix_spawnattr_setsigmask(&at, &none);
    ::posix_spawnattr_setsigdefault(&at, &all);
    ::posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(spec.path.c_str()));
    for (const auto& a : spec.args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);

    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, spec.path.c_str(), &fa, &at, argv.data(), envp.data());
    ::posix_spawn_file_actions_destroy(&fa);
    ::posix_spawnattr_destroy(&at);
    ::close(outp[1]);
    ::close(errp[1]);
    if (rc != 0) {
        ::close(outp[0]);
        ::close(errp[0]);
        res.spawn_errno = rc;
        res.spawn_error = fmt::format("cannot execute {}: {} ({})", spec.path, std::strerror(rc),
                                      ::strerrorname_np(rc) ? ::strerrorname_np(rc) : "?");
        res.duration = Clock::now() - t0;
        return res;
    }
    res.started = true;

    const std::size_t cap_out = spec.output_cap / 2;
    Pipe out(cap_out), err(spec.output_cap - cap_out);
    out.fd = outp[0];
    err.fd = errp[0];
    ::fcntl(out.fd, F_SETFL, ::fcntl(out.fd, F_GETFL) | O_NONBLOCK);
    ::fcntl(err.fd, F_SETFL, ::fcntl(err.fd, F_GETFL) | O_NONBLOCK);
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));

    enum class Phase { Running, TermSent, KillSent } phase = Phase::Running;
    const auto deadline = t0 + spec.timeout;
    Clock::time_point escalate_at{}, give_up_at{}, exit_time{};
    bool done = false;          // leader has exited (zombie, not reaped yet)
    bool group_killed = false;  // SIGKILL sent to the group after the leader exited

    for (;;) {
        auto now = Clock::now();
        if (!done) {
            const bool cancel = spec.cancel && spec.cancel->load();
            if (phase == Phase::Running && (now >= deadline || cancel)) {
                (cancel ? res.cancelled : res.timed_out) = true;
                signal_session(pid, SIGTERM, -1);
                phase = Phase::TermSent;
                escalate_at = now + spec.kill_grace;
            } else if (phase == Phase::TermSent && now >= escalate_at) {
                signal_session(pid, SIGKILL, -1);
                phase = Phase::KillSent;
                give_up_at = now + milliseconds(5'000);
            } else if (phase == Phase::KillSent && now >= give_up_at) {
                res.unkillable = true;
                break;
            }
        } else {
            if (!out.open() && !err.open()) break;
            if (!group_killed && now >= exit_time + spec.drain_grace) {
                // The test exited but something in its group still holds the pipes.
                res.leftover_processes = std::max(res.leftover_processes, signal_session(pid, SIGKILL, pid));
                group_killed = true;
                give_up_at = now + milliseconds(2'000);
            } else if (group_killed && now >= give_up_at) {
                res.pipes_abandoned = true;  // held open from outside the group
                break;
            }
        }

        pollfd fds[3];
        nfds_t n = 0;
        if (out.open()) fds[n++] = {out.fd, POLLIN, 0};
        if (err.open()) fds[n++] = {err.fd, POLLIN, 0};
        const bool watch_pidfd = !done && pidfd >= 0;
        if (watch_pidfd) fds[n++] = {pidfd, POLLIN, 0};

        int wait_ms = 100;  // bound so that `cancel` is seen quickly
        if (!done) {
            if (pidfd < 0) wait_ms = 20;
            if (phase == Phase::Running) wait_ms = std::min(wait_ms, ms_until(deadline, now));
            else if (phase == Phase::TermSent) wait_ms = std::min(wait_ms, ms_until(escalate_at, now));
            else wait_ms = std::min(wait_ms, ms_until(give_up_at, now));
        } else {
            wait_ms = std::min(wait_ms, ms_until(group_killed ? give_up_at : exit_time + spec.drain_grace, now));
        }
        if (n > 0) {
            int pr = ::poll(fds, n, wait_ms);
            if (pr < 0 && errno != EINTR) std::this_thread::sleep_for(milliseconds(wait_ms));
        } else {
            std::this_thread::sleep_for(milliseconds(wait_ms));
        }
        out.drain();
        err.drain();
        if (!done && leader_exited(pid)) {
            done = true;
            exit_time = Clock::now();
        }
    }
    res.duration = (done ? exit_time : Clock::now()) - t0;
    if (pidfd >= 0) ::close(pidfd);
    out.close();
    err.close();

    if (!res.unkillable) {
        // Anything left in the session (it may have closed its copies of the
        // pipes)?  Give processes that are just exiting a moment first.
        int left = 0;
        for (int i = 0; i < 10; ++i) {
            left = static_cast<int>(session_members(pid, pid).size());
            if (left == 0) break;
            std::this_thread::sleep_for(milliseconds(20));
        }
        if (left > 0) {
            res.leftover_processes = std::max(res.leftover_processes, left);
            // Keep killing until nothing is left: a process may fork while we look.
            for (int round = 0; round < 50 && signal_session(pid, SIGKILL, pid) > 0; ++round)
                std::this_thread::sleep_for(milliseconds(10));
        }
        int status = 0;
        pid_t w;
        do {
            w = ::waitpid(pid, &status, 0);
        } while (w < 0 && errno == EINTR);
        if (w == pid) {
            if (WIFEXITED(status)) {
                res.exited = true;
                res.exit_code = WEXITSTATUS(status);
            } else if (WIFSIGNALED(status)) {
                res.signaled = true;
                res.signal = WTERMSIG(status);
                res.core_dumped = WCOREDUMP(status);
            }
        }
    } else {
        // Last try, without blocking: it may have died in the meantime.
        signal_session(pid, SIGKILL, -1);
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) {
            res.unkillable = false;
            if (WIFSIGNALED(status)) {
                res.signaled = true;
                res.signal = WTERMSIG(status);
            } else if (WIFEXITED(status)) {
                res.exited = true;
                res.exit_code = WEXITSTATUS(status);
            }
        }
    }

    res.out = out.buf.str();
    res.err = err.buf.str();
    res.out_bytes = out.buf.total_bytes();
    res.err_bytes = err.buf.total_bytes();
    res.truncated = out.buf.truncated() || err.buf.truncated();
    return res;
}

}  // namespace kvmsr

#include "kvmsr/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "kvmsr/isolation.hpp"
#include "kvmsr/proc.hpp"
#include "kvmsr/supervisor.hpp"

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

// ---- run_process -------------------------------------------------------------

namespace {

struct Pipe {
    int fd = -1;
    CappedBuffer buf;
    TapStreamCounter tap;  // sees every byte, also what the cap drops
    explicit Pipe(std::size_t cap) : buf(cap) {}
    bool open() const { return fd >= 0; }
    void close() {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
    // Reads what is there now; closes at end of file or on error.
    void drain() {
        char chunk[65536];
        std::size_t round = 0;
        while (fd >= 0 && round < (8u << 20)) {
            ssize_t n = ::read(fd, chunk, sizeof chunk);
            if (n > 0) {
                buf.append(chunk, static_cast<std::size_t>(n));
                tap.feed(chunk, static_cast<std::size_t>(n));
                round += static_cast<std::size_t>(n);
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
            close();  // EOF or hard error
        }
    }
};

int ms_until(Clock::time_point t, Clock::time_point now) {
    if (t <= now) return 0;
    auto d = std::chrono::duration_cast<milliseconds>(t - now).count() + 1;
    return static_cast<int>(std::min<long long>(d, 1'000'000));
}

// A descriptor for the supervisor's side, numbered 10 or above so that
// dup2() onto 0-4 in the file actions always really duplicates it.
int high_fd(int fd) {
    int h = ::fcntl(fd, F_DUPFD_CLOEXEC, 10);
    ::close(fd);
    return h;
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    for (;;) {
        std::size_t e = s.find(sep, pos);
        out.push_back(s.substr(pos, e == std::string::npos ? std::string::npos : e - pos));
        if (e == std::string::npos) return out;
        pos = e + 1;
    }
}

std::string spawn_text(const std::string& path, int err) {
    return fmt::format("cannot execute {}: {} ({})", path, std::strerror(err),
                       ::strerrorname_np(err) ? ::strerrorname_np(err) : "?");
}

std::atomic<unsigned> g_cgroup_seq{0};

}  // namespace

ProcessResult run_process(const ProcessSpec& spec) {
    ProcessResult res;
    res.timeout = spec.timeout;
    // The supervisor changes to spec.cwd before it executes the test: a
    // relative program path would then be looked up from there.
    std::string path = spec.path;
    if (!path.empty() && path.front() != '/') {
        std::error_code ec;
        auto abs = std::filesystem::absolute(path, ec);
        if (!ec) path = abs.lexically_normal().string();
    }
    const auto t0 = Clock::now();

    std::string cgroup;
    res.isolation = "subreaper";
    if (!spec.cgroup_root.empty()) {
        cgroup = fmt::format("{}/t{}", spec.cgroup_root, ++g_cgroup_seq);
        if (::mkdir(cgroup.c_str(), 0755) == 0) {
            res.isolation = "cgroup";
        } else {
            res.isolation_note = fmt::format("cannot create the test's cgroup {}: {}; subreaper only", cgroup,
                                             std::strerror(errno));
            cgroup.clear();
        }
    }

    int outp[2] = {-1, -1}, errp[2] = {-1, -1}, statp[2] = {-1, -1}, ctl[2] = {-1, -1};
    if (::pipe2(outp, O_CLOEXEC) != 0 || ::pipe2(errp, O_CLOEXEC) != 0 || ::pipe2(statp, O_CLOEXEC) != 0 ||
        ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) != 0) {
        res.spawn_errno = errno;
        res.spawn_error = fmt::format("cannot create pipes: {}", std::strerror(errno));
        for (int fd : {outp[0], outp[1], errp[0], errp[1], statp[0], statp[1], ctl[0], ctl[1]})
            if (fd >= 0) ::close(fd);
        if (!cgroup.empty()) cgroup_remove(cgroup);
        return res;
    }
    const int child_out = high_fd(outp[1]), child_err = high_fd(errp[1]), child_ctl = high_fd(ctl[1]),
              child_stat = high_fd(statp[1]);

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    ::posix_spawn_file_actions_init(&fa);
    ::posix_spawnattr_init(&at);
    ::posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    ::posix_spawn_file_actions_adddup2(&fa, child_out, 1);
    ::posix_spawn_file_actions_adddup2(&fa, child_err, 2);
    ::posix_spawn_file_actions_adddup2(&fa, child_ctl, 3);
    ::posix_spawn_file_actions_adddup2(&fa, child_stat, 4);
    if (!spec.cwd.empty()) ::posix_spawn_file_actions_addchdir_np(&fa, spec.cwd.c_str());
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    ::posix_spawnattr_setsigmask(&at, &none);
    ::posix_spawnattr_setsigdefault(&at, &all);
    // A session of its own: a Ctrl-C on the runner's terminal reaches the
    // runner, which stops the tests in order, not the supervisors.
    ::posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    const std::string ppid = std::to_string(::getpid());
    const std::string settle = std::to_string(spec.drain_grace.count());
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(spec.supervisor.c_str()));
    argv.push_back(const_cast<char*>(kSuperviseArg));
    argv.push_back(const_cast<char*>(ppid.c_str()));
    argv.push_back(const_cast<char*>(cgroup.empty() ? "-" : cgroup.c_str()));
    argv.push_back(const_cast<char*>(settle.c_str()));
    argv.push_back(const_cast<char*>(path.c_str()));
    for (const auto& a : spec.args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);

    pid_t sup = -1;
    int rc = ::posix_spawn(&sup, spec.supervisor.c_str(), &fa, &at, argv.data(), envp.data());
    ::posix_spawn_file_actions_destroy(&fa);
    ::posix_spawnattr_destroy(&at);
    for (int fd : {child_out, child_err, child_ctl, child_stat}) ::close(fd);
    if (rc != 0) {
        for (int fd : {outp[0], errp[0], statp[0], ctl[0]}) ::close(fd);
        res.spawn_errno = rc;
        res.spawn_error = fmt::format("cannot start the supervisor {}: {}", spec.supervisor, std::strerror(rc));
        if (!cgroup.empty()) cgroup_remove(cgroup);
        res.duration = Clock::now() - t0;
        return res;
    }

    const std::size_t cap_out = spec.output_cap / 2;
    Pipe out(cap_out), err(spec.output_cap - cap_out);
    out.fd = outp[0];
    err.fd = errp[0];
    const int status_fd = statp[0];
    int command_fd = ctl[0];
    for (int fd : {out.fd, err.fd, status_fd}) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    auto command = [&](char c) {
        if (command_fd >= 0) (void)::send(command_fd, &c, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    };

    enum class Phase { Running, TermSent, KillSent } phase = Phase::Running;
    const auto deadline = t0 + spec.timeout;
    Clock::time_point escalate_at{}, give_up_at{}, exit_time{}, drain_until{};
    bool leader_done = false;  // the test's main process ended
    bool sup_done = false;     // the supervisor said "done": everything of the test is gone
    bool status_open = true;
    std::string status_buf;
    int leader = -1;

    auto handle = [&](const std::string& line) {
        auto f = split(line, ' ');
        const std::string& what = f[0];
        auto num = [&](std::size_t i) { return i < f.size() ? std::atoi(f[i].c_str()) : 0; };
        auto rest = [&](std::size_t i) {
            std::size_t pos = 0;
            for (std::size_t k = 0; k < i && pos != std::string::npos; ++k) {
                pos = line.find(' ', pos);
                if (pos != std::string::npos) ++pos;
            }
            return pos == std::string::npos ? std::string() : line.substr(pos);
        };
        if (what == "started") {
            res.started = true;
            leader = num(1);
            if (f.size() > 2 && f[2] == "cgroup-failed") {
                res.isolation = "subreaper";
                res.isolation_note = fmt::format("could not move the test into its cgroup: {}; subreaper only",
                                                 std::strerror(num(3)));
            }
        } else if (what == "spawn-error") {
            res.spawn_errno = num(1);
            res.spawn_error = spawn_text(spec.path, res.spawn_errno);
        } else if (what == "exit" || what == "signal") {
            leader_done = true;
            exit_time = Clock::now();
            if (what == "exit") {
                res.exited = true;
                res.exit_code = num(1);
            } else {
                res.signaled = true;
                res.signal = num(1);
                res.core_dumped = num(2) != 0;
            }
        } else if (what == "leftover") {
            res.leftover_processes = num(1);
            res.leftovers = split(rest(2), '\t');
        } else if (what == "unkillable") {
            res.unkillable_processes = num(1);
        } else if (what == "done") {
            sup_done = true;
        }
    };

    for (;;) {
        auto now = Clock::now();
        if (!leader_done) {
            const bool cancel = spec.cancel && spec.cancel->load();
            if (phase == Phase::Running && (now >= deadline || cancel)) {
                (cancel ? res.cancelled : res.timed_out) = true;
                command('T');
                phase = Phase::TermSent;
                escalate_at = now + spec.kill_grace;
            } else if (phase == Phase::TermSent && now >= escalate_at) {
                command('K');
                phase = Phase::KillSent;
                give_up_at = now + milliseconds(5'000);
            } else if (phase == Phase::KillSent && now >= give_up_at) {
                res.unkillable = true;
                break;
            }
        }
        if (!status_open && !sup_done && !leader_done && leader > 0) {
            // The supervisor died with the test running (it never should):
            // kill the test from here; its orphans come to the runner, a
            // child subreaper, and reap_strays() ends them.
            if (!cgroup.empty()) cgroup_kill(cgroup);
            ::kill(-leader, SIGKILL);
        }
        if (sup_done || !status_open) {
            // Everything of the test is dead: its pipes end at once, unless
            // something outside the test holds them.
            if (drain_until == Clock::time_point{}) drain_until = now + milliseconds(2'000);
            if (!out.open() && !err.open()) break;
            if (now >= drain_until) {
                res.pipes_abandoned = true;
                break;
            }
        }

        pollfd fds[3];
        nfds_t n = 0;
        if (out.open()) fds[n++] = {out.fd, POLLIN, 0};
        if (err.open()) fds[n++] = {err.fd, POLLIN, 0};
        if (status_open) fds[n++] = {status_fd, POLLIN, 0};
        int wait_ms = 100;  // bound so that `cancel` is seen quickly
        if (!leader_done) {
            if (phase == Phase::Running) wait_ms = std::min(wait_ms, ms_until(deadline, now));
            else if (phase == Phase::TermSent) wait_ms = std::min(wait_ms, ms_until(escalate_at, now));
            else wait_ms = std::min(wait_ms, ms_until(give_up_at, now));
        }
        if (drain_until != Clock::time_point{}) wait_ms = std::min(wait_ms, ms_until(drain_until, now));
        if (n > 0) {
            int pr = ::poll(fds, n, wait_ms);
            if (pr < 0 && errno != EINTR) std::this_thread::sleep_for(milliseconds(wait_ms));
        } else {
            std::this_thread::sleep_for(milliseconds(wait_ms));
        }
        out.drain();
        err.drain();
        while (status_open) {
            char buf[4096];
            ssize_t r = ::read(status_fd, buf, sizeof buf);
            if (r > 0) {
                status_buf.append(buf, static_cast<std::size_t>(r));
                continue;
            }
            if (r < 0 && errno == EINTR) continue;
            if (r == 0) status_open = false;  // the supervisor ended
            break;
        }
        for (std::size_t nl; (nl = status_buf.find('\n')) != std::string::npos;) {
            handle(status_buf.substr(0, nl));
            status_buf.erase(0, nl + 1);
        }
    }
    res.duration = (leader_done ? exit_time : Clock::now()) - t0;

    // End of file on its command socket tells a supervisor still running that
    // the runner is done with the test: it kills what is left and exits.
    ::close(command_fd);
    command_fd = -1;
    int status = 0;
    bool reaped = false;
    const auto wait_until = Clock::now() + milliseconds(res.unkillable ? 0 : 5'000);
    for (;;) {
        pid_t w = ::waitpid(sup, &status, WNOHANG);
        if (w == sup || (w < 0 && errno != EINTR)) {
            reaped = w == sup;
            break;
        }
        if (Clock::now() >= wait_until) break;
        std::this_thread::sleep_for(milliseconds(5));
    }
    if (!sup_done && res.spawn_error.empty()) {
        res.supervisor_error =
            reaped && WIFSIGNALED(status)
                ? fmt::format("the test's supervisor was killed by signal {}", WTERMSIG(status))
                : std::string("the test's supervisor ended without reporting the end of the test");
        if (!cgroup.empty()) cgroup_kill(cgroup);
    }
    if (!res.started && res.spawn_error.empty() && res.supervisor_error.empty())
        res.spawn_error = "the test could not be started";
    ::close(status_fd);
    out.close();
    err.close();
    if (!cgroup.empty())
        for (int i = 0; i < 50 && !cgroup_remove(cgroup); ++i) std::this_thread::sleep_for(milliseconds(20));

    res.out = out.buf.str();
    res.err = err.buf.str();
    res.out_bytes = out.buf.total_bytes();
    res.err_bytes = err.buf.total_bytes();
    res.truncated = out.buf.truncated() || err.buf.truncated();
    res.out_truncated = out.buf.truncated();
    out.tap.finish();
    res.out_tap = std::move(out.tap);
    return res;
}

void reap_strays(const std::vector<int>& keep) {
    const int self = ::getpid();
    for (int round = 0; round < 100; ++round) {
        bool any = false;
        for (const auto& p : read_process_table()) {
            if (p.ppid != self || std::find(keep.begin(), keep.end(), p.pid) != keep.end()) continue;
            any = true;
            if (!p.zombie()) ::kill(p.pid, SIGKILL);
            ::waitpid(p.pid, nullptr, WNOHANG);
        }
        if (!any) return;
        std::this_thread::sleep_for(milliseconds(10));
    }
}

}  // namespace kvmsr

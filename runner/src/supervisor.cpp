#include "kvmsr/supervisor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "kvmsr/isolation.hpp"
#include "kvmsr/proc.hpp"

extern char** environ;

namespace kvmsr {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kCommandFd = 3;
constexpr int kReportFd = 4;

void report(const std::string& line) {
    std::string l = line + "\n";
    const char* p = l.data();
    std::size_t left = l.size();
    while (left > 0) {
        ssize_t n = ::write(kReportFd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;  // the runner is gone; nothing to tell
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

// What the test's child tells the supervisor before exec: fixed-size records
// on a close-on-exec pipe (end of file = exec succeeded).
struct ChildNote {
    char kind;  // 'c': could not join the cgroup, 'x': exec failed
    int err;
};

class Test {
public:
    Test(int self, std::string cgroup) : self_(self), cgroup_(std::move(cgroup)) {}

    // Every live process of the test: the supervisor's descendants (orphans
    // are re-parented to it) and, with a cgroup, the cgroup's members.
    std::vector<ProcInfo> members() const {
        auto table = read_process_table();
        auto out = live_descendants(table, self_);
        if (!cgroup_.empty()) {
            for (int pid : cgroup_members(cgroup_)) {
                bool known = false;
                for (const auto& m : out) known = known || m.pid == pid;
                if (known) continue;
                for (const auto& p : table)
                    if (p.pid == pid && !p.zombie() && !p.kernel_thread()) out.push_back(p);
            }
        }
        return out;
    }

    void signal_all(int sig) {
        if (leader_ > 0 && !leader_reaped_) ::kill(-leader_, sig);  // its process group, while the id is ours
        for (const auto& m : members()) ::kill(m.pid, sig);
    }

    void kill_all() {
        if (!cgroup_.empty()) cgroup_kill(cgroup_);
        signal_all(SIGKILL);
    }

    // Reaps every exited child (the test's main process and re-parented
    // orphans); records the main process's status.
    void reap() {
        for (;;) {
            int status = 0;
            pid_t w = ::waitpid(-1, &status, WNOHANG);
            if (w <= 0) return;
            if (w == leader_) {
                leader_reaped_ = true;
                leader_status_ = status;
            }
        }
    }

    // Kills until nothing is left or `bound` passed; returns what survived.
    std::vector<ProcInfo> kill_until_gone(milliseconds bound) {
        const auto until = Clock::now() + bound;
        std::vector<ProcInfo> left;
        for (;;) {
            kill_all();
            reap();
            left = members();
            if (left.empty() || Clock::now() >= until) return left;
            std::this_thread::sleep_for(milliseconds(10));
        }
    }

    void remove_cgroup(bool runner_gone = false) {
        if (cgroup_.empty()) return;
        // Kernel threads attached to the test's cgroup (KVM's) leave it when
        // their VM is gone, a moment after the test's processes.
        for (int i = 0; i < 100 && !cgroup_remove(cgroup_); ++i) std::this_thread::sleep_for(milliseconds(20));
        // A runner that died cannot remove its own cgroup; the last of its
        // supervisors does (rmdir fails while other tests' cgroups are in it).
        if (runner_gone) {
            auto slash = cgroup_.rfind('/');
            if (slash != std::string::npos && cgroup_.compare(slash + 1, 1, "t") == 0)
                cgroup_remove(cgroup_.substr(0, slash));
        }
    }

    int leader_ = -1;
    bool leader_reaped_ = false;
    int leader_status_ = 0;

private:
    int self_;
    std::string cgroup_;
};

std::string describe(const std::vector<ProcInfo>& ps) {
    std::string out;
    for (std::size_t i = 0; i < ps.size() && i < 8; ++i) {
        if (i) out += '\t';
        // One report line: no newline or tab may come from a command name.
        std::string d = describe_process(ps[i]);
        for (char& c : d)
            if (c == '\n' || c == '\t' || c == '\r') c = ' ';
        out += d;
    }
    if (ps.size() > 8) out += fmt::format("\t... and {} more", ps.size() - 8);
    return out;
}

}  // namespace

int supervise_main(int argc, char** argv) {
    if (argc < 6) return 125;
    const int runner = std::atoi(argv[2]);
    const std::string cgroup = std::string(argv[3]) == "-" ? std::string() : std::string(argv[3]);
    const milliseconds settle(std::atol(argv[4]));
    char** test_argv = argv + 5;

    ::prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    ::syscall(SYS_close_range, 5u, ~0u, 0u);  // nothing of the runner's but fds 0-4
    ::fcntl(kCommandFd, F_SETFD, FD_CLOEXEC);
    ::fcntl(kReportFd, F_SETFD, FD_CLOEXEC);
    ::signal(SIGPIPE, SIG_IGN);
    sigset_t handled;
    sigemptyset(&handled);
    for (int s : {SIGCHLD, SIGTERM, SIGHUP, SIGINT, SIGQUIT}) sigaddset(&handled, s);
    ::sigprocmask(SIG_BLOCK, &handled, nullptr);
    const int sigfd = ::signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK);
    bool runner_gone = ::getppid() != runner;  // it died before PDEATHSIG was armed

    Test test(::getpid(), cgroup);
    int notes[2];
    if (::pipe2(notes, O_CLOEXEC) != 0) {
        report(fmt::format("spawn-error {}", errno));
        return 0;
    }
    pid_t child = ::fork();
    if (child == 0) {
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::signal(SIGPIPE, SIG_DFL);
        ::setsid();
        if (!cgroup.empty()) {
            std::string procs = cgroup + "/cgroup.procs";
            int fd = ::open(procs.c_str(), O_WRONLY | O_CLOEXEC);
            if (fd < 0 || ::write(fd, "0", 1) != 1) {
                ChildNote n{'c', errno};
                (void)!::write(notes[1], &n, sizeof n);
            }
            if (fd >= 0) ::close(fd);
        }
        ::close(kCommandFd);
        ::close(kReportFd);
        ::execve(test_argv[0], test_argv, environ);
        ChildNote n{'x', errno};
        (void)!::write(notes[1], &n, sizeof n);
        ::_exit(127);
    }
    const int fork_errno = errno;
    ::close(notes[1]);
    int cgroup_err = 0, exec_err = 0;
    if (child > 0) {
        ChildNote n;
        ssize_t r;
        while ((r = ::read(notes[0], &n, sizeof n)) != 0) {
            if (r < 0 && errno == EINTR) continue;
            if (r != static_cast<ssize_t>(sizeof n)) break;
            (n.kind == 'c' ? cgroup_err : exec_err) = n.err;
        }
    }
    ::close(notes[0]);
    if (child < 0) {
        report(fmt::format("spawn-error {}", fork_errno));
        return 0;
    }
    test.leader_ = child;
    if (exec_err) {
        int status;
        while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
        }
        test.remove_cgroup();
        report(fmt::format("spawn-error {}", exec_err));
        report("done");
        return 0;
    }
    if (cgroup.empty())
        report(fmt::format("started {} subreaper", child));
    else if (cgroup_err)
        report(fmt::format("started {} cgroup-failed {}", child, cgroup_err));
    else
        report(fmt::format("started {} cgroup", child));

    bool reported_exit = false;
    Clock::time_point settle_until{};
    for (;;) {
        pollfd fds[2];
        nfds_t n = 0;
        fds[n++] = {sigfd, POLLIN, 0};
        if (!runner_gone) fds[n++] = {kCommandFd, POLLIN, 0};
        int timeout = reported_exit ? 20 : 1000;
        if (::poll(fds, n, timeout) < 0 && errno != EINTR) std::this_thread::sleep_for(milliseconds(20));

        signalfd_siginfo si;
        while (::read(sigfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si))
            if (si.ssi_signo != SIGCHLD) runner_gone = true;  // PDEATHSIG, or we were told to go
        if (!runner_gone && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            char cmds[64];
            ssize_t r = ::read(kCommandFd, cmds, sizeof cmds);
            if (r <= 0 && !(r < 0 && (errno == EINTR || errno == EAGAIN))) runner_gone = true;
            for (ssize_t i = 0; i < r; ++i) {
                if (cmds[i] == 'T') test.signal_all(SIGTERM);
                if (cmds[i] == 'K') test.kill_all();
            }
        }
        if (!runner_gone && ::getppid() != runner) runner_gone = true;
        test.reap();

        if (runner_gone) {
            // Nobody reads the test's output or verdict any more: end it all.
            test.kill_until_gone(milliseconds(10'000));
            test.remove_cgroup(true);
            return 0;
        }
        if (test.leader_reaped_ && !reported_exit) {
            const int st = test.leader_status_;
            if (WIFSIGNALED(st))
                report(fmt::format("signal {} {}", WTERMSIG(st), WCOREDUMP(st) ? 1 : 0));
            else
                report(fmt::format("exit {}", WEXITSTATUS(st)));
            reported_exit = true;
            settle_until = Clock::now() + settle;
        }
        if (reported_exit) {
            auto left = test.members();
            if (!left.empty() && Clock::now() < settle_until) continue;
            if (!left.empty()) {
                report(fmt::format("leftover {} {}", left.size(), describe(left)));
                auto stuck = test.kill_until_gone(milliseconds(5'000));
                if (!stuck.empty()) report(fmt::format("unkillable {} {}", stuck.size(), describe(stuck)));
            }
            test.remove_cgroup();
            report("done");
            return 0;
        }
    }
}

}  // namespace kvmsr

// Running one test program through a supervisor (supervisor.hpp): own
// session, cgroup or subreaper, clean environment, bounded captured output,
// a timeout that kills every process of the test, and nothing of it left
// running afterwards.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "kvmsr/ktap.hpp"

namespace kvmsr {

// Keeps the first part and the last part of a stream, drops the middle once
// more than `limit` bytes arrived, and counts everything.
class CappedBuffer {
public:
    explicit CappedBuffer(std::size_t limit);
    void append(const char* data, std::size_t n);
    // Kept text; a marker line stands where bytes were dropped.
    std::string str() const;
    std::size_t total_bytes() const { return total_; }
    bool truncated() const { return total_ > head_.size() + tail_size(); }

private:
    std::size_t tail_size() const { return tail_.size() - tail_off_; }
    std::size_t head_limit_;
    std::size_t tail_limit_;
    std::string head_;
    std::string tail_;
    std::size_t tail_off_ = 0;
    std::size_t total_ = 0;
};

struct ProcessSpec {
    std::string path;                 // executable (absolute or relative to cwd of the runner)
    std::vector<std::string> args;    // argv[1..]
    std::string cwd;                  // working directory of the child; empty = inherit
    std::vector<std::string> env;     // complete environment, "KEY=VALUE"
    std::chrono::milliseconds timeout{120'000};
    std::chrono::milliseconds kill_grace{2'000};   // SIGTERM -> SIGKILL on timeout
    // After the test's main process ends, how long the rest of its processes
    // may take to end by themselves before they count as left behind.
    std::chrono::milliseconds drain_grace{1'000};
    std::size_t output_cap = 4u << 20;              // bytes kept per test, stdout + stderr together
    const std::atomic<bool>* cancel = nullptr;      // set -> stop the test like a timeout
    // The program that supervises the test (see supervisor.hpp): this very
    // program, whose main() hands "__supervise" to supervise_main().
    std::string supervisor = "/proc/self/exe";
    // The runner's cgroup (Isolation::cgroup_root); the test gets a cgroup of
    // its own below it.  Empty: subreaper only.
    std::string cgroup_root;
};

struct ProcessResult {
    bool started = false;
    int spawn_errno = 0;
    std::string spawn_error;

    bool exited = false;
    int exit_code = -1;
    bool signaled = false;
    int signal = 0;
    bool core_dumped = false;

    bool timed_out = false;
    std::chrono::milliseconds timeout{0};  // the spec's timeout (what "timed out" means)
    bool cancelled = false;
    bool unkillable = false;  // the test did not die after SIGKILL within the bound; not reaped

    std::string out, err;
    std::size_t out_bytes = 0, err_bytes = 0;  // everything the test wrote
    bool truncated = false;      // stdout or stderr lost its middle to the cap
    bool out_truncated = false;  // stdout did
    // The top level of the whole stdout as TAP, the dropped middle included:
    // what the plan check uses when stdout was truncated.
    TapStreamCounter out_tap;

    std::string isolation;        // "cgroup" or "subreaper": how the test was contained
    std::string isolation_note;   // why it had less than was asked for, if it did
    // Processes of the test still alive after its main process ended (and the
    // drain grace passed): killed, and named here ("sleep (pid 1234)").
    int leftover_processes = 0;
    std::vector<std::string> leftovers;
    int unkillable_processes = 0;  // of those, alive even after SIGKILL
    bool pipes_abandoned = false;  // the output pipes stayed open after everything was killed; stopped reading
    std::string supervisor_error;  // the supervisor failed: what is known

    std::chrono::nanoseconds duration{0};
};

ProcessResult run_process(const ProcessSpec& spec);

// The environment a test gets: a minimal, fixed set (see README), plus
// `extra` ("KEY=VALUE", overriding).
std::vector<std::string> clean_environment(const std::vector<std::string>& extra = {});

// Kills and reaps this process's children other than `keep`: what a
// supervisor that died left to the runner (a child subreaper).
void reap_strays(const std::vector<int>& keep = {});

}  // namespace kvmsr

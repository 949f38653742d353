// Running one test program: own session and process group, clean
// environment, bounded captured output, timeout that kills the whole group.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

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
    std::chrono::milliseconds drain_grace{1'000};  // after the test exits, wait this long for its pipes to close
    std::size_t output_cap = 4u << 20;              // bytes kept per test, stdout + stderr together
    const std::atomic<bool>* cancel = nullptr;      // set -> stop the test like a timeout
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
    bool cancelled = false;
    bool unkillable = false;  // the test did not die after SIGKILL within the bound; not reaped

    std::string out, err;
    std::size_t out_bytes = 0, err_bytes = 0;  // everything the test wrote
    bool truncated = false;

    int leftover_processes = 0;  // still alive in the test's session after it exited; killed
    bool pipes_abandoned = false;  // someone outside the session kept the pipes open; stopped reading

    std::chrono::nanoseconds duration{0};
};

ProcessResult run_process(const ProcessSpec& spec);

// The environment a test gets: a minimal, fixed set (see README), plus
// `extra` ("KEY=VALUE", overriding).
std::vector<std::string> clean_environment(const std::vector<std::string>& extra = {});

// Live processes (not zombies) of session `sid`, leaving `except` out.
std::vector<int> session_members(int sid, int except);

// Sends `sig` to the process group `sid` and to every process of session
// `sid`; returns how many live processes other than `except` it found.
int signal_session(int sid, int sig, int except);

}  // namespace kvmsr

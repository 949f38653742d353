// The process table as /proc shows it: who is whose child, which process
// is a kernel thread, what a leftover process was.
#pragma once

#include <string>
#include <vector>

namespace kvmsr {

struct ProcInfo {
    int pid = 0;
    int ppid = 0;
    int pgrp = 0;
    int session = 0;
    char state = 0;           // R, S, D, Z, ...
    unsigned long flags = 0;  // PF_* of the task
    std::string comm;         // may hold any bytes

    bool zombie() const { return state == 'Z' || state == 'X'; }
    bool kernel_thread() const { return (flags & 0x00200000ul) != 0; }  // PF_KTHREAD
};

// Parses one /proc/PID/stat line; false when it does not parse.
bool parse_proc_stat(const std::string& line, ProcInfo& out);

// Every process (thread group) in /proc.
std::vector<ProcInfo> read_process_table();

// Live (not zombie) user processes below `root` in the parent tree of
// `table`, root excluded, parents before children.
std::vector<ProcInfo> live_descendants(const std::vector<ProcInfo>& table, int root);

// "sleep (pid 1234)": the command name as the kernel has it, and the pid.
std::string describe_process(const ProcInfo& p);

}  // namespace kvmsr

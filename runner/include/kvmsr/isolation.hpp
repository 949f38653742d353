// What keeps a test's processes from outliving it: a cgroup v2 of its own
// per test where the host has a usable one, else the runner and a per-test
// supervisor as child subreapers (PR_SET_CHILD_SUBREAPER).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kvmsr {

enum class IsolationMode { Auto, Cgroup, Subreaper };
const char* isolation_name(IsolationMode m);  // "auto", "cgroup", "subreaper"

// ---- pure parsing (unit-tested on constructed text) -------------------------

struct Cgroup2Mount {
    std::string root;        // the hierarchy's path that is mounted ("/" usually)
    std::string mountpoint;  // e.g. /sys/fs/cgroup or /sys/fs/cgroup/unified
};
// Every cgroup2 mount listed in a /proc/PID/mountinfo text.
std::vector<Cgroup2Mount> parse_cgroup2_mounts(std::string_view mountinfo);
// The cgroup v2 path ("0::PATH") of a /proc/PID/cgroup text.
std::optional<std::string> parse_unified_cgroup(std::string_view proc_cgroup);
// Where `cgroup` (a hierarchy path) is on mount `m`; nullopt when the mount
// does not show it.
std::optional<std::string> cgroup_dir_on(const Cgroup2Mount& m, const std::string& cgroup);

// ---- the run's isolation ----------------------------------------------------

struct Isolation {
    IsolationMode mode = IsolationMode::Subreaper;  // Cgroup or Subreaper once set up
    std::string cgroup_root;  // this runner's cgroup directory, holding one cgroup per test
    std::string why;          // how it was decided, one line for the console and reports
};

// Makes the calling process a child subreaper and, unless `requested` is
// Subreaper, creates this runner's cgroup (kvmsr-PID below its own cgroup)
// when the host has a usable, delegated cgroup v2 hierarchy.  Auto falls
// back to Subreaper with the reason in `why`; Cgroup fails (nullopt and
// `error`) instead.  Also removes the cgroups of earlier runners that died.
std::optional<Isolation> setup_isolation(IsolationMode requested, std::string& error);
// Removes the runner's cgroup (its test cgroups must be gone).
void teardown_isolation(const Isolation& iso);

// ---- one cgroup -------------------------------------------------------------

// Pids in DIR/cgroup.procs.
std::vector<int> cgroup_members(const std::string& dir);
// Writes 1 to DIR/cgroup.kill: SIGKILL to every process in it, atomically.
bool cgroup_kill(const std::string& dir);
// rmdir DIR (it must be empty); true when it is gone.
bool cgroup_remove(const std::string& dir);

}  // namespace kvmsr

#include "kvmsr/proc.hpp"

#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>

#include <fmt/format.h>

namespace kvmsr {

bool parse_proc_stat(const std::string& line, ProcInfo& out) {
    // "pid (comm) state ppid pgrp session tty_nr tpgid flags ...": comm may
    // hold spaces and parentheses, so it ends at the last ')'.
    auto lp = line.find('(');
    auto rp = line.rfind(')');
    if (lp == std::string::npos || rp == std::string::npos || rp < lp || rp + 2 >= line.size()) return false;
    ProcInfo p;
    if (std::sscanf(line.c_str(), "%d", &p.pid) != 1) return false;
    p.comm = line.substr(lp + 1, rp - lp - 1);
    int tty = 0, tpgid = 0;
    if (std::sscanf(line.c_str() + rp + 2, "%c %d %d %d %d %d %lu", &p.state, &p.ppid, &p.pgrp, &p.session, &tty,
                    &tpgid, &p.flags) != 7)
        return false;
    out = std::move(p);
    return true;
}

std::vector<ProcInfo> read_process_table() {
    std::vector<ProcInfo> table;
    DIR* d = ::opendir("/proc");
    if (!d) return table;
    while (dirent* e = ::readdir(d)) {
        const char* name = e->d_name;
        if (!*name || !std::all_of(name, name + std::strlen(name), [](char c) { return c >= '0' && c <= '9'; }))
            continue;
        std::ifstream in(std::string("/proc/") + name + "/stat");
        std::string line;
        ProcInfo p;
        if (std::getline(in, line) && parse_proc_stat(line, p)) table.push_back(std::move(p));
    }
    ::closedir(d);
    return table;
}

std::vector<ProcInfo> live_descendants(const std::vector<ProcInfo>& table, int root) {
    std::multimap<int, const ProcInfo*> children;
    for (const auto& p : table) children.emplace(p.ppid, &p);
    std::vector<ProcInfo> out;
    std::vector<int> todo = {root};
    // Bounded: a corrupt table cannot make this loop forever.
    for (std::size_t i = 0; i < todo.size() && todo.size() < 100000; ++i) {
        auto [b, e] = children.equal_range(todo[i]);
        for (auto it = b; it != e; ++it) {
            const ProcInfo& c = *it->second;
            if (c.pid == root) continue;
            todo.push_back(c.pid);
            if (!c.zombie() && !c.kernel_thread()) out.push_back(c);
        }
    }
    return out;
}

std::string describe_process(const ProcInfo& p) { return fmt::format("{} (pid {})", p.comm, p.pid); }

}  // namespace kvmsr

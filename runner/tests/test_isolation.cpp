// Finding a usable cgroup v2 hierarchy (constructed mountinfo and
// /proc/PID/cgroup texts: pure v2, hybrid, a mount of a subtree) and reading
// the process table.
#include <gtest/gtest.h>
#include <unistd.h>

#include "kvmsr/isolation.hpp"
#include "kvmsr/proc.hpp"

namespace kvmsr {
namespace {

// This development machine: a hybrid host, cgroup v1 controllers and the v2
// hierarchy at /sys/fs/cgroup/unified.
const char* kHybrid =
    "22 1 0:20 / /sys rw,nosuid - sysfs sysfs rw\n"
    "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

const char* kPureV2 =
    "25 1 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
    "28 25 0:25 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";

TEST(Cgroup, FindsTheV2MountOnHybridAndPureHosts) {
    auto h = parse_cgroup2_mounts(kHybrid);
    ASSERT_EQ(h.size(), 1u);
    EXPECT_EQ(h[0].mountpoint, "/sys/fs/cgroup/unified");
    EXPECT_EQ(h[0].root, "/");
    auto p = parse_cgroup2_mounts(kPureV2);
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(p[0].mountpoint, "/sys/fs/cgroup");
    EXPECT_TRUE(parse_cgroup2_mounts("40 30 0:37 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n").empty());
    EXPECT_TRUE(parse_cgroup2_mounts("garbage\n\n1 2 3\n").empty());
}

TEST(Cgroup, EscapedMountPointAndSubtreeMount) {
    auto m = parse_cgroup2_mounts("50 1 0:40 /user.slice /mnt/cg\\040v2 rw shared:9 - cgroup2 none rw\n");
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(m[0].mountpoint, "/mnt/cg v2");
    EXPECT_EQ(m[0].root, "/user.slice");
    EXPECT_EQ(cgroup_dir_on(m[0], "/user.slice/user-0.slice"), "/mnt/cg v2/user-0.slice");
    EXPECT_EQ(cgroup_dir_on(m[0], "/user.slice"), "/mnt/cg v2");
    EXPECT_FALSE(cgroup_dir_on(m[0], "/system.slice/x.service"));
    EXPECT_FALSE(cgroup_dir_on(m[0], "/user.slicefoo"));
    Cgroup2Mount root{"/", "/sys/fs/cgroup"};
    EXPECT_EQ(cgroup_dir_on(root, "/"), "/sys/fs/cgroup");
    EXPECT_EQ(cgroup_dir_on(root, "/a/b"), "/sys/fs/cgroup/a/b");
}

TEST(Cgroup, OwnCgroupFromProcSelfCgroup) {
    EXPECT_EQ(parse_unified_cgroup("9:name=systemd:/\n4:memory:/x\n0::/\n"), "/");
    EXPECT_EQ(parse_unified_cgroup("0::/user.slice/user-0.slice/session-3.scope\n"),
              "/user.slice/user-0.slice/session-3.scope");
    EXPECT_FALSE(parse_unified_cgroup("4:memory:/x\n"));  // v1 only
}

TEST(Cgroup, SubreaperIsAlwaysAvailable) {
    std::string err;
    auto iso = setup_isolation(IsolationMode::Subreaper, err);
    ASSERT_TRUE(iso) << err;
    EXPECT_EQ(iso->mode, IsolationMode::Subreaper);
    EXPECT_TRUE(iso->cgroup_root.empty());
}

TEST(Cgroup, AutoSaysWhatItChose) {
    std::string err;
    auto iso = setup_isolation(IsolationMode::Auto, err);
    ASSERT_TRUE(iso) << err;
    EXPECT_FALSE(iso->why.empty());
    if (iso->mode == IsolationMode::Cgroup) {
        EXPECT_EQ(::access((iso->cgroup_root + "/cgroup.kill").c_str(), W_OK), 0);
        teardown_isolation(*iso);
        EXPECT_NE(::access(iso->cgroup_root.c_str(), F_OK), 0);  // removed again
    } else {
        EXPECT_NE(iso->why.find("subreaper"), std::string::npos) << iso->why;
    }
}

TEST(Proc, StatLineWithAnAwkwardCommandName) {
    ProcInfo p;
    ASSERT_TRUE(parse_proc_stat("123 (a) b (c) S 1 123 123 0 -1 4194560 0 0", p));
    EXPECT_EQ(p.pid, 123);
    EXPECT_EQ(p.comm, "a) b (c");
    EXPECT_EQ(p.state, 'S');
    EXPECT_EQ(p.ppid, 1);
    EXPECT_EQ(p.session, 123);
    EXPECT_FALSE(p.kernel_thread());
    ASSERT_TRUE(parse_proc_stat("2 (kthreadd) S 0 0 0 0 -1 2129984 0", p));
    EXPECT_TRUE(p.kernel_thread());
    EXPECT_FALSE(parse_proc_stat("garbage", p));
}

TEST(Proc, DescendantsFollowTheParentTree) {
    std::vector<ProcInfo> t = {
        {10, 1, 10, 10, 'S', 0, "sup"},  {11, 10, 11, 11, 'S', 0, "test"}, {12, 11, 11, 11, 'S', 0, "child"},
        {13, 10, 13, 13, 'S', 0, "orphan"}, {14, 11, 11, 11, 'Z', 0, "zombie"}, {15, 1, 15, 15, 'S', 0, "other"},
        {16, 13, 13, 13, 'S', 0x00200000, "kthread"},
    };
    auto d = live_descendants(t, 10);
    std::vector<int> pids;
    for (const auto& p : d) pids.push_back(p.pid);
    EXPECT_EQ(pids, (std::vector<int>{11, 13, 12}));
    EXPECT_EQ(describe_process(d[0]), "test (pid 11)");
}

}  // namespace
}  // namespace kvmsr

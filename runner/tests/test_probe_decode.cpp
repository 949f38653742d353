// The probe's pure decoding: bits -> names, errnos -> reasons.
#include <gtest/gtest.h>

#include <cerrno>

#include <nlohmann/json.hpp>

#include "kvmsr/probe.hpp"
#include "test_helpers.hpp"

namespace kvmsr {
namespace {

IoctlValue ok(long v) { return IoctlValue{v, 0}; }
IoctlValue fail(int e) { return IoctlValue{-1, e}; }

// A healthy host: API 12, VM types mask as given, a VM of each created.
ProbeRaw host(long vm_types_mask, long sys_ret, long snp_ret = 0, long tdx_ret = 0) {
    ProbeRaw r;
    r.api_version = ok(12);
    r.vm_types = ok(vm_types_mask);
    r.exit_hypercall = ok(1l << 12);
    r.hypercall_ret = ok(sys_ret);
    for (int t = 0; t < 32; ++t) {
        if (!(vm_types_mask & (1l << t))) continue;
        VmProbeRaw vm;
        vm.type = t;
        vm.hypercall_ret = ok(t == kvmabi::kVmSnp ? snp_ret : t == kvmabi::kVmTdx ? tdx_ret : 0);
        r.vms.push_back(vm);
    }
    return r;
}

TEST(ProbeDecode, AbiNumbersMatchLinux73Headers) {
    // include/uapi/linux/kvm.h and arch/x86/include/uapi/asm/kvm.h of 7.3
    EXPECT_EQ(kvmabi::kCapExitHypercall, 201);
    EXPECT_EQ(kvmabi::kCapVmTypes, 235);
    EXPECT_EQ(kvmabi::kCapExitHypercallRet, 252);
    EXPECT_EQ(kvmabi::kVmDefault, 0);
    EXPECT_EQ(kvmabi::kVmSwProtected, 1);
    EXPECT_EQ(kvmabi::kVmSev, 2);
    EXPECT_EQ(kvmabi::kVmSevEs, 3);
    EXPECT_EQ(kvmabi::kVmSnp, 4);
    EXPECT_EQ(kvmabi::kVmTdx, 5);
}

TEST(ProbeDecode, VmTypesNamesAndUnknownBits) {
    auto t = decode_vm_types(ok(0x3));
    EXPECT_TRUE(t.known);
    EXPECT_EQ(t.offered, (std::vector<int>{0, 1}));
    EXPECT_EQ(t.unknown_bits, 0u);

    auto all = decode_vm_types(ok(0x3f));
    EXPECT_EQ(all.offered, (std::vector<int>{0, 1, 2, 3, 4, 5}));

    auto odd = decode_vm_types(ok(0x1 | 0x40 | 0x100));
    EXPECT_EQ(odd.offered, (std::vector<int>{0}));
    EXPECT_EQ(odd.unknown_bits, 0x140u);

    auto err = decode_vm_types(fail(ENOTTY));
    EXPECT_FALSE(err.known);
    EXPECT_NE(err.error.find("ENOTTY"), std::string::npos);
}

TEST(ProbeDecode, VmTypeLabels) {
    EXPECT_EQ(vm_type_label(0), "default");
    EXPECT_EQ(vm_type_label(1), "software-protected");
    EXPECT_EQ(vm_type_label(2), "SEV");
    EXPECT_EQ(vm_type_label(3), "SEV-ES");
    EXPECT_EQ(vm_type_label(4), "SNP");
    EXPECT_EQ(vm_type_label(5), "TDX");
    EXPECT_EQ(vm_type_label(9), "type 9");
}

TEST(ProbeDecode, ExitHypercall) {
    auto e = decode_exit_hypercall(ok(1l << 12));
    EXPECT_EQ(e.hypercalls, (std::vector<std::string>{"KVM_HC_MAP_GPA_RANGE"}));
    EXPECT_EQ(e.unknown_bits, 0u);
    auto u = decode_exit_hypercall(ok((1l << 12) | 0x2));
    EXPECT_EQ(u.unknown_bits, 0x2u);
    auto none = decode_exit_hypercall(ok(0));
    EXPECT_TRUE(none.hypercalls.empty());
}

TEST(ProbeDecode, HypercallRetErrnoAcceptedValues) {
    auto h = decode_hypercall_ret(ok(1));
    EXPECT_TRUE(h.supported);
    EXPECT_TRUE(h.errno_table);
    ASSERT_EQ(h.accepted.size(), 5u);
    std::vector<std::string> names;
    for (const auto& a : h.accepted) names.emplace_back(a.name);
    EXPECT_EQ(names, (std::vector<std::string>{"0", "EAGAIN", "EINVAL", "ENOSPC", "EIO"}));
    EXPECT_EQ(h.accepted[0].value, 0);
    EXPECT_EQ(h.accepted[1].value, EAGAIN);
    EXPECT_EQ(h.accepted[2].value, EINVAL);
    EXPECT_EQ(h.accepted[3].value, ENOSPC);
    EXPECT_EQ(h.accepted[4].value, EIO);
    EXPECT_EQ(h.unknown_bits, 0u);
    EXPECT_EQ(h.summary, "0x1 = KVM_X86_HYPERCALL_RET_ERRNO: hypercall.ret accepts 0, EAGAIN, EINVAL, ENOSPC, EIO");
}

TEST(ProbeDecode, HypercallRetUnknownBitsAreReportedNotDropped) {
    auto h = decode_hypercall_ret(ok(0x7));
    EXPECT_TRUE(h.errno_table);
    EXPECT_EQ(h.unknown_bits, 0x6u);
    EXPECT_NE(h.summary.find("unknown bits 0x6"), std::string::npos);

    auto only_unknown = decode_hypercall_ret(ok(0x8));
    EXPECT_TRUE(only_unknown.supported);
    EXPECT_FALSE(only_unknown.errno_table);
    EXPECT_TRUE(only_unknown.accepted.empty());
    EXPECT_EQ(only_unknown.summary, "0x8 = unknown bits 0x8");
}

TEST(ProbeDecode, HypercallRetAbsentOrFailing) {
    auto zero = decode_hypercall_ret(ok(0));
    EXPECT_FALSE(zero.supported);
    EXPECT_FALSE(zero.errno_table);
    auto err = decode_hypercall_ret(fail(EINVAL));
    EXPECT_FALSE(err.error.empty());
    EXPECT_NE(err.error.find("EINVAL"), std::string::npos);
}

TEST(ProbeDecode, NoDevice) {
    ProbeRaw r;
    r.open_err = ENOENT;
    auto rep = decode_probe(r);
    EXPECT_EQ(rep.device_blocker, Blocker::NoDevice);
    EXPECT_EQ(rep.tdx.blocker, Blocker::NoDevice);
    EXPECT_EQ(rep.snp.blocker, Blocker::NoDevice);
    EXPECT_NE(rep.tdx.reason.find("no /dev/kvm"), std::string::npos);
    EXPECT_FALSE(rep.tdx.ours_can_run);
}

TEST(ProbeDecode, NoPermission) {
    for (int e : {EACCES, EPERM}) {
        ProbeRaw r;
        r.open_err = e;
        auto t = decode_target(r, kvmabi::kVmSnp);
        EXPECT_EQ(t.blocker, Blocker::NoPermission);
        EXPECT_NE(t.reason.find("no permission"), std::string::npos);
    }
}

TEST(ProbeDecode, OtherOpenErrorAndNotKvm) {
    ProbeRaw r;
    r.open_err = EBUSY;
    EXPECT_EQ(decode_target(r, kvmabi::kVmTdx).blocker, Blocker::OpenFailed);

    ProbeRaw n;
    n.device = "/dev/null";
    n.api_version = fail(ENOTTY);
    auto t = decode_target(n, kvmabi::kVmTdx);
    EXPECT_EQ(t.blocker, Blocker::NotKvm);
    EXPECT_NE(t.reason.find("ENOTTY"), std::string::npos);

    ProbeRaw v = host(0x1, 0);
    v.api_version = ok(11);
    EXPECT_EQ(decode_target(v, kvmabi::kVmTdx).blocker, Blocker::NotKvm);
}

TEST(ProbeDecode, VmTypeNotOfferedNamesWhatIsOffered) {
    auto rep = decode_probe(host(0x3, 0));
    EXPECT_EQ(rep.tdx.blocker, Blocker::VmTypeNotOffered);
    EXPECT_EQ(rep.snp.blocker, Blocker::VmTypeNotOffered);
    EXPECT_NE(rep.tdx.reason.find("0x3 (default, software-protected) does not include TDX (type 5)"),
              std::string::npos)
        << rep.tdx.reason;
    EXPECT_NE(rep.snp.reason.find("does not include SNP (type 4)"), std::string::npos);
}

TEST(ProbeDecode, NoVmTypesCapability) {
    auto r = host(0x1, 0);
    r.vm_types = fail(EINVAL);
    r.vms.clear();
    auto t = decode_target(r, kvmabi::kVmTdx);
    EXPECT_EQ(t.blocker, Blocker::VmTypeNotOffered);
    EXPECT_NE(t.reason.find("KVM_CAP_VM_TYPES"), std::string::npos);
}

TEST(ProbeDecode, VmCreateFailed) {
    auto r = host(0x1f, 0);
    for (auto& vm : r.vms)
        if (vm.type == kvmabi::kVmSnp) vm.create_err = EBUSY;
    auto t = decode_target(r, kvmabi::kVmSnp);
    EXPECT_EQ(t.blocker, Blocker::VmCreateFailed);
    EXPECT_NE(t.reason.find("EBUSY"), std::string::npos);
}

TEST(ProbeDecode, SnpHostWithoutTheSeries) {
    auto rep = decode_probe(host(0x1f, 0, 0));
    EXPECT_EQ(rep.snp.blocker, Blocker::None);
    EXPECT_TRUE(rep.snp.reason.empty());
    EXPECT_FALSE(rep.snp.ours_can_run);
    EXPECT_NE(rep.snp.ours_reason.find("lacks this project's series"), std::string::npos);
    EXPECT_EQ(rep.tdx.blocker, Blocker::VmTypeNotOffered);
}

TEST(ProbeDecode, TdxHostWithTheSeries) {
    // system fd reports the capability; only TDX VMs use the path.
    auto rep = decode_probe(host(0x23, 1, 0, 1));
    EXPECT_EQ(rep.tdx.blocker, Blocker::None);
    EXPECT_TRUE(rep.tdx.ours_can_run);
    EXPECT_TRUE(rep.tdx.hypercall_ret.errno_table);
    EXPECT_TRUE(rep.hypercall_ret.errno_table);
    for (const auto& vm : rep.vms) {
        if (vm.type == kvmabi::kVmTdx) {
            EXPECT_TRUE(vm.hypercall_ret.errno_table);
        } else {
            EXPECT_FALSE(vm.hypercall_ret.supported) << vm.label;
        }
    }
    auto text = format_probe_text(rep);
    EXPECT_NE(text.find("TDX selftests"), std::string::npos);
    EXPECT_NE(text.find("can run upstream and our tests"), std::string::npos);
}

TEST(ProbeDecode, JsonShape) {
    auto j = probe_to_json(decode_probe(host(0x3, 0)));
    EXPECT_EQ(j["api_version"], 12);
    EXPECT_EQ(j["cap_vm_types"]["mask"], 3);
    EXPECT_EQ(j["cap_vm_types"]["offered"]["default"], true);
    EXPECT_EQ(j["cap_vm_types"]["offered"]["sw_protected"], true);
    EXPECT_EQ(j["cap_vm_types"]["offered"]["tdx"], false);
    EXPECT_EQ(j["cap_exit_hypercall"]["hypercalls"][0], "KVM_HC_MAP_GPA_RANGE");
    EXPECT_EQ(j["cap_exit_hypercall_ret"]["flags"], 0);
    EXPECT_EQ(j["tdx"]["blocker"], "vm-type-not-offered");
    EXPECT_EQ(j["tdx"]["can_run_upstream_tests"], false);
    EXPECT_EQ(j["snp"]["blocker"], "vm-type-not-offered");
    EXPECT_EQ(j["vms"].size(), 2u);

    auto nodev = ProbeRaw{};
    nodev.open_err = ENOENT;
    auto jn = probe_to_json(decode_probe(nodev));
    EXPECT_EQ(jn["opened"], false);
    EXPECT_EQ(jn["tdx"]["blocker"], "no-device");
    EXPECT_TRUE(jn["api_version"].is_null());
}

// The host around the device (issue 17 point 7: "KVM is not loaded or this is
// not a KVM host" on a nested PVM guest where the kvm module is loaded).
HostRaw nested_pvm_guest() {
    HostRaw h;
    h.cpuinfo_read = true;
    h.cpu_model = "AMD EPYC";
    h.cpu_flags = {"fpu", "sse2", "hypervisor", "avx2"};
    h.sysfs_read = true;
    h.modules = {{"kvm", {}}, {"kvm_pvm", {}}};
    return h;
}

TEST(ProbeHostFacts, NestedPvmGuestWithKvmLoadedButNoDevice) {
    ProbeRaw r;
    r.open_err = ENOENT;
    r.host = nested_pvm_guest();
    auto rep = decode_probe(r);
    EXPECT_EQ(rep.device_blocker, Blocker::NoDevice);
    const std::string& why = rep.device_reason;
    EXPECT_EQ(why.find("KVM is not loaded"), std::string::npos) << why;
    EXPECT_NE(why.find("the kvm module is loaded; kvm_pvm is loaded but registered no KVM device"), std::string::npos)
        << why;
    EXPECT_NE(why.find("the CPU has neither VMX nor SVM (it runs under a hypervisor"), std::string::npos) << why;
    EXPECT_EQ(rep.snp.reason, why);
    auto text = format_probe_text(rep);
    EXPECT_NE(text.find("AMD EPYC; hardware virtualization: neither VMX nor SVM; runs under a hypervisor"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("kvm, kvm_pvm loaded or built in; not loaded: kvm_intel, kvm_amd"), std::string::npos) << text;
    auto dev = text.find("KVM device (/sys/class/misc/kvm)");
    ASSERT_NE(dev, std::string::npos) << text;
    EXPECT_EQ(text.substr(dev, text.find('\n', dev) - dev).find("not registered"), 45u) << text;
    auto j = probe_to_json(rep);
    EXPECT_EQ(j["host"]["cpu_flags"]["hypervisor"], true);
    EXPECT_EQ(j["host"]["cpu_flags"]["svm"], false);
    EXPECT_EQ(j["host"]["modules"], nlohmann::json::array({"kvm", "kvm_pvm"}));
}

TEST(ProbeHostFacts, DeviceRegisteredButNoNode) {
    ProbeRaw r;
    r.open_err = ENOENT;
    r.host = nested_pvm_guest();
    r.host.misc_registered = true;
    r.host.misc_dev = "10:232";
    auto why = decode_probe(r).device_reason;
    EXPECT_NE(why.find("KVM registered its device (10:232) but there is no node"), std::string::npos) << why;
    EXPECT_NE(why.find("mknod /dev/kvm c 10 232"), std::string::npos) << why;
}

TEST(ProbeHostFacts, KvmNotLoadedOnAHostThatCouldRunIt) {
    ProbeRaw r;
    r.open_err = ENOENT;
    r.host.cpuinfo_read = true;
    r.host.cpu_flags = {"vmx", "tdx_host_platform"};
    r.host.sysfs_read = true;
    auto why = decode_probe(r).device_reason;
    EXPECT_NE(why.find("the kvm module is not loaded"), std::string::npos) << why;
    EXPECT_NE(why.find("the CPU has VMX; modprobe kvm_intel"), std::string::npos) << why;
    r.host.modules = {{"kvm", {}}};
    EXPECT_NE(decode_probe(r).device_reason.find("no vendor module (kvm_intel, kvm_amd) is loaded"), std::string::npos);
    r.host.sysfs_read = false;
    EXPECT_NE(decode_probe(r).device_reason.find("whether KVM is loaded is unknown"), std::string::npos);
}

TEST(ProbeHostFacts, TargetsNameTheFlagsAndModuleParameters) {
    ProbeRaw r = host(0x1, 0);
    r.host.cpuinfo_read = true;
    r.host.cpu_flags = {"svm", "sev", "sev_es"};
    r.host.sysfs_read = true;
    r.host.modules = {{"kvm", {}}, {"kvm_amd", {{"sev", "Y"}, {"sev_es", "Y"}, {"sev_snp", "N"}}}};
    auto rep = decode_probe(r);
    EXPECT_NE(rep.snp.reason.find("here: CPU flag sev_snp no, kvm_amd.sev_snp=N"), std::string::npos) << rep.snp.reason;
    EXPECT_NE(rep.tdx.reason.find("here: CPU flag tdx_host_platform no, kvm_intel not loaded"), std::string::npos)
        << rep.tdx.reason;
    auto text = format_probe_text(rep);
    EXPECT_NE(text.find("kvm_amd.sev=Y kvm_amd.sev_es=Y kvm_amd.sev_snp=N"), std::string::npos) << text;
}

TEST(ProbeHostFacts, ReadsAFakeTree) {
    testing::TempDir d;
    testing::write_file(d / "proc/cpuinfo",
                        "processor\t: 0\nmodel name\t: AMD EPYC 9654\nflags\t\t: fpu svm sev sev_es sev_snp\n\n"
                        "processor\t: 1\nmodel name\t: other\nflags\t\t: vmx\n");
    testing::write_file(d / "sys/module/kvm/parameters/halt_poll_ns", "200000\n");
    testing::write_file(d / "sys/module/kvm_amd/parameters/sev_snp", "Y\n");
    testing::write_file(d / "sys/module/kvmx/parameters/x", "1\n");  // not kvm_*: ignored
    testing::write_file(d / "sys/class/misc/kvm/dev", "10:232\n");
    auto h = read_host(d.path().string());
    EXPECT_TRUE(h.cpuinfo_read);
    EXPECT_EQ(h.cpu_model, "AMD EPYC 9654");
    EXPECT_EQ(h.cpu_flags, (std::vector<std::string>{"fpu", "svm", "sev", "sev_es", "sev_snp"}));
    ASSERT_EQ(h.modules.size(), 2u);
    EXPECT_EQ(h.modules[1].name, "kvm_amd");
    EXPECT_EQ(h.modules[1].params, (std::vector<std::pair<std::string, std::string>>{{"sev_snp", "Y"}}));
    EXPECT_TRUE(h.misc_registered);
    EXPECT_EQ(h.misc_dev, "10:232");
    auto empty = read_host((d / "nothing").string());
    EXPECT_FALSE(empty.cpuinfo_read);
    EXPECT_FALSE(empty.sysfs_read);
}

// The thin ioctl layer against things that are not /dev/kvm.
TEST(ProbeHost, MissingDeviceNode) {
    auto raw = probe_host("/dev/kvm-does-not-exist");
    EXPECT_EQ(raw.open_err, ENOENT);
    EXPECT_EQ(decode_probe(raw).tdx.blocker, Blocker::NoDevice);
}

TEST(ProbeHost, DeviceThatIsNotKvm) {
    auto raw = probe_host("/dev/null");
    EXPECT_EQ(raw.open_err, 0);
    EXPECT_FALSE(raw.api_version.ok());
    EXPECT_EQ(decode_probe(raw).device_blocker, Blocker::NotKvm);
}

}  // namespace
}  // namespace kvmsr

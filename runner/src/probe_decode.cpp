// Pure decoding of probe results: bits -> names, errnos -> reasons.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kvmsr/probe.hpp"

namespace kvmsr {

namespace {

std::string errno_text(int err) {
    return fmt::format("{} ({})", errno_name(err), std::strerror(err));
}

std::string hex(std::uint64_t v) { return fmt::format("{:#x}", v); }

std::string join(const std::vector<std::string>& v, const char* sep) {
    std::string out;
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i) out += sep;
        out += v[i];
    }
    return out;
}

std::string offered_labels(const VmTypesInfo& t) {
    std::vector<std::string> names;
    for (int type : t.offered) names.push_back(vm_type_label(type));
    if (t.unknown_bits) names.push_back("unknown bits " + hex(t.unknown_bits));
    return names.empty() ? std::string("none") : join(names, ", ");
}

std::string target_hint(int vm_type) {
    switch (vm_type) {
        case kvmabi::kVmTdx:
            return "TDX VMs need an Intel host with TDX enabled in firmware and kvm_intel loaded with tdx=1";
        case kvmabi::kVmSnp:
            return "SNP VMs need an AMD host with SEV-SNP enabled in firmware and kvm_amd loaded with sev_snp=1";
        default:
            return "";
    }
}

// What this host shows for a target: "here: CPU flag sev_snp no, kvm_amd not loaded".
std::string target_facts(const HostRaw& raw, int vm_type) {
    const HostInfo h = decode_host(raw);
    if (vm_type != kvmabi::kVmTdx && vm_type != kvmabi::kVmSnp) return {};
    const bool tdx = vm_type == kvmabi::kVmTdx;
    std::vector<std::string> facts;
    if (h.cpuinfo_read)
        facts.push_back(fmt::format("CPU flag {} {}", tdx ? "tdx_host_platform" : "sev_snp",
                                    (tdx ? h.tdx_host : h.sev_snp) ? "yes" : "no"));
    if (h.sysfs_read) {
        const std::string mod = tdx ? "kvm_intel" : "kvm_amd";
        const std::string param = mod + (tdx ? ".tdx" : ".sev_snp");
        if (std::find(h.modules.begin(), h.modules.end(), mod) == h.modules.end()) {
            facts.push_back(mod + " not loaded");
        } else {
            std::string v = "?";
            for (const auto& [k, val] : h.params)
                if (k == param) v = val;
            facts.push_back(fmt::format("{}={}", param, v));
        }
    }
    return facts.empty() ? std::string() : "; here: " + join(facts, ", ");
}

nlohmann::json hypercall_ret_json(const HypercallRetInfo& h) {
    nlohmann::json j;
    if (!h.error.empty()) {
        j["error"] = h.error;
        return j;
    }
    j["flags"] = h.flags;
    j["supported"] = h.supported;
    j["errno_table"] = h.errno_table;
    nlohmann::json acc = nlohmann::json::array();
    for (const auto& a : h.accepted) acc.push_back({{"name", a.name}, {"value", a.value}});
    j["accepted_ret"] = acc;
    j["unknown_bits"] = h.unknown_bits;
    j["summary"] = h.summary;
    return j;
}

nlohmann::json target_json(const TargetInfo& t) {
    nlohmann::json j;
    j["vm_type"] = t.vm_type;
    j["can_run_upstream_tests"] = t.blocker == Blocker::None;
    j["blocker"] = blocker_key(t.blocker);
    j["reason"] = t.reason;
    j["vm_created"] = t.vm_created;
    if (t.vm_created) j["exit_hypercall_ret"] = hypercall_ret_json(t.hypercall_ret);
    j["can_run_our_tests"] = t.ours_can_run;
    j["our_tests_reason"] = t.ours_reason;
    return j;
}

}  // namespace

std::string errno_name(int err) {
    if (const char* n = ::strerrorname_np(err)) return n;
    return fmt::format("errno {}", err);
}

const std::vector<VmTypeName>& known_vm_types() {
    static const std::vector<VmTypeName> types = {
        {kvmabi::kVmDefault, "default", "default"},
        {kvmabi::kVmSwProtected, "sw_protected", "software-protected"},
        {kvmabi::kVmSev, "sev", "SEV"},
        {kvmabi::kVmSevEs, "sev_es", "SEV-ES"},
        {kvmabi::kVmSnp, "snp", "SNP"},
        {kvmabi::kVmTdx, "tdx", "TDX"},
    };
    return types;
}

std::string vm_type_label(int type) {
    for (const auto& t : known_vm_types())
        if (t.type == type) return t.label;
    return fmt::format("type {}", type);
}

VmTypesInfo decode_vm_types(const IoctlValue& v) {
    VmTypesInfo info;
    if (!v.ok()) {
        info.error = "KVM_CHECK_EXTENSION(KVM_CAP_VM_TYPES) failed: " + errno_text(v.err);
        return info;
    }
    info.known = true;
    info.mask = static_cast<std::uint64_t>(static_cast<std::uint32_t>(v.value));
    std::uint64_t known_mask = 0;
    for (const auto& t : known_vm_types()) {
        known_mask |= 1ull << t.type;
        if (info.mask & (1ull << t.type)) info.offered.push_back(t.type);
    }
    info.unknown_bits = info.mask & ~known_mask;
    return info;
}

ExitHypercallInfo decode_exit_hypercall(const IoctlValue& v) {
    ExitHypercallInfo info;
    if (!v.ok()) {
        info.error = "KVM_CHECK_EXTENSION(KVM_CAP_EXIT_HYPERCALL) failed: " + errno_text(v.err);
        return info;
    }
    info.mask = static_cast<std::uint64_t>(static_cast<std::uint32_t>(v.value));
    const std::uint64_t map_gpa = 1ull << kvmabi::kHcMapGpaRange;
    if (info.mask & map_gpa) info.hypercalls.push_back("KVM_HC_MAP_GPA_RANGE");
    info.unknown_bits = info.mask & ~map_gpa;
    return info;
}

HypercallRetInfo decode_hypercall_ret(const IoctlValue& v) {
    HypercallRetInfo info;
    if (!v.ok()) {
        info.error = "KVM_CHECK_EXTENSION(KVM_CAP_EXIT_HYPERCALL_RET) failed: " + errno_text(v.err);
        info.summary = info.error;
        return info;
    }
    info.flags = static_cast<std::uint64_t>(static_cast<std::uint32_t>(v.value));
    info.supported = info.flags != 0;
    info.errno_table = (info.flags & kvmabi::kHypercallRetErrno) != 0;
    info.unknown_bits = info.flags & ~kvmabi::kHypercallRetErrno;
    if (info.errno_table) {
        info.accepted = {{0, "0"}, {EAGAIN, "EAGAIN"}, {EINVAL, "EINVAL"}, {ENOSPC, "ENOSPC"}, {EIO, "EIO"}};
    }
    if (info.flags == 0) {
        info.summary = "0 (not offered)";
        return info;
    }
    std::vector<std::string> parts;
    if (info.errno_table) {
        std::vector<std::string> names;
        for (const auto& a : info.accepted) names.push_back(a.name);
        parts.push_back("KVM_X86_HYPERCALL_RET_ERRNO: hypercall.ret accepts " + join(names, ", "));
    }
    if (info.unknown_bits) parts.push_back("unknown bits " + hex(info.unknown_bits));
    info.summary = hex(info.flags) + " = " + join(parts, "; ");
    return info;
}

const char* blocker_key(Blocker b) {
    switch (b) {
        case Blocker::None: return "none";
        case Blocker::NoDevice: return "no-device";
        case Blocker::NoPermission: return "no-permission";
        case Blocker::OpenFailed: return "open-failed";
        case Blocker::NotKvm: return "not-kvm";
        case Blocker::VmTypeNotOffered: return "vm-type-not-offered";
        case Blocker::VmCreateFailed: return "vm-create-failed";
    }
    return "unknown";
}

HostInfo decode_host(const HostRaw& h) {
    HostInfo i;
    i.cpuinfo_read = h.cpuinfo_read;
    i.sysfs_read = h.sysfs_read;
    i.cpu_model = h.cpu_model;
    auto has = [&](std::string_view f) { return std::find(h.cpu_flags.begin(), h.cpu_flags.end(), f) != h.cpu_flags.end(); };
    i.vmx = has("vmx");
    i.svm = has("svm");
    i.hypervisor = has("hypervisor");
    i.sev = has("sev");
    i.sev_es = has("sev_es");
    i.sev_snp = has("sev_snp");
    i.tdx_host = has("tdx_host_platform");
    for (const auto& m : h.modules) {
        i.modules.push_back(m.name);
        if (m.name == "kvm") i.kvm_module = true;
        else i.vendor_modules.push_back(m.name);
        for (const auto& [k, v] : m.params) i.params.emplace_back(m.name + "." + k, v);
    }
    i.misc_registered = h.misc_registered;
    i.misc_dev = h.misc_dev;

    auto yes_no = [](bool b) { return b ? "yes" : "no"; };
    if (!h.cpuinfo_read) {
        i.lines.emplace_back("CPU (/proc/cpuinfo)", "could not be read");
    } else {
        std::string cpu = h.cpu_model.empty() ? std::string("unknown model") : h.cpu_model;
        std::string virt = i.vmx ? "VMX" : i.svm ? "SVM" : "neither VMX nor SVM";
        cpu += "; hardware virtualization: " + virt;
        if (i.hypervisor) cpu += "; runs under a hypervisor (a guest)";
        i.lines.emplace_back("CPU (/proc/cpuinfo)", cpu);
        i.lines.emplace_back("CPU flags sev, sev_es, sev_snp",
                             fmt::format("{}, {}, {}", yes_no(i.sev), yes_no(i.sev_es), yes_no(i.sev_snp)));
        i.lines.emplace_back("CPU flag tdx_host_platform", yes_no(i.tdx_host));
    }
    if (!h.sysfs_read) {
        i.lines.emplace_back("KVM modules (/sys/module)", "could not be read");
    } else {
        std::vector<std::string> absent;
        for (const char* m : {"kvm", "kvm_intel", "kvm_amd"})
            if (std::find(i.modules.begin(), i.modules.end(), m) == i.modules.end()) absent.push_back(m);
        std::string v = i.modules.empty() ? std::string("none loaded") : join(i.modules, ", ") + " loaded or built in";
        if (!absent.empty() && !i.modules.empty()) v += "; not loaded: " + join(absent, ", ");
        i.lines.emplace_back("KVM modules (/sys/module)", v);
        if (!i.params.empty()) {
            std::vector<std::string> ps;
            for (const auto& [k, val] : i.params) ps.push_back(k + "=" + val);
            i.lines.emplace_back("KVM module parameters", join(ps, " "));
        }
    }
    i.lines.emplace_back("KVM device (/sys/class/misc/kvm)",
                         h.misc_registered ? "registered (" + (h.misc_dev.empty() ? std::string("?") : h.misc_dev) + ")"
                                           : std::string("not registered"));
    return i;
}

namespace {

// Why there is no device node, from what the host says around it.
std::string no_device_reason(const ProbeRaw& raw) {
    const HostInfo h = decode_host(raw.host);
    std::string head = fmt::format("no {}: open() failed with {}", raw.device, errno_text(raw.open_err));
    if (h.misc_registered) {
        std::string numbers = h.misc_dev.empty() ? std::string("10:232") : h.misc_dev;
        if (auto c = numbers.find(':'); c != std::string::npos) numbers[c] = ' ';
        return head + fmt::format("; KVM registered its device ({}) but there is no node for it: create it "
                                  "(mknod {} c {}) or check udev",
                                  h.misc_dev, raw.device, numbers);
    }
    if (!h.sysfs_read) return head + "; /sys/module cannot be read, so whether KVM is loaded is unknown";
    std::string cpu;
    if (h.cpuinfo_read) {
        if (h.vmx || h.svm)
            cpu = fmt::format("the CPU has {}", h.vmx ? "VMX" : "SVM");
        else
            cpu = std::string("the CPU has neither VMX nor SVM") +
                  (h.hypervisor ? " (it runs under a hypervisor that does not offer nested virtualization)" : "");
    }
    if (!h.kvm_module) {
        std::string hint = h.vmx ? "; modprobe kvm_intel" : h.svm ? "; modprobe kvm_amd" : "";
        return head + "; the kvm module is not loaded (no /sys/module/kvm)" + (cpu.empty() ? "" : "; " + cpu) + hint;
    }
    std::string vendors = h.vendor_modules.empty() ? std::string("no vendor module (kvm_intel, kvm_amd) is loaded")
                                                   : join(h.vendor_modules, ", ") + (h.vendor_modules.size() == 1 ? " is" : " are") +
                                                         " loaded but registered no KVM device";
    std::string hint;
    if (h.vendor_modules.empty() && h.vmx) hint = "; modprobe kvm_intel";
    else if (h.vendor_modules.empty() && h.svm) hint = "; modprobe kvm_amd";
    else if (!h.vendor_modules.empty()) hint = "; the kernel log says why";
    return head + "; the kvm module is loaded; " + vendors + " (/sys/class/misc/kvm absent)" +
           (cpu.empty() ? "" : "; " + cpu) + hint;
}

// Why the device itself is unusable, if it is.
std::pair<Blocker, std::string> device_blocker(const ProbeRaw& raw) {
    if (raw.open_err) {
        switch (raw.open_err) {
            case ENOENT:
            case ENODEV:
            case ENXIO:
                return {Blocker::NoDevice, no_device_reason(raw)};
            case EACCES:
            case EPERM:
                return {Blocker::NoPermission,
                        fmt::format("no permission to open {}: {}; run as root or as a member of the group "
                                    "that owns it (usually 'kvm')",
                                    raw.device, errno_text(raw.open_err))};
            default:
                return {Blocker::OpenFailed,
                        fmt::format("cannot open {}: {}", raw.device, errno_text(raw.open_err))};
        }
    }
    if (!raw.api_version.ok())
        return {Blocker::NotKvm, fmt::format("{} is not a KVM device: KVM_GET_API_VERSION failed with {}",
                                             raw.device, errno_text(raw.api_version.err))};
    if (raw.api_version.value != kvmabi::kApiVersion)
        return {Blocker::NotKvm, fmt::format("{} reports KVM API version {}, expected {}", raw.device,
                                             raw.api_version.value, kvmabi::kApiVersion)};
    return {Blocker::None, {}};
}

}  // namespace

TargetInfo decode_target(const ProbeRaw& raw, int vm_type) {
    TargetInfo t;
    t.vm_type = vm_type;
    t.target = vm_type_label(vm_type);
    auto [blocker, reason] = device_blocker(raw);
    if (blocker == Blocker::None) {
        VmTypesInfo types = decode_vm_types(raw.vm_types);
        const bool offered = types.known && (types.mask & (1ull << vm_type));
        if (!types.known) {
            blocker = Blocker::VmTypeNotOffered;
            reason = fmt::format("VM type not offered: the kernel does not answer KVM_CAP_VM_TYPES ({}); {}",
                                 types.error, target_hint(vm_type) + target_facts(raw.host, vm_type));
        } else if (!offered) {
            blocker = Blocker::VmTypeNotOffered;
            reason = fmt::format("VM type not offered: KVM_CAP_VM_TYPES = {} ({}) does not include {} (type {}); {}",
                                 hex(types.mask), offered_labels(types), t.target, vm_type,
                                 target_hint(vm_type) + target_facts(raw.host, vm_type));
        } else {
            const VmProbeRaw* vm = nullptr;
            for (const auto& v : raw.vms)
                if (v.type == vm_type) vm = &v;
            if (!vm) {
                blocker = Blocker::VmCreateFailed;
                reason = fmt::format("{} VM type is offered but was not tried", t.target);
            } else if (vm->create_err) {
                blocker = Blocker::VmCreateFailed;
                reason = fmt::format("{} VM type is offered but KVM_CREATE_VM({}) failed with {}", t.target,
                                     vm_type, errno_text(vm->create_err));
            } else {
                t.vm_created = true;
                t.hypercall_ret = decode_hypercall_ret(vm->hypercall_ret);
            }
        }
    }
    t.blocker = blocker;
    t.reason = reason;
    if (blocker != Blocker::None) {
        t.ours_reason = reason;
    } else if (!t.hypercall_ret.error.empty()) {
        t.ours_reason = fmt::format("{} VM fd: {}", t.target, t.hypercall_ret.error);
    } else if (!t.hypercall_ret.errno_table) {
        t.ours_reason = fmt::format(
            "{} VM fd reports KVM_CAP_EXIT_HYPERCALL_RET = {}: the kernel lacks this project's series "
            "(KVM_X86_HYPERCALL_RET_ERRNO not set)",
            t.target, hex(t.hypercall_ret.flags));
    } else {
        t.ours_can_run = true;
    }
    return t;
}

ProbeReport decode_probe(const ProbeRaw& raw) {
    ProbeReport r;
    r.device = raw.device;
    r.host = decode_host(raw.host);
    r.opened = raw.open_err == 0;
    auto [blocker, reason] = device_blocker(raw);
    r.device_blocker = blocker;
    r.device_reason = reason;
    if (r.opened) {
        if (raw.api_version.ok())
            r.api_version = raw.api_version.value;
        else
            r.api_error = "KVM_GET_API_VERSION failed: " + errno_text(raw.api_version.err);
    }
    if (blocker == Blocker::None) {
        r.vm_types = decode_vm_types(raw.vm_types);
        r.exit_hypercall = decode_exit_hypercall(raw.exit_hypercall);
        r.hypercall_ret = decode_hypercall_ret(raw.hypercall_ret);
        for (const auto& vm : raw.vms) {
            VmReport v;
            v.type = vm.type;
            v.label = vm_type_label(vm.type);
            v.created = vm.create_err == 0;
            if (!v.created)
                v.create_error = "KVM_CREATE_VM failed: " + errno_text(vm.create_err);
            else
                v.hypercall_ret = decode_hypercall_ret(vm.hypercall_ret);
            r.vms.push_back(v);
        }
    }
    r.tdx = decode_target(raw, kvmabi::kVmTdx);
    r.snp = decode_target(raw, kvmabi::kVmSnp);
    return r;
}

std::string format_probe_text(const ProbeReport& r) {
    std::string out;
    auto line = [&](std::string_view key, const std::string& value) {
        out += fmt::format("  {:<44} {}\n", key, value);
    };
    out += "Host\n";
    for (const auto& [k, v] : r.host.lines) line(k, v);
    out += fmt::format("KVM probe of {}\n", r.device);
    if (r.device_blocker != Blocker::None) {
        line("device", r.device_reason);
    } else {
        line("KVM_GET_API_VERSION", std::to_string(*r.api_version));
        line("KVM_CAP_VM_TYPES (235)",
             r.vm_types.known ? hex(r.vm_types.mask) + " = " + offered_labels(r.vm_types) : r.vm_types.error);
        if (!r.exit_hypercall.error.empty()) {
            line("KVM_CAP_EXIT_HYPERCALL (201)", r.exit_hypercall.error);
        } else {
            std::vector<std::string> parts = r.exit_hypercall.hypercalls;
            if (r.exit_hypercall.unknown_bits) parts.push_back("unknown bits " + hex(r.exit_hypercall.unknown_bits));
            line("KVM_CAP_EXIT_HYPERCALL (201)",
                 hex(r.exit_hypercall.mask) + (parts.empty() ? " (no hypercall exits)" : " = " + join(parts, ", ")));
        }
        line("KVM_CAP_EXIT_HYPERCALL_RET (252), system fd",
             r.hypercall_ret.flags == 0 && r.hypercall_ret.error.empty()
                 ? std::string("0 (this kernel does not have the capability)")
                 : r.hypercall_ret.summary);
        for (const auto& vm : r.vms) {
            std::string v = vm.created ? "VM created; KVM_CAP_EXIT_HYPERCALL_RET = " +
                                             (vm.hypercall_ret.flags == 0 && vm.hypercall_ret.error.empty()
                                                  ? std::string("0 (not used for this VM type)")
                                                  : vm.hypercall_ret.summary)
                                       : vm.create_error;
            line(fmt::format("VM type {} ({})", vm.type, vm.label), v);
        }
    }
    for (const TargetInfo* t : {&r.tdx, &r.snp}) {
        std::string v;
        if (t->blocker != Blocker::None)
            v = "cannot run: " + t->reason;
        else if (t->ours_can_run)
            v = "can run upstream and our tests; hypercall.ret: " + t->hypercall_ret.summary;
        else
            v = "can run upstream tests; our tests cannot: " + t->ours_reason;
        line(t->target + " selftests", v);
    }
    return out;
}

nlohmann::json probe_to_json(const ProbeReport& r) {
    nlohmann::json j;
    j["device"] = r.device;
    nlohmann::json host;
    host["cpuinfo_read"] = r.host.cpuinfo_read;
    host["cpu_model"] = r.host.cpu_model;
    host["cpu_flags"] = {{"vmx", r.host.vmx},           {"svm", r.host.svm},   {"hypervisor", r.host.hypervisor},
                         {"sev", r.host.sev},           {"sev_es", r.host.sev_es}, {"sev_snp", r.host.sev_snp},
                         {"tdx_host_platform", r.host.tdx_host}};
    host["sysfs_read"] = r.host.sysfs_read;
    host["modules"] = r.host.modules;
    nlohmann::json params = nlohmann::json::object();
    for (const auto& [k, v] : r.host.params) params[k] = v;
    host["module_parameters"] = params;
    host["kvm_device_registered"] = r.host.misc_registered;
    host["kvm_device_numbers"] = r.host.misc_dev;
    j["host"] = host;
    j["opened"] = r.opened;
    j["device_blocker"] = blocker_key(r.device_blocker);
    j["device_reason"] = r.device_reason;
    if (r.api_version) j["api_version"] = *r.api_version;
    else j["api_version"] = nullptr;
    if (!r.api_error.empty()) j["api_error"] = r.api_error;
    if (r.device_blocker == Blocker::None) {
        nlohmann::json vt;
        if (r.vm_types.known) {
            vt["mask"] = r.vm_types.mask;
            nlohmann::json offered = nlohmann::json::object();
            for (const auto& t : known_vm_types())
                offered[t.key] = static_cast<bool>(r.vm_types.mask & (1ull << t.type));
            vt["offered"] = offered;
            vt["unknown_bits"] = r.vm_types.unknown_bits;
        } else {
            vt["error"] = r.vm_types.error;
        }
        j["cap_vm_types"] = vt;
        nlohmann::json eh;
        if (r.exit_hypercall.error.empty()) {
            eh["mask"] = r.exit_hypercall.mask;
            eh["hypercalls"] = r.exit_hypercall.hypercalls;
            eh["unknown_bits"] = r.exit_hypercall.unknown_bits;
        } else {
            eh["error"] = r.exit_hypercall.error;
        }
        j["cap_exit_hypercall"] = eh;
        j["cap_exit_hypercall_ret"] = hypercall_ret_json(r.hypercall_ret);
        nlohmann::json vms = nlohmann::json::array();
        for (const auto& vm : r.vms) {
            nlohmann::json v{{"type", vm.type}, {"label", vm.label}, {"created", vm.created}};
            if (vm.created) v["cap_exit_hypercall_ret"] = hypercall_ret_json(vm.hypercall_ret);
            else v["error"] = vm.create_error;
            vms.push_back(v);
        }
        j["vms"] = vms;
    }
    j["tdx"] = target_json(r.tdx);
    j["snp"] = target_json(r.snp);
    return j;
}

}  // namespace kvmsr

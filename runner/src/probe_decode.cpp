// Pure decoding of probe results: bits -> names, errnos -> reasons.
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

const char* target_hint(int vm_type) {
    switch (vm_type) {
        case kvmabi::kVmTdx:
            return "TDX VMs need an Intel host with TDX enabled in firmware and kvm_intel loaded with tdx=1";
        case kvmabi::kVmSnp:
            return "SNP VMs need an AMD host with SEV-SNP enabled in firmware and kvm_amd loaded with sev_snp=1";
        default:
            return "";
    }
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
        parts.push_back("KVM_HYPERCALL_RET_ERRNO: hypercall.ret accepts " + join(names, ", "));
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

namespace {

// Why the device itself is unusable, if it is.
std::pair<Blocker, std::string> device_blocker(const ProbeRaw& raw) {
    if (raw.open_err) {
        switch (raw.open_err) {
            case ENOENT:
            case ENODEV:
            case ENXIO:
                return {Blocker::NoDevice,
                        fmt::format("no {}: open() failed with {}; KVM is not loaded or this is not a KVM host",
                                    raw.device, errno_text(raw.open_err))};
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
                                 types.error, target_hint(vm_type));
        } else if (!offered) {
            blocker = Blocker::VmTypeNotOffered;
            reason = fmt::format("VM type not offered: KVM_CAP_VM_TYPES = {} ({}) does not include {} (type {}); {}",
                                 hex(types.mask), offered_labels(types), t.target, vm_type,
                                 target_hint(vm_type));
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
            "(KVM_HYPERCALL_RET_ERRNO not set)",
            t.target, hex(t.hypercall_ret.flags));
    } else {
        t.ours_can_run = true;
    }
    return t;
}

ProbeReport decode_probe(const ProbeRaw& raw) {
    ProbeReport r;
    r.device = raw.device;
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

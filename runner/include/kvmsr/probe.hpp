// Host probe: what /dev/kvm offers for TDX / SNP selftests, and what the
// host says around it: the CPU's flags (/proc/cpuinfo), the KVM modules
// (/sys/module) and whether KVM registered its device (/sys/class/misc/kvm).
//
// Two layers: probe_host() reads those files and does the real
// open()/ioctl() calls, returning the raw numbers, strings and errnos
// (ProbeRaw); decode_probe() and the decode_* helpers are pure functions
// that turn them into names and reasons.  Only the pure part carries logic,
// so it is what the unit tests cover.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace kvmsr {

// Numbers from include/uapi/linux/kvm.h and arch/x86/include/uapi/asm/kvm.h
// (Linux 7.3).  The project's own capability is not in released headers yet.
namespace kvmabi {
inline constexpr long kCapExitHypercall = 201;     // KVM_CAP_EXIT_HYPERCALL
inline constexpr long kCapVmTypes = 235;           // KVM_CAP_VM_TYPES
inline constexpr long kCapExitHypercallRet = 252;  // KVM_CAP_EXIT_HYPERCALL_RET (this project)
inline constexpr std::uint64_t kHypercallRetErrno = 1u << 0;  // KVM_X86_HYPERCALL_RET_ERRNO
inline constexpr int kHcMapGpaRange = 12;          // KVM_HC_MAP_GPA_RANGE
inline constexpr int kApiVersion = 12;             // KVM_API_VERSION

inline constexpr int kVmDefault = 0;      // KVM_X86_DEFAULT_VM
inline constexpr int kVmSwProtected = 1;  // KVM_X86_SW_PROTECTED_VM
inline constexpr int kVmSev = 2;          // KVM_X86_SEV_VM
inline constexpr int kVmSevEs = 3;        // KVM_X86_SEV_ES_VM
inline constexpr int kVmSnp = 4;          // KVM_X86_SNP_VM
inline constexpr int kVmTdx = 5;          // KVM_X86_TDX_VM
}  // namespace kvmabi

// Result of one ioctl: value when it succeeded, errno when it returned -1.
struct IoctlValue {
    long value = 0;
    int err = 0;
    bool ok() const { return err == 0; }
};

struct VmProbeRaw {
    int type = 0;
    int create_err = 0;         // errno of KVM_CREATE_VM, 0 when the VM was created
    IoctlValue hypercall_ret;   // KVM_CHECK_EXTENSION(KVM_CAP_EXIT_HYPERCALL_RET) on the VM fd
};

// Outside the device: read from /proc and /sys.
struct HostRaw {
    bool cpuinfo_read = false;       // /proc/cpuinfo could be read
    std::string cpu_model;           // the first "model name"
    std::vector<std::string> cpu_flags;  // the first "flags" line
    bool sysfs_read = false;         // /sys/module could be read
    struct Module {
        std::string name;            // kvm, kvm_intel, kvm_amd, kvm_pvm, ...
        std::vector<std::pair<std::string, std::string>> params;  // those that matter: tdx, sev, sev_es, sev_snp
    };
    std::vector<Module> modules;     // /sys/module/kvm* (loaded, or built in)
    bool misc_registered = false;    // /sys/class/misc/kvm: KVM registered /dev/kvm
    std::string misc_dev;            // its "major:minor"
};

// Reads /proc/cpuinfo, /sys/module and /sys/class/misc below `root` ("/" on
// a real host; a fake tree in the tests).  Never throws.
HostRaw read_host(const std::string& root = "/");

struct ProbeRaw {
    std::string device = "/dev/kvm";
    HostRaw host;
    int open_err = 0;           // errno of open(), 0 when opened
    IoctlValue api_version;     // KVM_GET_API_VERSION
    IoctlValue vm_types;        // KVM_CHECK_EXTENSION(KVM_CAP_VM_TYPES), system fd
    IoctlValue exit_hypercall;  // KVM_CHECK_EXTENSION(KVM_CAP_EXIT_HYPERCALL), system fd
    IoctlValue hypercall_ret;   // KVM_CHECK_EXTENSION(KVM_CAP_EXIT_HYPERCALL_RET), system fd
    std::vector<VmProbeRaw> vms;  // one per VM type the kernel offers
};

// Reads the host (below `root`) and asks the device with real ioctls.  Never
// throws; every failure is recorded as an errno.
ProbeRaw probe_host(const std::string& device = "/dev/kvm", const std::string& root = "/");

// ---- pure decoding -------------------------------------------------------

struct VmTypeName {
    int type;
    const char* key;    // "default", "sw_protected", "sev", "sev_es", "snp", "tdx"
    const char* label;  // "default", "software-protected", "SEV", "SEV-ES", "SNP", "TDX"
};
const std::vector<VmTypeName>& known_vm_types();
std::string vm_type_label(int type);

struct VmTypesInfo {
    bool known = false;          // the capability answered
    std::uint64_t mask = 0;
    std::vector<int> offered;    // known type numbers whose bit is set
    std::uint64_t unknown_bits = 0;
    std::string error;           // when the ioctl failed
};
VmTypesInfo decode_vm_types(const IoctlValue& v);

struct ExitHypercallInfo {
    std::uint64_t mask = 0;
    std::vector<std::string> hypercalls;  // e.g. "KVM_HC_MAP_GPA_RANGE"
    std::uint64_t unknown_bits = 0;
    std::string error;
};
ExitHypercallInfo decode_exit_hypercall(const IoctlValue& v);

struct AcceptedRet {
    int value;         // positive errno value, or 0
    const char* name;  // "0", "EAGAIN", ...
};

struct HypercallRetInfo {
    std::uint64_t flags = 0;
    bool supported = false;           // flags != 0
    bool errno_table = false;                  // KVM_X86_HYPERCALL_RET_ERRNO
    std::vector<AcceptedRet> accepted;  // values userspace may put in hypercall.ret
    std::uint64_t unknown_bits = 0;
    std::string error;                // ioctl failure
    std::string summary;              // one line for humans
};
HypercallRetInfo decode_hypercall_ret(const IoctlValue& v);

enum class Blocker {
    None,            // VM type offered and a VM of it was created
    NoDevice,        // /dev/kvm does not exist
    NoPermission,    // open() said EACCES / EPERM
    OpenFailed,      // any other open() error
    NotKvm,          // opened, but KVM_GET_API_VERSION failed or is not 12
    VmTypeNotOffered,
    VmCreateFailed,
};
const char* blocker_key(Blocker b);

struct TargetInfo {
    std::string target;  // "TDX" or "SNP"
    int vm_type = 0;
    Blocker blocker = Blocker::None;
    std::string reason;  // exact reason upstream tests cannot run, empty when they can
    bool vm_created = false;
    HypercallRetInfo hypercall_ret;  // from the VM fd, when a VM was created
    // Our own tests also need the new capability on this VM type.
    bool ours_can_run = false;
    std::string ours_reason;
};
TargetInfo decode_target(const ProbeRaw& raw, int vm_type);

struct VmReport {
    int type = 0;
    std::string label;
    bool created = false;
    std::string create_error;
    HypercallRetInfo hypercall_ret;
};

// What the host facts say, decoded.
struct HostInfo {
    bool cpuinfo_read = false, sysfs_read = false;
    std::string cpu_model;
    bool vmx = false, svm = false, hypervisor = false;
    bool sev = false, sev_es = false, sev_snp = false, tdx_host = false;  // CPU flags
    std::vector<std::string> modules;       // present in /sys/module
    bool kvm_module = false;                // "kvm" among them
    std::vector<std::string> vendor_modules;  // kvm_intel, kvm_amd, kvm_pvm, ... present
    std::vector<std::pair<std::string, std::string>> params;  // "kvm_amd.sev_snp" = "N"
    bool misc_registered = false;
    std::string misc_dev;
    std::vector<std::pair<std::string, std::string>> lines;  // for the text report: key, value
};
HostInfo decode_host(const HostRaw& h);

struct ProbeReport {
    std::string device;
    HostInfo host;
    bool opened = false;
    Blocker device_blocker = Blocker::None;
    std::string device_reason;
    std::optional<long> api_version;
    std::string api_error;
    VmTypesInfo vm_types;
    ExitHypercallInfo exit_hypercall;
    HypercallRetInfo hypercall_ret;  // system fd
    std::vector<VmReport> vms;
    TargetInfo tdx, snp;
};
ProbeReport decode_probe(const ProbeRaw& raw);

std::string format_probe_text(const ProbeReport& r);
nlohmann::json probe_to_json(const ProbeReport& r);

std::string errno_name(int err);  // "EACCES" etc, or "errno N"

}  // namespace kvmsr

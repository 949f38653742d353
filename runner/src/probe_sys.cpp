// The thin ioctl layer of the probe: open /dev/kvm and ask it.  No decoding here.
#include <dirent.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>

#include <linux/kvm.h>

#include "kvmsr/probe.hpp"

// Fallbacks for headers older than the capabilities (Debian 12 ships 6.1
// headers; KVM_CAP_EXIT_HYPERCALL_RET is this project's and not upstream yet).
#ifndef KVM_CAP_EXIT_HYPERCALL
#define KVM_CAP_EXIT_HYPERCALL 201
#endif
#ifndef KVM_CAP_VM_TYPES
#define KVM_CAP_VM_TYPES 235
#endif
#ifndef KVM_CAP_EXIT_HYPERCALL_RET
#define KVM_CAP_EXIT_HYPERCALL_RET 252
#endif

static_assert(KVM_CAP_EXIT_HYPERCALL == kvmsr::kvmabi::kCapExitHypercall);
static_assert(KVM_CAP_VM_TYPES == kvmsr::kvmabi::kCapVmTypes);
static_assert(KVM_CAP_EXIT_HYPERCALL_RET == kvmsr::kvmabi::kCapExitHypercallRet);

namespace kvmsr {

namespace {

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const { return fd_; }

private:
    int fd_;
};

IoctlValue do_ioctl(int fd, unsigned long req, long arg) {
    IoctlValue v;
    int r;
    do {
        r = ::ioctl(fd, req, arg);
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        v.err = errno;
    else
        v.value = r;
    return v;
}

}  // namespace

HostRaw read_host(const std::string& root) {
    HostRaw h;
    const std::string base = root == "/" ? std::string() : root;
    if (std::ifstream f(base + "/proc/cpuinfo"); f) {
        h.cpuinfo_read = true;
        std::string line;
        bool model = false, flags = false;
        while ((!model || !flags) && std::getline(f, line)) {
            auto colon = line.find(':');
            if (colon == std::string::npos) continue;
            std::string key = line.substr(0, colon);
            while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
            std::string value = line.substr(colon + 1);
            if (!value.empty() && value.front() == ' ') value.erase(0, 1);
            if (key == "model name" && !model) {
                h.cpu_model = value;
                model = true;
            } else if (key == "flags" && !flags) {
                std::istringstream ss(value);
                std::string flag;
                while (ss >> flag) h.cpu_flags.push_back(flag);
                flags = true;
            }
        }
    }
    const std::string modules = base + "/sys/module";
    if (DIR* d = ::opendir(modules.c_str())) {
        h.sysfs_read = true;
        std::vector<std::string> names;
        while (dirent* e = ::readdir(d)) {
            std::string n = e->d_name;
            if (n == "kvm" || n.rfind("kvm_", 0) == 0) names.push_back(n);
        }
        ::closedir(d);
        std::sort(names.begin(), names.end());
        for (const auto& n : names) {
            HostRaw::Module m;
            m.name = n;
            for (const char* p : {"tdx", "sev", "sev_es", "sev_snp"}) {
                std::ifstream pf(modules + "/" + n + "/parameters/" + p);
                std::string v;
                if (pf && std::getline(pf, v)) m.params.emplace_back(p, v);
            }
            h.modules.push_back(std::move(m));
        }
    }
    struct stat st;
    if (::stat((base + "/sys/class/misc/kvm").c_str(), &st) == 0) {
        h.misc_registered = true;
        std::ifstream df(base + "/sys/class/misc/kvm/dev");
        std::getline(df, h.misc_dev);
    }
    return h;
}

ProbeRaw probe_host(const std::string& device, const std::string& root) {
    ProbeRaw raw;
    raw.device = device;
    raw.host = read_host(root);
    Fd kvm(::open(device.c_str(), O_RDWR | O_CLOEXEC));
    if (kvm.get() < 0) {
        raw.open_err = errno;
        return raw;
    }
    raw.api_version = do_ioctl(kvm.get(), KVM_GET_API_VERSION, 0);
    if (!raw.api_version.ok()) return raw;  // not a KVM device; nothing else will answer
    raw.vm_types = do_ioctl(kvm.get(), KVM_CHECK_EXTENSION, KVM_CAP_VM_TYPES);
    raw.exit_hypercall = do_ioctl(kvm.get(), KVM_CHECK_EXTENSION, KVM_CAP_EXIT_HYPERCALL);
    raw.hypercall_ret = do_ioctl(kvm.get(), KVM_CHECK_EXTENSION, KVM_CAP_EXIT_HYPERCALL_RET);

    if (!raw.vm_types.ok()) return raw;
    const auto mask = static_cast<unsigned long>(raw.vm_types.value);
    for (int type = 0; type < 32; ++type) {
        if (!(mask & (1ul << type))) continue;
        VmProbeRaw vm;
        vm.type = type;
        IoctlValue created = do_ioctl(kvm.get(), KVM_CREATE_VM, type);
        if (!created.ok()) {
            vm.create_err = created.err;
        } else {
            Fd vmfd(static_cast<int>(created.value));
            vm.hypercall_ret = do_ioctl(vmfd.get(), KVM_CHECK_EXTENSION, KVM_CAP_EXIT_HYPERCALL_RET);
        }
        raw.vms.push_back(vm);
    }
    return raw;
}

}  // namespace kvmsr

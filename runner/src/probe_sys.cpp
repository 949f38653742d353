// The thin ioctl layer of the probe: open /dev/kvm and ask it.  No decoding here.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>

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

ProbeRaw probe_host(const std::string& device) {
    ProbeRaw raw;
    raw.device = device;
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

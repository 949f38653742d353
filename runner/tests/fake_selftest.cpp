// A misbehaving "selftest" for the runner's own tests.  It mimics what
// kselftest_harness.h does: fork a child per test and move the child into a
// process group of its own (setpgrp), so that killing the test's process
// group alone would miss it.
//
// Mode: argv[1], or else the part of argv[0]'s file name before "_test".
//   pgrp-hang    child in its own group spins forever; parent waits for it
//   pgrp-orphan  child in its own group sleeps forever; parent exits 0
//   daemon       double fork and setsid(): the grandchild, a daemon, sleeps
//                forever with the test's output still open; parent exits 0
//   daemon-closed  the same daemon with its stdin/stdout/stderr on /dev/null
// Every process appends its pid to ./pids (the working directory is the
// test's directory).
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace {

void record_pid() {
    if (std::FILE* f = std::fopen("pids", "a")) {
        std::fprintf(f, "%d\n", static_cast<int>(::getpid()));
        std::fclose(f);
    }
}

[[noreturn]] void hang(bool spin) {
    volatile unsigned long n = 0;
    for (;;) {
        if (spin) n = n + 1;
        else ::pause();
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::string mode;
    if (argc > 1) {
        mode = argv[1];
    } else {
        std::string base = argv[0];
        if (auto slash = base.rfind('/'); slash != std::string::npos) base = base.substr(slash + 1);
        mode = base.substr(0, base.find("_test"));
        for (char& c : mode)
            if (c == '_') c = '-';
    }
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    record_pid();
    std::printf("TAP version 13\n1..1\n");
    if (mode == "daemon" || mode == "daemon-closed") {
        pid_t first = ::fork();
        if (first < 0) return 1;
        if (first == 0) {
            ::setsid();
            pid_t second = ::fork();
            if (second != 0) ::_exit(second < 0 ? 1 : 0);
            record_pid();
            if (mode == "daemon-closed") {
                int null = ::open("/dev/null", O_RDWR);
                ::dup2(null, 0);
                ::dup2(null, 1);
                ::dup2(null, 2);
                if (null > 2) ::close(null);
            }
            hang(false);
        }
        int status = 0;
        ::waitpid(first, &status, 0);
        std::printf("ok 1 daemon started\n");
        return 0;
    }
    pid_t child = ::fork();
    if (child < 0) return 1;
    if (child == 0) {
        ::setpgid(0, 0);  // what the kselftest harness does with setpgrp()
        record_pid();
        hang(mode == "pgrp-hang");
    }
    if (mode == "pgrp-orphan") {
        std::printf("ok 1 parent done, child %d left behind\n", static_cast<int>(child));
        return 0;
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    std::printf("ok 1 child finished\n");
    return 0;
}

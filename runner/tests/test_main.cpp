// main() of the unit tests.  run_process() starts its supervisor as
// /proc/self/exe, which here is this test program: hand "__supervise" to the
// supervisor as kvm-selftest-runner's main() does.
#include <gtest/gtest.h>

#include <cstring>

#include "kvmsr/supervisor.hpp"

int main(int argc, char** argv) {
    if (argc > 1 && std::strcmp(argv[1], kvmsr::kSuperviseArg) == 0) return kvmsr::supervise_main(argc, argv);
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}

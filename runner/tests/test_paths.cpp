// The build's absolute paths, in this one file: every other test source
// compiles to the same object in any clone, so that ccache (with
// CCACHE_BASEDIR) hits in a fresh clone (scripts/runner-check.sh).
#include "test_helpers.hpp"

#ifndef KVMSR_FAKE_SELFTEST
#define KVMSR_FAKE_SELFTEST ""
#endif

namespace kvmsr::testing {

const char* const kTestData = KVMSR_TEST_DATA;
const char* const kXmllint = KVMSR_XMLLINT;
const char* const kBinary = KVMSR_BINARY;
const char* const kFakeSelftest = KVMSR_FAKE_SELFTEST;
const char* const kKtapArtifactsDir = KVMSR_KTAP_ARTIFACTS_DIR;

}  // namespace kvmsr::testing

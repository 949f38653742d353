// Reports: JUnit validated by xmllint against tests/data/junit.xsd, KTAP
// summary read back by the KTAP parser, JSON read back by nlohmann::json.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <pugixml.hpp>

#include "kvmsr/report.hpp"
#include "test_helpers.hpp"

namespace kvmsr {
namespace {

using testing::TempDir;

Outcome make(const std::string& name, Status s, const std::string& reason, std::string out = {},
             std::string err = {}) {
    Outcome o;
    o.name = name;
    o.path = "/kvm/" + name;
    o.status = s;
    o.reason = reason;
    o.ran = s != Status::Error;
    o.seconds = 0.25;
    o.out = std::move(out);
    o.err = std::move(err);
    o.ktap = parse_ktap(o.out);
    if (s == Status::Pass) o.exit_code = 0;
    if (s == Status::Skip) o.exit_code = 4;
    if (s == Status::Fail) o.exit_code = 1;
    return o;
}

RunReport sample() {
    RunReport r;
    r.directory = "/tmp/kvm";
    r.started = "2026-11-25T22:01:02";
    r.seconds = 3.5;
    r.hostname = "host";
    r.kernel = "7.3.4";
    r.jobs = 2;
    std::string garbage = "bytes: ";
    for (int c = 0; c < 256; ++c) garbage.push_back(static_cast<char>(c));
    garbage += "\nutf8: \xE2\x9C\x93 bad: \xC3\x28 \xED\xA0\x80 \xEF\xBF\xBF <&> ]]> \x1b[31mred\x1b[0m\n";
    r.outcomes = {
        make("x86/snp_psc_test", Status::Skip, "not built: /tmp/kvm/x86/snp_psc_test does not exist"),
        make("set_memory_region_test", Status::Pass, "",
             "TAP version 13\n1..2\nok 1 a\nok 2 b # SKIP no <foo> & bar\n# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:1 error:0\n"),
        make("x86/sev_smoke_test", Status::Skip, "Requirement not met: kvm_cpu_has(X86_FEATURE_SEV)",
             "1..0 # SKIP - Requirement not met: kvm_cpu_has(X86_FEATURE_SEV)\n"),
        make("x86/garbage", Status::Fail, "exit code 1 (KSFT_FAIL): " + garbage.substr(0, 40), garbage, garbage),
        make("x86/hang", Status::Timeout, "timed out after 1.0 s; process group killed"),
        make("x86/crash", Status::Crash, "killed by SIGSEGV (11)"),
        make("x86/noexec", Status::Error, "not executable: /tmp/kvm/x86/noexec (no execute permission)"),
    };
    r.outcomes[5].signal = SIGSEGV;
    r.outcomes[3].notes = {"output truncated: stdout 1 bytes"};
    return r;
}

TEST(JUnit, ValidatesAgainstSchemaWithXmllint) {
    TempDir d;
    auto xml = d / "junit.xml";
    testing::write_file(xml, to_junit(sample()));
    bool ok = false;
    auto msg = testing::validate_junit(xml, ok);
    EXPECT_TRUE(ok) << msg;
}

TEST(JUnit, SchemaRejectsBrokenJUnit) {
    // The validation above means something only if xmllint can say no.
    TempDir d;
    auto xml = d / "bad.xml";
    testing::write_file(xml,
                        "<testsuites><testsuite name=\"k\" tests=\"x\"><testcase name=\"a\">"
                        "<system-out/><failure/></testcase></testsuite></testsuites>");
    bool ok = true;
    auto msg = testing::validate_junit(xml, ok);
    EXPECT_FALSE(ok) << msg;
}

TEST(JUnit, CountsAndElementsMatchOutcomes) {
    pugi::xml_document doc;
    auto text = to_junit(sample());
    ASSERT_TRUE(doc.load_string(text.c_str()));
    auto suites = doc.child("testsuites");
    EXPECT_EQ(suites.attribute("tests").as_int(), 7);
    EXPECT_EQ(suites.attribute("failures").as_int(), 3);  // fail + timeout + crash
    EXPECT_EQ(suites.attribute("errors").as_int(), 1);
    EXPECT_EQ(suites.attribute("skipped").as_int(), 2);
    auto suite = suites.child("testsuite");
    EXPECT_STREQ(suite.attribute("name").value(), "kvm");
    std::map<std::string, pugi::xml_node> cases;
    for (auto tc : suite.children("testcase")) cases[tc.attribute("name").value()] = tc;
    ASSERT_EQ(cases.size(), 7u);
    EXPECT_TRUE(cases["x86/snp_psc_test"].child("skipped"));
    EXPECT_STREQ(cases["x86/snp_psc_test"].attribute("classname").value(), "kvm.x86");
    EXPECT_STREQ(cases["set_memory_region_test"].attribute("classname").value(), "kvm");
    EXPECT_FALSE(cases["set_memory_region_test"].child("failure"));
    EXPECT_FALSE(cases["set_memory_region_test"].child("skipped"));
    EXPECT_STREQ(cases["x86/sev_smoke_test"].child("skipped").attribute("message").value(),
                 "Requirement not met: kvm_cpu_has(X86_FEATURE_SEV)");
    EXPECT_STREQ(cases["x86/hang"].child("failure").attribute("type").value(), "TIMEOUT");
    EXPECT_STREQ(cases["x86/crash"].child("failure").attribute("type").value(), "CRASH");
    EXPECT_TRUE(cases["x86/noexec"].child("error"));
    EXPECT_NE(std::string(cases["set_memory_region_test"].child("system-out").text().get()).find("no <foo> & bar"),
              std::string::npos);
}

TEST(XmlSafe, ReplacesWhatXmlForbids) {
    EXPECT_EQ(xml_safe("plain\ttext\n"), "plain\ttext\n");
    EXPECT_EQ(xml_safe("\xE2\x9C\x93"), "\xE2\x9C\x93");
    EXPECT_EQ(xml_safe(std::string("a\0b", 3)), "a\xEF\xBF\xBD" "b");
    EXPECT_EQ(xml_safe("\x1b"), "\xEF\xBF\xBD");
    EXPECT_EQ(xml_safe("\xC3\x28"), "\xEF\xBF\xBD(");           // bad continuation
    EXPECT_EQ(xml_safe("\xC0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong
    EXPECT_EQ(xml_safe("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
    EXPECT_EQ(xml_safe("\xE2\x9C"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // cut sequence
}

TEST(DisplaySafe, OneLineOfPrintableUtf8) {
    EXPECT_EQ(display_safe("plain \xE2\x9C\x93"), "plain \xE2\x9C\x93");
    EXPECT_EQ(display_safe("a\tb"), "a b");
    EXPECT_EQ(display_safe("a\nb\r"), "a\xEF\xBF\xBD" "b\xEF\xBF\xBD");
    EXPECT_EQ(display_safe("\x1b[31m"), "\xEF\xBF\xBD[31m");
    EXPECT_EQ(display_safe(std::string("\0\x07\x7f", 3)), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    EXPECT_EQ(display_safe("\xC2\x9B"), "\xEF\xBF\xBD");               // C1 CSI
    EXPECT_EQ(display_safe("\xE2\x80\xAE"), "\xEF\xBF\xBD");           // right-to-left override
    EXPECT_EQ(display_safe("\xff\xfe"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // invalid UTF-8
    EXPECT_EQ(display_width("a\xEF\xBF\xBD" "b"), 3u);
}

TEST(KtapSummary, ReadsBackWithTheParser) {
    auto r = sample();
    auto text = to_ktap(r);
    testing::keep_ktap("KtapSummary.ReadsBackWithTheParser", text);
    auto doc = parse_ktap(text);
    EXPECT_EQ(doc.version, 1);
    EXPECT_TRUE(doc.ktap);
    EXPECT_EQ(doc.plan, 7);
    ASSERT_EQ(doc.results.size(), 7u);
    EXPECT_EQ(doc.malformed_lines, 0u);
    EXPECT_EQ(doc.unterminated_groups, 0u);
    EXPECT_TRUE(doc.results[0].skipped());
    EXPECT_EQ(doc.results[0].description, "x86/snp_psc_test");
    EXPECT_EQ(doc.results[0].reason, "not built: /tmp/kvm/x86/snp_psc_test does not exist");
    // The test's own TAP comes along as subtests.
    ASSERT_EQ(doc.results[1].subtests.size(), 2u);
    EXPECT_TRUE(doc.results[1].subtests[1].skipped());
    EXPECT_EQ(doc.results[1].subtests[1].reason, "no <foo> & bar");
    EXPECT_FALSE(doc.results[1].failed());
    EXPECT_TRUE(doc.results[3].failed());
    EXPECT_TRUE(doc.results[4].failed());
    EXPECT_TRUE(doc.results[6].failed());
    ASSERT_TRUE(doc.totals);
    EXPECT_EQ(doc.totals->pass, 1);
    EXPECT_EQ(doc.totals->skip, 2);
    EXPECT_EQ(doc.totals->fail, 3);
    EXPECT_EQ(doc.totals->error, 1);
}

TEST(JsonReport, ParsesBackAndAgrees) {
    auto r = sample();
    auto text = to_json(r).dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
    auto j = nlohmann::json::parse(text);  // throws on invalid UTF-8 or syntax
    EXPECT_EQ(j["summary"]["total"], 7);
    EXPECT_EQ(j["summary"]["failures"], 4);
    EXPECT_EQ(j["success"], false);
    EXPECT_EQ(j["tests"][1]["status"], "PASS");
    EXPECT_EQ(j["tests"][1]["ktap"]["counts"]["skip"], 1);
    EXPECT_EQ(j["tests"][1]["ktap"]["totals"]["pass"], 1);
    EXPECT_EQ(j["tests"][5]["signal"], SIGSEGV);
    EXPECT_TRUE(j["tests"][6]["exit_code"].is_null());
}

TEST(Table, ListsEveryTestAndTheReasons) {
    auto t = format_table(sample());
    for (const char* n : {"x86/snp_psc_test", "set_memory_region_test", "x86/hang", "x86/noexec"})
        EXPECT_NE(t.find(n), std::string::npos) << n;
    EXPECT_NE(t.find("Skipped (2):"), std::string::npos);
    EXPECT_NE(t.find("Failed (4):"), std::string::npos);
    EXPECT_NE(t.find("Summary: 7 tests: 1 passed, 2 skipped, 4 failed"), std::string::npos);
    EXPECT_NE(t.find("TIMEOUT"), std::string::npos);
}

}  // namespace
}  // namespace kvmsr

#include "kvmsr/ktap.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

namespace kvmsr {

namespace {

bool starts_with_icase(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(s[i])) !=
            std::tolower(static_cast<unsigned char>(prefix[i])))
            return false;
    }
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

// Reads a non-negative decimal number at the start of s; advances s.
std::optional<long> take_number(std::string_view& s) {
    std::size_t n = 0;
    while (n < s.size() && std::isdigit(static_cast<unsigned char>(s[n]))) ++n;
    if (n == 0 || n > 18) return std::nullopt;
    long v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + n, v);
    if (ec != std::errc{}) return std::nullopt;
    s.remove_prefix(n);
    return v;
}

struct Line {
    std::size_t indent = 0;
    std::string_view body;  // without indentation and trailing CR
};

Line split_indent(std::string_view raw) {
    Line l;
    std::size_t i = 0;
    for (; i < raw.size(); ++i) {
        if (raw[i] == ' ')
            l.indent += 1;
        else if (raw[i] == '\t')
            l.indent = (l.indent / 8 + 1) * 8;
        else
            break;
    }
    raw.remove_prefix(i);
    while (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    l.body = raw;
    return l;
}

// Splits "description # DIRECTIVE data".  A directive is a known keyword
// after an unescaped '#' ("ok 7 case #7 # SKIP why": the description is
// "case #7", as TAP readers and kunit_parser take it).  Without one, the
// description ends at the first unescaped '#' (KTAP allows none in it; TAP
// 13 escapes one as "\#") and what follows is diagnostic data ("ok 5 check
// # rcode=0").
void split_directive(std::string_view rest, KtapResult& r) {
    struct Kw {
        std::string_view word;
        Directive d;
        bool prefix_only;  // TAP: any word starting with "skip" is SKIP
    };
    static constexpr Kw kws[] = {
        {"skip", Directive::Skip, true},   {"todo", Directive::Todo, false},
        {"xfail", Directive::Xfail, false}, {"xpass", Directive::Xpass, false},
        {"error", Directive::Error, false}, {"timeout", Directive::Timeout, false},
    };
    std::size_t first_hash = std::string_view::npos;
    for (std::size_t pos = 0; pos < rest.size(); ++pos) {
        if (rest[pos] == '\\' && pos + 1 < rest.size()) {
            ++pos;  // an escaped character, "\#" or "\\"
            continue;
        }
        if (rest[pos] != '#') continue;
        if (first_hash == std::string_view::npos) first_hash = pos;
        std::string_view after = trim(rest.substr(pos + 1));
        for (const auto& kw : kws) {
            if (!starts_with_icase(after, kw.word)) continue;
            std::size_t wend = kw.word.size();
            if (kw.prefix_only) {
                while (wend < after.size() && std::isalpha(static_cast<unsigned char>(after[wend]))) ++wend;
            } else if (wend < after.size() && std::isalnum(static_cast<unsigned char>(after[wend]))) {
                continue;
            }
            r.directive = kw.d;
            std::string_view data = trim(after.substr(wend));
            if (data.starts_with(":")) data = trim(data.substr(1));
            if (data.starts_with("- ")) data.remove_prefix(2);
            else if (data == "-") data = {};
            r.reason = std::string(trim(data));
            rest = rest.substr(0, pos);
            first_hash = std::string_view::npos;
            goto described;
        }
    }
    if (first_hash != std::string_view::npos) {
        r.reason = std::string(trim(rest.substr(first_hash + 1)));
        rest = rest.substr(0, first_hash);
    }
described:
    std::string_view desc = trim(rest);
    if (desc.starts_with("- ")) desc.remove_prefix(2);
    else if (desc == "-") desc = {};
    r.description.clear();
    r.description.reserve(desc.size());
    for (std::size_t i = 0; i < desc.size(); ++i) {
        if (desc[i] == '\\' && i + 1 < desc.size() && (desc[i + 1] == '#' || desc[i + 1] == '\\')) {
            r.description.push_back(desc[i + 1]);
            ++i;
        } else {
            r.description.push_back(desc[i]);
        }
    }
}

enum class Kind { Text, Version, Plan, Result, Bail, Totals, SubtestName, Diag, Malformed };

struct Parsed {
    Kind kind = Kind::Text;
    bool ktap = false;
    int version = 0;
    long plan = 0;
    bool plan_skip = false;
    std::string plan_reason;
    KtapResult result;
    std::string text;  // bail reason, subtest name, diagnostic
    KtapTotals totals;
};

Parsed classify_line(std::string_view b) {
    Parsed p;
    if (b.starts_with("KTAP version ") || b.starts_with("TAP version ")) {
        p.ktap = b.front() == 'K';
        std::string_view v = b.substr(p.ktap ? 13 : 12);
        v = trim(v);
        auto n = take_number(v);
        if (!n || !trim(v).empty() || *n > 1000) {
            p.kind = Kind::Malformed;
            return p;
        }
        p.kind = Kind::Version;
        p.version = static_cast<int>(*n);
        return p;
    }
    if (b.starts_with("1..")) {
        std::string_view v = b.substr(3);
        auto n = take_number(v);
        if (!n) {
            p.kind = Kind::Malformed;
            return p;
        }
        v = trim(v);
        if (!v.empty() && v.front() != '#') {
            p.kind = Kind::Malformed;
            return p;
        }
        p.kind = Kind::Plan;
        p.plan = *n;
        if (!v.empty()) {
            std::string_view d = trim(v.substr(1));
            if (starts_with_icase(d, "skip")) {
                p.plan_skip = true;
                std::size_t w = 4;
                while (w < d.size() && std::isalpha(static_cast<unsigned char>(d[w]))) ++w;
                std::string_view reason = trim(d.substr(w));
                if (reason.starts_with(":")) reason = trim(reason.substr(1));
                if (reason.starts_with("- ")) reason.remove_prefix(2);
                p.plan_reason = std::string(trim(reason));
            }
        }
        return p;
    }
    bool ok = false;
    bool is_result = false;
    std::string_view rest;
    if (b.starts_with("not ok") && (b.size() == 6 || b[6] == ' ' || b[6] == '\t')) {
        is_result = true;
        rest = b.substr(6);
    } else if (b.starts_with("ok") && (b.size() == 2 || b[2] == ' ' || b[2] == '\t')) {
        is_result = true;
        ok = true;
        rest = b.substr(2);
    }
    if (is_result) {
        p.kind = Kind::Result;
        p.result.ok = ok;
        rest = trim(rest);
        std::string_view num = rest;
        if (auto n = take_number(num)) {
            if (num.empty() || num.front() == ' ' || num.front() == '\t' || num.front() == '#') {
                p.result.number = n;
                rest = num;
            }
        }
        split_directive(rest, p.result);
        return p;
    }
    if (starts_with_icase(b, "bail out!")) {
        p.kind = Kind::Bail;
        p.text = std::string(trim(b.substr(9)));
        return p;
    }
    if (b.starts_with("#")) {
        std::string_view d = trim(b.substr(1));
        if (d.starts_with("Totals:")) {
            if (auto t = parse_totals_line(b)) {
                p.kind = Kind::Totals;
                p.totals = *t;
                return p;
            }
            p.kind = Kind::Malformed;
            return p;
        }
        if (d.starts_with("Subtest:")) {
            p.kind = Kind::SubtestName;
            p.text = std::string(trim(d.substr(8)));
            return p;
        }
        p.kind = Kind::Diag;
        p.text = std::string(d);
        return p;
    }
    return p;
}

// Calls f(indent, body) for every line of text.
template <typename F>
void for_each_line(std::string_view text, F&& f) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        Line l = split_indent(text.substr(pos, nl - pos));
        if (!f(l)) return;
        pos = nl + 1;
    }
}

bool has_version_line(std::string_view text) {
    bool found = false;
    for_each_line(text, [&](const Line& l) {
        found = l.indent == 0 && (l.body.starts_with("KTAP version ") || l.body.starts_with("TAP version ")) &&
                classify_line(l.body).kind == Kind::Version;
        return !found;
    });
    return found;
}

bool has_top_level_plan(std::string_view text) {
    bool found = false;
    for_each_line(text, [&](const Line& l) {
        found = l.indent == 0 && l.body.starts_with("1..") && classify_line(l.body).kind == Kind::Plan;
        return !found;
    });
    return found;
}

struct Frame {
    std::size_t indent = 0;
    std::vector<KtapResult> results;
    std::optional<long> plan;
    std::vector<std::string> pending_diag;
    std::string name;  // from "# Subtest:"
};

constexpr std::size_t kMaxDiagPerResult = 64;
constexpr std::size_t kMaxDepth = 32;

// Count one finished result by its directive (or pass/fail without one).
void tally(const KtapResult& r, KtapCounts& c) {
    switch (r.directive) {
        case Directive::Skip: ++c.skip; break;
        case Directive::Todo: ++c.todo; break;
        case Directive::Xfail: ++c.xfail; break;
        case Directive::Xpass: ++c.xpass; break;
        case Directive::Error: ++c.error; break;
        case Directive::Timeout: ++c.fail; break;
        case Directive::None:
            if (r.ok) ++c.pass; else ++c.fail;
            break;
    }
}

void count_leaves(const std::vector<KtapResult>& rs, KtapCounts& c) {
    for (const auto& r : rs) {
        if (!r.subtests.empty()) {
            count_leaves(r.subtests, c);
            if (r.unterminated) ++c.fail;
            continue;
        }
        tally(r, c);
    }
}

std::optional<std::string> find_failure(const std::vector<KtapResult>& rs, const std::string& prefix) {
    for (const auto& r : rs) {
        if (!r.failed()) continue;
        // Formatted, not `"#" + std::to_string(n)`: GCC 12 at -O3 takes
        // the inlined std::string replace of a short literal for an
        // overlapping memcpy (-Wrestrict, a false positive, GCC bug 105651).
        std::string name = r.description.empty() && r.number ? fmt::format("#{}", *r.number) : r.description;
        std::string where = prefix.empty() ? name : prefix + "/" + name;
        if (auto sub = find_failure(r.subtests, where)) return sub;
        std::string msg = "not ok " + where;
        if (r.directive == Directive::Error) msg += " (error" + (r.reason.empty() ? std::string() : ": " + r.reason) + ")";
        else if (r.unterminated) msg += " (no result line: output ended inside this subtest)";
        else if (r.directive == Directive::None && !r.reason.empty()) msg += " (" + r.reason + ")";
        return msg;
    }
    return std::nullopt;
}

std::optional<std::string> find_skip(const std::vector<KtapResult>& rs) {
    for (const auto& r : rs) {
        if (r.directive == Directive::Skip) {
            if (!r.reason.empty()) return r.reason;
            if (!r.description.empty()) return r.description;
        }
        if (auto s = find_skip(r.subtests)) return s;
    }
    return std::nullopt;
}

}  // namespace

std::string_view directive_name(Directive d) {
    switch (d) {
        case Directive::None: return "";
        case Directive::Skip: return "SKIP";
        case Directive::Todo: return "TODO";
        case Directive::Xfail: return "XFAIL";
        case Directive::Xpass: return "XPASS";
        case Directive::Error: return "ERROR";
        case Directive::Timeout: return "TIMEOUT";
    }
    return "";
}

bool KtapResult::failed() const {
    if (unterminated) return true;
    if (directive == Directive::Error || directive == Directive::Timeout) return true;
    if (directive == Directive::Skip || directive == Directive::Todo) return false;
    return !ok;
}

std::optional<KtapTotals> parse_totals_line(std::string_view line) {
    line = trim(line);
    if (!line.starts_with("#")) return std::nullopt;
    line = trim(line.substr(1));
    if (!line.starts_with("Totals:")) return std::nullopt;
    line = trim(line.substr(7));
    KtapTotals t;
    int seen = 0;
    while (!line.empty()) {
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) return std::nullopt;
        std::string_view key = line.substr(0, colon);
        line.remove_prefix(colon + 1);
        auto n = take_number(line);
        if (!n) return std::nullopt;
        long* slot = nullptr;
        if (key == "pass") slot = &t.pass;
        else if (key == "fail") slot = &t.fail;
        else if (key == "xfail") slot = &t.xfail;
        else if (key == "xpass") slot = &t.xpass;
        else if (key == "skip") slot = &t.skip;
        else if (key == "error") slot = &t.error;
        if (slot) {
            *slot = *n;
            ++seen;
        }
        line = trim(line);
    }
    if (seen == 0) return std::nullopt;
    return t;
}

KtapDoc parse_ktap(std::string_view text) {
    KtapDoc doc;
    std::vector<Frame> stack;
    stack.push_back(Frame{});
    std::string pending_name;
    // A result line counts only inside a TAP document: after a version line,
    // a plan or a "# Subtest:" line.  A test's free text that happens to start
    // with "ok " or "not ok " ("not ok to use hugepages, skipping") is text.
    // TAP without a version line but with a plan (even a trailing one, as
    // TAP 13 allows) is a document from its first line.
    bool seen_header = !has_version_line(text) && has_top_level_plan(text);

    // Closes the top frame; returns it.
    auto pop = [&]() {
        Frame f = std::move(stack.back());
        stack.pop_back();
        return f;
    };
    // Turns a frame nobody closed into a synthetic, unterminated result in its parent.
    auto orphan = [&](Frame&& f) {
        if (f.results.empty() && f.name.empty()) return;
        KtapResult r;
        r.ok = false;
        r.description = f.name.empty() ? std::string("(unnamed subtest group)") : f.name;
        r.subtests = std::move(f.results);
        r.subtest_plan = f.plan;
        r.unterminated = true;
        r.diagnostics = std::move(f.pending_diag);
        ++doc.unterminated_groups;
        stack.back().results.push_back(std::move(r));
    };
    // Makes the top of the stack be a frame at exactly `indent`.
    auto enter = [&](std::size_t indent) {
        while (stack.size() > 1 && stack.back().indent > indent) orphan(pop());
        if (stack.back().indent < indent && stack.size() < kMaxDepth) {
            Frame f;
            f.indent = indent;
            f.name = std::move(pending_name);
            pending_name.clear();
            stack.push_back(std::move(f));
        }
    };

    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t nl = text.find('\n', pos);
        std::string_view raw;
        if (nl == std::string_view::npos) {
            raw = text.substr(pos);
            pos = text.size();
            doc.last_line_incomplete = true;
        } else {
            raw = text.substr(pos, nl - pos);
            pos = nl + 1;
        }
        ++doc.lines;
        Line line = split_indent(raw);
        if (line.body.empty()) continue;
        Parsed p = classify_line(line.body);
        // Before any header, plan or "# Subtest:", an "ok ..." line (indented
        // or not) is free text.
        if (!seen_header && (p.kind == Kind::Result || (line.indent > 0 && p.kind != Kind::Text &&
                                                        p.kind != Kind::Diag && p.kind != Kind::Bail)))
            p.kind = Kind::Text;
        if (p.kind == Kind::Version || p.kind == Kind::Plan || p.kind == Kind::SubtestName) seen_header = true;
        switch (p.kind) {
            case Kind::Text:
                break;
            case Kind::Malformed:
                ++doc.malformed_lines;
                break;
            case Kind::Version:
                ++doc.tap_lines;
                if (line.indent == 0 && stack.size() == 1 && !doc.version) {
                    doc.version = p.version;
                    doc.ktap = p.ktap;
                } else {
                    enter(line.indent);
                }
                break;
            case Kind::SubtestName:
                ++doc.tap_lines;
                if (line.indent > stack.back().indent) {
                    pending_name = p.text;
                    enter(line.indent);
                } else if (stack.size() > 1 && line.indent == stack.back().indent &&
                           stack.back().name.empty() && stack.back().results.empty()) {
                    stack.back().name = p.text;
                } else {
                    pending_name = p.text;
                }
                break;
            case Kind::Plan:
                ++doc.tap_lines;
                enter(line.indent);
                if (stack.size() == 1) {
                    if (!doc.plan) {
                        doc.plan = p.plan;
                        doc.plan_skip = p.plan_skip;
                        doc.plan_skip_reason = p.plan_reason;
                    }
                } else if (!stack.back().plan) {
                    stack.back().plan = p.plan;
                }
                break;
            case Kind::Result: {
                ++doc.tap_lines;
                KtapResult r = std::move(p.result);
                // Subtest frames deeper than this line belong to it.
                if (stack.size() > 1 && stack.back().indent > line.indent) {
                    while (stack.size() > 2 && stack[stack.size() - 2].indent > line.indent)
                        orphan(pop());
                    Frame f = pop();
                    r.subtests = std::move(f.results);
                    r.subtest_plan = f.plan;
                    for (auto& d : f.pending_diag)
                        if (r.diagnostics.size() < kMaxDiagPerResult) r.diagnostics.push_back(std::move(d));
                }
                enter(line.indent);
                Frame& top = stack.back();
                for (auto& d : top.pending_diag)
                    if (r.diagnostics.size() < kMaxDiagPerResult) r.diagnostics.push_back(std::move(d));
                top.pending_diag.clear();
                top.results.push_back(std::move(r));
                break;
            }
            case Kind::Bail:
                ++doc.tap_lines;
                if (!doc.bailed_out) {
                    doc.bailed_out = true;
                    doc.bail_reason = p.text;
                }
                break;
            case Kind::Totals:
                ++doc.tap_lines;
                if (line.indent == 0) doc.totals = p.totals;
                break;
            case Kind::Diag: {
                // A diagnostic belongs to the deepest open group it is not
                // indented less than: "# why" before a parent's result line,
                // after its subtests, is the parent's.
                std::size_t k = stack.size() - 1;
                while (k > 0 && stack[k].indent > line.indent) --k;
                Frame& f = stack[k];
                if (f.pending_diag.size() < kMaxDiagPerResult) f.pending_diag.push_back(std::move(p.text));
                break;
            }
        }
    }
    while (stack.size() > 1) orphan(pop());
    doc.results = std::move(stack.front().results);
    return doc;
}

void TapStreamCounter::feed(const char* data, std::size_t n) {
    constexpr std::size_t kKeep = 4096;
    while (n > 0) {
        const void* nl = std::memchr(data, '\n', n);
        const std::size_t len = nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - data) : n;
        if (line_.size() < kKeep) line_.append(data, std::min(len, kKeep - line_.size()));
        if (!nl) return;
        line_done();
        data += len + 1;
        n -= len + 1;
    }
}

void TapStreamCounter::finish() {
    if (!line_.empty()) line_done();
}

void TapStreamCounter::line_done() {
    const Line l = split_indent(line_);
    if (l.indent == 0 && !l.body.empty()) {
        Parsed p = classify_line(l.body);
        switch (p.kind) {
            case Kind::Version:
                header_ = true;
                version_line = true;
                break;
            case Kind::Plan:
                header_ = true;
                if (!plan) plan = p.plan;
                break;
            case Kind::SubtestName: header_ = true; break;
            case Kind::Result:
                if (!header_) {
                    ++results_before_header;
                    if (p.result.failed() && failures_before_header++ == 0)
                        first_failure_before_header = std::string(l.body.substr(0, 200));
                    break;
                }
                ++results;
                if (p.result.failed()) {
                    if (failures == 0) first_failure = std::string(l.body.substr(0, 200));
                    ++failures;
                }
                break;
            default: break;
        }
    } else if (!l.body.empty() && classify_line(l.body).kind == Kind::SubtestName) {
        header_ = true;
    }
    line_.clear();
}

KtapCounts KtapDoc::leaf_counts() const {
    KtapCounts c;
    count_leaves(results, c);
    return c;
}

KtapCounts KtapDoc::top_counts() const {
    KtapCounts c;
    for (const auto& r : results) {
        if (r.unterminated) { ++c.fail; continue; }
        tally(r, c);
    }
    return c;
}

std::optional<std::string> KtapDoc::first_failure() const {
    return find_failure(results, "");
}

std::optional<std::string> KtapDoc::first_skip_reason() const {
    if (plan_skip && !plan_skip_reason.empty()) return plan_skip_reason;
    return find_skip(results);
}

}  // namespace kvmsr

#include "kvmsr/engine.hpp"

#include "kvmsr/report.hpp"

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>

namespace kvmsr {

namespace {

using Clock = std::chrono::steady_clock;

class Progress {
public:
    Progress(const RunOptions& opt, std::size_t total) : opt_(opt), total_(total), t0_(Clock::now()) {}

    void started(std::size_t i, const std::string& name, std::chrono::milliseconds timeout) {
        std::lock_guard lk(mu_);
        running_[i] = Running{name, Clock::now(), timeout, 1};
        redraw_locked();
    }

    void finished(std::size_t i, const Outcome& o) {
        std::lock_guard lk(mu_);
        running_.erase(i);
        ++done_;
        switch (o.status) {
            case Status::Pass:
            case Status::Xfail: ++pass_; break;
            case Status::Skip: ++skip_; break;
            default: ++fail_; break;
        }
        if (opt_.quiet) return;
        clear_locked();
        std::string line =
            fmt::format("[{}/{}] {:<7} {}", done_, total_, status_name(o.status), display_safe(o.name));
        if (o.ran) line += fmt::format(" ({:.2f}s)", o.seconds);
        if (o.status != Status::Pass && !o.reason.empty()) line += ": " + clip_display(display_safe(o.reason), 120);
        std::fprintf(opt_.progress, "%s\n", line.c_str());
        redraw_locked();
        std::fflush(opt_.progress);
    }

    // Called every half second: the live line, and the heartbeat of long tests.
    void tick() {
        std::lock_guard lk(mu_);
        if (!opt_.quiet && opt_.heartbeat.count() > 0) {
            const auto now = Clock::now();
            for (auto& [i, r] : running_) {
                if (now - r.since < opt_.heartbeat * r.beats) continue;
                ++r.beats;
                clear_locked();
                const auto secs = std::chrono::duration_cast<std::chrono::seconds>(now - r.since).count();
                std::fprintf(opt_.progress, "[heartbeat] %s: still running after %lld s (timeout %lld s)\n",
                             display_safe(r.name).c_str(), static_cast<long long>(secs),
                             static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(r.timeout).count()));
                std::fflush(opt_.progress);
            }
        }
        redraw_locked();
    }

    void close() {
        std::lock_guard lk(mu_);
        clear_locked();
        std::fflush(opt_.progress);
    }

private:
    struct Running {
        std::string name;
        Clock::time_point since;
        std::chrono::milliseconds timeout;
        long beats;  // heartbeats printed + 1
    };

    void clear_locked() {
        if (opt_.live && !opt_.quiet && drawn_) {
            std::fputs("\r\033[K", opt_.progress);
            drawn_ = false;
        }
    }
    void redraw_locked() {
        if (!opt_.live || opt_.quiet) return;
        double secs = std::chrono::duration<double>(Clock::now() - t0_).count();
        std::string names;
        for (const auto& [i, r] : running_) names += (names.empty() ? "" : ", ") + display_safe(r.name);
        names = clip_display(names, 60);
        std::string line = fmt::format("[{}/{}] pass {} skip {} fail {} | {:.0f}s | running: {}", done_, total_,
                                       pass_, skip_, fail_, secs, names.empty() ? "-" : names);
        std::fprintf(opt_.progress, "\r\033[K%s", line.c_str());
        std::fflush(opt_.progress);
        drawn_ = true;
    }

    const RunOptions& opt_;
    std::size_t total_;
    Clock::time_point t0_;
    std::mutex mu_;
    std::map<std::size_t, Running> running_;
    std::size_t done_ = 0, pass_ = 0, skip_ = 0, fail_ = 0;
    bool drawn_ = false;
};

// Writes `text` to `path`, creating its directories; empty string or the error.
std::string write_output_file(const std::string& path, const std::string& text) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (f) f << text;
    if (f) f.close();
    if (!f) return fmt::format("cannot write {}: {}", path, std::strerror(errno));
    return {};
}

}  // namespace

std::string output_path(const std::string& dir, const std::string& name, const char* ext) {
    std::string out = dir;
    std::size_t pos = 0;
    bool any = false;
    while (pos <= name.size()) {
        std::size_t slash = name.find('/', pos);
        if (slash == std::string::npos) slash = name.size();
        std::string part = name.substr(pos, slash - pos);
        pos = slash + 1;
        if (part.empty()) continue;  // leading, doubled or trailing '/'
        if (part == "." || part == "..") part = fmt::format("_{}_", part.substr(1));  // not "_" + ...: GCC 12 -Wrestrict
        for (char& c : part) {
            const unsigned char u = static_cast<unsigned char>(c);
            if (u < 0x20 || u == 0x7f) c = '_';
        }
        out += "/" + part;
        any = true;
    }
    if (!any) out += "/_";
    return out + ext;
}

std::vector<Outcome> run_tests(const std::vector<PlannedTest>& plan, const RunOptions& opt,
                               const std::atomic<bool>* cancel, RunProblems* problems) {
    std::mutex problems_mu;
    std::vector<Outcome> outcomes(plan.size());
    std::vector<char> have(plan.size(), 0);  // not vector<bool>: written from several threads
    Progress progress(opt, plan.size());
    std::atomic<std::size_t> next{0};
    const auto env = clean_environment(opt.env_extra);

    auto worker = [&] {
        for (;;) {
            if (cancel && cancel->load()) return;
            std::size_t i = next.fetch_add(1);
            if (i >= plan.size()) return;
            const PlannedTest& t = plan[i];
            Outcome o;
            if (t.problem != PlannedTest::Problem::None) {
                o = outcome_for_problem(t);
            } else {
                ProcessSpec spec;
                spec.path = t.path.string();
                spec.args = t.args;
                spec.cwd = t.path.parent_path().string();
                spec.env = env;
                spec.timeout = t.timeout_s ? std::chrono::milliseconds(static_cast<long long>(*t.timeout_s * 1000))
                                           : opt.timeout;
                progress.started(i, t.name, spec.timeout);
                spec.kill_grace = opt.kill_grace;
                spec.output_cap = opt.output_cap;
                spec.cancel = cancel;
                spec.cgroup_root = opt.cgroup_root;
                o = classify(t, run_process(spec));
                if (!opt.output_dir.empty()) {
                    // -o DIR: the test's stdout and stderr, as kept (see --output-cap).
                    for (auto [ext, text] : {std::pair{".stdout", &o.out}, std::pair{".stderr", &o.err}}) {
                        std::string path = output_path(opt.output_dir, o.name, ext);
                        if (auto e = write_output_file(path, *text); !e.empty()) {
                            o.notes.push_back(e);
                            std::lock_guard lk(problems_mu);
                            if (problems) problems->write_errors.push_back(e);
                        } else {
                            (std::string(ext) == ".stdout" ? o.stdout_file : o.stderr_file) = path;
                        }
                    }
                }
            }
            progress.finished(i, o);
            outcomes[i] = std::move(o);
            have[i] = 1;  // distinct elements; read after join
        }
    };

    // Tests that will not be started need no worker slot.
    std::size_t runnable = std::count_if(plan.begin(), plan.end(), [](const PlannedTest& t) {
        return t.problem == PlannedTest::Problem::None;
    });
    const std::size_t nthreads = std::clamp<std::size_t>(runnable, 1, static_cast<std::size_t>(std::max(1, opt.jobs)));

    std::mutex tick_mu;
    std::condition_variable tick_cv;
    bool stop_ticker = false;
    std::thread ticker;
    if (!opt.quiet && (opt.live || opt.heartbeat.count() > 0)) {
        ticker = std::thread([&] {
            std::unique_lock lk(tick_mu);
            while (!tick_cv.wait_for(lk, std::chrono::milliseconds(500), [&] { return stop_ticker; })) {
                lk.unlock();
                progress.tick();
                lk.lock();
            }
        });
    }
    std::vector<std::thread> threads;
    for (std::size_t k = 0; k < nthreads; ++k) threads.emplace_back(worker);
    for (auto& th : threads) th.join();
    if (ticker.joinable()) {
        {
            std::lock_guard lk(tick_mu);
            stop_ticker = true;
        }
        tick_cv.notify_all();
        ticker.join();
    }
    progress.close();
    // Every supervisor has been waited for: any other child is an orphan a
    // dead supervisor left to the runner (a child subreaper).
    reap_strays();

    for (std::size_t i = 0; i < plan.size(); ++i)
        if (!have[i]) outcomes[i] = outcome_not_run(plan[i], "not run: the run was interrupted");
    return outcomes;
}

}  // namespace kvmsr

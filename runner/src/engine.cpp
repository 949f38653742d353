#include "kvmsr/engine.hpp"

#include "kvmsr/report.hpp"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>

namespace kvmsr {

namespace {

using Clock = std::chrono::steady_clock;

class Progress {
public:
    Progress(const RunOptions& opt, std::size_t total) : opt_(opt), total_(total), t0_(Clock::now()) {}

    void started(const std::string& name) {
        std::lock_guard lk(mu_);
        running_.insert(name);
        redraw_locked();
    }

    void finished(const Outcome& o) {
        std::lock_guard lk(mu_);
        running_.erase(o.name);
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

    void tick() {
        std::lock_guard lk(mu_);
        redraw_locked();
    }

    void close() {
        std::lock_guard lk(mu_);
        clear_locked();
        std::fflush(opt_.progress);
    }

private:
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
        for (const auto& n : running_) names += (names.empty() ? "" : ", ") + display_safe(n);
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
    std::set<std::string> running_;
    std::size_t done_ = 0, pass_ = 0, skip_ = 0, fail_ = 0;
    bool drawn_ = false;
};

}  // namespace

std::vector<Outcome> run_tests(const std::vector<PlannedTest>& plan, const RunOptions& opt,
                               const std::atomic<bool>* cancel) {
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
                progress.started(t.name);
                ProcessSpec spec;
                spec.path = t.path.string();
                spec.cwd = t.path.parent_path().string();
                spec.env = env;
                spec.timeout = opt.timeout;
                spec.kill_grace = opt.kill_grace;
                spec.output_cap = opt.output_cap;
                spec.cancel = cancel;
                spec.cgroup_root = opt.cgroup_root;
                o = classify(t, run_process(spec));
            }
            progress.finished(o);
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
    if (opt.live && !opt.quiet) {
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

// hookdump trace: runs every observation point that is available at once (the AF_PACKET tap,
// hookdump.ko at the first and last priority of each hook), each engine on its own thread,
// and correlates their events into one path per packet (src/trace/).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include <net/if.h>

#include "cli/commands.h"
#include "cli/engine_choice.h"
#include "cli/numbers.h"
#include "cli/output_options.h"
#include "engine/engine_names.h"
#include "engine/pcapng_engine.h"
#include "packet/format.h"
#include "sink/output_file.h"
#include "trace/correlator.h"
#include "trace/html_report.h"
#include "trace/nft_tracer.h"
#include "trace/trace_record.h"
#ifdef HOOKDUMP_HAVE_BPF
#include "trace/socket_tracer.h"
#endif
#include "util/clock.h"
#include "util/error.h"

namespace hookdump {
namespace {

// Enough of each packet for the identity (IP header, transport header, 16 payload bytes).
constexpr uint32_t kTraceSnaplen = 192;

// Engine threads hand their observations to the correlating thread through this.
class Inbox final : public EventHandler {
  public:
    bool on_event(const PacketEvent& ev) override {
        trace::Observation o;
        if (!trace::observe(ev, o)) return true;
        std::lock_guard lock(mu_);
        items_.push_back(std::move(o));
        return true;
    }
    void push(trace::Observation o) {
        std::lock_guard lock(mu_);
        items_.push_back(std::move(o));
    }
    std::vector<trace::Observation> take() {
        std::vector<trace::Observation> out;
        std::lock_guard lock(mu_);
        out.swap(items_);
        return out;
    }

  private:
    std::mutex mu_;
    std::vector<trace::Observation> items_;
};

struct Source {
    std::unique_ptr<Engine> engine;
    std::string what;  // for the readiness line
};

// A file's observations, handed over as they come: with the recorded completions (trace
// --record's), or, from any other file, completing packets as the live run's pump would.
class Replay final : public EventHandler {
  public:
    using Add = std::function<void(trace::Observation, uint64_t done_ns)>;
    Replay(uint64_t settle_ns, Add add) : settle_ns_(settle_ns), add_(std::move(add)) {}
    bool on_event(const PacketEvent& ev) override {
        trace::Observation o;
        if (!trace::observe(ev, o)) return true;
        uint64_t done = 0;
        if (!trace::apply_annotation(ev.annotation, o, done) && o.ts_ns > settle_ns_)
            done = o.ts_ns - settle_ns_;
        add_(std::move(o), done);
        return true;
    }

  private:
    uint64_t settle_ns_;
    Add add_;
};

}  // namespace

void TraceCommand::add_to(CLI::App& app) {
    sub_ = app.add_subcommand("trace",
                              "Where did my packet go, and where did it die: every observation "
                              "point at once, one path per packet");
    sub_->add_option("-i,--interface", interface_, "Interface for the tap (default any)");
    add_number(*sub_, "-c,--count", count_, "Exit after COUNT packets are traced (0: no limit)", 0);
    sub_->add_option("-o,--output-format", format_, "text or jsonl")
        ->check(CLI::IsMember({"text", "jsonl"}));
    sub_->add_option("-w,--write", write_path_, "Write the paths to FILE instead of stdout");
    sub_->add_option("--report", report_path_,
                     "Write the hook graph as a self-contained HTML page at exit");
    add_number(*sub_, "--window", window_ms_, "A packet is complete after MS without news (200)", 1,
               60000);
    sub_->add_option("--points", points_,
                     "Observation points: all (tap,kmod,tc,drop,nft,socket), or a list of tap, "
                     "kmod, tc, xdp, drop, nft, socket");
    sub_->add_option("--record", record_path_,
                     "Keep every observation in FILE (pcapng) for a replay with -r");
    sub_->add_option("-r,--read", read_path_,
                     "Replay the observations of FILE (trace --record's, or any pcapng/pcap) "
                     "instead of observing");
    sub_->add_option("expression", expression_, "pcap-filter expression selecting the packets");
}

namespace {

std::vector<std::string> split_points(const std::string& list) {
    // The points are the tap and the engines of the same names.
    using namespace engine_name;
    static const std::vector<std::string> kKnown = {
        "tap",   std::string(kKmod), std::string(kTc), std::string(kXdp), std::string(kDrop), "nft",
        "socket"};
    if (list == "all")
        return {"tap", std::string(kKmod), std::string(kTc), std::string(kDrop), "nft", "socket"};
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= list.size()) {
        const size_t comma = std::min(list.find(',', start), list.size());
        std::string p = list.substr(start, comma - start);
        if (std::find(kKnown.begin(), kKnown.end(), p) == kKnown.end())
            throw UsageError("--points: unknown point '" + p +
                             "' (tap, kmod, tc, xdp, drop, nft, socket or all)");
        out.push_back(p);
        start = comma + 1;
    }
    return out;
}

// The interfaces of this namespace that tc and XDP attach to: -i's, or every one but lo.
std::vector<std::string> attach_interfaces(const std::string& iface) {
    if (iface != "any") return {iface};
    std::vector<std::string> out;
    if (struct if_nameindex* all = if_nameindex()) {
        for (auto* i = all; i->if_index != 0; ++i)
            if (std::string_view(i->if_name) != "lo") out.emplace_back(i->if_name);
        if_freenameindex(all);
    }
    return out;
}

}  // namespace

int TraceCommand::run() {
    std::string expr;
    for (const auto& w : expression_) expr += (expr.empty() ? "" : " ") + w;
    auto points = split_points(points_);
    auto wanted = [&](std::string_view p) {
        return std::find(points.begin(), points.end(), p) != points.end();
    };
    const bool explicit_points = points_ != "all";
    const bool replay = !read_path_.empty();
    if (replay && !record_path_.empty())
        throw UsageError("--record and -r: a replay observes nothing to record");
    if (replay && (explicit_points || interface_ != "any"))
        throw UsageError("-r: the file holds the observations (no -i or --points)");

    // The outputs are created before any observation point is opened: one that cannot be is
    // one line and exit 1, with nothing attached.
    // A path is a record: a full disk leaves the file ending with a whole one.
    OutputFile out(write_path_.empty() ? "-" : write_path_);
    std::unique_ptr<OutputFile> report;
    if (!report_path_.empty()) report = std::make_unique<OutputFile>(report_path_);
    std::unique_ptr<Engine> file;
    if (replay) file = open_capture_file(read_path_, expr);  // a missing file: exit 2
    std::unique_ptr<trace::TraceRecorder> recorder;
    if (!record_path_.empty()) recorder = std::make_unique<trace::TraceRecorder>(record_path_);

    std::vector<Source> sources;
    trace::ReportInfo info;
    info.expression = expr;
    bool both_slots = false;
    // A point that cannot run is named and the trace goes on with the rest; when the user
    // named the points, it is an error.
    auto unavailable = [&](const std::string& what, const std::string& why) {
        if (explicit_points) throw RuntimeError(what + ": " + why);
        info.missing.push_back(what + ": " + why);
    };
    auto try_open = [&](const std::string& what, auto&& open) {
        try {
            open();
        } catch (const UsageError& e) {
            unavailable(what, e.what());
        } catch (const RuntimeError& e) {
            unavailable(what, e.what());
        }
    };
    // Every point from the same options (src/cli/engine_choice.h), as `capture` builds them.
    EngineOptions opt;
    opt.interface = interface_;
    opt.expression = expr;
    opt.snaplen = kTraceSnaplen;
    opt.kmod_snaplen = kTraceSnaplen;
    // Small blocks handed over soon: the correlator waits for the slowest point.
    opt.block_size = 256 << 10;
    opt.block_count = 4;
    opt.block_timeout_ms = 5;
    if (replay) {
        info.points.push_back("replayed from " + read_path_);
        points.clear();  // nothing is opened
    }
    if (wanted("tap")) {
        sources.push_back(
            {open_engine(engine_name::kAfPacket, opt), "tap-in/tap-out " + interface_});
        info.points.push_back("tap-in " + interface_);
        info.points.push_back("tap-out " + interface_);
    }
    if (wanted(engine_name::kKmod)) {
        try_open("PRE_ROUTING, LOCAL_IN, FORWARD, LOCAL_OUT, POST_ROUTING", [&] {
            EngineOptions k = opt;
            k.rules.hooks = "all";
            k.rules.priority = "both";
            sources.push_back({open_engine(engine_name::kKmod, k),
                               "netfilter hooks at first and last priority (hookdump.ko)"});
            for (const char* h :
                 {"PRE_ROUTING", "LOCAL_IN", "FORWARD", "LOCAL_OUT", "POST_ROUTING"})
                info.points.push_back(h);
            both_slots = true;
        });
    }
#ifdef HOOKDUMP_HAVE_BPF
    for (std::string_view hook : {engine_name::kTc, engine_name::kXdp}) {
        if (!wanted(hook)) continue;
        const bool tc = hook == engine_name::kTc;
        for (const auto& ifname : attach_interfaces(interface_)) {
            try_open(fmt::format("{} on {}", tc ? "tc ingress/egress" : "xdp", ifname), [&] {
                EngineOptions b = opt;
                b.interface = ifname;
                b.promiscuous = false;  // the tc/XDP points leave the device as it is
                sources.push_back({open_engine(hook, b), fmt::format("{} {}", hook, ifname)});
                info.points.push_back(
                    fmt::format("{} {}", tc ? "tc ingress/egress" : "xdp", ifname));
            });
        }
    }
#endif
#ifdef HOOKDUMP_HAVE_DROP
    if (wanted(engine_name::kDrop)) {
        try_open("kfree_skb drop reasons", [&] {
            sources.push_back({open_engine(engine_name::kDrop, opt), "kfree_skb (drop reasons)"});
            info.points.push_back("kfree_skb");
        });
    }
#endif
    std::unique_ptr<trace::NftTracer> nft;
    if (wanted("nft")) {
        try_open("nft", [&] {
            nft = std::make_unique<trace::NftTracer>(expr);
            info.points.push_back("nft (table inet " + nft->table().name() + ")");
            for (const auto& t : nft->table().removed_stale())
                fmt::print(stderr, "hookdump: removed {}, left by a run that is gone\n", t);
            if (!nft->table().note().empty())
                fmt::print(stderr, "hookdump: {}\n", nft->table().note());
        });
        for (const auto& t : trace::legacy_tables_with_rules())
            info.missing.push_back(t + ": x_tables rules are not traced (only nftables rules are)");
    }
#ifdef HOOKDUMP_HAVE_BPF
    std::unique_ptr<trace::SocketTracer> sock;
    if (wanted("socket")) {
        try_open("socket", [&] {
            sock = std::make_unique<trace::SocketTracer>(expr);
            info.points.push_back("socket (cgroup_skb at the cgroup v2 root)");
            if (!sock->note().empty()) fmt::print(stderr, "hookdump: {}\n", sock->note());
        });
    }
#else
    if (wanted("socket"))
        unavailable("socket", "this hookdump was built without eBPF (clang, bpftool, libbpf-dev)");
#endif
#ifndef HOOKDUMP_HAVE_BPF
    for (std::string_view p : {engine_name::kTc, engine_name::kXdp})
        if (wanted(p))
            unavailable(std::string(p),
                        "this hookdump was built without eBPF (clang, bpftool, libbpf-dev)");
#endif
#ifndef HOOKDUMP_HAVE_DROP
    if (wanted(engine_name::kDrop))
        unavailable(
            std::string(engine_name::kDrop),
            "this hookdump was built without the drop-reason program (no BTF at build time)");
#endif
    if (!wanted(engine_name::kXdp) && !explicit_points && !replay)
        info.missing.push_back(
            "xdp: not attached unless asked (--points ...,xdp): generic XDP may reallocate socket "
            "buffers to run");
    auto tracers = [&] {
#ifdef HOOKDUMP_HAVE_BPF
        return nft || sock;
#else
        return static_cast<bool>(nft);
#endif
    };
    if (sources.empty() && !tracers() && !replay)
        throw RuntimeError("no observation point could be opened");

    install_stop_signals();
    // The readiness line (scripts wait for it): every source is bound and signals are caught.
    for (const auto& m : info.missing) fmt::print(stderr, "hookdump: not observed: {}\n", m);
    std::string ready = "tracing at";
    for (size_t i = 0; i < sources.size(); ++i) ready += (i ? "; " : " ") + sources[i].what;
    if (nft)
        ready += (sources.empty() ? " " : "; ") + std::string("nft trace (table inet ") +
                 nft->table().name() + ")";
#ifdef HOOKDUMP_HAVE_BPF
    if (sock) ready += (sources.empty() && !nft ? " " : "; ") + std::string("socket (cgroup_skb)");
#endif
    if (!replay) fmt::print(stderr, "{}\n", ready);
    const auto& stop = stop_flag();
    std::atomic<bool> engines_stop{false};
    Inbox inbox;
    std::mutex err_mu;
    std::string error;
    std::vector<std::thread> threads;
    for (auto& s : sources)
        threads.emplace_back([&, eng = s.engine.get()] {
            try {
                eng->run(inbox, engines_stop);
            } catch (const std::exception& e) {
                std::lock_guard lock(err_mu);
                if (error.empty()) error = fmt::format("{}: {}", eng->name(), e.what());
            }
            engines_stop.store(true);
        });
    if (nft)
        threads.emplace_back([&] {
            try {
                nft->run([&](trace::Observation o) { inbox.push(std::move(o)); }, engines_stop);
            } catch (const std::exception& e) {
                std::lock_guard lock(err_mu);
                if (error.empty()) error = fmt::format("nft: {}", e.what());
            }
            engines_stop.store(true);
        });

#ifdef HOOKDUMP_HAVE_BPF
    if (sock)
        threads.emplace_back([&] {
            try {
                sock->run([&](trace::Observation o) { inbox.push(std::move(o)); }, engines_stop);
            } catch (const std::exception& e) {
                std::lock_guard lock(err_mu);
                if (error.empty()) error = fmt::format("socket: {}", e.what());
            }
            engines_stop.store(true);
        });
#endif

    trace::CorrelatorOptions copt{.window_ns = uint64_t{window_ms_} * 1'000'000,
                                  .both_slots = both_slots,
                                  .tap_egress = wanted("tap") && interface_ == "any"};
    // A replay's comes with its first observation: the options the file was recorded with.
    std::unique_ptr<trace::Correlator> correlator;
    if (!replay) correlator = std::make_unique<trace::Correlator>(copt);
    trace::PathSummary summary;
    LocalClock clock;
    uint64_t traced = 0;
    std::string write_error;  // the paths' file failed: the trace stops
    auto emit = [&](std::vector<trace::TracedPacket> done) {
        for (auto& p : done) {
            if (count_ && traced >= count_) break;
            ++traced;
            summary.add(p, copt.both_slots);
            std::string line;
            if (format_ == "jsonl") {
                line = trace::to_json(p);
            } else {
                clock.append(line, p.path.front().ts_ns);
                line += fmt::format(" {}: {}", trace::to_string(p.path.front().tuple),
                                    trace::format_path(p, copt.both_slots));
            }
            line += '\n';
            if (!write_error.empty()) continue;  // traced, not written: the ledger says so
            // A write can flush, and fail: caught here, as an exception out of this loop
            // would leave the engines' threads running (std::terminate).
            try {
                out.write(line);
                out.end_record(1);
            } catch (const RuntimeError& e) {
                write_error = e.what();
            }
        }
        if (!write_error.empty()) return;
        try {
            out.flush();
        } catch (const RuntimeError& e) {
            write_error = e.what();
        }
    };
    // Engines deliver late and unevenly (the module batches for 10 ms, rings hand over
    // blocks): observations wait until every engine has had time to deliver what came before
    // them, then go to the correlator in time order. Otherwise a packet NATed on both sides
    // could be seen after SNAT before the module reported the steps in between.
    const uint64_t settle_ns = uint64_t{window_ms_} * 1'000'000 / 2;
    std::vector<trace::Observation> pending;
    std::string record_error;
    auto pump = [&](bool flush) {
        auto items = inbox.take();
        pending.insert(pending.end(), std::make_move_iterator(items.begin()),
                       std::make_move_iterator(items.end()));
        std::stable_sort(pending.begin(), pending.end(),
                         [](const trace::Observation& a, const trace::Observation& b) {
                             return a.ts_ns < b.ts_ns;
                         });
        const uint64_t horizon = flush ? UINT64_MAX : realtime_ns() - settle_ns;
        size_t n = 0;
        for (; n < pending.size() && pending[n].ts_ns <= horizon; ++n) {
            if (recorder) {
                // A failed write stops the trace, as one of the paths' does; the file ends
                // with its last whole block.
                try {
                    recorder->add(pending[n]);
                } catch (const RuntimeError& e) {
                    record_error = e.what();
                    recorder.reset();
                }
            }
            correlator->add(std::move(pending[n]));
        }
        pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(n));
        auto done = correlator->take_done(flush ? 0 : horizon, flush);
        if (recorder && !done.empty() && !flush) recorder->done(horizon);
        emit(std::move(done));
    };
    if (replay) {
        // The recorded calls again, in order: the same paths, in the same order.
        auto* pcapng = dynamic_cast<PcapngEngine*>(file.get());
        Replay handler(settle_ns, [&](trace::Observation o, uint64_t done_ns) {
            if (!correlator) {
                if (pcapng)
                    if (auto rec = trace::parse_section_comment(pcapng->section_comment()))
                        copt = *rec;
                correlator = std::make_unique<trace::Correlator>(copt);
            }
            if (done_ns) emit(correlator->take_done(done_ns));
            correlator->add(std::move(o));
        });
        file->run(handler, stop);
        if (correlator) emit(correlator->take_done(0, true));
    } else {
        try {
            if (recorder) recorder->start(copt);
        } catch (const RuntimeError& e) {
            record_error = e.what();
            recorder.reset();
        }
        while (!stop.load() && !engines_stop.load() && !(count_ && traced >= count_) &&
               write_error.empty() && record_error.empty()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            pump(false);
        }
        engines_stop.store(true);
        for (auto& t : threads) t.join();
        pump(true);
    }

    fmt::print(stderr, "{} packets traced\n", traced);
    for (const auto& r : summary.rows())
        fmt::print(stderr, "{:>8}  {}\n", r.packets,
                   r.signature.empty() ? "(no path)" : r.signature);
    for (const auto& s : sources) {
        const InterfaceCounters l = s.engine->ledger().total();
        if (l.kernel_drops)
            fmt::print(stderr,
                       "hookdump: {} lost {} events in the kernel: paths may be incomplete\n",
                       s.engine->name(), l.kernel_drops);
    }
    if (nft && nft->lost())
        fmt::print(stderr,
                   "hookdump: nft trace lost {} batches of messages: paths may be incomplete\n",
                   nft->lost());
#ifdef HOOKDUMP_HAVE_BPF
    if (sock && sock->lost())
        fmt::print(stderr,
                   "hookdump: socket lost {} events in the kernel: paths may be incomplete\n",
                   sock->lost());
#endif
    // The first error is thrown (one line, exit 1), any other printed before it.
    std::vector<std::string> errors;
    auto attempt = [&](auto&& step) {
        try {
            step();
        } catch (const RuntimeError& e) {
            errors.emplace_back(e.what());
        }
    };
    if (!write_error.empty()) errors.push_back(write_error);
    if (!record_error.empty()) errors.push_back(record_error);
    if (recorder) attempt([&] { recorder->finish(); });
    attempt([&] { out.close(); });
    if (out.units_written() != traced)
        fmt::print(stderr, "{} paths written to {}, {} not written ({})\n", out.units_written(),
                   write_path_.empty() ? "stdout" : write_path_, traced - out.units_written(),
                   std::strerror(out.error()));
    if (report) {
        attempt([&] {
            // The page is one record: it is in the file whole or not at all.
            report->write(trace::html_report(summary, info));
            report->end_record(1);
            report->close();
        });
    }
    if (!error.empty()) errors.push_back(error);
    if (errors.empty()) return 0;
    for (size_t i = 1; i < errors.size(); ++i) fmt::print(stderr, "hookdump: {}\n", errors[i]);
    throw RuntimeError(errors.front());
}

}  // namespace hookdump

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <thread>

#include "cli/commands.h"
#include "cli/engine_choice.h"
#include "cli/engine_table.h"
#include "cli/numbers.h"
#include "cli/service.h"
#include "cli/status.h"
#include "engine/afpacket_engine.h"
#include "engine/engine_names.h"
#include "metrics/metrics_server.h"
#include "sink/output_file.h"
#include "sink/rotating_sink.h"
#include "util/cgroup.h"
#include "util/error.h"
#include "util/netns.h"
#ifdef HOOKDUMP_HAVE_BPF
#include "bpf/proc_attribution.h"
#include "bpf/proc_programs.h"
#endif

namespace hookdump {
namespace {

// -Z USER, after the sockets and rings are set up (the outputs exist already: AsUser).
void drop_privileges(const std::string& user) {
    const passwd* pw = getpwnam(user.c_str());
    if (!pw) throw UsageError("no such user: " + user);
    if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0)
        throw RuntimeError(errno_message("cannot become " + user, errno));
}

// -Z USER: the outputs are created with USER's permissions and owned by USER, as tcpdump
// creates them after giving up root, though before the engine is opened: the effective ids
// only, root's given back at the end of the scope.
class AsUser {
  public:
    explicit AsUser(const std::string& user) {
        if (user.empty()) return;
        const passwd* pw = getpwnam(user.c_str());
        if (!pw) throw UsageError("no such user: " + user);
        groups_.resize(static_cast<size_t>(std::max(getgroups(0, nullptr), 0)));
        if (getgroups(static_cast<int>(groups_.size()), groups_.data()) < 0) groups_.clear();
        uid_ = geteuid();
        gid_ = getegid();
        active_ = true;
        if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setegid(pw->pw_gid) != 0 ||
            seteuid(pw->pw_uid) != 0) {
            const int err = errno;
            restore();
            throw RuntimeError(errno_message("cannot become " + user, err));
        }
    }
    AsUser(const AsUser&) = delete;
    AsUser& operator=(const AsUser&) = delete;
    ~AsUser() { restore(); }

  private:
    void restore() noexcept {
        if (!active_) return;
        active_ = false;
        // Failing to become root again leaves the engine unable to open: it says so.
        if (seteuid(uid_) != 0 || setegid(gid_) != 0 ||
            setgroups(groups_.size(), groups_.data()) != 0)
            return;
    }
    std::vector<gid_t> groups_;
    uid_t uid_ = 0;
    gid_t gid_ = 0;
    bool active_ = false;
};

std::string worker_path(const std::string& path, unsigned i) {
    const size_t slash = path.rfind('/');
    const size_t dot = path.rfind('.');
    const std::string tag = fmt::format(".w{}", i);
    if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return path + tag;
    return path.substr(0, dot) + tag + path.substr(dot);
}

}  // namespace

void CaptureCommand::add_to(CLI::App& app) {
    sub_ = app.add_subcommand(
        "capture",
        "Capture live packets: hookdump.ko's netfilter hooks, tc or the AF_PACKET tap (--engine "
        "auto picks), NFLOG, XDP, or the kernel's drops (--engine drop)");
    // --engine's choices and their help from the engine table.
    std::vector<std::string> engines = {"auto"};
    std::string engine_help =
        "Capture engine: auto (default: hookdump.ko if loaded and no -i; at one -i interface "
        "afpacket for packets, tc for flows only (--flows, no -w/-o) or --src/--dst/...; else "
        "afpacket; says which and why on stderr)";
    for (const EngineRow& row : engine_table()) {
        engines.emplace_back(row.name);
        engine_help +=
            fmt::format(", {}{}", row.name, row.help.empty() ? "" : fmt::format(" ({})", row.help));
    }
    sub_->add_option("--engine", engine_, engine_help)->check(CLI::IsMember(engines));
    sub_->add_option("--direction", direction_, "tc: in, out or both (default both)")
        ->check(CLI::IsMember({"in", "out", "both"}));
    sub_->add_option("--xdp-mode", xdp_mode_,
                     "xdp: auto (native where the driver can), native or generic")
        ->check(CLI::IsMember({"auto", "native", "generic"}));
    sub_->add_flag(
        "--all-reasons", drop_all_reasons_,
        "--engine drop: also frees whose reason is NOT_SPECIFIED (not reported by default)");
    sub_->add_flag(
        "--all-netns", drop_all_netns_,
        "--engine drop: drops in every network namespace (default: only hookdump's own)");
    group_opt_ = add_number(*sub_, "--group", nflog_group_,
                            "NFLOG group to read (--engine nflog); with --engine kmod, the "
                            "group of the iptables -j HOOKDUMP rules to read",
                            0, 65535);
    sub_->add_option("-i,--interface", interface_, "Interface name or index, or any (default any)");
    sub_->add_flag("-p,--no-promiscuous-mode", no_promisc_,
                   "Do not put the interface in promiscuous mode");
    add_number(*sub_, "-s,--snapshot-length", snaplen_, "Bytes to keep of each packet (262144)", 64,
               262144);
    add_number(*sub_, "--workers", workers_,
               "Rings and threads (PACKET_FANOUT hash), merged in time order", 1, 64);
    sub_->add_flag("--per-worker-files", per_worker_files_,
                   "With --workers: one -w file per worker (NAME.wN.EXT) instead of a merged one");
    add_number(*sub_, "--block-size", block_kib_,
               "Ring block size in KiB (1024; raised to fit one snaplen)", 4, 1u << 20);
    add_number(*sub_, "--ring-blocks", blocks_, "Ring blocks per worker (8)", 1, 4096);
    add_number(*sub_, "--block-timeout", block_timeout_ms_,
               "Hand over a partly filled block after MS (50)", 1, 10000);
    sub_->add_option("-Z,--relinquish-privileges", user_, "After opening the capture, run as USER");
    sub_->add_flag("-q,--quiet", quiet_, "No live status line");
    sub_->add_flag("--stats", stats_,
                   "Status line on stderr every second even when it is not a terminal");
    sub_->add_option("--stats-json", stats_json_, "Write the loss ledger as JSON to FILE at exit");
    sub_->add_flag("--proc", proc_,
                   "Which process sent or received each packet (pid, comm, uid, cgroup), from "
                   "cgroup socket programs at the cgroup2 root (not --engine drop)");
    add_number(*sub_, "--pid", proc_pid_,
               "Only packets of process PID's sockets (implies --proc; tc: in the kernel)", 1,
               4194304);
    sub_->add_option("--comm", proc_comm_,
                     "Only packets of processes named NAME (at most 15 bytes; implies --proc)");
    sub_->add_option("--cgroup", proc_cgroup_,
                     "Only packets of processes in cgroup PATH itself (under the cgroup2 mount, "
                     "or absolute; implies --proc)");
    sub_->add_option("--metrics", metrics_,
                     "Serve the ledger, flow and IPFIX counters in the Prometheus text format on "
                     "http://ADDR:PORT/metrics");
    sub_->add_option("expression", expression_, "pcap-filter expression");
    out_.add_to(*sub_);
    kmod_.add_to(*sub_, false);
    // --config FILE: CLI11 reads config files for the top-level app only; capture's --config
    // hands the path to a hidden top-level one whose reader files every key under capture.
    CLI::Option* file = app.set_config("--capture-config");
    file->group("");
    app.config_formatter(std::make_shared<SubcommandConfig>("capture"));
    // A key that names no option (a typo, a [section]) is an error, not ignored.
    app.allow_config_extras(CLI::config_extras_mode::error);
    sub_->add_option_function<std::string>(
            "--config", [file](const std::string& path) { file->add_result(path); },
            "Read options from FILE (TOML: long option names as keys, no sections; the command "
            "line wins; see docs/SERVICE.md)")
        ->trigger_on_parse();
}

// After the engine is open: drop privileges, catch signals, run into the outputs, report.
int CaptureCommand::run_engine(Engine& engine, Pipeline& pipeline) {
    if (!user_.empty()) drop_privileges(user_);
    install_stop_signals();
    install_reopen_signal();
    pipeline.watch_reopen(&reopen_generation());
    // Attached, and SIGTERM/SIGHUP are caught: systemd may signal from now on.
    notify_ready(ready_status_);
    const bool status_line =
        !quiet_ && (stats_ || (!out_.write_path.empty() && isatty(STDERR_FILENO)));
    StatusLine status(engine);
    // --metrics: a snapshot at most every 100 ms, taken on this thread at the idle tick.
    constexpr uint64_t kPublishNs = 100'000'000;
    uint64_t published_ns = 0;
    if (metrics_server_) metrics_server_->publish(take_snapshot(engine, pipeline, out_.ipfix_sink));
    if (status_line || metrics_server_)
        pipeline.set_ticker([&](uint64_t now) {
            if (status_line) status.tick(now, pipeline.packets(), pipeline.bytes());
            if (metrics_server_ && (now < published_ns || now - published_ns >= kPublishNs)) {
                published_ns = now;
                metrics_server_->publish(take_snapshot(engine, pipeline, out_.ipfix_sink));
            }
        });
#ifdef HOOKDUMP_HAVE_BPF
    std::optional<bpf::ProcAttribution> attrib;
    if (proc_cgroup2_) {
        ProcFilter filter;
        filter.pid = proc_pid_;
        filter.comm = proc_comm_;
        filter.cgroup_id = proc_cgroup_id_;
        // tc looks processes up (and filters) in the kernel, hookdump.ko names them (and its
        // engine filters); the others here.
        attrib.emplace(pipeline, proc_programs_.get(), proc_cgroup2_->paths(), own_netns_cookie(),
                       engine.name() != engine_name::kTc && engine.name() != engine_name::kKmod,
                       filter);
    }
    const int rc = run_capture(engine, pipeline, attrib ? &*attrib : nullptr);
#else
    const int rc = run_capture(engine, pipeline);
#endif
    notify_stopping();
    if (status_line) status.clear();
    report(engine, pipeline.packets(), pipeline.outputs());
    return rc;
}

// tcpdump's ledger line on stderr, and --stats-json.
void CaptureCommand::report(const Engine& engine, uint64_t captured,
                            const std::vector<OutputLedger>& outputs) const {
    const Ledger ledger = engine.ledger();
    print_ledger(ledger, captured);
    print_outputs(outputs);
    if (stats_out_) write_ledger_json(*stats_out_, engine.name(), ledger, captured, outputs);
}

// The options as every engine reads them (src/cli/engine_choice.h).
EngineOptions CaptureCommand::engine_options() const {
    EngineOptions o;
    o.interface = interface_;
    for (const auto& w : expression_) o.expression += (o.expression.empty() ? "" : " ") + w;
    o.snaplen = snaplen_;
    o.promiscuous = !no_promisc_;
    o.workers = workers_;
    o.block_size = block_kib_ << 10;
    o.block_count = blocks_;
    o.block_timeout_ms = block_timeout_ms_;
    o.rules = kmod_;
    // Explicit kmod: the 5-tuple only unless -s asks for bytes.
    o.kmod_snaplen = sub_->count("-s") ? snaplen_ : 0;
    o.ingress = direction_ != "out";
    o.egress = direction_ != "in";
    o.xdp_mode = xdp_mode_;
    // tc/XDP count flows in the kernel when flows are all that is written.
    o.flows = out_.flows_only();
    // The kernel's hash holds one sweep's (a second's) new flows, not the whole table: each
    // sweep walks all its buckets and it is preallocated per CPU (2^20 entries, --max-flows'
    // default, were 200 MB a hash on 2 CPUs and 2.4 ms of CPU a sweep; 65536: 0.2 ms).
    o.max_flows = static_cast<uint32_t>(std::min<size_t>(out_.max_flows, 65536));
    o.table_flows = out_.max_flows;
    o.idle_timeout_ns = static_cast<uint64_t>(out_.idle_timeout * 1e9);
    o.active_timeout_ns = static_cast<uint64_t>(out_.active_timeout * 1e9);
    o.nflog_group = nflog_group_;
    o.group_given = group_opt_->count() > 0;
    o.all_reasons = drop_all_reasons_;
    o.all_netns = drop_all_netns_;
    return o;
}

// What --engine auto decides from: -i only when given, and the options only one engine honours.
AutoRequest CaptureCommand::auto_request(const EngineOptions& o) const {
    AutoRequest req;
    if (sub_->count("-i")) req.interface = interface_;
    req.expression = o.expression;
    for (const EngineRow& row : engine_table())
        for (std::string_view option : row.owned_options)
            if (sub_->count(std::string(option)))
                req.engine_options.push_back(
                    {std::string(option), std::string(row.name), std::string(row.owner)});
    req.rule_options = kmod_.has_conditions();
    req.flows_only = o.flows;
    return req;
}

// --proc's options, checked before anything is attached.
void CaptureCommand::check_proc_options() {
#ifdef HOOKDUMP_HAVE_BPF
    if (per_worker_files_) throw UsageError("--proc cannot be combined with --per-worker-files");
    if (proc_comm_.size() > 15)
        throw UsageError("--comm: '" + proc_comm_ + "' is longer than 15 bytes (TASK_COMM_LEN)");
    if (!proc_cgroup_.empty()) {
        // The root --proc itself reads (kept for the run): under `ip netns exec` (no cgroup2
        // in mountinfo) a detached mount of our own.
        proc_cgroup2_ = std::make_shared<Cgroup2>();
        proc_cgroup_id_ = proc_cgroup2_->paths().id_of(proc_cgroup_);
        if (!proc_cgroup_id_) {
            const std::string mount = cgroup2_mount();
            throw UsageError("--cgroup: no cgroup '" + proc_cgroup_ + "' under " +
                             (mount.empty() ? "the cgroup v2 root" : mount));
        }
    }
#else
    throw UsageError("--proc needs the eBPF programs, which this build does not have");
#endif
}

int CaptureCommand::run() {
    if ((drop_all_reasons_ || drop_all_netns_) && engine_ != engine_name::kDrop &&
        engine_ != "auto")
        throw UsageError("--all-reasons and --all-netns belong to --engine drop");
    if (per_worker_files_ && out_.write_path.empty())
        throw UsageError("--per-worker-files needs -w FILE");
    if (per_worker_files_ && out_.count)
        throw UsageError("-c cannot be combined with --per-worker-files");
    // One exporter per observation domain: its sequence numbers count every record it sent.
    if (per_worker_files_ && out_.ipfix.enabled())
        throw UsageError("--ipfix cannot be combined with --per-worker-files");
    // Its snapshots are taken on the thread that runs the pipeline: one pipeline.
    if (per_worker_files_ && !metrics_.empty())
        throw UsageError("--metrics cannot be combined with --per-worker-files");
    proc_ = proc_ || proc_pid_ || !proc_comm_.empty() || !proc_cgroup_.empty();
    if (proc_) check_proc_options();
    // Listening before anything else is made: an address in use is one line and exit 2.
    if (!metrics_.empty())
        metrics_server_ = std::make_unique<MetricsServer>(parse_listen_address(metrics_));
    EngineOptions opt = engine_options();
    // --engine auto decides before the outputs are created: the pick's row says which fields
    // they write.
    std::optional<AutoPlan> plan;
    if (engine_ == "auto") plan = plan_auto_here(auto_request(opt));
    const EngineRow& row = engine_row(plan ? plan->engines.front() : engine_);
    out_.snaplen = snaplen_;
    out_.fields = {
        .label = row.label_field && row.label_field(opt), .drop = row.drop_fields, .proc = proc_};
    if (proc_ && row.name == engine_name::kDrop)
        throw UsageError("--proc does not apply to --engine drop (freed packets have no socket)");
    // A socket's entry names a packet's process only for a packet inside the socket's life,
    // and NFLOG gives no time for most packets (none at OUTPUT, none at input unless something
    // asked for receive stamps): the time of the read would name whoever holds the port then.
    if (proc_ && row.name == engine_name::kNflog)
        throw UsageError(
            "--proc does not apply to --engine nflog (its packets carry no kernel time to match "
            "a socket's life against)");
    const bool split = per_worker_files_ && workers_ >= 2;
    // Every output is created before any engine is opened: one that cannot be is one line and
    // exit 1, with nothing attached.
    std::vector<std::unique_ptr<Pipeline>> pipes;
    {
        const AsUser as(user_);
        if (split)
            for (unsigned i = 0; i < workers_; ++i)
                pipes.push_back(out_.build_for(worker_path(out_.write_path, i)));
        else
            pipes.push_back(out_.build());
        if (!stats_json_.empty()) stats_out_ = std::make_unique<OutputFile>(stats_json_);
    }
#ifdef HOOKDUMP_HAVE_BPF
    // Before the engine: tc's programs are loaded with these programs' maps. hookdump.ko names
    // processes itself: the kmod engine needs the cgroups' paths only (unless auto may fall
    // back to another engine).
    const bool kmod_only = row.name == engine_name::kKmod && (!plan || plan->engines.size() == 1);
    if (proc_ && !proc_cgroup2_) proc_cgroup2_ = std::make_shared<Cgroup2>();
    if (proc_ && !kmod_only) {
        proc_programs_ = std::make_shared<bpf::ProcPrograms>(own_netns_cookie(), *proc_cgroup2_);
        opt.proc_socks_fd = proc_programs_->socks_fd();
        opt.proc_ports_fd = proc_programs_->ports_fd();
    }
    if (proc_) {
        opt.proc = true;
        opt.proc_pid = proc_pid_;
        opt.proc_cgroup = proc_cgroup_id_;
        opt.proc_comm = proc_comm_;
    }
#endif
    std::unique_ptr<Engine> engine;
    if (plan) {
        AutoEngine chosen = open_auto(std::move(*plan), opt);
        // Printed with -q too, as tcpdump prints 'listening on' with -q.
        fmt::print(stderr, "hookdump: {}\n", chosen.line);
        engine = std::move(chosen.engine);
    } else {
        engine = row.open(opt);
    }
    // tcpdump's readiness line ("listening on ..."): scripts wait for it, and systemd.
    const std::string ready = engine_row(engine->name()).ready(*engine, opt);
    fmt::print(stderr, "{}", ready);
    ready_status_ = ready.substr(0, ready.find('\n'));
    if (!split) return run_engine(*engine, *pipes.front());
    auto* af = dynamic_cast<AfPacketEngine*>(engine.get());
    if (!af) throw UsageError("--per-worker-files belongs to --engine afpacket");

    if (!user_.empty()) drop_privileges(user_);
    install_stop_signals();
    install_reopen_signal();
    for (auto& p : pipes) p->watch_reopen(&reopen_generation());
    notify_ready(ready_status_);
    const int rc = run_workers(*af, pipes);
    notify_stopping();
    uint64_t captured = 0;
    std::vector<OutputLedger> outputs;
    for (auto& p : pipes) {
        captured += p->packets();
        for (auto& o : p->outputs()) outputs.push_back(std::move(o));
    }
    report(*af, captured, outputs);
    return rc;
}

}  // namespace hookdump

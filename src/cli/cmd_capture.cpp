#include <fmt/format.h>
#include <grp.h>
#include <pcap/pcap.h>
#include <pwd.h>
#include <unistd.h>

#include <thread>

#include "cli/commands.h"
#include "cli/status.h"
#include "engine/afpacket_engine.h"
#ifdef HOOKDUMP_HAVE_BPF
#include "engine/bpf_engine.h"
#endif
#ifdef HOOKDUMP_HAVE_DROP
#include "engine/drop_engine.h"
#endif
#include "engine/kmod_engine.h"
#include "engine/nflog_engine.h"
#include "sink/rotating_sink.h"
#include "util/error.h"

namespace hookdump {
namespace {

// -Z USER, after the sockets and rings are set up, before any output file is created.
void drop_privileges(const std::string& user) {
    const passwd* pw = getpwnam(user.c_str());
    if (!pw) throw UsageError("no such user: " + user);
    if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
        throw RuntimeError(errno_message("cannot become " + user, errno));
}

std::string worker_path(const std::string& path, unsigned i) {
    const size_t slash = path.rfind('/');
    const size_t dot = path.rfind('.');
    const std::string tag = fmt::format(".w{}", i);
    if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return path + tag;
    return path.substr(0, dot) + tag + path.substr(dot);
}

}  // namespace

void CaptureCommand::add_to(CLI::App& app) {
    sub_ = app.add_subcommand("capture", "Capture live packets: at the AF_PACKET tap (default), hookdump.ko hooks (--engine kmod), NFLOG, tc/XDP, or the kernel's drops (--engine drop)");
    sub_->add_option("--engine", engine_, "Capture engine: afpacket (the tap), kmod (hookdump.ko), nflog, tc, xdp, drop (the kernel's drop reasons)")
        ->check(CLI::IsMember({"afpacket", "kmod", "nflog", "tc", "xdp", "drop"}));
    sub_->add_option("--direction", direction_, "tc: in, out or both (default both)")
        ->check(CLI::IsMember({"in", "out", "both"}));
    sub_->add_option("--xdp-mode", xdp_mode_, "xdp: auto (native where the driver can), native or generic")
        ->check(CLI::IsMember({"auto", "native", "generic"}));
    sub_->add_flag("--all-reasons", drop_all_reasons_,
                   "--engine drop: also frees whose reason is NOT_SPECIFIED (not reported by default)");
    sub_->add_flag("--all-netns", drop_all_netns_,
                   "--engine drop: drops in every network namespace (default: only hookdump's own)");
    sub_->add_option("--group", nflog_group_, "NFLOG group to read (--engine nflog)")->check(CLI::Range(0, 65535));
    sub_->add_option("-i,--interface", interface_, "Interface name or index, or any (default any)");
    sub_->add_flag("-p,--no-promiscuous-mode", no_promisc_, "Do not put the interface in promiscuous mode");
    sub_->add_option("-s,--snapshot-length", snaplen_, "Bytes to keep of each packet (262144)")
        ->check(CLI::Range(64u, 262144u));
    sub_->add_option("--workers", workers_, "Rings and threads (PACKET_FANOUT hash), merged in time order")
        ->check(CLI::Range(1u, 64u));
    sub_->add_flag("--per-worker-files", per_worker_files_,
                   "With --workers: one -w file per worker (NAME.wN.EXT) instead of a merged one");
    sub_->add_option("--block-size", block_kib_, "Ring block size in KiB (1024; raised to fit one snaplen)")
        ->check(CLI::Range(4u, 1u << 20));
    sub_->add_option("--ring-blocks", blocks_, "Ring blocks per worker (8)")->check(CLI::Range(1u, 4096u));
    sub_->add_option("--block-timeout", block_timeout_ms_, "Hand over a partly filled block after MS (50)")
        ->check(CLI::Range(1u, 10000u));
    sub_->add_option("-Z,--relinquish-privileges", user_, "After opening the capture, run as USER");
    sub_->add_flag("-q,--quiet", quiet_, "No live status line");
    sub_->add_flag("--stats", stats_, "Status line on stderr every second even when it is not a terminal");
    sub_->add_option("--stats-json", stats_json_, "Write the loss ledger as JSON to FILE at exit");
    sub_->add_option("expression", expression_, "pcap-filter expression");
    out_.add_to(*sub_);
    kmod_.add_to(*sub_, false);
}

// After the engine is open: drop privileges, catch signals, run into the outputs, report.
int CaptureCommand::run_engine(Engine& engine) {
    if (!user_.empty()) drop_privileges(user_);
    install_stop_signals();
    auto pipeline = out_.build();
    const bool status_line = !quiet_ && (stats_ || (!out_.write_path.empty() && isatty(STDERR_FILENO)));
    StatusLine status(engine);
    if (status_line) pipeline->set_ticker([&](uint64_t now) { status.tick(now, pipeline->packets(), pipeline->bytes()); });
    const int rc = run_capture(engine, *pipeline);
    if (status_line) status.clear();
    report(engine, pipeline->packets());
    return rc;
}

// tcpdump's ledger line on stderr, and --stats-json.
void CaptureCommand::report(const Engine& engine, uint64_t captured) const {
    const Ledger ledger = engine.ledger();
    print_ledger(ledger, captured);
    if (!stats_json_.empty()) write_ledger_json(stats_json_, engine.name(), ledger, captured);
}

int CaptureCommand::run_kmod() {
    kmod_.snaplen = sub_->count("-s") ? snaplen_ : 0;
    std::string expr;
    for (const auto& w : expression_) expr += (expr.empty() ? "" : " ") + w;
    KmodEngine engine(KmodEngine::Mode::Session, kmod_.rules(expr));
    // tcpdump's readiness line: scripts wait for it.
    fmt::print(stderr, "listening at netfilter hooks ({} rules, kmod engine)\n", engine.rule_ids().size());
    return run_engine(engine);
}

int CaptureCommand::run_nflog() {
    if (!expression_.empty())
        throw UsageError("--engine nflog takes no expression: your nft/iptables rule ('log group N') selects the packets");
    NflogEngine engine(nflog_group_, snaplen_ > 0xffff ? 0xffff : snaplen_);
    fmt::print(stderr, "listening on NFLOG group {}\n", nflog_group_);
    return run_engine(engine);
}

// tc and XDP: --src/--dst/... as rules in a map, the expression as a translated filter.
int CaptureCommand::run_bpf() {
#ifdef HOOKDUMP_HAVE_BPF
    BpfEngineConfig cfg;
    cfg.hook = engine_ == "tc" ? BpfEngineConfig::Hook::Tc : BpfEngineConfig::Hook::Xdp;
    cfg.interface = interface_;
    cfg.ingress = direction_ != "out";
    cfg.egress = direction_ != "in";
    if (cfg.hook == BpfEngineConfig::Hook::Xdp && direction_ == "out")
        throw UsageError("XDP sees received packets only: --direction out needs --engine tc");
    cfg.xdp_mode = xdp_mode_;
    cfg.snaplen = snaplen_;
    // Flows counted in the kernel when flows are all that is written.
    cfg.flows = (out_.flows_flag || !out_.flows_file.empty()) && out_.write_path.empty() && out_.format.empty();
    cfg.max_flows = static_cast<uint32_t>(std::min<size_t>(out_.max_flows, 1u << 20));
    cfg.idle_timeout_ns = static_cast<uint64_t>(out_.idle_timeout * 1e9);
    cfg.active_timeout_ns = static_cast<uint64_t>(out_.active_timeout * 1e9);
    std::string expr;
    for (const auto& w : expression_) expr += (expr.empty() ? "" : " ") + w;
    // The options as rules in a map; the expression as libpcap compiles it, translated to eBPF
    // (the same packets as on every other engine).
    cfg.rules = kmod_.rules("");
    cfg.filter = expr;
    BpfEngine engine(cfg);
    if (engine.stale_removed())
        fmt::print(stderr, "hookdump: removed {} tc filter(s) left on {} by a hookdump that did not exit cleanly\n",
                   engine.stale_removed(), engine.ifname());
    const char* lt = pcap_datalink_val_to_name(engine.linktype());
    fmt::print(stderr, "listening on {}, link-type {}, {} engine{}{}, snapshot length {} bytes\n", engine.ifname(),
               lt ? lt : "?", engine.name(),
               cfg.hook == BpfEngineConfig::Hook::Tc ? " (" + std::string(direction_ == "both" ? "ingress+egress" : direction_ == "in" ? "ingress" : "egress") + ")"
                                                     : std::string(engine.xdp_native() ? " (native)" : " (generic)"),
               cfg.flows ? ", flows counted in the kernel" : "", snaplen_);
    out_.snaplen = snaplen_;
    return run_engine(engine);
#else
    throw UsageError("--engine " + engine_ + ": this hookdump was built without eBPF support");
#endif
}

int CaptureCommand::run_drop() {
#ifdef HOOKDUMP_HAVE_DROP
    std::string expr;
    for (const auto& w : expression_) expr += (expr.empty() ? "" : " ") + w;
    DropEngineConfig cfg;
    cfg.rules = kmod_.rules(expr);
    cfg.all_reasons = drop_all_reasons_;
    cfg.all_netns = drop_all_netns_;
    DropEngine engine(cfg);
    out_.drop_fields = true;
    fmt::print(stderr, "listening at skb:kfree_skb ({}, drop engine)\n",
               engine.kernel_has_reasons() ? "drop reasons" : "this kernel reports no drop reasons");
    return run_engine(engine);
#else
    throw UsageError("this hookdump was built without the drop engine (it needs clang, bpftool, libbpf and the "
                     "build machine's BTF)");
#endif
}

int CaptureCommand::run() {
    if ((drop_all_reasons_ || drop_all_netns_) && engine_ != "drop")
        throw UsageError("--all-reasons and --all-netns belong to --engine drop");
    if (engine_ == "drop") return run_drop();
    if (engine_ == "tc" || engine_ == "xdp") return run_bpf();
    if (engine_ == "kmod") return run_kmod();
    if (engine_ == "nflog") return run_nflog();
    AfPacketConfig cfg;
    cfg.interface = interface_;
    for (const auto& w : expression_) cfg.filter += (cfg.filter.empty() ? "" : " ") + w;
    cfg.promiscuous = !no_promisc_;
    cfg.snaplen = snaplen_;
    cfg.workers = workers_;
    cfg.block_size = block_kib_ << 10;
    cfg.block_count = blocks_;
    cfg.block_timeout_ms = block_timeout_ms_;
    if (per_worker_files_ && out_.write_path.empty()) throw UsageError("--per-worker-files needs -w FILE");
    if (per_worker_files_ && out_.count) throw UsageError("-c cannot be combined with --per-worker-files");

    AfPacketEngine engine(cfg);
    fmt::print(stderr, "listening on {}, link-type {} ({}), snapshot length {} bytes\n", cfg.interface,
               pcap_datalink_val_to_name(engine.linktype()) ? pcap_datalink_val_to_name(engine.linktype()) : "?",
               pcap_datalink_val_to_description(engine.linktype()) ? pcap_datalink_val_to_description(engine.linktype()) : "?",
               cfg.snaplen);
    if (engine.userspace_filter())
        fmt::print(stderr, "hookdump: this expression reads link-layer fields the kernel cannot "
                           "filter on 'any'; filtering in userspace\n");
    out_.snaplen = snaplen_;
    if (!per_worker_files_ || engine.workers() < 2) return run_engine(engine);

    if (!user_.empty()) drop_privileges(user_);
    install_stop_signals();
    std::vector<std::unique_ptr<Pipeline>> pipes;
    for (unsigned i = 0; i < engine.workers(); ++i) pipes.push_back(out_.build_for(worker_path(out_.write_path, i)));
    const int rc = run_workers(engine, pipes);
    uint64_t captured = 0;
    for (auto& p : pipes) captured += p->packets();
    report(engine, captured);
    return rc;
}

}  // namespace hookdump

#include "cli/output_options.h"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <csignal>

#include "cli/numbers.h"
#include "engine/engine.h"
#include "sink/rotating_sink.h"
#include "util/error.h"
#include "util/named.h"

namespace hookdump {
namespace {

std::atomic<bool> g_stop{false};
std::atomic<unsigned> g_reopen{0};

void on_stop_signal(int) {
    g_stop.store(true);
}

void on_reopen_signal(int) {
    g_reopen.fetch_add(1);
}

constexpr uint64_t kMaxTimeoutSeconds = 1'000'000'000;

uint64_t seconds_to_ns(double s) {
    return static_cast<uint64_t>(s * 1e9);
}

}  // namespace

const std::atomic<bool>& stop_flag() {
    return g_stop;
}
void request_stop() {
    g_stop.store(true);
}

void install_stop_signals() {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    // A file over RLIMIT_FSIZE is a write error (EFBIG) reported like the others, not a kill.
    signal(SIGXFSZ, SIG_IGN);
}

void install_reopen_signal() {
    struct sigaction sa {};
    sa.sa_handler = on_reopen_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, nullptr);
}

const std::atomic<unsigned>& reopen_generation() {
    return g_reopen;
}

void OutputOptions::add_to(CLI::App& app) {
    app.add_option("-o,--output-format", format, "Output format: " + row_names(sink_formats()));
    app.add_option("-w,--write", write_path,
                   "Write packets to FILE (format from -o or the extension)");
    // --flows alone is a flag, so it never swallows the next word (an expression); the file
    // comes only as --flows=FILE, which main() turns into the hidden --flows-file.
    app.add_flag("--flows", flows_flag,
                 "Keep a flow table and print it at the end; --flows=FILE writes flow records "
                 "to FILE (.csv or .jsonl) instead");
    app.add_option("--flows-file", flows_file, "")->group("");
    add_decimal(app, "-G,--rotate-seconds", rotate_seconds, "Start a new -w file every SECONDS");
    add_decimal(app, "-C,--rotate-size", rotate_megabytes,
                "Start a new -w file when it reaches MEGABYTES (1,000,000 bytes)");
    add_number(app, "-W,--rotate-files", rotate_files,
               "Keep at most FILES rotated files (reuse the oldest)", 1);
    add_number(app, "-c,--count", count, "Stop after COUNT packets", 1);
    // At most 1e9 seconds: the timeouts are nanoseconds in 64 bits.
    add_decimal(app, "--idle-timeout", idle_timeout,
                "Export a flow after SECONDS without packets (60)", 0, kMaxTimeoutSeconds);
    add_decimal(app, "--active-timeout", active_timeout, "Export a long flow every SECONDS (1800)",
                0, kMaxTimeoutSeconds);
    add_number(app, "--max-flows", max_flows, "Flow table size; when full the oldest is evicted",
               1);
    ipfix.add_to(app);
}

std::unique_ptr<Pipeline> OutputOptions::build() const {
    return build_for(write_path);
}

std::unique_ptr<Pipeline> OutputOptions::build_for(const std::string& out_path) const {
    std::optional<std::string> flows;
    if (flows_flag || !flows_file.empty()) flows = flows_file.empty() ? "-" : flows_file;
    // Resolved first: a bad --ipfix is a usage error before any file is created.
    std::optional<IpfixSinkConfig> ipfix_to;
    if (ipfix.enabled()) ipfix_to = ipfix.resolve(from_file);
    auto pipeline = std::make_unique<Pipeline>(count);
    const bool want_packets = !out_path.empty() || !format.empty() || !wants_flows();
    if (want_packets) {
        const SinkFormat* f = nullptr;
        if (!format.empty())
            f = &sink_format_by_name(format);
        else if (!out_path.empty())
            f = sink_format_by_path(out_path);
        else
            f = &sink_format_by_name("text");
        if (!f)
            throw UsageError("cannot tell the format of '" + out_path +
                             "' from its name: give -o FORMAT");
        SinkOptions so;
        so.path = out_path.empty() ? "-" : out_path;
        so.snaplen = snaplen;
        so.fields = fields;
        if (f->binary && so.path == "-" && isatty(STDOUT_FILENO))
            throw UsageError(
                fmt::format("refusing to write {} to a terminal: use -w FILE or a pipe", f->name));
        RotationOptions rot;
        rot.seconds = static_cast<uint64_t>(rotate_seconds);
        rot.bytes = static_cast<uint64_t>(rotate_megabytes * 1e6);
        rot.max_files = rotate_files;
        if (rotate_seconds > 0 && rot.seconds == 0) rot.seconds = 1;
        if (rot.enabled() && so.path == "-") throw UsageError("-G and -C need -w FILE");
        if (rotate_files && !rot.enabled()) throw UsageError("-W needs -G or -C");
        // A file is written through the rotating sink also without rotation, which reopens it
        // on SIGHUP (Pipeline::watch_reopen).
        pipeline->add_sink(so.path != "-" ? make_rotating_sink(*f, so, rot) : f->make(so));
    }
    if (wants_flows()) {
        FlowConfig cfg;
        cfg.idle_timeout_ns = seconds_to_ns(idle_timeout);
        cfg.active_timeout_ns = seconds_to_ns(active_timeout);
        cfg.max_flows = max_flows;
        pipeline->set_flows(cfg);
    }
    if (flows) {
        FlowSinkOptions fo;
        fo.path = *flows;
        fo.proc_fields = fields.proc;
        const FlowSinkFormat* f = flow_sink_format_by_path(fo.path);
        if (!f) f = &flow_sink_format_by_name("text");
        pipeline->add_flow_sink(f->make(fo));
    }
    if (ipfix_to) {
        std::unique_ptr<FlowSink> sink = make_ipfix_sink(*ipfix_to);
        ipfix_sink = sink.get();
        pipeline->add_flow_sink(std::move(sink));
    }
    return pipeline;
}

int run_capture(Engine& engine, Pipeline& pipeline, EventHandler* front) {
    std::string error;
    try {
        engine.run(front ? *front : static_cast<EventHandler&>(pipeline), g_stop);
    } catch (const RuntimeError& e) {
        error = e.what();
    }
    // Also after a failure: what reached the files ends whole, with its trailers where they fit.
    try {
        pipeline.finish(engine.ledger());
    } catch (const RuntimeError& e) {
        if (error.empty()) error = e.what();
    }
    if (!error.empty()) {
        fmt::print(stderr, "hookdump: {}\n", error);
        return kExitRuntime;
    }
    if (const FlowTable* ft = pipeline.flows(); ft && ft->stats().evicted)
        fmt::print(
            stderr,
            "hookdump: {} flows evicted early because the flow table was full (--max-flows)\n",
            ft->stats().evicted);
    return kExitOk;
}

}  // namespace hookdump

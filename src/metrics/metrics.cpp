#include "metrics/metrics.h"

#include <fmt/format.h>

#include "sink/ipfix_sink.h"

#include <string_view>
#include <utility>

namespace hookdump {
namespace {

using Labels = std::vector<std::pair<std::string_view, std::string>>;

struct Sample {
    Labels labels;
    std::string value;
};

std::string escape(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

// One family: HELP and TYPE, then its samples; nothing when it has none.
void family(std::string& out, std::string_view name, std::string_view type, std::string_view help,
            const std::vector<Sample>& samples) {
    if (samples.empty()) return;
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    for (const Sample& s : samples) {
        out += name;
        if (!s.labels.empty()) {
            out += '{';
            bool first = true;
            for (const auto& [key, value] : s.labels) {
                out += fmt::format("{}{}=\"{}\"", first ? "" : ",", key, escape(value));
                first = false;
            }
            out += '}';
        }
        out += fmt::format(" {}\n", s.value);
    }
}

std::string number(uint64_t v) {
    return fmt::format("{}", v);
}

std::string number(double v) {
    return fmt::format("{:.3f}", v);
}

// The interface's labels: its name ("any" on AF_PACKET's cooked socket), else its index.
Labels interface_labels(const std::string& engine, const InterfaceCounters& c) {
    return {{"engine", engine},
            {"interface", c.ifname.view().empty() ? number(static_cast<uint64_t>(c.ifindex))
                                                  : std::string(c.ifname.view())}};
}

void ledger_families(std::string& out, const MetricsSnapshot& s) {
    struct Counter {
        std::string_view name;
        std::string_view help;
        uint64_t InterfaceCounters::*field;
    };
    static constexpr Counter kCounters[] = {
        {"hookdump_packets_received_by_filter_total",
         "Packets the kernel's filter accepted for hookdump, as the kernel counts them.",
         &InterfaceCounters::filter_accepted},
        {"hookdump_packets_read_total", "Packets hookdump read from the kernel.",
         &InterfaceCounters::received},
        {"hookdump_packets_dropped_by_kernel_total",
         "Packets the kernel dropped before hookdump could read them.",
         &InterfaceCounters::kernel_drops},
    };
    for (const Counter& c : kCounters) {
        std::vector<Sample> samples;
        for (const InterfaceCounters& i : s.ledger.interfaces)
            samples.push_back({interface_labels(s.engine, i), number(i.*c.field)});
        family(out, c.name, "counter", c.help, samples);
    }
    family(out, "hookdump_packets_captured_total", "counter",
           "Packets handed to the outputs (the ledger's \"captured\").",
           {{{{"engine", s.engine}}, number(s.captured)}});
}

// A rotated output's label is its first file: its FIRST..LAST path grows with each file, and a
// series must keep its name.
std::string output_label(const OutputStats& o) {
    if (!o.files) return o.path;
    for (size_t at = o.path.find(".."); at != std::string::npos; at = o.path.find("..", at + 2))
        if (at > 0 && o.path[at - 1] != '/') return o.path.substr(0, at);
    return o.path;
}

void output_families(std::string& out, const MetricsSnapshot& s) {
    std::vector<Sample> handed, written, dropped, sent, failed;
    for (const MetricsSnapshot::Export& e : s.exports) {
        const Labels l = {{"collector", e.collector}};
        sent.push_back({l, number(e.sent)});
        failed.push_back({l, number(e.failed)});
    }
    for (const OutputLedger& o : s.outputs) {
        const Labels l = {{"output", output_label(o.stats)}, {"records", std::string(o.unit)}};
        handed.push_back({l, number(o.handed)});
        written.push_back({l, number(o.stats.written)});
        // Given and not written is dropped once the output has said why (a failed write
        // stops it, a format's limit refuses); before that it is only buffered.
        dropped.push_back({l, number(o.stats.why_not.empty() ? 0 : o.handed - o.stats.written)});
    }
    family(out, "hookdump_output_records_total", "counter",
           "Records (packets or flows) handed to the output.", handed);
    family(out, "hookdump_output_records_written_total", "counter",
           "Records that reached the output whole.", written);
    family(out, "hookdump_output_records_dropped_total", "counter",
           "Records dropped by hookdump: handed to an output that failed or refused them.",
           dropped);
    family(out, "hookdump_ipfix_records_sent_total", "counter",
           "Flow records sent to the IPFIX collector.", sent);
    family(out, "hookdump_ipfix_records_failed_total", "counter",
           "Flow records the IPFIX exporter could not send.", failed);
}

void flow_families(std::string& out, const MetricsSnapshot& s) {
    if (!s.flows) return;
    const FlowStats& f = s.flow_stats;
    family(out, "hookdump_flows_active", "gauge", "Flows in hookdump's flow table.",
           {{{}, number(s.flows_active)}});
    family(out, "hookdump_flows_created_total", "counter", "Flows the flow table created.",
           {{{}, number(f.flows_created)}});
    const std::pair<std::string_view, uint64_t> ends[] = {
        {"idle", f.exported_idle}, {"active", f.exported_active}, {"tcp", f.exported_tcp},
        {"evicted", f.evicted},    {"final", f.exported_final},
    };
    std::vector<Sample> exported;
    for (const auto& [end, n] : ends) exported.push_back({{{"end", std::string(end)}}, number(n)});
    family(out, "hookdump_flows_exported_total", "counter",
           "Flows exported to the flow outputs, by how they ended (idle timeout, active "
           "timeout, TCP FIN/RST, evicted from a full table, flushed at exit).",
           exported);
}

// A ring of blocks (AF_PACKET) is shown in blocks, a ring of bytes (a BPF ring buffer) in bytes,
// a socket's receive queue as that: each its own pair of families, as the exposition
// conventions ask.
void ring_families(std::string& out, const MetricsSnapshot& s) {
    std::vector<Sample> blocks, blocks_in_use, bytes, bytes_used, queue, queue_used;
    for (size_t i = 0; i < s.rings.size(); ++i) {
        const RingFill& r = s.rings[i];
        const Labels l = {{"engine", s.engine}, {"ring", number(static_cast<uint64_t>(i))}};
        switch (r.unit) {
            case RingFill::Unit::Blocks:
                blocks.push_back({l, number(r.size)});
                blocks_in_use.push_back({l, number(r.in_use)});
                break;
            case RingFill::Unit::Bytes:
                bytes.push_back({l, number(r.size)});
                bytes_used.push_back({l, number(r.in_use)});
                break;
            case RingFill::Unit::SocketBytes:
                queue.push_back({{{"engine", s.engine}}, number(r.size)});
                queue_used.push_back({{{"engine", s.engine}}, number(r.in_use)});
                break;
        }
    }
    family(out, "hookdump_ring_blocks", "gauge", "Blocks of the engine's kernel ring.", blocks);
    family(out, "hookdump_ring_blocks_in_use", "gauge",
           "Ring blocks the kernel has filled and hookdump has not yet given back.", blocks_in_use);
    family(out, "hookdump_ring_size_bytes", "gauge", "Size of the engine's BPF ring buffer.",
           bytes);
    family(out, "hookdump_ring_used_bytes", "gauge",
           "Bytes of the BPF ring buffer the kernel's programs have written and hookdump has not "
           "yet read.",
           bytes_used);
    family(out, "hookdump_socket_receive_buffer_bytes", "gauge",
           "Receive buffer of the engine's netlink socket, as the kernel charges it.", queue);
    family(out, "hookdump_socket_receive_queue_bytes", "gauge",
           "Bytes the kernel charges for the datagrams in the engine's netlink socket that "
           "hookdump has not read yet; past the buffer, the kernel drops.",
           queue_used);
}

}  // namespace

MetricsSnapshot take_snapshot(const Engine& engine, const Pipeline& pipeline,
                              const FlowSink* ipfix) {
    MetricsSnapshot s;
    s.engine = std::string(engine.name());
    s.ledger = engine.ledger();
    s.captured = pipeline.packets();
    const ipfix::ExportStats* exported = ipfix ? ipfix_export_stats(*ipfix) : nullptr;
    std::string collector;
    if (exported) {
        collector = ipfix->output_stats().path;
        s.exports.push_back({collector, exported->records_sent, exported->records_not_sent});
    }
    for (OutputLedger& o : pipeline.outputs())
        if (!exported || o.stats.path != collector) s.outputs.push_back(std::move(o));
    if (const FlowTable* f = pipeline.flows()) {
        s.flows = true;
        s.flows_active = f->size() + engine.flows_held();
        s.flow_stats = f->stats();
    }
    s.rings = engine.ring_fill();
    return s;
}

std::string render_metrics(const MetricsSnapshot& s, const MetricsClock& clock,
                           std::string_view version) {
    std::string out;
    Labels build = {{"version", std::string(version)}};
    if (!s.engine.empty()) build.emplace_back("engine", s.engine);
    family(out, "hookdump_build_info", "gauge",
           "hookdump's version and the capture's engine; the value is always 1.", {{build, "1"}});
    family(out, "process_start_time_seconds", "gauge",
           "Start time of the process since the Unix epoch in seconds.",
           {{{}, number(clock.start_time_seconds)}});
    family(out, "hookdump_uptime_seconds", "gauge", "Seconds since hookdump started.",
           {{{}, number(clock.uptime_seconds)}});
    if (s.engine.empty()) return out;
    ledger_families(out, s);
    output_families(out, s);
    flow_families(out, s);
    ring_families(out, s);
    return out;
}

}  // namespace hookdump

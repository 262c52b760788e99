// --metrics: the text exposition rendered from a snapshot (exact text), and ADDR:PORT parsing.
#include <gtest/gtest.h>

#include <string>

#include "metrics/metrics.h"
#include "metrics/metrics_server.h"
#include "util/error.h"

namespace hookdump {
namespace {

InterfaceCounters counters(int32_t ifindex, const char* name, uint64_t accepted, uint64_t received,
                           uint64_t drops) {
    InterfaceCounters c;
    c.ifindex = ifindex;
    c.ifname.assign(name);
    c.filter_accepted = accepted;
    c.received = received;
    c.kernel_drops = drops;
    return c;
}

TEST(Metrics, BeforeTheFirstTickOnlyBuildAndTime) {
    MetricsClock clock{1764770000.25, 1.5};
    EXPECT_EQ(render_metrics({}, clock, "0.1.0"),
              "# HELP hookdump_build_info hookdump's version and the capture's engine; the value "
              "is always 1.\n"
              "# TYPE hookdump_build_info gauge\n"
              "hookdump_build_info{version=\"0.1.0\"} 1\n"
              "# HELP process_start_time_seconds Start time of the process since the Unix epoch "
              "in seconds.\n"
              "# TYPE process_start_time_seconds gauge\n"
              "process_start_time_seconds 1764770000.250\n"
              "# HELP hookdump_uptime_seconds Seconds since hookdump started.\n"
              "# TYPE hookdump_uptime_seconds gauge\n"
              "hookdump_uptime_seconds 1.500\n");
}

TEST(Metrics, ExactTextOfACapture) {
    MetricsSnapshot s;
    s.engine = "afpacket";
    s.ledger.interfaces = {counters(3, "vA", 0, 120, 0), counters(0, "any", 125, 0, 5)};
    s.captured = 120;
    OutputLedger file{"packets", 120, {}};
    file.stats.path = "/var/log/hookdump/x/\"a\".pcap";
    file.stats.written = 100;
    OutputLedger full{"packets", 120, {}};
    full.stats.path = "/full/b.pcap";
    full.stats.written = 90;
    full.stats.why_not = "No space left on device";
    s.outputs = {file, full};
    s.exports = {{"127.0.0.1:4739", 6, 1}};
    s.flows = true;
    s.flows_active = 2;
    s.flow_stats.flows_created = 9;
    s.flow_stats.exported_idle = 4;
    s.flow_stats.exported_tcp = 2;
    s.flow_stats.evicted = 1;
    s.rings = {{RingFill::Unit::Blocks, 3, 8}, {RingFill::Unit::Blocks, 0, 8}};
    const std::string text = render_metrics(s, {100.0, 2.0}, "0.1.0");
    EXPECT_EQ(
        text,
        "# HELP hookdump_build_info hookdump's version and the capture's engine; the value is "
        "always 1.\n"
        "# TYPE hookdump_build_info gauge\n"
        "hookdump_build_info{version=\"0.1.0\",engine=\"afpacket\"} 1\n"
        "# HELP process_start_time_seconds Start time of the process since the Unix epoch in "
        "seconds.\n"
        "# TYPE process_start_time_seconds gauge\n"
        "process_start_time_seconds 100.000\n"
        "# HELP hookdump_uptime_seconds Seconds since hookdump started.\n"
        "# TYPE hookdump_uptime_seconds gauge\n"
        "hookdump_uptime_seconds 2.000\n"
        "# HELP hookdump_packets_received_by_filter_total Packets the kernel's filter accepted "
        "for hookdump, as the kernel counts them.\n"
        "# TYPE hookdump_packets_received_by_filter_total counter\n"
        "hookdump_packets_received_by_filter_total{engine=\"afpacket\",interface=\"vA\"} 0\n"
        "hookdump_packets_received_by_filter_total{engine=\"afpacket\",interface=\"any\"} 125\n"
        "# HELP hookdump_packets_read_total Packets hookdump read from the kernel.\n"
        "# TYPE hookdump_packets_read_total counter\n"
        "hookdump_packets_read_total{engine=\"afpacket\",interface=\"vA\"} 120\n"
        "hookdump_packets_read_total{engine=\"afpacket\",interface=\"any\"} 0\n"
        "# HELP hookdump_packets_dropped_by_kernel_total Packets the kernel dropped before "
        "hookdump could read them.\n"
        "# TYPE hookdump_packets_dropped_by_kernel_total counter\n"
        "hookdump_packets_dropped_by_kernel_total{engine=\"afpacket\",interface=\"vA\"} 0\n"
        "hookdump_packets_dropped_by_kernel_total{engine=\"afpacket\",interface=\"any\"} 5\n"
        "# HELP hookdump_packets_captured_total Packets handed to the outputs (the ledger's "
        "\"captured\").\n"
        "# TYPE hookdump_packets_captured_total counter\n"
        "hookdump_packets_captured_total{engine=\"afpacket\"} 120\n"
        "# HELP hookdump_output_records_total Records (packets or flows) handed to the output.\n"
        "# TYPE hookdump_output_records_total counter\n"
        "hookdump_output_records_total{output=\"/var/log/hookdump/x/\\\"a\\\".pcap\","
        "records=\"packets\"} 120\n"
        "hookdump_output_records_total{output=\"/full/b.pcap\",records=\"packets\"} 120\n"
        "# HELP hookdump_output_records_written_total Records that reached the output whole.\n"
        "# TYPE hookdump_output_records_written_total counter\n"
        "hookdump_output_records_written_total{output=\"/var/log/hookdump/x/\\\"a\\\".pcap\","
        "records=\"packets\"} 100\n"
        "hookdump_output_records_written_total{output=\"/full/b.pcap\",records=\"packets\"} 90\n"
        "# HELP hookdump_output_records_dropped_total Records dropped by hookdump: handed to an "
        "output that failed or refused them.\n"
        "# TYPE hookdump_output_records_dropped_total counter\n"
        "hookdump_output_records_dropped_total{output=\"/var/log/hookdump/x/\\\"a\\\".pcap\","
        "records=\"packets\"} 0\n"
        "hookdump_output_records_dropped_total{output=\"/full/b.pcap\",records=\"packets\"} 30\n"
        "# HELP hookdump_ipfix_records_sent_total Flow records sent to the IPFIX collector.\n"
        "# TYPE hookdump_ipfix_records_sent_total counter\n"
        "hookdump_ipfix_records_sent_total{collector=\"127.0.0.1:4739\"} 6\n"
        "# HELP hookdump_ipfix_records_failed_total Flow records the IPFIX exporter could not "
        "send.\n"
        "# TYPE hookdump_ipfix_records_failed_total counter\n"
        "hookdump_ipfix_records_failed_total{collector=\"127.0.0.1:4739\"} 1\n"
        "# HELP hookdump_flows_active Flows in hookdump's flow table.\n"
        "# TYPE hookdump_flows_active gauge\n"
        "hookdump_flows_active 2\n"
        "# HELP hookdump_flows_created_total Flows the flow table created.\n"
        "# TYPE hookdump_flows_created_total counter\n"
        "hookdump_flows_created_total 9\n"
        "# HELP hookdump_flows_exported_total Flows exported to the flow outputs, by how they "
        "ended (idle timeout, active timeout, TCP FIN/RST, evicted from a full table, flushed "
        "at exit).\n"
        "# TYPE hookdump_flows_exported_total counter\n"
        "hookdump_flows_exported_total{end=\"idle\"} 4\n"
        "hookdump_flows_exported_total{end=\"active\"} 0\n"
        "hookdump_flows_exported_total{end=\"tcp\"} 2\n"
        "hookdump_flows_exported_total{end=\"evicted\"} 1\n"
        "hookdump_flows_exported_total{end=\"final\"} 0\n"
        "# HELP hookdump_ring_blocks Blocks of the engine's kernel ring.\n"
        "# TYPE hookdump_ring_blocks gauge\n"
        "hookdump_ring_blocks{engine=\"afpacket\",ring=\"0\"} 8\n"
        "hookdump_ring_blocks{engine=\"afpacket\",ring=\"1\"} 8\n"
        "# HELP hookdump_ring_blocks_in_use Ring blocks the kernel has filled and hookdump has "
        "not yet given back.\n"
        "# TYPE hookdump_ring_blocks_in_use gauge\n"
        "hookdump_ring_blocks_in_use{engine=\"afpacket\",ring=\"0\"} 3\n"
        "hookdump_ring_blocks_in_use{engine=\"afpacket\",ring=\"1\"} 0\n");
}

TEST(Metrics, NoFlowTableNoFlowFamilies) {
    MetricsSnapshot s;
    s.engine = "nflog";
    const std::string text = render_metrics(s, {}, "0.1.0");
    EXPECT_EQ(text.find("hookdump_flows_"), std::string::npos);
    EXPECT_EQ(text.find("hookdump_ring_"), std::string::npos);
    EXPECT_NE(text.find("hookdump_packets_captured_total{engine=\"nflog\"} 0\n"),
              std::string::npos);
}

// A BPF ring buffer's fill is in bytes, in its own families (no blocks ones).
TEST(Metrics, ByteRingInBytes) {
    MetricsSnapshot s;
    s.engine = "tc";
    s.rings = {{RingFill::Unit::Bytes, 4096, 16777216}};
    const std::string text = render_metrics(s, {}, "0.1.0");
    const std::string rings = text.substr(text.find("# HELP hookdump_ring_"));
    EXPECT_EQ(rings,
              "# HELP hookdump_ring_size_bytes Size of the engine's BPF ring buffer.\n"
              "# TYPE hookdump_ring_size_bytes gauge\n"
              "hookdump_ring_size_bytes{engine=\"tc\",ring=\"0\"} 16777216\n"
              "# HELP hookdump_ring_used_bytes Bytes of the BPF ring buffer the kernel's programs "
              "have written and hookdump has not yet read.\n"
              "# TYPE hookdump_ring_used_bytes gauge\n"
              "hookdump_ring_used_bytes{engine=\"tc\",ring=\"0\"} 4096\n");
}

// A netlink socket's receive queue (kmod, NFLOG) is neither: its own families, one per engine.
TEST(Metrics, SocketQueueInBytes) {
    MetricsSnapshot s;
    s.engine = "nflog";
    s.rings = {{RingFill::Unit::SocketBytes, 2304, 16777216}};
    const std::string text = render_metrics(s, {}, "0.1.0");
    EXPECT_EQ(text.substr(text.find("# HELP hookdump_socket_")),
              "# HELP hookdump_socket_receive_buffer_bytes Receive buffer of the engine's netlink "
              "socket, as the kernel charges it.\n"
              "# TYPE hookdump_socket_receive_buffer_bytes gauge\n"
              "hookdump_socket_receive_buffer_bytes{engine=\"nflog\"} 16777216\n"
              "# HELP hookdump_socket_receive_queue_bytes Bytes the kernel charges for the "
              "datagrams in the engine's netlink socket that hookdump has not read yet; past the "
              "buffer, the kernel drops.\n"
              "# TYPE hookdump_socket_receive_queue_bytes gauge\n"
              "hookdump_socket_receive_queue_bytes{engine=\"nflog\"} 2304\n");
    EXPECT_EQ(text.find("hookdump_ring_"), std::string::npos);
}

// An engine's rings and the flows it holds itself reach the snapshot through the Engine
// interface, whatever the engine (here none of the real ones): the flow table's flows and the
// engine's add up.
class HoldingEngine final : public Engine {
  public:
    std::string_view name() const override { return "tc"; }
    void run(EventHandler& /*handler*/, const std::atomic<bool>& /*stop*/) override {}
    Ledger ledger() const override { return {}; }
    std::vector<RingFill> ring_fill() const override {
        return {{RingFill::Unit::Bytes, 104, 4096}};
    }
    uint64_t flows_held() const override { return 7; }
};

TEST(Metrics, SnapshotTakesTheEnginesRingsAndFlows) {
    const HoldingEngine engine;
    Pipeline pipeline;
    pipeline.set_flows(FlowConfig{});
    const MetricsSnapshot s = take_snapshot(engine, pipeline, nullptr);
    EXPECT_EQ(s.engine, "tc");
    ASSERT_EQ(s.rings.size(), 1u);
    EXPECT_EQ(s.rings[0].unit, RingFill::Unit::Bytes);
    EXPECT_EQ(s.rings[0].in_use, 104u);
    EXPECT_EQ(s.rings[0].size, 4096u);
    EXPECT_TRUE(s.flows);
    EXPECT_EQ(s.flows_active, 7u);
    const std::string text = render_metrics(s, {}, "0.1.0");
    EXPECT_NE(text.find("\nhookdump_flows_active 7\n"), std::string::npos) << text;
    EXPECT_NE(text.find("\nhookdump_ring_used_bytes{engine=\"tc\",ring=\"0\"} 104\n"),
              std::string::npos)
        << text;
}

TEST(Metrics, LabelValuesEscaped) {
    MetricsSnapshot s;
    s.engine = "afpacket";
    OutputLedger o{"packets", 1, {}};
    o.stats.path = "a\\b\nc";
    s.outputs = {o};
    EXPECT_NE(
        render_metrics(s, {}, "0.1.0")
            .find("hookdump_output_records_total{output=\"a\\\\b\\nc\",records=\"packets\"} 1\n"),
        std::string::npos);
}

TEST(Metrics, RotatedOutputLabelledByItsFirstFile) {
    MetricsSnapshot s;
    s.engine = "afpacket";
    OutputLedger o{"packets", 5, {}};
    o.stats.path = "../logs/ring-00000.pcapng..../logs/ring-00003.pcapng";
    o.stats.files = 4;
    o.stats.written = 5;
    s.outputs = {o};
    EXPECT_NE(render_metrics(s, {}, "0.1.0")
                  .find("hookdump_output_records_written_total{output=\"../logs/"
                        "ring-00000.pcapng\",records=\"packets\"} 5\n"),
              std::string::npos);
}

TEST(MetricsAddress, Parsed) {
    const ListenAddress v4 = parse_listen_address("127.0.0.1:9751");
    EXPECT_EQ(v4.host, "127.0.0.1");
    EXPECT_EQ(v4.port, 9751);
    EXPECT_EQ(v4.text(), "127.0.0.1:9751");
    const ListenAddress v6 = parse_listen_address("[::1]:80");
    EXPECT_EQ(v6.host, "::1");
    EXPECT_EQ(v6.port, 80);
    EXPECT_EQ(v6.text(), "[::1]:80");
    EXPECT_EQ(parse_listen_address("0.0.0.0:65535").port, 65535);
}

TEST(MetricsAddress, RefusedInOneLine) {
    const std::pair<const char*, const char*> bad[] = {
        {"127.0.0.1", "--metrics '127.0.0.1': no port"},
        {"127.0.0.1:0", "--metrics '127.0.0.1:0': the port is not 1-65535"},
        {"127.0.0.1:65536", "--metrics '127.0.0.1:65536': the port is not 1-65535"},
        {"127.0.0.1:9x", "--metrics '127.0.0.1:9x': the port is not 1-65535"},
        {"127.0.0.1:", "--metrics '127.0.0.1:': the port is not 1-65535"},
        {"localhost:9751", "--metrics 'localhost:9751': not an IPv4 address"},
        {"::1:9751", "--metrics '::1:9751': an IPv6 address goes in brackets"},
        {"[::1:9751", "--metrics '[::1:9751': no closing ']'"},
        {"[::1]9751", "--metrics '[::1]9751': no port"},
        {"[1.2.3.4]:9751", "--metrics '[1.2.3.4]:9751': not an IPv6 address in the brackets"},
    };
    for (const auto& [spec, line] : bad) {
        try {
            parse_listen_address(spec);
            ADD_FAILURE() << spec << " was accepted";
        } catch (const UsageError& e) {
            EXPECT_EQ(std::string(e.what()),
                      std::string(line) + " (ADDR:PORT, e.g. 127.0.0.1:9751 or [::1]:9751)");
        }
    }
}

}  // namespace
}  // namespace hookdump

#!/usr/bin/env python3
"""capture --metrics ADDR:PORT: the Prometheus text format on /metrics, scraped over 127.0.0.1
inside the capture's namespace while it runs.

Checked: every scrape passes `promtool check metrics` (Prometheus' own parser and linter);
after known traffic the scraped counters equal the ledger the capture writes at exit
(--stats-json: per interface received by filter, read, dropped by kernel; captured; per
output handed and written) exactly, the ring's blocks are there, build_info carries
--version's version; with flows exported over IPFIX to nfcapd, the flow table's counters and
the records sent equal what the exit ledger and the collector say; tc, XDP and drop show
their BPF ring buffer in bytes, tc/XDP flow mode the flows the kernel counted as
hookdump_flows_active, NFLOG its socket's receive queue. A bad ADDR:PORT and a port
in use (by another program, or by another hookdump: SO_REUSEPORT would share it) are one line
and exit 2 before anything is created or attached.
"""

import json
import os
import re
import subprocess
import time
import unittest

import netns
from netns import Topology, tool_packet_count
from test_bpf import A_IP, B_IP, capture, two_namespaces

PORT = 9751
AF = ("--engine", "afpacket")

SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL_RE = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(ns, port=PORT):
    """(Content-Type, body) of GET http://127.0.0.1:PORT/metrics, from inside `ns`."""
    code = ("import sys, urllib.request\n"
            f"r = urllib.request.urlopen('http://127.0.0.1:{port}/metrics', timeout=5)\n"
            "sys.stdout.write(r.headers['Content-Type'] + '\\n' + r.read().decode())\n")
    r = netns.sh("python3", "-c", code, ns=ns, check=False)
    if r.returncode != 0:
        raise AssertionError(f"scraping 127.0.0.1:{port} failed: {r.stderr}")
    ctype, _, body = r.stdout.partition("\n")
    return ctype, body


def promtool_check(test, text):
    """`promtool check metrics` on a scrape: exit 0 and nothing to say."""
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    test.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""), text)


def parse(text):
    """{(name, ((label, value), ...)): value} of every sample; HELP/TYPE before each family."""
    samples, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            raise AssertionError(f"not a sample line: {line!r}")
        name, labels, value = m.groups()
        if name not in typed:
            raise AssertionError(f"{name} has no TYPE line before it")
        key = (name, tuple(sorted(LABEL_RE.findall(labels or ""))))
        if key in samples:
            raise AssertionError(f"{key} twice")
        samples[key] = float(value)
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def wait_scrape(test, ns, done, what, timeout=10, port=PORT):
    """Scrapes until done(samples) holds; checks each scrape with promtool. Returns (text,
    samples) of the last."""
    deadline = time.monotonic() + timeout
    while True:
        ctype, text = scrape(ns, port)
        test.assertEqual(ctype, "text/plain; version=0.0.4; charset=utf-8")
        samples = parse(text)
        if done(samples):
            promtool_check(test, text)
            return text, samples
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout}s:\n{text}")
        time.sleep(0.1)


def ledger_matches(test, samples, j, engine):
    """The scrape equals the --stats-json ledger `j` written at exit, counter for counter."""
    test.assertEqual(value(samples, "hookdump_packets_captured_total", engine=engine),
                     j["packets_captured"])
    for i in j["interfaces"]:
        labels = dict(engine=engine, interface=i["ifname"] or str(i["ifindex"]))
        for metric, field in (("hookdump_packets_received_by_filter_total", "received_by_filter"),
                              ("hookdump_packets_read_total", "read"),
                              ("hookdump_packets_dropped_by_kernel_total", "dropped_by_kernel")):
            test.assertEqual(value(samples, metric, **labels), i[field], (metric, labels))
    interfaces = {s[1] for s in samples if s[0] == "hookdump_packets_read_total"}
    test.assertEqual(len(interfaces), len(j["interfaces"]), interfaces)
    for o in j["outputs"]:
        if ":" in o["path"] and not o["path"].startswith("/"):
            test.assertEqual(value(samples, "hookdump_ipfix_records_sent_total", collector=o["path"]),
                             o["written"])
            continue
        labels = dict(output=o["path"], records=o["records"])
        test.assertEqual(value(samples, "hookdump_output_records_written_total", **labels), o["written"])
        test.assertEqual(value(samples, "hookdump_output_records_total", **labels),
                         o["written"] + o["not_written"])
        test.assertEqual(value(samples, "hookdump_output_records_dropped_total", **labels),
                         o["not_written"])


def version():
    r = subprocess.run([netns.HOOKDUMP, "--version"], capture_output=True, text=True, timeout=10)
    return r.stdout.split()[1]  # "hookdump 0.1.0"


class Capture(unittest.TestCase):
    """AF_PACKET at vA into a pcap file: scrapes before and after 300 packets."""

    def test_capture(self):
        with Topology() as t:
            a, b = two_namespaces(t)
            pcap, stats = t.path("x.pcap"), t.path("x.json")
            cap = t.capture(a, *AF, "-i", "vA", "-q", "-w", pcap, "--stats-json", stats,
                            "--metrics", f"127.0.0.1:{PORT}")
            text, s = wait_scrape(self, a, lambda s: value(s, "hookdump_packets_captured_total",
                                                           engine="afpacket") == 0,
                                  "the engine's first snapshot")
            self.assertEqual(value(s, "hookdump_build_info", version=version(), engine="afpacket"), 1)
            self.assertEqual(value(s, "hookdump_ring_blocks", engine="afpacket", ring="0"), 8)
            self.assertGreater(value(s, "hookdump_uptime_seconds"), 0)
            self.assertAlmostEqual(value(s, "process_start_time_seconds"), time.time(), delta=60)
            self.assertIsNone(value(s, "hookdump_flows_active"))
            t.send(b, "vB", count=300, flows=5, src=B_IP, dst=A_IP, rate=5000)
            text, s = wait_scrape(self, a, lambda s: value(s, "hookdump_output_records_written_total",
                                                           output=pcap, records="packets") == 300,
                                  "300 packets written")
            self.assertEqual(value(s, "hookdump_packets_read_total", engine="afpacket", interface="vA"), 300)
            self.assertEqual(value(s, "hookdump_packets_received_by_filter_total", engine="afpacket",
                                   interface="vA"), 300)
            self.assertEqual(value(s, "hookdump_packets_dropped_by_kernel_total", engine="afpacket",
                                   interface="vA"), 0)
            self.assertEqual(value(s, "hookdump_ring_blocks_in_use", engine="afpacket", ring="0"), 0)
            self.assertEqual(cap.stop(netns.signal.SIGTERM), 0, cap.stderr())
            self.assertEqual(cap.ledger(), (300, 300, 0))
            self.assertEqual(tool_packet_count(pcap), 300)
            with open(stats) as f:
                ledger_matches(self, s, json.load(f), "afpacket")


class Flows(unittest.TestCase):
    """AF_PACKET with a flow table exporting over IPFIX to nfcapd (1 s idle timeout): the
    flows exported during the run are in the scrape as they are in the exit ledger and the
    collector."""

    def test_flows_ipfix(self):
        import collectors
        with Topology() as t:
            a, b = two_namespaces(t)
            nfcapd = collectors.Nfcapd(t, a)
            stats, csv = t.path("f.json"), t.path("flows.csv")
            cap = t.capture(a, *AF, "-i", "vA", "-q", "--flows=" + csv, "--idle-timeout", "1",
                            "--ipfix", f"127.0.0.1:{collectors.NFCAPD_PORT}", "--stats-json", stats,
                            "--metrics", f"127.0.0.1:{PORT}")
            t.send(b, "vB", count=120, flows=6, src=B_IP, dst=A_IP, sport=40000, dport=5001)
            text, s = wait_scrape(self, a, lambda s: value(s, "hookdump_flows_created_total") == 6,
                                  "6 flows in the table")
            collector = f"127.0.0.1:{collectors.NFCAPD_PORT}"
            # Idle after 1 s, sent within the exporter's 1 s flush interval.
            text, s = wait_scrape(self, a, lambda s: value(s, "hookdump_ipfix_records_sent_total",
                                                           collector=collector) == 6,
                                  "6 records sent", timeout=15)
            self.assertEqual(value(s, "hookdump_flows_active"), 0)
            self.assertEqual(value(s, "hookdump_flows_exported_total", end="idle"), 6)
            for end in ("active", "tcp", "evicted", "final"):
                self.assertEqual(value(s, "hookdump_flows_exported_total", end=end), 0, end)
            self.assertEqual(value(s, "hookdump_ipfix_records_failed_total", collector=collector), 0)
            self.assertEqual(value(s, "hookdump_output_records_written_total", output=csv,
                                   records="flows"), 6)
            self.assertEqual(cap.stop(netns.signal.SIGTERM), 0, cap.stderr())
            self.assertEqual(cap.ledger(), (120, 120, 0))
            with open(stats) as f:
                ledger_matches(self, s, json.load(f), "afpacket")
            flows, seq_failures = nfcapd.flows()
            self.assertEqual((len(flows), seq_failures), (6, 0), flows)
            self.assertEqual(sum(f["packets"] for f in flows), 120)


RING_BYTES = 16 << 20  # the tc/XDP programs' ring buffer (PktConfig::ring_bytes)


def ring_bytes(test, s, engine, size):
    """The engine's one BPF ring buffer in bytes (no blocks families); returns its fill. A record
    and its header take a multiple of 8 bytes."""
    test.assertEqual(value(s, "hookdump_ring_size_bytes", engine=engine, ring="0"), size)
    used = value(s, "hookdump_ring_used_bytes", engine=engine, ring="0")
    test.assertIsNotNone(used)
    test.assertTrue(0 <= used <= size and used % 8 == 0, used)
    test.assertIsNone(value(s, "hookdump_ring_blocks", engine=engine, ring="0"))
    test.assertFalse([k for k in s if k[0] in ("hookdump_ring_size_bytes", "hookdump_ring_used_bytes")
                      and dict(k[1])["ring"] != "0"], s)
    return used


class BpfRing(unittest.TestCase):
    """tc into a pcap file: the programs' ring buffer is in the scrape, in bytes. The snapshot is
    taken on the reading thread when a read found the ring empty, so once the traffic is read
    it shows 0 bytes used exactly (the fill with unread records is the netns_bpf_prog_test_run
    case RingbufFillCountsWhatTheReaderHasNotRead)."""

    def test_tc_ring(self):
        with Topology() as t:
            a, b = two_namespaces(t)
            pcap = t.path("tc.pcap")
            cap = capture(t, a, "--engine", "tc", "--direction", "in", "-i", "vA", "-q", "-w", pcap,
                          "--metrics", f"127.0.0.1:{PORT}")
            text, s = wait_scrape(self, a, lambda s: value(s, "hookdump_packets_captured_total",
                                                           engine="tc") == 0, "the engine's first snapshot")
            ring_bytes(self, s, "tc", RING_BYTES)
            t.send(b, "vB", count=300, flows=5, src=B_IP, dst=A_IP, rate=5000)
            text, s = wait_scrape(self, a, lambda s: value(s, "hookdump_output_records_written_total",
                                                           output=pcap, records="packets") == 300,
                                  "300 packets written")
            self.assertEqual(ring_bytes(self, s, "tc", RING_BYTES), 0)
            self.assertEqual(cap.stop(netns.signal.SIGTERM), 0, cap.stderr())
            self.assertEqual(cap.ledger(), (300, 300, 0))
            self.assertEqual(tool_packet_count(pcap), 300)


class KernelFlows(unittest.TestCase):
    """tc and XDP flow mode (5-tuples counted in the kernel's hashes, read by the drain each
    second): hookdump_flows_active is the number of distinct flows sent, none exported yet (60 s
    idle timeout), then every one exported at exit as the csv and the ledger say."""

    def check(self, engine):
        with Topology() as t:
            a, b = two_namespaces(t)
            csv = t.path("flows.csv")
            args = ["--engine", engine, "-i", "vA", "-q", f"--flows={csv}"]
            if engine == "tc":
                args += ["--direction", "in"]
            cap = capture(t, a, *args, "--metrics", f"127.0.0.1:{PORT}")
            text, s = wait_scrape(self, a, lambda s: value(s, "hookdump_flows_active") == 0,
                                  "the engine's first snapshot")
            ring_bytes(self, s, engine, RING_BYTES)
            t.send(b, "vB", count=140, flows=7, src=B_IP, dst=A_IP, sport=40000, dport=5001)
            text, s = wait_scrape(self, a, lambda s: value(s, "hookdump_flows_active") == 7,
                                  "7 flows held")
            self.assertEqual(value(s, "hookdump_flows_created_total"), 0)
            self.assertEqual(ring_bytes(self, s, engine, RING_BYTES), 0)  # nothing spilled
            self.assertEqual(value(s, "hookdump_packets_received_by_filter_total", engine=engine,
                                   interface="vA"), 140)
            # Held until exit, and never more than sent.
            time.sleep(1.2)
            _, s = wait_scrape(self, a, lambda s: True, "a later scrape")
            self.assertEqual(value(s, "hookdump_flows_active"), 7)
            self.assertEqual(cap.stop(netns.signal.SIGTERM), 0, cap.stderr())
            self.assertEqual(cap.ledger(), (140, 140, 0))
            rows = netns.read_csv(csv)
            self.assertEqual(sorted(int(r["sport"]) for r in rows), list(range(40000, 40007)), rows)
            self.assertEqual(sum(int(r["packets"]) for r in rows), 140)

    def test_tc_flows(self):
        self.check("tc")

    def test_xdp_flows(self):
        self.check("xdp")


class DropRing(unittest.TestCase):
    """The drop engine's ring buffer (4 MiB, bpf/hookdump_drop.bpf.c) is in the scrape too."""

    def test_drop_ring(self):
        with Topology() as t:
            a, _ = two_namespaces(t)
            cap = t.capture(a, "--engine", "drop", "-q", "-w", t.path("d.pcap"), "udp", "port", "6001",
                            "--metrics", f"127.0.0.1:{PORT}", wait_ready=False).wait_line("listening at ")
            _, s = wait_scrape(self, a, lambda s: value(s, "hookdump_packets_captured_total",
                                                        engine="drop") == 0, "the engine's first snapshot")
            ring_bytes(self, s, "drop", 4 << 20)
            self.assertEqual(cap.stop(netns.signal.SIGTERM), 0, cap.stderr())


class NflogQueue(unittest.TestCase):
    """NFLOG: its netlink socket's receive queue (SO_MEMINFO) in the scrape: the 8 MiB asked for
    (SO_RCVBUFFORCE), which the kernel doubles for its overhead, and once the logged packets are
    read, nothing queued."""

    def test_nflog_queue(self):
        with Topology() as t:
            a, b = t.netns("a"), t.netns("b")
            t.veth(a, "vA", A_IP + "/24", b, "vB", B_IP + "/24")
            netns.sh("nft", "add", "table", "inet", "hd", ns=a)
            netns.sh("nft", "add", "chain", "inet", "hd", "pre",
                     "{ type filter hook prerouting priority 0; }", ns=a)
            netns.sh("nft", "add", "rule", "inet", "hd", "pre", "udp", "dport", "5001", "log", "group",
                     "7", ns=a)
            cap = t.capture(a, "--engine", "nflog", "--group", "7", "-q", "-w", t.path("n.pcap"),
                            "--metrics", f"127.0.0.1:{PORT}", wait_ready=False)
            cap.wait_line("listening on NFLOG group ")
            _, s = wait_scrape(self, a, lambda s: value(s, "hookdump_packets_captured_total",
                                                        engine="nflog") == 0, "the engine's first snapshot")
            self.assertEqual(value(s, "hookdump_socket_receive_buffer_bytes", engine="nflog"), 16 << 20)
            t.send(b, "vB", count=5, kind="udp", src=B_IP, dst=A_IP, sport=40000, dport=5001,
                   dst_mac=t.macs[(a, "vA")])
            _, s = wait_scrape(self, a, lambda s: value(s, "hookdump_packets_captured_total",
                                                        engine="nflog") == 5, "5 packets captured")
            self.assertEqual(value(s, "hookdump_socket_receive_queue_bytes", engine="nflog"), 0)
            self.assertEqual(value(s, "hookdump_socket_receive_buffer_bytes", engine="nflog"), 16 << 20)
            self.assertIsNone(value(s, "hookdump_ring_used_bytes", engine="nflog", ring="0"))
            self.assertEqual(cap.stop(netns.signal.SIGTERM), 0, cap.stderr())
            self.assertEqual(cap.ledger(), (5, 5, 0))


class Errors(unittest.TestCase):
    """One line, exit 2, before the outputs are created or any socket bound."""

    def run_refused(self, ns, metrics, line, t, *more):
        out = t.path("never.pcap")
        r = netns.run_hookdump(ns, "capture", *AF, "-i", "vA", "-q", "-w", out, "--metrics", metrics,
                               *more)
        self.assertEqual((r.returncode, r.stderr), (2, line))
        self.assertFalse(os.path.exists(out))

    def test_bad_address(self):
        with Topology() as t:
            a, _ = two_namespaces(t)
            self.run_refused(a, "localhost:9751",
                             "hookdump: --metrics 'localhost:9751': not an IPv4 address "
                             "(ADDR:PORT, e.g. 127.0.0.1:9751 or [::1]:9751)\n", t)
            self.run_refused(a, "127.0.0.1:99999",
                             "hookdump: --metrics '127.0.0.1:99999': the port is not 1-65535 "
                             "(ADDR:PORT, e.g. 127.0.0.1:9751 or [::1]:9751)\n", t)
            self.run_refused(a, "198.18.7.7:9751",
                             "hookdump: --metrics 198.18.7.7:9751: cannot listen: Cannot assign "
                             "requested address\n", t)

    def test_per_worker_files(self):
        with Topology() as t:
            a, _ = two_namespaces(t)
            self.run_refused(a, f"127.0.0.1:{PORT}",
                             "hookdump: --metrics cannot be combined with --per-worker-files\n", t,
                             "--workers", "2", "--per-worker-files")

    def test_port_in_use(self):
        with Topology() as t:
            a, _ = two_namespaces(t)
            holder = subprocess.Popen(
                ["ip", "netns", "exec", a, "python3", "-c",
                 "import socket, sys, time\n"
                 "s = socket.socket(); s.bind(('127.0.0.1', %d)); s.listen()\n"
                 "print('bound', flush=True); time.sleep(60)\n" % PORT],
                stdout=subprocess.PIPE, text=True)
            try:
                self.assertEqual(holder.stdout.readline(), "bound\n")
                self.run_refused(a, f"127.0.0.1:{PORT}",
                                 f"hookdump: --metrics 127.0.0.1:{PORT}: cannot listen: Address "
                                 "already in use\n", t)
            finally:
                holder.kill()
                holder.wait()

    def test_port_of_another_hookdump(self):
        with Topology() as t:
            a, _ = two_namespaces(t)
            first = t.capture(a, *AF, "-i", "vA", "-q", "-w", t.path("first.pcap"),
                              "--metrics", f"127.0.0.1:{PORT}", name="first")
            wait_scrape(self, a, lambda s: value(s, "hookdump_packets_captured_total",
                                                 engine="afpacket") == 0, "the first capture's scrape")
            self.run_refused(a, f"127.0.0.1:{PORT}",
                             f"hookdump: --metrics 127.0.0.1:{PORT}: cannot listen: Address "
                             "already in use\n", t)
            self.assertEqual(first.stop(), 0, first.stderr())


if __name__ == "__main__":
    netns.run_tests(__name__, tools=("ip", "capinfos", "tcpdump", "promtool", "nfcapd", "nfdump"))

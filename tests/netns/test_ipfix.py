#!/usr/bin/env python3
"""IPFIX export checked by real collectors (tests/netns/collectors.py): known flow records sent
by hookdump's exporter (hookdump-ipfix-send) over UDP and TCP reach nfcapd and nfacctd exactly:
the same count, 5-tuples (ICMP type and code for nfdump), packets, octets, start and end within
1 ms; nfdump counts zero sequence failures. A collector that is not there: counted, not fatal.
Then `hookdump read/capture --ipfix` itself (class Hookdump): the collectors decode exactly the
flows hookdump's own --flows=FILE.csv holds for the same run, octets are the IP datagrams'
(tshark's sum of the IP lengths), interfaces and direction where the engine knows them.
On the wire, tshark's IPFIX dissector decodes the same records, end reasons and capture
points, with sequence numbers that count the data records sent before and no template missing.
"""

import csv
import json
import os
import subprocess
import time
import unittest

import netns
from netns import Topology
from collectors import Nfacctd, Nfcapd, TcpRelay, Wire, NFCAPD_PORT, NFACCTD_PORT, RELAY_PORT
from test_bpf import send_mix, two_namespaces

IPFIX_SEND = os.environ.get("HOOKDUMP_IPFIX_SEND", "")


def send(ns, *args, expect_rc=0):
    """Runs hookdump-ipfix-send; returns (the flows it sent, its summary line)."""
    r = subprocess.run(["ip", "netns", "exec", ns, IPFIX_SEND] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != expect_rc:
        raise AssertionError(f"hookdump-ipfix-send exited {r.returncode}: {r.stderr}")
    return [json.loads(l) for l in r.stdout.splitlines()], r.stderr.strip()


def key(f, icmp=True):
    """The 5-tuple; for ICMP type and code instead of ports (when the collector decodes
    them: nfacctd's print plugin has no ICMP primitive)."""
    if f["proto"] in (1, 58):
        if not icmp:
            return (f["proto"], f["src"], f["dst"], "icmp", None)
        t = f["icmp"] if "icmp" in f else (f["icmp_type"], f["icmp_code"])
        return (f["proto"], f["src"], f["dst"], "icmp", tuple(t))
    return (f["proto"], f["src"], f["dst"], f["sport"], f["dport"])


class Checks(unittest.TestCase):
    """What both test classes assert; no tests of its own."""

    def assert_same_flows(self, sent, got, icmp=True, who=""):
        self.assertEqual(len(got), len(sent), f"{who}: flow count")
        want = {key(f, icmp): f for f in sent}
        have = {key(f, icmp): f for f in got}
        self.assertEqual(len(want), len(sent), "the sender's flows are distinct")
        self.assertEqual(len(have), len(got), f"{who}: a flow decoded twice")
        self.assertEqual(set(have) - set(want), set(), f"{who}: flows nobody sent")
        self.assertEqual(set(want) - set(have), set(), f"{who}: flows missing")
        bad = []
        for k, w in want.items():
            h = have[k]
            if (h["packets"], h["octets"]) != (w["packets"], w["octets"]) or \
                    abs(h["start_ms"] - w["start_ms"]) > 1 or abs(h["end_ms"] - w["end_ms"]) > 1:
                bad.append((k, w, h))
        self.assertEqual(bad[:5], [], f"{who}: {len(bad)} flows differ (first 5 shown)")

    def assert_same_ends(self, mine, seen, who):
        """flowEndReason as tshark decodes it is the flow csv's `end`, flow by flow."""
        ends = {key(f): f["end"] for f in seen}
        self.assertEqual({key(f): f["end"] for f in mine}, ends, f"{who}: end reasons")

    def assert_nfcapd_has(self, nfcapd, sent, who):
        """nfdump decodes exactly the flows sent, with no sequence failure."""
        got, seq_failures = nfcapd.flows()
        self.assert_same_flows(sent, got, who=who)
        self.assertEqual(seq_failures, 0, f"{who}: nfdump's sequence failures")


class Export(Checks):
    def test_udp_to_nfcapd_and_nfacctd(self):
        with Topology() as t:
            ns = t.netns("c")
            nfcapd = Nfcapd(t, ns)
            nfacctd = Nfacctd(t, ns)
            sent, line = send(ns, "--to", f"127.0.0.1:{NFCAPD_PORT}", "--flows", 600)
            self.assertEqual(line, f"600 flow records exported to 127.0.0.1:{NFCAPD_PORT}")
            sent2, line2 = send(ns, "--to", f"127.0.0.1:{NFACCTD_PORT}", "--flows", 600,
                                "--domain", 9)
            self.assertEqual(line2, f"600 flow records exported to 127.0.0.1:{NFACCTD_PORT}")
            self.assert_nfcapd_has(nfcapd, sent, "nfcapd")
            self.assertIn("Sequence Errors: 0", nfcapd.log())
            self.assert_same_flows(sent2, nfacctd.flows(expect=600), icmp=False, who="nfacctd")

    def test_small_messages_many_of_them(self):
        # 576 bytes: about ten records a message, templates of four layouts among them.
        with Topology() as t:
            ns = t.netns("c")
            nfcapd = Nfcapd(t, ns)
            wire = Wire(t, ns, NFCAPD_PORT)
            sent, line = send(ns, "--to", f"127.0.0.1:{NFCAPD_PORT}", "--flows", 3000,
                              "--mtu", 576, "--batch", 200, "--pause-ms", 5)
            self.assertEqual(line, f"3000 flow records exported to 127.0.0.1:{NFCAPD_PORT}")
            self.assert_nfcapd_has(nfcapd, sent, "nfcapd")
            self.assert_same_flows(sent, wire.flows(mtu=576), who="tshark")

    def test_tcp_through_a_relay_to_nfcapd(self):
        with Topology() as t:
            ns = t.netns("c")
            nfcapd = Nfcapd(t, ns)
            relay = TcpRelay(t, ns, NFCAPD_PORT)
            sent, line = send(ns, "--to", f"127.0.0.1:{RELAY_PORT}", "--transport", "tcp",
                              "--flows", 1200)
            self.assertEqual(line, f"1200 flow records exported to 127.0.0.1:{RELAY_PORT}")
            conns, msgs = relay.counts()
            self.assertEqual(conns, 1)
            self.assert_nfcapd_has(nfcapd, sent, "nfcapd over TCP")
            self.assertGreaterEqual(msgs, 1200 // 30)

    def test_ipv6_collector(self):
        with Topology() as t:
            ns = t.netns("c")
            netns.sh("sysctl", "-qw", "net.ipv6.conf.lo.disable_ipv6=0", ns=ns)
            nfcapd6 = Nfcapd(t, ns, bind="::1", name="nfcapd6")
            wire = Wire(t, ns, NFCAPD_PORT)
            sent, line = send(ns, "--to", f"[::1]:{NFCAPD_PORT}", "--flows", 300)
            self.assertEqual(line, f"300 flow records exported to [::1]:{NFCAPD_PORT}")
            self.assert_nfcapd_has(nfcapd6, sent, "nfcapd on ::1")
            self.assert_same_flows(sent, wire.flows(), who="tshark on ::1")

    def test_nobody_listening_counted_not_fatal(self):
        with Topology() as t:
            ns = t.netns("c")
            sent, line = send(ns, "--to", "127.0.0.1:9", "--flows", 60, "--batch", 10,
                              "--pause-ms", 1100, expect_rc=1)
            self.assertEqual(len(sent), 60)
            # Six messages of ten records (each flushed when the next a second later comes),
            # all refused: the ICMP error of one is the next send's ECONNREFUSED (and that
            # send does not go), the last one's is waited for at the end.
            self.assertEqual(line, "0 flow records exported to 127.0.0.1:9, "
                                   "60 not sent (Connection refused)")

    def test_tcp_collector_not_there(self):
        with Topology() as t:
            ns = t.netns("c")
            _, line = send(ns, "--to", "127.0.0.1:9", "--transport", "tcp", "--flows", 50,
                           expect_rc=1)
            self.assertEqual(line, "0 flow records exported to 127.0.0.1:9, "
                                   "50 not sent (not connected: Connection refused)")



def own_flows(path):
    """hookdump's --flows=FILE.csv as the collectors' dicts (ms as IPFIX carries them)."""
    out = []
    with open(path) as f:
        for r in csv.DictReader(f):
            proto = int(r["proto"])
            icmp = (int(r["icmp_type"]), int(r["icmp_code"])) if r["icmp_type"] else None
            out.append({
                "proto": proto, "src": r["src"], "dst": r["dst"],
                "sport": int(r["sport"] or 0), "dport": int(r["dport"] or 0), "icmp": icmp,
                "packets": int(r["packets"]), "octets": int(r["octets"]),
                "start_ms": _ms_of(r["first"]),
                "end_ms": _ms_of(r["last"]),
                "ifindex": int(r["ifindex"] or 0), "dir": r["dir"], "end": r["end"],
            })
    return out


def _ms_of(ts):
    """'1700000000.123456789' -> milliseconds, floored as the exporter does (no float)."""
    sec, _, frac = ts.partition(".")
    return int(sec) * 1000 + int((frac + "000")[:3])


def hookdump(ns, *args, expect_rc=0, timeout=120):
    r = subprocess.run(["ip", "netns", "exec", ns, netns.HOOKDUMP] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != expect_rc:
        raise AssertionError(f"hookdump {' '.join(map(str, args))} exited {r.returncode}: "
                             f"{r.stderr}")
    return r


def ip_octets(pcap):
    """tshark's sum of the (outer) IP datagram lengths: the oracle for octetDeltaCount."""
    r = subprocess.run(["tshark", "-r", pcap, "-T", "fields", "-E", "occurrence=f",
                        "-e", "ip.len", "-e", "ipv6.plen"], capture_output=True, text=True,
                       timeout=300, check=True)
    total = 0
    for line in r.stdout.splitlines():
        v4, _, v6 = line.partition("\t")
        total += int(v4) if v4 else int(v6) + 40 if v6 else 0
    return total


class Hookdump(Checks):
    def test_read_matches_own_flows_in_both_collectors(self):
        with Topology() as t:
            ns = t.netns("c")
            nfcapd = Nfcapd(t, ns)
            nfacctd = Nfacctd(t, ns)
            wire = Wire(t, ns, NFCAPD_PORT)
            pcap, own = t.path("gen.pcap"), t.path("own.csv")
            hookdump(ns, "generate", "-n", 20000, "--flow-count", 500, "--seed", 5, "-w", pcap)
            r = hookdump(ns, "read", pcap, f"--flows={own}", "--ipfix",
                         f"127.0.0.1:{NFCAPD_PORT}")
            mine = own_flows(own)
            self.assertEqual(len(mine), 500)
            self.assertIn(f"500 flow records exported to 127.0.0.1:{NFCAPD_PORT}\n", r.stderr)
            self.assert_nfcapd_has(nfcapd, mine, "nfcapd from read")
            seen = wire.flows()
            self.assert_same_flows(mine, seen, who="tshark from read")
            self.assert_same_ends(mine, seen, "tshark from read")
            # A file read knows no interface, direction or capture point: none is sent.
            self.assertEqual({(f["in_if"], f["out_if"], f["direction"], f["point"])
                              for f in seen}, {(None, None, None, None)})
            self.assertEqual(sum(f["packets"] for f in mine), 20000)
            self.assertEqual(sum(f["octets"] for f in mine), ip_octets(pcap))
            hookdump(ns, "read", pcap, "--ipfix", f"127.0.0.1:{NFACCTD_PORT}",
                     "--observation-domain", 7)
            self.assert_same_flows(mine, nfacctd.flows(expect=500), icmp=False, who="nfacctd")

    def test_hundred_thousand_flows_from_a_file_all_arrive(self):
        with Topology() as t:
            ns = t.netns("c")
            nfcapd = Nfcapd(t, ns)
            pcap = t.path("big.pcap")
            hookdump(ns, "generate", "-n", 200000, "--flow-count", 100000, "--payload", 8,
                     "-w", pcap)
            r = hookdump(ns, "read", pcap, "--ipfix", f"127.0.0.1:{NFCAPD_PORT}")
            self.assertIn(f"100000 flow records exported to 127.0.0.1:{NFCAPD_PORT}\n",
                          r.stderr)
            got, seq = nfcapd.flows()
            self.assertEqual(len(got), 100000)
            self.assertEqual(sum(f["packets"] for f in got), 200000)
            self.assertEqual(seq, 0)

    def live(self, engine, extra=()):
        """A mixed burst (tests/netns/test_bpf.py's) into vA, captured there; returns (own
        flows, nfcapd's flows, vA's ifindex, stderr)."""
        with Topology() as t:
            a, b = two_namespaces(t)
            # The collector in the capture's namespace, on its lo.
            nfcapd = Nfcapd(t, a)
            wire = Wire(t, a, NFCAPD_PORT)
            own, stats = t.path("own.csv"), t.path("stats.json")
            c = t.capture(a, "--engine", engine, "-i", "vA", f"--flows={own}", "--ipfix",
                          f"127.0.0.1:{NFCAPD_PORT}", "--stats-json", stats, *extra,
                          name=engine, wait_ready=engine == "afpacket")
            if engine != "afpacket":
                c.wait_line("listening on .*flows counted in the kernel")
            send_mix(t, b)
            self.assertEqual(c.stop(), 0, c.stderr())
            got, seq = nfcapd.flows()
            self.assertEqual(seq, 0)
            seen = wire.flows()
            mine = own_flows(own)
            with open(stats) as f:
                outs = [o for o in json.load(f)["outputs"] if o["path"].startswith("127.0.0.1")]
            self.assertEqual(outs, [{"path": f"127.0.0.1:{NFCAPD_PORT}", "records": "flows",
                                     "written": len(mine), "not_written": 0, "why_not": None}])
            return mine, got, seen, t.ifindex(a, "vA"), c.stderr()

    def check_live(self, engine, point, extra=()):
        mine, got, seen, ifindex, err = self.live(engine, extra)
        self.assertGreaterEqual(len(mine), 8)
        self.assert_same_flows(mine, got, who=f"nfcapd from {engine}")
        self.assert_same_flows(mine, seen, who=f"tshark from {engine}")
        self.assert_same_ends(mine, seen, f"tshark from {engine}")
        # tshark: ingressInterface vA, no egressInterface, ingress, the capture point.
        self.assertEqual({(f["in_if"], f["out_if"], f["direction"], f["point"]) for f in seen},
                         {(ifindex, None, 0, point)})
        self.assertIn(f"{len(mine)} flow records exported to 127.0.0.1:{NFCAPD_PORT}", err)
        for f in mine:
            self.assertEqual((f["ifindex"], f["dir"]), (ifindex, "in"))
        # Packets came in on vA: its ifindex as ingressInterface, direction ingress.
        self.assertEqual({(g["in_if"], g["out_if"], g["direction"]) for g in got},
                         {(ifindex, 0, 0)})

    def check_many_at_exit(self, engine, n=30000):
        """N flows, all still open when the capture stops: the final flush exports them all at
        once, paced (a message every 500 us) since nothing waits for it any more; back to back,
        nfcapd's socket buffer overflowed (about 40% of 64,256 lost, 2-3 sequence failures)."""
        with Topology() as t:
            a, b = two_namespaces(t)
            nfcapd = Nfcapd(t, a)
            args = ["--engine", engine, "-i", "vA", "--flows=/dev/null", "--ipfix",
                    f"127.0.0.1:{NFCAPD_PORT}", "--idle-timeout", "600"]
            if engine == "tc":
                args += ["--direction", "in"]
            c = t.capture(a, *args, name=engine, wait_ready=False).wait_line("listening on ")
            t.send(b, "vB", count=n, flows=n, sport=1, dport=1000)
            self.assertEqual(c.stop(timeout=60), 0, c.stderr())
            self.assertIn(f"{n} flow records exported to 127.0.0.1:{NFCAPD_PORT}\n", c.stderr())
            got, seq = nfcapd.flows()
            self.assertEqual((len(got), sum(f["packets"] for f in got), seq), (n, n, 0))

    def test_tc_flow_mode_many_flows_at_exit(self):
        self.check_many_at_exit("tc")

    def test_afpacket_many_flows_at_exit(self):
        self.check_many_at_exit("afpacket")

    def test_afpacket_flows(self):
        self.check_live("afpacket", 1)  # tap-in

    def test_tc_flow_mode(self):
        self.check_live("tc", 9, ("--direction", "in"))  # tc-ingress

    def test_active_timeout_exports_deltas(self):
        with Topology() as t:
            a, b = two_namespaces(t)
            nfcapd = Nfcapd(t, a)
            own = t.path("own.csv")
            c = t.capture(a, "--engine", "afpacket", "-i", "vA", f"--flows={own}", "--ipfix",
                          f"127.0.0.1:{NFCAPD_PORT}", "--active-timeout", "1", name="active")
            for _ in range(4):
                t.send(b, "vB", count=5, kind="udp", sport=40000, dport=5001)
                time.sleep(0.6)
            self.assertEqual(c.stop(), 0, c.stderr())
            mine = own_flows(own)
            got, seq = nfcapd.flows()
            self.assertEqual(seq, 0)
            self.assertGreaterEqual(len(mine), 2)
            # One flow in several records: matched in time order.
            fields = ("sport", "dport", "packets", "octets", "start_ms", "end_ms")
            by_time = lambda fs: sorted(tuple(f[k] for k in fields) for f in fs)
            self.assertEqual(by_time(got), by_time(mine))
            self.assertEqual(sum(g["packets"] for g in got), 20)
            self.assertEqual([f["end"] for f in mine].count("active"), len(mine) - 1)

    def test_collector_started_late_decodes_after_the_next_refresh(self):
        with Topology() as t:
            a, b = two_namespaces(t)
            own = t.path("own.csv")
            c = t.capture(a, "--engine", "afpacket", "-i", "vA", f"--flows={own}", "--ipfix",
                          f"127.0.0.1:{NFCAPD_PORT}", "--idle-timeout", "0.5",
                          "--template-refresh", "1", name="late")
            t.send(b, "vB", count=3, kind="udp", sport=41000, dport=5001)
            time.sleep(3)  # idle (0.5 s), sent in the next second, to nobody: refused, counted
            nfcapd = Nfcapd(t, a)
            time.sleep(1.5)  # a refresh comes
            t.send(b, "vB", count=3, kind="udp", sport=42000, dport=5001)
            time.sleep(1.5)
            self.assertEqual(c.stop(), 0, c.stderr())
            got, seq = nfcapd.flows()
            self.assertEqual([(g["sport"], g["packets"]) for g in got], [(42000, 3)])
            self.assertIn(f"1 flow records exported to 127.0.0.1:{NFCAPD_PORT}, "
                          "1 not sent (Connection refused)\n", c.stderr())

    def test_tcp_collector_restarted_loses_only_what_came_while_it_was_down(self):
        # Records exported while no collector listens are counted not sent (not retransmitted:
        # hookdump keeps no backlog); the connection is made again (1-30 s backoff) and
        # everything after it arrives, in sequence.
        with Topology() as t:
            a, b = two_namespaces(t)
            nfcapd = Nfcapd(t, a)
            relay = TcpRelay(t, a, NFCAPD_PORT)
            c = t.capture(a, "--engine", "afpacket", "-i", "vA", "--ipfix",
                          f"127.0.0.1:{RELAY_PORT}", "--ipfix-transport", "tcp",
                          "--idle-timeout", "0.5", name="tcp")
            relay.wait_log("connection 1 open")
            t.send(b, "vB", count=3, kind="udp", sport=41000, dport=5001)
            time.sleep(2.5)  # idle, then sent within the flush second
            relay.stop()
            t.send(b, "vB", count=3, kind="udp", sport=42000, dport=5001)
            time.sleep(2.5)  # exported with no connection: counted
            relay2 = TcpRelay(t, a, NFCAPD_PORT, name="relay2")
            relay2.wait_log("connection 1 open", timeout=40)
            t.send(b, "vB", count=3, kind="udp", sport=43000, dport=5001)
            time.sleep(2.5)
            self.assertEqual(c.stop(), 0, c.stderr())
            relay2.stop()
            got, seq = nfcapd.flows()
            self.assertEqual(sorted((g["sport"], g["packets"]) for g in got),
                             [(41000, 3), (43000, 3)])
            self.assertEqual(seq, 0)
            # Why: how the loss was seen (reset by the peer, or refused on reconnecting).
            self.assertRegex(c.stderr(), f"\\n2 flow records exported to 127.0.0.1:{RELAY_PORT}, "
                                         r"1 not sent \(not connected: [^)]+\)\n")

    def test_bad_collector_is_one_line_before_anything_attaches(self):
        with Topology() as t:
            a, _ = two_namespaces(t)
            for spec, want in (("198.18.0.1:99999", "--ipfix"),
                               ("no-such-host.invalid", "no-such-host.invalid"),
                               ("[::1", "--ipfix")):
                r = hookdump(a, "capture", "--engine", "tc", "-i", "vA", "--ipfix", spec,
                             expect_rc=2)
                lines = r.stderr.strip().splitlines()
                self.assertEqual(len(lines), 1, r.stderr)
                self.assertIn(want, lines[0])
                self.assertNotIn("listening", r.stderr)
                filters = netns.sh("tc", "filter", "show", "dev", "vA", "ingress", ns=a,
                                   check=False).stdout
                self.assertNotIn("hookdump", filters)

if __name__ == "__main__":
    if not IPFIX_SEND or not os.access(IPFIX_SEND, os.X_OK):
        netns.log(f"HOOKDUMP_IPFIX_SEND is not an executable: '{IPFIX_SEND}'")
        raise SystemExit(1)
    netns.run_tests(__name__, tools=("ip", "nfcapd", "nfdump", "nfacctd", "tshark"))

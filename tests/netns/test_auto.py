#!/usr/bin/env python3
"""hookdump capture --engine auto (the default): the engine it picks on this host (no
hookdump.ko: for packets at -i IFACE AF_PACKET, whose capture process costs less than tc's;
for flows only at -i IFACE tc, which counts them in the kernel; tc for rules or an option only
tc has; AF_PACKET for -i any, no -i, or an option only AF_PACKET has), the one line on stderr
that says which and why (exact), what the pick captures (exact counts, 5-tuples, bytes), and
the fall back to AF_PACKET when tc cannot load (no CAP_BPF).

  HOOKDUMP_BIN=... HOOKDUMP_SEND=... python3 test_auto.py [Pick|Capture|Fallback]

Traffic: the mix of test_bpf.py, from B to A over vB -> vA, to a MAC nobody has.
The module case (auto picks kmod, then tc after rmmod) is VM case 76_engine_auto.
"""

import os
import re
import sys
import unittest
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from netns import Topology, read_csv, read_pcap, sh  # noqa: E402
from test_bpf import A_IP, B_IP, PAYLOAD, TOTAL, attached, expected_rows, row, send_mix  # noqa: E402

LISTEN_TC = "listening on vA, link-type EN10MB, tc engine ({}), snapshot length 262144 bytes"
LISTEN_TC_FLOWS = ("listening on vA, link-type EN10MB, tc engine (ingress+egress), flows counted in the kernel, "
                   "snapshot length 262144 bytes")
LISTEN_AF = "listening on {}, link-type {}, snapshot length 262144 bytes"
ETH = "EN10MB (Ethernet)"
SLL2 = "LINUX_SLL2 (Linux cooked v2)"
RULES = "--src/--dst/--sport/--dport/--proto"
PACKETS_AT_VA = "afpacket (hookdump.ko not loaded; packets at vA: the tap costs less than tc)"
FLOWS_AT_VA = "tc (hookdump.ko not loaded; flows only at vA: tc counts them in the kernel)"


def two_namespaces(t):
    a, b = t.netns("a"), t.netns("b")
    t.veth(a, "vA", A_IP + "/24", b, "vB", B_IP + "/24")
    return a, b


def start(t, ns, *args, name, **kw):
    """hookdump capture ARGS (engine auto), ready once it said 'listening on' and caught its signals."""
    return t.capture(ns, *args, name=name, wait_ready=False, **kw).wait_line("listening on ")


def promiscuity(ns, dev):
    return int(re.search(r"promiscuity (\d+)", sh("ip", "-d", "link", "show", "dev", dev, ns=ns).stdout).group(1))


def flows_of(path):
    """{5-tuple: (packets, bytes)} of a flow csv; every flow once, each ended."""
    got = {}
    for r in read_csv(path):
        key = (r["proto"], r["src"], r["dst"], r["sport"], r["dport"])
        assert key not in got, key
        assert r["end"] == "end", r
        got[key] = (int(r["packets"]), int(r["bytes"]))
    return got


def expected_flows():
    """The mix's flows: packets and bytes (frame lengths) per 5-tuple."""
    exp = {}
    for r in expected_rows():
        n, b = exp.get(r[:5], (0, 0))
        exp[r[:5]] = (n + 1, b + r[5])
    return exp


def require_no_module(test):
    if os.path.exists("/sys/module/hookdump"):
        test.skipTest("hookdump.ko is loaded on this host: auto picks it (VM case 76_engine_auto tests that)")


class Pick(unittest.TestCase):
    """The line on stderr, exactly, before the readiness line; printed with -q too."""

    def test_lines(self):
        require_no_module(self)
        with Topology() as t:
            a, _ = two_namespaces(t)
            csv_out = ["-o", "csv"]
            flows = f"--flows={t.path('f.csv')}"
            cases = [
                # Packets (csv or text on stdout, with flows too): the tap.
                (csv_out + ["-i", "vA"], PACKETS_AT_VA, LISTEN_AF.format("vA", ETH)),
                (["-i", "vA"], PACKETS_AT_VA, LISTEN_AF.format("vA", ETH)),
                (csv_out + ["-i", "vA", "--flows"], PACKETS_AT_VA, LISTEN_AF.format("vA", ETH)),
                (csv_out + ["-i", "vA", "vlan", "100"], PACKETS_AT_VA, LISTEN_AF.format("vA", ETH)),
                # Flows only: tc's in-kernel flow mode (the expression translated for tc).
                (["-i", "vA", flows], FLOWS_AT_VA, LISTEN_TC_FLOWS),
                (["-i", "vA", "--flows", "vlan", "100"], FLOWS_AT_VA, LISTEN_TC_FLOWS),
                # What only tc takes.
                (csv_out + ["-i", "vA", "--src", B_IP], f"tc (hookdump.ko not loaded; the tap takes no {RULES} rules)",
                 LISTEN_TC.format("ingress+egress")),
                (csv_out + ["-i", "vA", "--direction", "in"], "tc (--direction is tc's)", LISTEN_TC.format("ingress")),
                # No one interface: the tap, for packets and flows.
                (csv_out + ["-i", "any"], "afpacket (hookdump.ko not loaded; -i any: tc takes one interface)",
                 LISTEN_AF.format("any", SLL2)),
                (["-i", "any", "--flows"], "afpacket (hookdump.ko not loaded; -i any: tc takes one interface)",
                 LISTEN_AF.format("any", SLL2)),
                (csv_out, "afpacket (hookdump.ko not loaded; tc needs one interface (-i IFACE))",
                 LISTEN_AF.format("any", SLL2)),
                (csv_out + ["-i", "vA", "--workers", "2"], "afpacket (--workers is AF_PACKET's)",
                 LISTEN_AF.format("vA", ETH)),
                (["-i", "vA", "--workers", "2", "--flows"], "afpacket (--workers is AF_PACKET's)",
                 LISTEN_AF.format("vA", ETH)),
                (csv_out + ["-i", "vA", "--ring-blocks", "4"], "afpacket (--ring-blocks is AF_PACKET's)",
                 LISTEN_AF.format("vA", ETH)),
            ]
            caps = [(args, line, listen, start(t, a, "-q", *args, name=f"p{i}"))
                    for i, (args, line, listen) in enumerate(cases)]
            for args, line, listen, c in caps:
                self.assertEqual(c.stop(settle=0), 0, c.stderr())
                self.assertEqual(c.stderr().splitlines()[:3],
                                 ["hookdump: engine auto: " + line, listen,
                                  "0 packets captured, 0 received by filter, 0 dropped by kernel"], args)

    def test_errors(self):
        require_no_module(self)
        rules = "--src/--dst/--sport/--dport/--proto"
        with Topology() as t:
            a, b = two_namespaces(t)
            t.veth(a, "vD", None, b, "vE", None, up=False)
            for args, rc, msg in [
                (["-i", "vA", "--workers", "2", "--direction", "in"], 2,
                 "--workers and --direction belong to different engines (afpacket, tc)"),
                (["-i", "any", "--src", B_IP], 2,
                 f"{rules} need hookdump.ko or tc (hookdump.ko not loaded; -i any: tc takes one interface); "
                 "for AF_PACKET write them as the expression"),
                (["-i", "vA", "--workers", "2", "--dport", "5001"], 2,
                 f"{rules} are not AF_PACKET's (--workers is): write them as the expression"),
                (["--engine", "afpacket", "-i", "vA", "--src", B_IP], 2,
                 f"{rules} are rules of kmod, tc, xdp and drop: with --engine afpacket write them as the expression"),
                (["--hooks", "input"], 1,
                 "the hookdump kernel module is not loaded; engine auto: kmod (--hooks is hookdump.ko's)"),
                (["-i", "nosuch0"], 2, "no such interface: nosuch0"),
                # The tap refuses a device that is down; tc would attach and wait, so for flows
                # only auto passes it over and the tap says so too.
                (["-i", "vD"], 2, "interface vD is down"),
                (["-i", "vD", "--flows"], 2, "interface vD is down"),
            ]:
                r = netns.run_hookdump(a, "capture", "-c", "1", *args)
                self.assertEqual((r.returncode, r.stderr), (rc, f"hookdump: {msg}\n"), args)

    def test_promiscuous(self):
        """tc (auto's pick for flows only) puts the interface in promiscuous mode as AF_PACKET
        does (-p: not), and lets go."""
        with Topology() as t:
            a, _ = two_namespaces(t)
            self.assertEqual(promiscuity(a, "vA"), 0)
            c = start(t, a, "-i", "vA", "-q", "--flows", name="promisc")
            self.assertEqual(promiscuity(a, "vA"), 1)
            p = start(t, a, "-i", "vA", "-p", "-q", "--flows", name="nopromisc")
            self.assertEqual(promiscuity(a, "vA"), 1)
            for cap in (c, p):
                self.assertIn("tc engine", cap.stderr())
                self.assertEqual(cap.stop(settle=0), 0, cap.stderr())
            self.assertEqual(promiscuity(a, "vA"), 0)
            c = start(t, a, "-i", "vA", "-q", "--flows", name="killed")
            c.kill()
            self.assertEqual(promiscuity(a, "vA"), 0)


class Capture(unittest.TestCase):
    """What auto's picks capture: every packet once, the 5-tuples and lengths sent, the frame's
    bytes in pcap (the same as tc's on the interface), one text line each; flows only, the
    flows sent, counted in the kernel (the same as AF_PACKET's flow table)."""

    def test_packets(self):
        require_no_module(self)
        with Topology() as t:
            a, b = two_namespaces(t)
            csv_path, pcap, ref = t.path("auto.csv"), t.path("auto.pcap"), t.path("ref.pcap")
            caps = [start(t, a, "-i", "vA", "-w", csv_path, name="csv"),
                    start(t, a, "-i", "vA", "-w", pcap, name="pcap"),
                    start(t, a, "-i", "vA", name="text"),
                    start(t, a, "--engine", "tc", "-i", "vA", "-w", ref, name="ref")]
            send_mix(t, b)
            for c in caps:
                self.assertEqual(c.stop(), 0, c.stderr())
                self.assertEqual(c.ledger(), (TOTAL, TOTAL, 0))
            for c in caps[:3]:
                self.assertEqual(c.stderr().splitlines()[0], "hookdump: engine auto: " + PACKETS_AT_VA)
            rows = read_csv(csv_path)
            self.assertEqual([row(r) for r in rows], expected_rows())
            ifindex, nsid = t.ifindex(a, "vA"), t.netns_id(a)
            for r in rows:
                self.assertEqual((r["point"], r["dir"], r["ifname"], r["ifindex"], r["netns"], r["caplen"]),
                                 ("tap-in", "in", "vA", str(ifindex), str(nsid), r["len"]))
            lt, got = read_pcap(pcap)
            rlt, want = read_pcap(ref)
            self.assertEqual((lt, rlt), (1, 1))
            self.assertEqual([(p[1], p[2]) for p in got], [(p[1], p[2]) for p in want])
            self.assertEqual(netns.tool_packet_count(pcap), TOTAL)
            text = caps[2].stdout().splitlines()
            self.assertEqual(len(text), TOTAL)
            self.assertRegex(text[0], rf"^\d\d:\d\d:\d\d\.\d{{6}} tap-in vA IP {re.escape(B_IP)}\.40000 > "
                                      rf"{re.escape(A_IP)}\.5001: UDP, length {PAYLOAD}$")
            self.assertEqual(attached(a, "vA"), "")

    def test_flows_only(self):
        """--flows=FILE and nothing else: tc counts them in the kernel; the flows sent, exactly."""
        require_no_module(self)
        with Topology() as t:
            a, b = two_namespaces(t)
            out, ref = t.path("auto.csv"), t.path("ref.csv")
            c = start(t, a, "-i", "vA", f"--flows={out}", name="flows")
            r = start(t, a, "--engine", "afpacket", "-i", "vA", f"--flows={ref}", name="ref")
            self.assertEqual(c.stderr().splitlines()[:2], ["hookdump: engine auto: " + FLOWS_AT_VA, LISTEN_TC_FLOWS])
            send_mix(t, b)
            for cap in (c, r):
                self.assertEqual(cap.stop(), 0, cap.stderr())
                self.assertEqual(cap.ledger(), (TOTAL, TOTAL, 0))
            self.assertEqual(flows_of(out), expected_flows())
            self.assertEqual(flows_of(ref), expected_flows())
            self.assertEqual({r["netns"] for r in read_csv(out)}, {str(t.netns_id(a))})
            self.assertEqual(attached(a, "vA"), "")

    def test_afpacket_picks(self):
        """-i any and --workers 2: AF_PACKET, every packet once."""
        require_no_module(self)
        with Topology() as t:
            a, b = two_namespaces(t)
            anyc = start(t, a, "-i", "any", "-w", t.path("any.csv"), name="any")
            workers = start(t, a, "-i", "vA", "--workers", "2", "-w", t.path("w.csv"), name="workers")
            send_mix(t, b)
            for c in (anyc, workers):
                self.assertEqual(c.stop(), 0, c.stderr())
                self.assertEqual(c.ledger(), (TOTAL, TOTAL, 0))
            self.assertEqual(anyc.stderr().splitlines()[0],
                             "hookdump: engine auto: afpacket (hookdump.ko not loaded; -i any: tc takes one interface)")
            self.assertEqual(workers.stderr().splitlines()[0], "hookdump: engine auto: afpacket (--workers is AF_PACKET's)")
            # -i any: the cooked header (20 bytes) instead of Ethernet's 14 in the length.
            rows = read_csv(t.path("any.csv"))
            self.assertEqual(Counter((r["point"], r["ifname"]) for r in rows), Counter({("tap-in", "vA"): TOTAL}))
            self.assertEqual(Counter(row(r) for r in rows), Counter(r[:5] + (r[5] + 6,) for r in expected_rows()))
            rows = read_csv(t.path("w.csv"))
            self.assertEqual(Counter(row(r) for r in rows), Counter(expected_rows()))
            self.assertEqual({r["point"] for r in rows}, {"tap-in"})


class Fallback(unittest.TestCase):
    """Flows only, and tc cannot load (hookdump runs with CAP_NET_RAW only: no CAP_BPF):
    AF_PACKET's flow table, with tc's error in the line instead of why tc was picked, and the
    flows are exact."""

    def test_no_bpf_permission(self):
        require_no_module(self)
        with Topology() as t:
            a, b = two_namespaces(t)
            only_raw = ("setpriv", "--bounding-set=-all,+net_raw", "--inh-caps=-all,+net_raw")
            out = t.path("f.csv")
            c = start(t, a, "-i", "vA", f"--flows={out}", name="fallback", wrapper=only_raw)
            send_mix(t, b)
            self.assertEqual(c.stop(), 0, c.stderr())
            self.assertEqual(c.stderr().splitlines()[:2], [
                "hookdump: engine auto: afpacket (hookdump.ko not loaded; tc failed: loading the tc/XDP programs "
                "into the kernel (needs CAP_BPF and CAP_NET_ADMIN): Operation not permitted)",
                LISTEN_AF.format("vA", ETH)])
            self.assertEqual(c.ledger(), (TOTAL, TOTAL, 0))
            self.assertEqual(flows_of(out), expected_flows())
            self.assertEqual(attached(a, "vA"), "")


if __name__ == "__main__":
    netns.run_tests(__name__, tools=("ip", "tc", "setpriv", "capinfos", "tcpdump"))

#!/usr/bin/env python3
"""hookdump capture --engine tc|xdp: the eBPF programs at tc ingress/egress (tcx links, or
clsact filters) and XDP, in network namespaces joined by a veth pair. Exact counts, 5-tuples
and lengths; the rule filter in the kernel; flow mode (counted in the kernel); nothing left
attached after exit, SIGTERM and kill -9 (a crashed run's tc filters removed by the next
start); the polite
refusal when an XDP program is already attached.

  HOOKDUMP_BIN=... HOOKDUMP_SEND=... python3 test_bpf.py [Group ...]

Traffic: hookdump-send in B to A over vB -> vA, to a MAC nobody has (A's kernel drops it
after tc ingress and XDP without answering), so counts are exact without a filter.
"""

import os
import re
import signal
import struct
import subprocess
import sys
import time
import unittest
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from netns import Topology, read_csv, sh  # noqa: E402

A_IP, B_IP = "198.18.0.1", "198.18.0.2"
A6, B6 = "2001:db8::1", "2001:db8::2"
PAYLOAD = 32

# (send kwargs, expected rows (proto, src, dst, sport, dport, len)) for one mixed burst.
MIX = [
    (dict(kind="udp", count=3, flows=3, sport=40000, dport=5001),
     [("17", B_IP, A_IP, str(40000 + i), "5001", 14 + 20 + 8 + PAYLOAD) for i in range(3)]),
    (dict(kind="udp", count=4, sport=40100, dport=5002),
     [("17", B_IP, A_IP, "40100", "5002", 14 + 20 + 8 + PAYLOAD)] * 4),
    (dict(kind="tcp", count=2, sport=41000, dport=80, flags="S"),
     [("6", B_IP, A_IP, "41000", "80", 14 + 20 + 20 + PAYLOAD)] * 2),
    (dict(kind="icmp", count=2, sport=7),
     [("1", B_IP, A_IP, "", "", 14 + 20 + 8 + PAYLOAD)] * 2),
    (dict(kind="udp6", count=3, src=B6, dst=A6, sport=42000, dport=5001),
     [("17", B6, A6, "42000", "5001", 14 + 40 + 8 + PAYLOAD)] * 3),
    (dict(kind="frag", count=1, sport=43000, dport=5001),
     [("17", B_IP, A_IP, "43000", "5001", 14 + 20 + 24), ("17", B_IP, A_IP, "", "", 14 + 20 + 16)]),
]
TOTAL = sum(len(rows) for _, rows in MIX)


def two_namespaces(t):
    a, b = t.netns("a"), t.netns("b")
    t.veth(a, "vA", A_IP + "/24", b, "vB", B_IP + "/24")
    return a, b


def send_mix(t, b):
    for kw, _ in MIX:
        kw = dict(kw)
        kind, count = kw.pop("kind"), kw.pop("count")
        t.send(b, "vB", kind=kind, count=count, payload=PAYLOAD, **kw)


def expected_rows():
    return [r for _, rows in MIX for r in rows]


def row(r):
    return (r["proto"], r["src"], r["dst"], r["sport"], r["dport"], int(r["len"]))


def capture(t, ns, *args, name="cap", wrapper=()):
    """The engine printed its 'listening on' line (programs attached) and caught its signals."""
    return t.capture(ns, *args, name=name, wait_ready=False, wrapper=wrapper).wait_line("listening on ")


def hookdump_pid(c):
    """`ip netns exec` execs hookdump: same pid."""
    return c.proc.pid


def tc_filters(ns, dev, direction):
    return sh("tc", "filter", "show", "dev", dev, direction, ns=ns).stdout


# hookdump attaches tc programs as tcx links where the kernel has them (6.6+), as clsact filters
# elsewhere or with HOOKDUMP_TC_CLSACT=1 (CLSACT, a wrapper for Topology.capture).
TCX = tuple(int(x) for x in re.match(r"(\d+)\.(\d+)", os.uname().release).groups()) >= (6, 6)
CLSACT = ("env", "HOOKDUMP_TC_CLSACT=1")

# The names of the programs on a device's tcx hook, in their order (tc and Debian's bpftool 7.1
# do not list them): BPF_PROG_QUERY in the device's namespace, then each program's name. A
# kernel without tcx refuses the attach type (EINVAL): none.
_TCX_QUERY = r"""
import ctypes, errno, platform, socket, struct, sys
NR_BPF = {"x86_64": 321, "aarch64": 280}[platform.machine()]
PROG_GET_FD_BY_ID, OBJ_GET_INFO_BY_FD, PROG_QUERY = 13, 15, 16
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def bpf(cmd, attr):
    r = libc.syscall(ctypes.c_long(NR_BPF), ctypes.c_long(cmd), attr, ctypes.c_uint(len(attr)))
    return r, ctypes.get_errno()
ids = (ctypes.c_uint32 * 64)()
q = ctypes.create_string_buffer(128)
struct.pack_into("=IIIIQI", q, 0, socket.if_nametoindex(sys.argv[1]), 46 if sys.argv[2] == "ingress" else 47,
                 0, 0, ctypes.addressof(ids), 64)
r, err = bpf(PROG_QUERY, q)
if r < 0:
    sys.exit(0 if err == errno.EINVAL else "BPF_PROG_QUERY: " + errno.errorcode.get(err, str(err)))
for i in range(struct.unpack_from("=I", q, 24)[0]):
    a = ctypes.create_string_buffer(128)
    struct.pack_into("=I", a, 0, ids[i])
    fd, err = bpf(PROG_GET_FD_BY_ID, a)
    if fd < 0:
        continue  # detached meanwhile
    info = ctypes.create_string_buffer(256)
    a = ctypes.create_string_buffer(128)
    struct.pack_into("=IIQ", a, 0, fd, len(info), ctypes.addressof(info))
    r, err = bpf(OBJ_GET_INFO_BY_FD, a)
    if r < 0:
        sys.exit("BPF_OBJ_GET_INFO_BY_FD: " + errno.errorcode.get(err, str(err)))
    print(info.raw[64:80].split(b"\0")[0].decode())
"""


def tcx_programs(ns, dev, direction):
    return sh(sys.executable, "-c", _TCX_QUERY, dev, direction, ns=ns).stdout.split()


def attached(ns, dev):
    """What is on the device's tc hooks, clsact filters and tcx programs: '' when nothing."""
    return "".join(tc_filters(ns, dev, d) + "".join(p + "\n" for p in tcx_programs(ns, dev, d))
                   for d in ("ingress", "egress"))


def other_lines(c):
    """What a capture said on stderr besides its 'listening on' line."""
    return [line for line in c.stderr().splitlines() if not line.startswith("listening on ")]


def wait_detached(ns, dev, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and attached(ns, dev):
        time.sleep(0.05)
    return attached(ns, dev)


def clsact_present(ns, dev):
    return "clsact" in sh("tc", "qdisc", "show", "dev", dev, ns=ns).stdout


def xdp_attached(ns, dev):
    out = sh("ip", "-d", "link", "show", "dev", dev, ns=ns).stdout
    return re.search(r"\bxdp(generic|drv|offload)?\b", out) is not None or "prog/xdp" in out


class Tc(unittest.TestCase):
    """Every packet sent is recorded once at tc ingress of the receiver and tc egress of the
    sender, with the 5-tuple and length sent and the whole frame as bytes."""

    def test_tc_ingress_egress(self):
        with Topology() as t:
            a, b = two_namespaces(t)
            rx, tx = t.path("rx.csv"), t.path("tx.csv")
            crx = capture(t, a, "--engine", "tc", "-i", "vA", "-w", rx, name="rx")
            ctx = capture(t, b, "--engine", "tc", "-i", "vB", "--direction", "out", "-w", tx, name="tx")
            self.assertEqual(crx.stderr().splitlines()[0],
                             "listening on vA, link-type EN10MB, tc engine (ingress+egress), snapshot length 262144 bytes")
            send_mix(t, b)
            for c in (crx, ctx):
                self.assertEqual(c.stop(), 0, c.stderr())
                self.assertEqual(c.ledger(), (TOTAL, TOTAL, 0))
            exp = expected_rows()
            rows = read_csv(rx)
            self.assertEqual([row(r) for r in rows], exp)
            ifindex, nsid = t.ifindex(a, "vA"), t.netns_id(a)
            for r in rows:
                self.assertEqual((r["point"], r["dir"], r["ifname"], r["ifindex"], r["netns"], r["caplen"]),
                                 ("tc-ingress", "in", "vA", str(ifindex), str(nsid), r["len"]))
            rows = read_csv(tx)
            self.assertEqual([row(r) for r in rows], exp)
            for r in rows:
                self.assertEqual((r["point"], r["dir"], r["ifname"], r["caplen"]), ("tc-egress", "out", "vB", r["len"]))

    def test_pcap_bytes_and_snaplen(self):
        """The bytes recorded are the frame sent; -s cuts them, the length stays."""
        with Topology() as t:
            a, b = two_namespaces(t)
            full, cut = t.path("full.pcap"), t.path("cut.pcap")
            ref = t.path("ref.pcap")
            c1 = capture(t, a, "--engine", "tc", "--direction", "in", "-i", "vA", "-w", full, name="full")
            c2 = capture(t, a, "--engine", "tc", "--direction", "in", "-i", "vA", "-s", "64", "-w", cut, name="cut")
            c3 = t.capture(a, "--engine", "afpacket", "-i", "vA", "-w", ref, name="ref")  # the reference
            send_mix(t, b)
            for c in (c1, c2, c3):
                self.assertEqual(c.stop(), 0, c.stderr())
            _, fp = netns.read_pcap(full)
            _, cp = netns.read_pcap(cut)
            _, rp = netns.read_pcap(ref)
            self.assertEqual([(p[1], p[2]) for p in fp], [(p[1], p[2]) for p in rp])
            self.assertEqual([(p[1], p[2]) for p in cp], [(p[1], p[2][:64]) for p in rp])

    def test_ping_directions(self):
        """The kernel's own traffic: echo requests leave vA at egress, replies come in."""
        with Topology() as t:
            a, b = two_namespaces(t)
            out = t.path("ping.csv")
            c = capture(t, a, "--engine", "tc", "-i", "vA", "-w", out, "icmp", name="ping")
            sh("ping", "-c", "3", "-i", "0.2", "-W", "2", B_IP, ns=a)
            self.assertEqual(c.stop(), 0, c.stderr())
            rows = read_csv(out)
            got = Counter((r["point"], r["src"], r["dst"], r["icmp_type"]) for r in rows)
            self.assertEqual(got, Counter({("tc-egress", A_IP, B_IP, "8"): 3, ("tc-ingress", B_IP, A_IP, "0"): 3}))


class Filter(unittest.TestCase):
    """Expressions (libpcap's cBPF translated to eBPF, in place of the filter stub) and --src/--dst/... rules
    (a map) select exactly the expected subset; thirteen captures at once on one interface,
    each its own tcx link (or tc priority), none displacing another."""

    def test_rules(self):
        cases = [
            (["udp port 5001"], 3 + 3 + 1),  # the later fragment carries no port
            (["udp"], 3 + 4 + 3 + 2),
            (["tcp and port 80"], 2),
            (["icmp"], 2),
            (["ip6"], 3),
            ([f"src host {B_IP} and dst port 5002"], 4),
            (["--proto", "udp", "--dport", "5002"], 4),
            (["--src", B_IP, "--sport", "40000-40002"], 3),
            (["udp and (dst port 5002 or dst port 80)"], 4),
            (["ip and not udp"], 2 + 2),
            (["tcp[tcpflags] & tcp-syn != 0"], 2),
            (["ip[6:2] & 0x3fff != 0"], 2),  # both pieces of the fragmented datagram
            (["--proto", "udp", "ip6"], 3),  # a rule and an expression together
        ]
        with Topology() as t:
            a, b = two_namespaces(t)
            caps = []
            for i, (args, n) in enumerate(cases):
                path = t.path(f"f{i}.csv")
                caps.append((args, n, path, capture(t, a, "--engine", "tc", "--direction", "in", "-i", "vA", "-q",
                                                    "-w", path, *args, name=f"f{i}")))
            if TCX:
                self.assertEqual(tcx_programs(a, "vA", "ingress"), ["hd_tc_ingress"] * len(cases))
                self.assertEqual(tc_filters(a, "vA", "ingress"), "")
            else:
                prios = re.findall(r"pref (\d+) bpf chain 0 handle", tc_filters(a, "vA", "ingress"))
                self.assertEqual(len(prios), len(cases))
                self.assertEqual(len(set(prios)), len(cases))
            send_mix(t, b)
            for args, n, path, c in caps:
                self.assertEqual(c.stop(), 0, c.stderr())
                self.assertEqual(len(read_csv(path)), n, args)
                self.assertEqual(c.ledger(), (n, n, 0), args)
            self.assertEqual(attached(a, "vA"), "")
            self.assertFalse(clsact_present(a, "vA"))
            rows = read_csv(caps[0][2])
            self.assertEqual(Counter((r["src"], r["dport"]) for r in rows),
                             Counter({(B_IP, "5001"): 4, (B6, "5001"): 3}))


class Flows(unittest.TestCase):
    """--flows with nothing else written: 5-tuples counted in the kernel, one record per flow
    with the packets and bytes sent."""

    def check_flows(self, engine):
        with Topology() as t:
            a, b = two_namespaces(t)
            out = t.path("flows.csv")
            args = ["--engine", engine, "-i", "vA", f"--flows={out}"]
            if engine == "tc":
                args += ["--direction", "in"]
            c = capture(t, a, *args, name="flows")
            self.assertIn("flows counted in the kernel", c.stderr())
            send_mix(t, b)
            self.assertEqual(c.stop(), 0, c.stderr())
            self.assertEqual(c.ledger(), (TOTAL, TOTAL, 0))
            exp = Counter()
            for r in expected_rows():
                exp[r[:5]] += 1
            got = {}
            for r in read_csv(out):
                key = (r["proto"], r["src"], r["dst"], r["sport"], r["dport"])
                self.assertNotIn(key, got)
                got[key] = (int(r["packets"]), int(r["bytes"]))
                self.assertEqual(r["end"], "end")
                self.assertEqual(r["netns"], str(t.netns_id(a)))
            byts = Counter()
            for r in expected_rows():
                byts[r[:5]] += r[5]
            self.assertEqual(got, {k: (n, byts[k]) for k, n in exp.items()})

    def test_tc_flows(self):
        self.check_flows("tc")

    def test_xdp_flows(self):
        self.check_flows("xdp")

    def test_idle_export(self):
        """A flow idle for --idle-timeout is exported while the capture runs."""
        with Topology() as t:
            a, b = two_namespaces(t)
            out = t.path("idle.csv")
            c = capture(t, a, "--engine", "tc", "--direction", "in", "-i", "vA", f"--flows={out}",
                        "--idle-timeout", "1", name="idle")
            t.send(b, "vB", kind="udp", count=4, sport=40000, dport=5001, payload=PAYLOAD)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not (os.path.exists(out) and "idle" in open(out).read()):
                time.sleep(0.1)
            t.send(b, "vB", kind="udp", count=2, sport=40000, dport=5001, payload=PAYLOAD)
            self.assertEqual(c.stop(), 0, c.stderr())
            ends = [(r["end"], r["packets"]) for r in read_csv(out)]
            self.assertEqual(ends, [("idle", "4"), ("end", "2")])


class Xdp(unittest.TestCase):
    """XDP (native where the driver can, and generic): every packet received, once."""

    def check(self, mode, label):
        with Topology() as t:
            a, b = two_namespaces(t)
            out = t.path("xdp.csv")
            c = capture(t, a, "--engine", "xdp", "--xdp-mode", mode, "-i", "vA", "-w", out, name="xdp")
            self.assertEqual(c.stderr().splitlines()[0],
                             f"listening on vA, link-type EN10MB, xdp engine ({label}), snapshot length 262144 bytes")
            self.assertTrue(xdp_attached(a, "vA"))
            send_mix(t, b)
            self.assertEqual(c.stop(), 0, c.stderr())
            self.assertEqual(c.ledger(), (TOTAL, TOTAL, 0))
            rows = read_csv(out)
            self.assertEqual([row(r) for r in rows], expected_rows())
            for r in rows:
                self.assertEqual((r["point"], r["dir"], r["ifname"], r["caplen"]), ("xdp", "in", "vA", r["len"]))
            self.assertFalse(xdp_attached(a, "vA"))

    def test_native(self):
        self.check("native", "native")

    def test_generic(self):
        self.check("generic", "generic")

    def test_rules(self):
        with Topology() as t:
            a, b = two_namespaces(t)
            out = t.path("xdp.csv")
            c = capture(t, a, "--engine", "xdp", "-i", "vA", "-w", out, "udp and dst port 5002", name="xdp")
            send_mix(t, b)
            self.assertEqual(c.stop(), 0, c.stderr())
            self.assertEqual(c.ledger(), (4, 4, 0))
            self.assertEqual(len(read_csv(out)), 4)

    def test_already_attached(self):
        with Topology() as t:
            a, _ = two_namespaces(t)
            first = capture(t, a, "--engine", "xdp", "-i", "vA", "-q", "-o", "csv", name="first")
            r = netns.run_hookdump(a, "capture", "--engine", "xdp", "-i", "vA", "-q", "-o", "csv")
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertRegex(r.stderr.strip(),
                             r"^hookdump: an XDP program \('hd_xdp', id \d+\) is already attached to vA: "
                             r"hookdump does not replace it; use --engine tc$")
            self.assertEqual(first.stop(), 0, first.stderr())
            self.assertFalse(xdp_attached(a, "vA"))


class Vlan(unittest.TestCase):
    """Tagged frames as on the wire on every point: hookdump-send puts the tag in the frame;
    the receiving kernel moves it into the skb's metadata before tc ingress (XDP still sees it
    in the frame). tc and XDP record the same bytes and lengths as AF_PACKET, and pcap-filter
    expressions (`vlan N` reads the tag at bytes 12-15, and what follows 4 bytes further)
    select the same packets as AF_PACKET's."""

    # expression -> the packet ids it selects (hookdump-send numbers them 0..10, below). The
    # last two read bytes: on AF_PACKET the kernel runs the filter on the frame without its
    # tag (as tcpdump's), so they are compared with libpcap on the file instead (hookdump read).
    EXPRS = {
        "vlan 100": range(0, 6),
        "vlan 100 and host 198.18.100.2": range(0, 4),
        "vlan 200": range(6, 9),
        "vlan and udp port 5001": range(0, 9),
        "not vlan": range(9, 11),
        "ether[12:2] = 0x8100 and ether[14:2] & 0xfff = 200": range(6, 9),
        "host 198.18.100.2": range(0),
    }
    BYTES_ONLY = ("ether[12:2] = 0x8100 and ether[14:2] & 0xfff = 200", "host 198.18.100.2")

    def send_tagged(self, t, b):
        t.send(b, "vB", kind="udp", count=4, vlan=100, src="198.18.100.2", dst="198.18.100.1", payload=PAYLOAD)
        t.send(b, "vB", kind="udp", count=2, vlan=100, src="198.18.100.3", dst="198.18.100.1", first_id=4,
               payload=PAYLOAD)
        t.send(b, "vB", kind="udp", count=3, vlan=200, src="198.18.100.2", dst="198.18.100.1", first_id=6,
               payload=PAYLOAD)
        t.send(b, "vB", kind="udp", count=2, first_id=9, payload=PAYLOAD)

    def frames(self, path):
        lt, pkts = netns.read_pcap(path)
        self.assertEqual(lt, 1, path)
        return sorted((netns.payload_id(d), n, d) for _, n, d in pkts)

    def test_vlan(self):
        with Topology() as t:
            a, b = two_namespaces(t)
            ref, tc_in, xdp = t.path("ref.pcap"), t.path("tc_in.pcap"), t.path("xdp.pcap")
            ref_out, tc_out, cut = t.path("ref_out.pcap"), t.path("tc_out.pcap"), t.path("cut.pcap")
            ref_cut = t.path("ref_cut.pcap")
            caps = [
                t.capture(a, "--engine", "afpacket", "-i", "vA", "-w", ref, name="ref"),
                t.capture(a, "--engine", "afpacket", "-i", "vA", "-s", "64", "-w", ref_cut, name="ref_cut"),
                t.capture(b, "--engine", "afpacket", "-i", "vB", "-w", ref_out, name="ref_out"),
                capture(t, a, "--engine", "tc", "--direction", "in", "-i", "vA", "-w", tc_in, name="tc_in"),
                capture(t, a, "--engine", "tc", "--direction", "in", "-i", "vA", "-s", "64", "-w", cut, name="cut"),
                capture(t, a, "--engine", "xdp", "-i", "vA", "-w", xdp, name="xdp"),
                capture(t, b, "--engine", "tc", "--direction", "out", "-i", "vB", "-w", tc_out, name="tc_out"),
            ]
            text = capture(t, a, "--engine", "tc", "--direction", "in", "-i", "vA", name="text")
            caps.append(text)
            filt = {}
            for i, e in enumerate(self.EXPRS):
                filt[e] = (capture(t, a, "--engine", "tc", "--direction", "in", "-i", "vA", "-q", "-w",
                                   t.path(f"tc{i}.pcap"), e, name=f"tc{i}"),
                           t.capture(a, "--engine", "afpacket", "-i", "vA", "-q", "-w", t.path(f"af{i}.pcap"), e, name=f"af{i}"),
                           t.path(f"tc{i}.pcap"), t.path(f"af{i}.pcap"))
                caps += filt[e][:2]
            self.send_tagged(t, b)
            for c in caps:
                self.assertEqual(c.stop(), 0, c.stderr())

            want = self.frames(ref)
            self.assertEqual([f[0] for f in want], list(range(11)))
            for f in want[:9]:
                self.assertEqual(f[2][12:14], b"\x81\x00")
                self.assertEqual(struct.unpack(">H", f[2][14:16])[0], 100 if f[0] < 6 else 200)
                self.assertEqual(f[1], len(f[2]))
            self.assertEqual(self.frames(tc_in), want)
            self.assertEqual(self.frames(xdp), want)
            self.assertEqual(self.frames(tc_out), self.frames(ref_out))
            self.assertEqual(self.frames(tc_out), want)
            # -s cuts the skb's bytes; the tag comes on top, as AF_PACKET (and libpcap) do it.
            _, got_cut = netns.read_pcap(cut)
            _, ref_cuts = netns.read_pcap(ref_cut)
            self.assertEqual([(n, d) for _, n, d in got_cut], [(n, d) for _, n, d in ref_cuts])
            self.assertEqual([len(d) for _, _, d in got_cut], [68] * 9 + [64] * 2)

            lines = text.stdout().splitlines()
            self.assertEqual(sum(" tc-ingress vA vlan 100, IP 198.18.100.2.40000 > 198.18.100.1.5001: UDP" in l
                                 for l in lines), 4, lines)
            self.assertEqual(sum(" tc-ingress vA vlan 200, IP 198.18.100.2.40000 > 198.18.100.1.5001: UDP" in l
                                 for l in lines), 3, lines)
            self.assertEqual(sum("vlan" not in l for l in lines), 2, lines)

            for i, (e, ids) in enumerate(self.EXPRS.items()):
                c_tc, c_af, p_tc, p_af = filt[e]
                got = self.frames(p_tc)
                self.assertEqual([f[0] for f in got], list(ids), e)
                self.assertEqual(c_tc.ledger(), (len(ids), len(ids), 0), e)
                if e in self.BYTES_ONLY:
                    p_af = t.path(f"read{i}.pcap")
                    r = netns.run_hookdump(None, "read", ref, "-w", p_af, e)
                    self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(got, self.frames(p_af), e)

    def test_flows(self):
        """Flow mode counts the bytes on the wire, tag included."""
        with Topology() as t:
            a, b = two_namespaces(t)
            out = t.path("flows.csv")
            c = capture(t, a, "--engine", "tc", "--direction", "in", "-i", "vA", f"--flows={out}", "vlan 100",
                        name="flows")
            self.send_tagged(t, b)
            self.assertEqual(c.stop(), 0, c.stderr())
            got = sorted((r["src"], r["packets"], r["bytes"]) for r in read_csv(out))
            n = 14 + 4 + 20 + 8 + PAYLOAD
            self.assertEqual(got, [("198.18.100.2", "4", str(4 * n)), ("198.18.100.3", "2", str(2 * n))])


class Cleanup(unittest.TestCase):
    """Nothing stays attached after exit, SIGTERM or kill -9 (tcx: the links go with the
    process; clsact filters: the next start removes a killed run's; XDP: the link goes with the
    process)."""

    def test_signals_and_kill(self):
        """clsact filters (forced where the kernel has tcx): named hookdump:<pid>, removed at
        exit; a killed run's removed by the next start, live runs' left alone."""
        wrapper = CLSACT if TCX else ()
        with Topology() as t:
            a, b = two_namespaces(t)

            def cap(*args, name):
                return capture(t, a, "--engine", "tc", "-i", "vA", "-q", "-o", "csv", *args, name=name,
                               wrapper=wrapper)

            for sig in (signal.SIGINT, signal.SIGTERM):
                c = cap(name=f"s{sig}")
                pid = hookdump_pid(c)
                self.assertIn(f"hookdump:{pid}", tc_filters(a, "vA", "ingress"))
                self.assertIn(f"hookdump:{pid}", tc_filters(a, "vA", "egress"))
                self.assertEqual(tcx_programs(a, "vA", "ingress") + tcx_programs(a, "vA", "egress"), [])
                self.assertEqual(c.stop(sig, settle=0), 0, c.stderr())
                self.assertEqual(attached(a, "vA"), "")
                self.assertFalse(clsact_present(a, "vA"))
            # -c N: the engine ends by itself.
            c = cap("-c", "2", name="count")
            t.send(b, "vB", kind="udp", count=5, payload=PAYLOAD)
            self.assertEqual(c.wait(), 0, c.stderr())
            self.assertEqual(attached(a, "vA"), "")

            # kill -9: netlink tc filters outlive their process ...
            c = cap(name="k9")
            pid = hookdump_pid(c)
            c.kill()
            self.assertIn(f"hookdump:{pid}", tc_filters(a, "vA", "ingress"))
            self.assertIn(f"hookdump:{pid}", tc_filters(a, "vA", "egress"))
            # ... a live run's are left alone by a second run, the dead one's are removed.
            live = cap(name="live")
            self.assertIn("hookdump: removed 2 tc filter(s) left on vA by a hookdump that did not exit cleanly",
                          live.stderr())
            live_pid = hookdump_pid(live)
            other = cap(name="other")
            self.assertNotIn("removed", other.stderr())
            ing = tc_filters(a, "vA", "ingress")
            self.assertNotIn(f"hookdump:{pid}", ing)
            self.assertIn(f"hookdump:{live_pid}", ing)
            self.assertIn(f"hookdump:{hookdump_pid(other)}", ing)
            for c in (other, live):
                self.assertEqual(c.stop(settle=0), 0, c.stderr())
            self.assertEqual(attached(a, "vA"), "")
            self.assertFalse(clsact_present(a, "vA"))

            # XDP: the bpf_link closes with the process, even on kill -9.
            c = capture(t, a, "--engine", "xdp", "-i", "vA", "-q", "-o", "csv", name="x9")
            self.assertTrue(xdp_attached(a, "vA"))
            c.kill()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and xdp_attached(a, "vA"):
                time.sleep(0.05)
            self.assertFalse(xdp_attached(a, "vA"))

    def test_tcx_signals_and_kill(self):
        """tcx links: first on the hook, no clsact qdisc, gone at exit and with a killed
        process; a tcx run also removes a killed clsact run's filters and their qdisc."""
        if not TCX:
            self.skipTest(f"kernel {os.uname().release} has no tcx (6.6+): test_signals_and_kill covers clsact")
        with Topology() as t:
            a, b = two_namespaces(t)

            def cap(*args, name, wrapper=()):
                return capture(t, a, "--engine", "tc", "-i", "vA", "-q", "-o", "csv", *args, name=name,
                               wrapper=wrapper)

            for sig in (signal.SIGINT, signal.SIGTERM):
                c = cap(name=f"s{sig}")
                self.assertEqual(other_lines(c), [])  # nothing said about how it attached
                self.assertEqual(tcx_programs(a, "vA", "ingress"), ["hd_tc_ingress"])
                self.assertEqual(tcx_programs(a, "vA", "egress"), ["hd_tc_egress"])
                self.assertEqual(tc_filters(a, "vA", "ingress") + tc_filters(a, "vA", "egress"), "")
                self.assertFalse(clsact_present(a, "vA"))
                self.assertEqual(c.stop(sig, settle=0), 0, c.stderr())
                self.assertEqual(attached(a, "vA"), "")
            c = cap("-c", "2", name="count")
            t.send(b, "vB", kind="udp", count=5, payload=PAYLOAD)
            self.assertEqual(c.wait(), 0, c.stderr())
            self.assertEqual(attached(a, "vA"), "")
            # kill -9: the kernel closes the links' fds, which detaches them.
            c = cap(name="k9")
            c.kill()
            self.assertEqual(wait_detached(a, "vA"), "")
            # A killed clsact run's filters: the next (tcx) start removes them and their qdisc.
            c = cap(name="k9c", wrapper=CLSACT)
            pid = hookdump_pid(c)
            c.kill()
            self.assertIn(f"hookdump:{pid}", tc_filters(a, "vA", "ingress"))
            c = cap(name="after")
            self.assertEqual(other_lines(c),
                             ["hookdump: removed 2 tc filter(s) left on vA by a hookdump that did not exit cleanly"])
            self.assertFalse(clsact_present(a, "vA"))
            self.assertEqual(attached(a, "vA"), "hd_tc_ingress\nhd_tc_egress\n")
            self.assertEqual(c.stop(settle=0), 0, c.stderr())
            self.assertEqual(attached(a, "vA"), "")

    def test_others_filters_untouched(self):
        """A filter someone else put at priority 1 stays; ours goes next to it (clsact) or on
        the tcx hook, and away."""
        for wrapper in ((), CLSACT) if TCX else ((),):
            with self.subTest(wrapper=wrapper), Topology() as t:
                a, b = two_namespaces(t)
                sh("tc", "qdisc", "add", "dev", "vA", "clsact", ns=a)
                # A classic-BPF cls_bpf filter that never matches (no module needed).
                sh("tc", "filter", "add", "dev", "vA", "ingress", "pref", "1", "protocol", "all", "bpf",
                   "bytecode", "1,6 0 0 0,", ns=a)
                theirs = tc_filters(a, "vA", "ingress")
                out = t.path("o.csv")
                c = capture(t, a, "--engine", "tc", "--direction", "in", "-i", "vA", "-w", out, name="o",
                            wrapper=wrapper)
                if TCX and not wrapper:
                    self.assertEqual(tc_filters(a, "vA", "ingress"), theirs)
                    self.assertEqual(tcx_programs(a, "vA", "ingress"), ["hd_tc_ingress"])
                else:
                    self.assertRegex(tc_filters(a, "vA", "ingress"), r"pref 2 bpf chain 0 handle 0x1 hookdump:")
                t.send(b, "vB", kind="udp", count=3, payload=PAYLOAD)
                self.assertEqual(c.stop(), 0, c.stderr())
                self.assertEqual(len(read_csv(out)), 3)
                left = tc_filters(a, "vA", "ingress")
                self.assertRegex(left, r"^filter protocol all pref 1 bpf chain 0 \n"
                                       r"filter protocol all pref 1 bpf chain 0 handle 0x1 .*bytecode '1,6 0 0 0'\n$")
                self.assertNotIn("hookdump", left)
                self.assertEqual(tcx_programs(a, "vA", "ingress"), [])
                self.assertTrue(clsact_present(a, "vA"))


class Errors(unittest.TestCase):
    def test_errors(self):
        with Topology() as t:
            a, _ = two_namespaces(t)
            for args, rc, msg in [
                (["--engine", "tc"], 2, "hookdump: --engine tc needs one interface (-i IFACE)"),
                (["--engine", "tc", "-i", "nosuch0"], 2, "hookdump: no such interface: nosuch0"),
                (["--engine", "xdp", "-i", "vA", "--direction", "out"], 2,
                 "hookdump: XDP sees received packets only: --direction out needs --engine tc"),
            ]:
                r = netns.run_hookdump(a, "capture", *args)
                self.assertEqual((r.returncode, r.stderr.strip()), (rc, msg), args)

    def test_outputs_created_first(self):
        """An output that cannot be created is one line and exit 1 at once, before the programs
        are loaded: no filter, tcx link or clsact qdisc is left on the device."""
        with Topology() as t:
            a, _ = two_namespaces(t)
            nope = "/proc/nope"
            for wrapper in ((), CLSACT):
                for args, path in [
                    (["-w", nope + "/x.pcap"], nope + "/x.pcap"),
                    (["-w", nope + "/x.pcapng", "-C", "1"], nope + "/x-00000.pcapng"),
                    (["--flows=" + nope + "/f.csv"], nope + "/f.csv"),
                    (["-w", t.path("ok.pcap"), "--stats-json", nope + "/s.json"], nope + "/s.json"),
                ]:
                    cmd = ["ip", "netns", "exec", a, *wrapper, netns.HOOKDUMP, "capture", "--engine", "tc", "-i", "vA",
                           *args, "udp"]
                    r = subprocess.run(cmd, capture_output=True, text=True, timeout=5)
                    self.assertEqual((r.returncode, r.stderr),
                                     (1, f"hookdump: cannot create {path}: No such file or directory\n"), cmd)
                    self.assertEqual(attached(a, "vA"), "", cmd)
                    self.assertFalse(clsact_present(a, "vA"), cmd)



if __name__ == "__main__":
    netns.run_tests(__name__, tools=("ip", "tc", "ping"))

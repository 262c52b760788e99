#!/usr/bin/env python3
"""hookdump capture --engine afpacket in network namespaces joined by veth pairs.

Run one group:  HOOKDUMP_BIN=... HOOKDUMP_SEND=... python3 test_capture.py Tuples
(ctest runs each group as netns_<group>, label netns). Needs root; without it, or without
ip, capinfos (from tshark), tcpdump or ping, the run is skipped loudly (exit 77), or
fails when CI=true. VLAN sub-interfaces (8021q, which the host's kernel lacks) are tested in
the VM suite only (tests/vm/cases/31_capture_vlan_subif.sh).

Traffic comes from hookdump-send in namespace B to namespace A over the veth vB -> vA, to a
MAC address nobody has (so A's kernel drops it after the tap without answering), unless a
test says otherwise. Every assertion is exact.
"""

import json
import os
import signal
import struct
import sys
import time
import unittest
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from netns import Topology, read_csv, read_jsonl, read_pcap, read_pcapng, ts_key  # noqa: E402

A_IP, B_IP = "198.18.0.1", "198.18.0.2"
A6, B6 = "2001:db8::1", "2001:db8::2"
PAYLOAD = 32
# This file tests the tap: every capture names its engine (the default, auto, may pick another).
AF = ("--engine", "afpacket")


def two_namespaces(t):
    a, b = t.netns("a"), t.netns("b")
    t.veth(a, "vA", A_IP + "/24", b, "vB", B_IP + "/24")
    return a, b


def row_tuple(r):
    """What a capture row says about a packet, as comparable text (csv and jsonl alike)."""
    def s(v):
        return "" if v is None else str(v)
    return (s(r["proto"]), s(r["src"]), s(r["dst"]), s(r["sport"]), s(r["dport"]), s(r["icmp_type"]),
            s(r["icmp_code"]), s(r["frag"]), s(r["tcp_flags"]), s(r["len"]))


def expect(proto, src, dst, sport="", dport="", itype="", icode="", frag="0", flags="", length=0):
    return (str(proto), src, dst, str(sport), str(dport), str(itype), str(icode), frag, flags, str(length))


class Tuples(unittest.TestCase):
    """Every packet sent is captured once, with the 5-tuple, flags, fragment bit and length sent."""

    def test_tuples(self):
        with Topology() as t:
            a, b = two_namespaces(t)
            csv_path, jsonl_path = t.path("out.csv"), t.path("out.jsonl")
            sends = [
                dict(kind="udp", count=3, flows=3, sport=40000, dport=5001),
                dict(kind="tcp", count=2, sport=41000, dport=80, flags="S"),
                dict(kind="tcp", count=2, sport=41000, dport=80, flags="P."),
                dict(kind="tcp", count=1, sport=41001, dport=443, flags="FSRPAUEW"),
                dict(kind="icmp", count=2, sport=7),
                dict(kind="udp6", count=2, src=B6, dst=A6, sport=42000, dport=5001),
                dict(kind="icmp6", count=2, src=B6, dst=A6, sport=9),
                dict(kind="frag", count=2, sport=43000, dport=5002),
                dict(kind="frag6", count=1, src=B6, dst=A6, sport=44000, dport=5003),
            ]
            exp = []
            L = PAYLOAD
            for s in sends:
                k, n = s["kind"], s["count"]
                for i in range(n):
                    sp = s.get("sport", 40000) + (i % s.get("flows", 1))
                    dp = s.get("dport", 5001)
                    if k == "udp":
                        exp.append(expect(17, B_IP, A_IP, sp, dp, length=14 + 20 + 8 + L))
                    elif k == "tcp":
                        exp.append(expect(6, B_IP, A_IP, sp, dp, flags={"S": "S", "P.": "P.",
                                                                         "FSRPAUEW": "FSRP.UEW"}[s["flags"]],
                                          length=14 + 20 + 20 + L))
                    elif k == "icmp":
                        exp.append(expect(1, B_IP, A_IP, itype=8, icode=0, length=14 + 20 + 8 + L))
                    elif k == "udp6":
                        exp.append(expect(17, B6, A6, sp, dp, length=14 + 40 + 8 + L))
                    elif k == "icmp6":
                        exp.append(expect(58, B6, A6, itype=128, icode=0, length=14 + 40 + 8 + L))
                    elif k == "frag":
                        # 40-byte UDP datagram body in two pieces of 24 and 16 bytes.
                        exp.append(expect(17, B_IP, A_IP, sp, dp, frag="1", length=14 + 20 + 24))
                        exp.append(expect(17, B_IP, A_IP, frag="1", length=14 + 20 + 16))
                    elif k == "frag6":
                        exp.append(expect(17, B6, A6, sp, dp, frag="1", length=14 + 40 + 8 + 24))
                        exp.append(expect(17, B6, A6, frag="1", length=14 + 40 + 8 + 16))
            total = len(exp)

            c1 = t.capture(a, *AF, "-i", "vA", "-c", str(total), "-w", csv_path, name="csv")
            c2 = t.capture(a, *AF, "-i", "vA", "-c", str(total), "-w", jsonl_path, name="jsonl")
            c3 = t.capture(a, *AF, "-i", "vA", "-c", str(total), name="text")
            for s in sends:
                s = dict(s)
                kind, count = s.pop("kind"), s.pop("count")
                t.send(b, "vB", kind=kind, count=count, payload=PAYLOAD, **s)
            for c in (c1, c2, c3):
                self.assertEqual(c.wait(), 0, c.stderr())
                self.assertEqual(c.ledger(), (total, total, 0))
                self.assertEqual(c.stderr().splitlines()[0],
                                 "listening on vA, link-type EN10MB (Ethernet), snapshot length 262144 bytes")

            rows = read_csv(csv_path)
            self.assertEqual([row_tuple(r) for r in rows], exp)
            jrows = read_jsonl(jsonl_path)
            self.assertEqual([row_tuple(r) for r in jrows], exp)
            ifindex, nsid = t.ifindex(a, "vA"), t.netns_id(a)
            for r in rows:
                self.assertEqual((r["point"], r["dir"], r["ifname"], r["ifindex"], r["netns"], r["caplen"]),
                                 ("tap-in", "in", "vA", str(ifindex), str(nsid), r["len"]))
            for r in jrows:
                self.assertEqual((r["point"], r["dir"], r["ifname"], r["ifindex"], r["netns"]),
                                 ("tap-in", "in", "vA", ifindex, nsid))
            # Timestamps: real, close to now, in order.
            keys = [ts_key(r["ts"]) for r in rows]
            self.assertEqual(keys, sorted(keys))
            self.assertLess(abs(keys[0][0] - time.time()), 60)
            # (Not equal across the two captures: without a socket asking for timestamps the
            # kernel leaves skb->tstamp unset and stamps the packet once per AF_PACKET socket.)
            jkeys = [ts_key(r["ts"]) for r in jrows]
            self.assertEqual(jkeys, sorted(jkeys))

            text = c3.stdout().splitlines()
            self.assertEqual(len(text), total)
            self.assertIn(f"tap-in vA IP {B_IP}.40000 > {A_IP}.5001: UDP, length {PAYLOAD}", text[0])
            self.assertIn(f"IP {B_IP}.41000 > {A_IP}.80: TCP Flags [S]", text[3])
            self.assertIn(f"IP {B_IP} > {A_IP}: ICMP echo request, length", text[8])
            self.assertIn(f"IP6 {B6}.42000 > {A6}.5001: UDP, length {PAYLOAD}", text[10])
            self.assertIn(f"IP {B_IP}.43000 > {A_IP}.5002: UDP (first fragment)", text[14])
            self.assertIn(f"IP {B_IP} > {A_IP}: UDP (fragment)", text[15])


class Filter(unittest.TestCase):
    """Expressions select exactly the expected subset, in the kernel, on an interface and on any."""

    def test_filters(self):
        with Topology() as t:
            a, b = two_namespaces(t)
            mix = [
                ("udp", 5001, 5, {}),
                ("udp", 5002, 4, {}),
                ("tcp", 5001, 3, {"flags": "S"}),
                ("tcp", 5001, 2, {"flags": "P."}),
                ("icmp", 0, 2, {}),
                ("udp6", 5001, 3, {"src": B6, "dst": A6}),
                ("frag", 5001, 2, {}),
            ]
            cases = {
                "udp port 5001": 5 + 3 + 2,  # the later fragments carry no port
                "udp": 5 + 4 + 3 + 4,
                "tcp[tcpflags] & tcp-syn != 0": 3,
                "tcp and port 5001": 5,
                "icmp": 2,
                "ip6": 3,
                "ip and not udp": 5 + 2,
                f"src host {B_IP} and dst port 5002": 4,
                "ip[6:2] & 0x3fff != 0": 4,  # IPv4 fragments, first and later
            }
            caps = {}
            for i, (expr, n) in enumerate(cases.items()):
                for where in ("vA", "any"):
                    path = t.path(f"f{i}-{where}.csv")
                    caps[(expr, where)] = (t.capture(a, *AF, "-i", where, "-q", "-w", path, expr, name=f"f{i}{where}"),
                                           path, n)
            # On any, an expression that reads the cooked header's address field cannot run in
            # the kernel: hookdump says so and filters in userspace, with the same result.
            user_expr = "ether[12:2] = 0x0248 and udp port 5001"
            user_path = t.path("user.csv")
            user = t.capture(a, *AF, "-i", "any", "-q", "-w", user_path, user_expr, name="user")
            for kind, port, count, extra in mix:
                t.send(b, "vB", kind=kind, count=count, dport=port, payload=PAYLOAD, **extra)
            time.sleep(0.2)
            self.assertEqual(user.stop(settle=0), 0, user.stderr())
            self.assertIn("filtering in userspace", user.stderr())
            self.assertEqual(len(read_csv(user_path)), 10)
            self.assertEqual(user.ledger(), (10, 10, 0))
            for (expr, where), (c, path, n) in caps.items():
                self.assertEqual(c.stop(settle=0), 0, c.stderr())
                rows = read_csv(path)
                self.assertEqual(len(rows), n, f"{expr!r} on {where}: {[row_tuple(r) for r in rows]}")
                self.assertEqual(c.ledger(), (n, n, 0), expr)
            # Spot-check the subsets themselves.
            rows = read_csv(caps[("udp port 5001", "vA")][1])
            self.assertEqual(Counter((r["src"], r["dport"], r["frag"]) for r in rows),
                             Counter({(B_IP, "5001", "0"): 5, (B6, "5001", "0"): 3, (B_IP, "5001", "1"): 2}))
            rows = read_csv(caps[("tcp[tcpflags] & tcp-syn != 0", "any")][1])
            self.assertEqual({r["tcp_flags"] for r in rows}, {"S"})


class Direction(unittest.TestCase):
    """tap-in and tap-out from each side of the veth, for the kernel's own traffic (ping) and
    for frames sent from a packet socket; pcapng carries the direction in epb_flags."""

    def test_directions(self):
        with Topology() as t:
            a, b = two_namespaces(t)
            ca = t.capture(a, *AF, "-i", "vA", "-w", t.path("a.csv"), "icmp or udp", name="a")
            cb = t.capture(b, *AF, "-i", "vB", "-w", t.path("b.csv"), "icmp or udp", name="b")
            cn = t.capture(b, *AF, "-i", "vB", "-w", t.path("b.pcapng"), "icmp or udp", name="bng")
            r = netns.sh("ping", "-c", "3", "-i", "0.2", "-W", "2", A_IP, ns=b, check=False)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            t.send(b, "vB", kind="udp", count=4, payload=PAYLOAD)
            for c in (ca, cb, cn):
                self.assertEqual(c.stop(), 0, c.stderr())

            def summary(path):
                return Counter((r["point"], r["dir"], r["src"], r["dst"], r["proto"], r["icmp_type"])
                               for r in read_csv(path))

            self.assertEqual(summary(t.path("a.csv")), Counter({
                ("tap-in", "in", B_IP, A_IP, "1", "8"): 3,
                ("tap-out", "out", A_IP, B_IP, "1", "0"): 3,
                ("tap-in", "in", B_IP, A_IP, "17", ""): 4,
            }))
            self.assertEqual(summary(t.path("b.csv")), Counter({
                ("tap-out", "out", B_IP, A_IP, "1", "8"): 3,
                ("tap-in", "in", A_IP, B_IP, "1", "0"): 3,
                ("tap-out", "out", B_IP, A_IP, "17", ""): 4,
            }))
            ifaces, pkts, stats = read_pcapng(t.path("b.pcapng"))
            self.assertEqual([i["name"] for i in ifaces], ["vB"])
            got = Counter((p["flags"] & 3, p["comment"]) for p in pkts)
            self.assertEqual(got, Counter({(2, "hookdump point=tap-out"): 7, (1, "hookdump point=tap-in"): 3}))
            self.assertEqual(netns.tool_packet_count(t.path("b.pcapng")), 10)
            # Read back (hookdump's pcapng reader): the point and direction it held, the
            # interface's name, as the live csv had them.
            netns.sh(netns.HOOKDUMP, "read", t.path("b.pcapng"), "-w", t.path("b-read.csv"))
            self.assertEqual(summary(t.path("b-read.csv")), summary(t.path("b.csv")))
            self.assertEqual({r["ifname"] for r in read_csv(t.path("b-read.csv"))}, {"vB"})


class Vlan(unittest.TestCase):
    """VLAN tags show on the parent interface (text, csv, pcap bytes with the 0x8100 tag), both
    where the tag is in the frame (the sender's side) and where the kernel moved it into the
    packet's metadata (the receiver's side: hookdump puts it back), on an interface and on any;
    `vlan 100` filters on them."""

    def test_vlan(self):
        with Topology() as t:
            a, b = two_namespaces(t)
            caps = {
                "a_text": t.capture(a, *AF, "-i", "vA", name="a_text"),
                "a_pcap": t.capture(a, *AF, "-i", "vA", "-w", t.path("a.pcap"), name="a_pcap"),
                "b_pcap": t.capture(b, *AF, "-i", "vB", "-w", t.path("b.pcap"), name="b_pcap"),
                "a_vlan": t.capture(a, *AF, "-i", "vA", "-w", t.path("a_vlan.csv"), "vlan 100", name="a_vlan"),
                # (No `vlan` filter on any: libpcap has "no VLAN support for Linux cooked v2".)
                "a_any": t.capture(a, *AF, "-i", "any", "-w", t.path("a_any.pcap"), name="a_any"),
            }
            t.send(b, "vB", kind="udp", count=6, vlan=100, src="198.18.100.2", dst="198.18.100.1", payload=PAYLOAD)
            t.send(b, "vB", kind="udp", count=2, first_id=6, payload=PAYLOAD)
            time.sleep(0.2)
            for c in caps.values():
                self.assertEqual(c.stop(settle=0), 0, c.stderr())

            text = caps["a_text"].stdout().splitlines()
            self.assertEqual(len(text), 8, text)
            self.assertEqual(sum(" tap-in vA vlan 100, IP 198.18.100.2.40000 > 198.18.100.1.5001: UDP" in l
                                 for l in text), 6, text)
            self.assertEqual(sum("vlan" not in l and f" vA IP {B_IP}.40000 > {A_IP}.5001" in l for l in text), 2)
            check_tagged_pcap(self, t.path("a.pcap"), 6, 2)
            check_tagged_pcap(self, t.path("b.pcap"), 6, 2)
            rows = read_csv(t.path("a_vlan.csv"))
            self.assertEqual([(r["src"], r["dport"]) for r in rows], [("198.18.100.2", "5001")] * 6)

            # On any: the tag restored between the cooked header and the IP header.
            lt, pkts = read_pcap(t.path("a_any.pcap"))
            self.assertEqual(lt, 276)
            per_if = Counter()
            for ts, length, data in pkts:
                proto, ifindex = struct.unpack(">HxxI", data[:8])
                per_if[(ifindex, proto)] += 1
                if proto == 0x8100:
                    self.assertEqual(struct.unpack(">HH", data[20:24]), (100, 0x0800))
            ia = t.ifindex(a, "vA")
            self.assertEqual(per_if, Counter({(ia, 0x8100): 6, (ia, 0x0800): 2}))
            self.assertEqual(sorted(netns.payload_id(p[2], 276) for p in pkts), list(range(8)))
            self.assertEqual(netns.tool_packet_count(t.path("a_any.pcap")), 8)


def check_tagged_pcap(test, path, tagged_count, untagged_count):
    lt, pkts = read_pcap(path)
    test.assertEqual(lt, 1)
    test.assertEqual(len(pkts), tagged_count + untagged_count, path)
    tagged = [p for p in pkts if p[2][12:14] == b"\x81\x00"]
    test.assertEqual(len(tagged), tagged_count, path)
    for ts, length, data in tagged:
        test.assertEqual(struct.unpack(">H", data[14:16])[0] & 0x0FFF, 100)
        test.assertEqual(data[16:18], b"\x08\x00")
        test.assertEqual(length, len(data))
        test.assertEqual(length, 14 + 4 + 20 + 8 + PAYLOAD)
    test.assertEqual(sorted(netns.payload_id(p[2]) for p in pkts), list(range(len(pkts))))
    test.assertEqual(netns.tool_packet_count(path), len(pkts))


class Any(unittest.TestCase):
    """-i any sees both interfaces of a namespace with two veths, each packet once."""

    def test_any(self):
        with Topology() as t:
            a, b, c = t.netns("a"), t.netns("b"), t.netns("c")
            t.veth(a, "vA", A_IP + "/24", b, "vB", B_IP + "/24")
            t.veth(a, "vA2", "198.18.1.1/24", c, "vC", "198.18.1.2/24")
            cap = t.capture(a, *AF, "-i", "any", "-w", t.path("any.csv"), name="any")
            capng = t.capture(a, *AF, "-i", "any", "-w", t.path("any.pcapng"), name="anyng")
            t.send(b, "vB", kind="udp", count=6, payload=PAYLOAD)
            t.send(c, "vC", kind="tcp", count=4, src="198.18.1.2", dst="198.18.1.1", payload=PAYLOAD)
            t.send(b, "vB", kind="icmp", count=2, payload=PAYLOAD)
            self.assertEqual(cap.stop(), 0, cap.stderr())
            self.assertEqual(capng.stop(settle=0), 0, capng.stderr())
            rows = read_csv(t.path("any.csv"))
            ia, ia2, nsid = t.ifindex(a, "vA"), t.ifindex(a, "vA2"), t.netns_id(a)
            self.assertEqual(Counter((r["ifname"], r["ifindex"], r["point"], r["src"], r["proto"], r["len"])
                                     for r in rows), Counter({
                # len counts the 20-byte cooked (LINUX_SLL2) header instead of Ethernet's 14,
                # as libpcap's records on any do.
                ("vA", str(ia), "tap-in", B_IP, "17", str(20 + 20 + 8 + PAYLOAD)): 6,
                ("vA2", str(ia2), "tap-in", "198.18.1.2", "6", str(20 + 20 + 20 + PAYLOAD)): 4,
                ("vA", str(ia), "tap-in", B_IP, "1", str(20 + 20 + 8 + PAYLOAD)): 2,
            }))
            self.assertEqual({r["netns"] for r in rows}, {str(nsid)})
            self.assertEqual(cap.ledger(), (12, 12, 0))
            self.assertTrue(cap.messages()[0].startswith("12 packets captured"))
            self.assertIn("link-type LINUX_SLL2", cap.stderr().splitlines()[0])
            ifaces, pkts, stats = read_pcapng(t.path("any.pcapng"))
            self.assertEqual(sorted(i["name"] for i in ifaces), ["vA", "vA2"])
            self.assertEqual({i["linktype"] for i in ifaces}, {276})
            self.assertEqual(len(pkts), 12)
            self.assertEqual(netns.tool_packet_count(t.path("any.pcapng")), 12)


class Workers(unittest.TestCase):
    """--workers 2 (PACKET_FANOUT): nothing lost, nothing duplicated, merged output in time order;
    per-worker files split by flow and add up to the whole; fragments stay fragments."""

    N = 2000
    FLOWS = 64

    def test_workers(self):
        with Topology() as t:
            a, b = two_namespaces(t)
            merged = t.capture(a, *AF, "-i", "vA", "--workers", "2", "-w", t.path("merged.pcap"), name="merged", workers=2)
            split = t.capture(a, *AF, "-i", "vA", "--workers", "2", "--per-worker-files", "-w", t.path("split.pcapng"),
                              name="split", workers=2)
            frags = t.capture(a, *AF, "-i", "vA", "--workers", "2", "-w", t.path("frags.csv"), "ip[6:2] & 0x3fff != 0",
                              name="frags", workers=2)
            t.send(b, "vB", kind="udp", count=self.N, flows=self.FLOWS, rate=20000, payload=PAYLOAD)
            t.send(b, "vB", kind="frag", count=10, first_id=self.N, payload=PAYLOAD)
            for c in (merged, split, frags):
                self.assertEqual(c.stop(settle=0.3), 0, c.stderr())
            total = self.N + 20

            lt, pkts = read_pcap(t.path("merged.pcap"))
            ids = Counter(netns.payload_id(p[2]) for p in pkts)
            expected = Counter(range(self.N + 10))
            expected[None] = 10  # later fragments carry no payload id
            self.assertEqual(ids, expected)
            ts = [p[0] for p in pkts]
            self.assertEqual(ts, sorted(ts), "merged output out of time order")
            self.assertEqual(merged.ledger(), (total, total, 0))
            self.assertEqual(netns.tool_packet_count(t.path("merged.pcap")), total)

            per_file = []
            for w in range(2):
                path = t.path(f"split.w{w}.pcapng")
                ifaces, wp, stats = read_pcapng(path)
                self.assertEqual(netns.tool_packet_count(path), len(wp))
                per_file.append(wp)
            self.assertTrue(all(per_file), "one worker got no packet: fanout did not spread 64 flows")
            all_ids = Counter(netns.payload_id(p["data"]) for f in per_file for p in f)
            self.assertEqual(all_ids, expected)
            # A flow (source port) lives in one worker's file.
            ports = [set(struct.unpack(">H", p["data"][34:36])[0] for p in f if netns.payload_id(p["data"]) is not None
                         and netns.payload_id(p["data"]) < self.N) for f in per_file]
            self.assertFalse(ports[0] & ports[1])
            self.assertEqual(len(ports[0] | ports[1]), self.FLOWS)
            self.assertEqual(split.ledger(), (total, total, 0))

            rows = read_csv(t.path("frags.csv"))
            self.assertEqual(Counter((r["frag"], r["sport"] != "") for r in rows), Counter({("1", True): 10, ("1", False): 10}))
            keys = [ts_key(r["ts"]) for r in rows]
            self.assertEqual(keys, sorted(keys))


class Rotation(unittest.TestCase):
    """-C and -G with -w x.pcap / x.pcapng: every file valid (tshark and tcpdump read it), and
    the files add up to exactly what was sent; -W bounds the number of files."""

    def check_files(self, t, base, ext, expect_ids, min_files):
        files = sorted(f for f in os.listdir(t.dir) if f.startswith(base + "-") and f.endswith(ext))
        self.assertGreaterEqual(len(files), min_files, files)
        self.assertEqual(files, [f"{base}-{i:05d}{ext}" for i in range(len(files))])
        ids = Counter()
        for f in files:
            path = t.path(f)
            n = netns.tool_packet_count(path)
            if ext == ".pcap":
                _, pkts = read_pcap(path)
                got = [netns.payload_id(p[2]) for p in pkts]
            else:
                _, pkts, stats = read_pcapng(path)
                got = [netns.payload_id(p["data"]) for p in pkts]
                self.assertEqual(len(stats), 1 if pkts else 0, f)
            self.assertEqual(n, len(got), f)
            self.assertGreater(n, 0, f"{f} is empty")
            ids.update(got)
        self.assertEqual(ids, Counter(expect_ids))
        return files

    def test_rotation(self):
        with Topology() as t:
            a, b = two_namespaces(t)
            size = [t.capture(a, *AF, "-i", "vA", "-C", "0.01", "-w", t.path("size" + ext), name="size" + ext[1:])
                    for ext in (".pcap", ".pcapng")]
            timed = [t.capture(a, *AF, "-i", "vA", "-G", "1", "-w", t.path("time" + ext), name="time" + ext[1:])
                     for ext in (".pcap", ".pcapng")]
            bounded = t.capture(a, *AF, "-i", "vA", "-C", "0.01", "-W", "2", "-w", t.path("ring.pcapng"), name="ring")
            # 300 packets of 78 bytes in about 1.5 s: 25+ KB (3+ files of 10 KB) and 2+ seconds.
            t.send(b, "vB", kind="udp", count=300, rate=200, payload=PAYLOAD)
            for c in size + timed + [bounded]:
                self.assertEqual(c.stop(settle=0.2 if c is size[0] else 0), 0, c.stderr())
            for ext in (".pcap", ".pcapng"):
                files = self.check_files(t, "size", ext, range(300), 3)
                for f in files[:-1]:  # a file is closed once it reached 10,000 bytes
                    self.assertGreaterEqual(os.path.getsize(t.path(f)), 10000, f)
                    self.assertLess(os.path.getsize(t.path(f)), 10000 + 400, f)
                self.check_files(t, "time", ext, range(300), 2)
            ring = sorted(f for f in os.listdir(t.dir) if f.startswith("ring-"))
            self.assertEqual(ring, ["ring-00000.pcapng", "ring-00001.pcapng"])
            for f in ring:
                self.assertGreater(netns.tool_packet_count(t.path(f)), 0)


class Ledger(unittest.TestCase):
    """The ledger adds up: sent = captured + dropped by kernel = written, on the
    stderr line and in --stats-json, per interface too."""

    def test_ledger(self):
        with Topology() as t:
            a, b, c = t.netns("a"), t.netns("b"), t.netns("c")
            t.veth(a, "vA", A_IP + "/24", b, "vB", B_IP + "/24")
            t.veth(a, "vA2", "198.18.1.1/24", c, "vC", "198.18.1.2/24")
            one = t.capture(a, *AF, "-i", "vA", "-q", "-w", t.path("one.csv"), "--stats-json", t.path("one.json"), name="one")
            anyc = t.capture(a, *AF, "-i", "any", "-q", "-w", t.path("any.pcapng"), "--stats-json", t.path("any.json"),
                             name="any")
            t.send(b, "vB", kind="udp", count=500, flows=8, rate=5000, payload=PAYLOAD)
            t.send(c, "vC", kind="udp", count=200, src="198.18.1.2", dst="198.18.1.1", rate=5000, payload=PAYLOAD)
            for cap in (one, anyc):
                self.assertEqual(cap.stop(), 0, cap.stderr())

            captured, received, kdrop = one.ledger()
            self.assertEqual((captured, received, kdrop), (500, 500, 0))
            self.assertEqual(len(read_csv(t.path("one.csv"))), captured)
            with open(t.path("one.json")) as f:
                j = json.load(f)
            self.assertEqual(j["engine"], "afpacket")
            self.assertEqual(j["packets_captured"], 500)
            self.assertEqual(j["total"], {"received_by_filter": 500, "read": 500, "dropped_by_kernel": 0})
            self.assertEqual(j["interfaces"], [{"ifindex": t.ifindex(a, "vA"), "ifname": "vA", "received_by_filter": 500,
                                                "read": 500, "dropped_by_kernel": 0}])
            self.assertEqual(j["outputs"], [{"path": t.path("one.csv"), "records": "packets", "written": 500,
                                             "not_written": 0, "why_not": None}])

            self.assertEqual(anyc.ledger(), (700, 700, 0))
            with open(t.path("any.json")) as f:
                j = json.load(f)
            self.assertEqual(j["packets_captured"], 700)
            self.assertEqual(j["total"]["received_by_filter"], 700)
            self.assertEqual(j["total"]["read"], 700)
            reads = {i["ifname"]: i["read"] for i in j["interfaces"] if i["read"]}
            self.assertEqual(reads, {"vA": 500, "vA2": 200})
            self.assertEqual(sum(i["received_by_filter"] for i in j["interfaces"]), 700)
            self.assertEqual(sum(i["dropped_by_kernel"] for i in j["interfaces"]), 0)
            self.assertEqual(j["outputs"], [{"path": t.path("any.pcapng"), "records": "packets", "written": 700,
                                             "not_written": 0, "why_not": None}])
            # pcapng's statistics blocks agree: packets delivered per interface.
            ifaces, pkts, stats = read_pcapng(t.path("any.pcapng"))
            self.assertEqual(len(pkts), 700)
            usrdeliv = {ifaces[s["if"]]["name"]: struct.unpack("<Q", s["options"][8][0])[0] for s in stats}
            self.assertEqual(usrdeliv, {"vA": 500, "vA2": 200})


class Errors(unittest.TestCase):
    """Usage errors exit 2 with one line; an interface that goes away ends the capture (exit 1)."""

    def one_line(self, r):
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        return lines[0]

    def test_errors(self):
        with Topology() as t:
            a, b = two_namespaces(t)
            t.veth(a, "vD", None, b, "vE", None, up=False)

            r = netns.run_hookdump(a, "capture", *AF, "-i", "nosuch0", "-c", "1")
            self.assertEqual(r.returncode, 2)
            self.assertEqual(self.one_line(r), "hookdump: no such interface: nosuch0")

            r = netns.run_hookdump(a, "capture", *AF, "-i", "vD", "-c", "1")
            self.assertEqual(r.returncode, 2)
            self.assertEqual(self.one_line(r), "hookdump: interface vD is down")

            for iface in ("vA", "any"):
                r = netns.run_hookdump(a, "capture", *AF, "-i", iface, "-c", "1", "udp", "port")
                self.assertEqual(r.returncode, 2)
                self.assertTrue(self.one_line(r).startswith("hookdump: bad filter expression: "), r.stderr)
                r = netns.run_hookdump(a, "capture", *AF, "-i", iface, "--workers", "2", "-c", "1", "tcp", "port", "http2x")
                self.assertEqual(r.returncode, 2)
                self.assertTrue(self.one_line(r).startswith("hookdump: bad filter expression: "), r.stderr)

            # The interface disappears mid-capture: one clear line, the ledger, readable files,
            # and no spinning or hanging.
            for workers, extra in ((1, []), (2, []), (2, ["--per-worker-files"])):
                name = f"gone{workers}{len(extra)}"
                t.veth(a, "vG", None, b, "vH", None)
                cap = t.capture(a, *AF, "-i", "vG", "--workers", str(workers), "-w", t.path(name + ".pcapng"), *extra,
                                name=name, workers=workers)
                t.send(b, "vH", kind="udp", count=5, flows=5, payload=PAYLOAD)
                time.sleep(0.3)
                netns.sh("ip", "link", "del", "vG", ns=a)
                rc = cap.wait(timeout=10)
                self.assertEqual(rc, 1, cap.stderr())
                lines = cap.messages()
                self.assertEqual(len(lines), 2, cap.stderr())
                self.assertEqual(lines[0], "hookdump: interface vG went down", cap.stderr())
                self.assertEqual(cap.ledger(), (5, 5, 0))
                paths = [t.path(f"{name}.w{w}.pcapng") for w in range(workers)] if extra else [t.path(name + ".pcapng")]
                self.assertEqual(sum(netns.tool_packet_count(p) for p in paths), 5)

            # Brought down and up again while capturing: the same.
            cap = t.capture(a, *AF, "-i", "vA", "-w", t.path("down.csv"), name="down")
            netns.sh("ip", "link", "set", "vA", "down", ns=a)
            self.assertEqual(cap.wait(timeout=10), 1, cap.stderr())
            self.assertEqual(cap.messages()[0], "hookdump: interface vA went down")


    def test_outputs_created_first(self):
        """An output that cannot be created (packets, rotation's first file, per-worker files,
        --flows=FILE, --stats-json) is one line and exit 1 at once, before any ring is bound:
        nothing is printed as listening, nothing runs on."""
        with Topology() as t:
            a, _ = two_namespaces(t)
            nope = "/proc/nope"
            ok = t.path("ok.pcap")
            cases = [
                (["-w", nope + "/x.pcap"], nope + "/x.pcap"),
                (["-w", nope + "/x.csv", "-C", "1"], nope + "/x-00000.csv"),
                (["-w", nope + "/x.pcapng", "-G", "5", "-W", "3"], nope + "/x-00000.pcapng"),
                (["-w", nope + "/x.pcap", "--workers", "2", "--per-worker-files"], nope + "/x.w0.pcap"),
                (["-w", ok, "--flows=" + nope + "/f.csv"], nope + "/f.csv"),
                (["--flows=" + nope + "/f.jsonl"], nope + "/f.jsonl"),
                (["-w", ok, "--stats-json", nope + "/s.json"], nope + "/s.json"),
            ]
            for args, path in cases:
                r = netns.run_hookdump(a, "capture", *AF, "-i", "vA", *args, "udp", timeout=5)
                self.assertEqual((r.returncode, r.stderr), (1, f"hookdump: cannot create {path}: No such file or directory\n"),
                                 args)


class Signals(unittest.TestCase):
    """SIGINT and SIGTERM during a capture: the ledger is printed, exit 0, the file is valid and
    holds every packet sent before the signal, even those the kernel had not handed over yet."""

    def test_signals(self):
        with Topology() as t:
            a, b = two_namespaces(t)
            caps = []
            for sig in (signal.SIGINT, signal.SIGTERM):
                for ext in (".pcap", ".pcapng"):
                    for workers in (1, 2):
                        # A long block timeout: packets sit in a block the kernel has not handed
                        # over when the signal comes; hookdump must still write them.
                        name = f"{sig.name}-{workers}{ext}"
                        caps.append((sig, name, t.capture(a, *AF, "-i", "vA", "--workers", str(workers),
                                                          "--block-timeout", "1500", "-w", t.path(name),
                                                          name=name, workers=workers)))
            t.send(b, "vB", kind="udp", count=50, payload=PAYLOAD)
            time.sleep(0.2)
            t0 = time.monotonic()
            for sig, name, c in caps:
                c.send_signal(sig)
            for sig, name, c in caps:
                self.assertEqual(c.wait(timeout=10), 0, f"{name}: {c.stderr()}")
                self.assertEqual(len(c.messages()), 1, f"{name}: {c.stderr()!r}")  # the ledger
                self.assertEqual(c.ledger(), (50, 50, 0), name)
                self.assertEqual(netns.tool_packet_count(t.path(name)), 50, name)
                if name.endswith(".pcap"):
                    got = [netns.payload_id(p[2]) for p in read_pcap(t.path(name))[1]]
                else:
                    got = [netns.payload_id(p["data"]) for p in read_pcapng(t.path(name))[1]]
                self.assertEqual(sorted(got), list(range(50)), name)
            self.assertLess(time.monotonic() - t0, 6, "stopping took too long")



if __name__ == "__main__":
    netns.run_tests(__name__, tools=("ip", "capinfos", "tcpdump", "ping"))

#!/usr/bin/env python3
"""hookdump capture --engine drop: packets the kernel drops (skb:kfree_skb), with the reason
the kernel names and where it freed them, in a network namespace. Exact counts and 5-tuples.

  HOOKDUMP_BIN=... HOOKDUMP_SEND=... python3 test_drop.py
"""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from netns import Topology, read_csv, read_jsonl, sh  # noqa: E402

A_IP, B_IP = "198.18.0.1", "198.18.0.2"
LOCATION_RE = re.compile(r"^([A-Za-z0-9_.]+)\+0x[0-9a-f]+$")

# Where an nft 'drop' verdict frees the packet, as measured: in nft_do_chain on Debian's 6.1 (in
# the nf_tables module) and on 6.18 (built in). Kernels not measured: there or in nf_hook_slow.
NFT_DROP_FUNCTION = {(6, 1): {"nft_do_chain"}, (6, 18): {"nft_do_chain"}}


def kernel_version():
    m = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return int(m.group(1)), int(m.group(2))


def wait_listening(c):
    return c.wait_line("listening at skb:kfree_skb ", timeout=20)


def check_ledger(test, c, captured):
    """stderr is the listening line and the ledger, nothing else: `captured` events captured
    and received by the filter (the drop engine's filter runs on its events), none lost."""
    test.assertEqual(len(c.stderr().splitlines()), 2, c.stderr())
    test.assertEqual(c.ledger(), (captured, captured, 0), c.stderr())


def nft_drop_udp(ns, dport):
    sh("nft", "add", "table", "inet", "hd", ns=ns)
    sh("nft", "add", "chain", "inet", "hd", "in", "{ type filter hook input priority 0; }", ns=ns)
    sh("nft", "add", "rule", "inet", "hd", "in", "udp", "dport", str(dport), "drop", ns=ns)


class Drop(unittest.TestCase):
    def test_nft_drop_reason_and_filter(self):
        """An nft rule drops N packets of one flow: exactly N events with their 5-tuple,
        NETFILTER_DROP and the function that freed them; another flow, dropped too (no
        socket) but outside the filter, is not reported."""
        with Topology() as t:
            a, b = t.netns("a"), t.netns("b")
            t.veth(a, "vA", A_IP + "/24", b, "vB", B_IP + "/24")
            nft_drop_udp(a, 5001)
            out = t.path("drop.csv")
            c = t.capture(a, "--engine", "drop", "-q", "-w", out, "udp", "and", "dst", "port", "5001",
                          name="drop", wait_ready=False)
            wait_listening(c)
            mac = t.macs[(a, "vA")]
            t.send(b, "vB", count=5, kind="udp", src=B_IP, dst=A_IP, sport=40000, dport=5001, dst_mac=mac)
            t.send(b, "vB", count=3, kind="udp", src=B_IP, dst=A_IP, sport=40000, dport=5002, dst_mac=mac)
            self.assertEqual(c.stop(), 0, c.stderr())
            rows = read_csv(out)
            self.assertEqual(len(rows), 5, rows)
            functions = set()
            cookie = str(t.netns_id(a))
            for r in rows:
                self.assertEqual((r["point"], r["ifname"], r["netns"], r["verdict"], r["proto"], r["src"], r["dst"],
                                  r["sport"], r["dport"], r["reason"]),
                                 ("drop", "vA", cookie, "drop", "17", B_IP, A_IP, "40000", "5001", "NETFILTER_DROP"))
                self.assertEqual(int(r["ifindex"]), t.ifindex(a, "vA"))
                m = LOCATION_RE.match(r["location"])
                self.assertTrue(m, r["location"])
                functions.add(m.group(1))
            self.assertEqual(len({r["location"] for r in rows}), 1, rows)  # one place frees them all
            expected = NFT_DROP_FUNCTION.get(kernel_version(), {"nf_hook_slow", "nft_do_chain"})
            self.assertTrue(functions <= expected, (functions, expected))
            check_ledger(self, c, 5)

    def test_no_socket_text_and_jsonl(self):
        """UDP to a closed port: NO_SOCKET, freed in the UDP receive path; text and jsonl."""
        with Topology() as t:
            a, b = t.netns("a"), t.netns("b")
            t.veth(a, "vA", A_IP + "/24", b, "vB", B_IP + "/24")
            mac = t.macs[(a, "vA")]
            txt = t.capture(a, "--engine", "drop", "-c", "2", "udp", "port", "6001", name="txt", wait_ready=False)
            js = t.capture(a, "--engine", "drop", "-q", "-o", "jsonl", "-w", t.path("d.jsonl"), "--dport", "6001",
                           name="js", wait_ready=False)
            wait_listening(txt)
            wait_listening(js)
            t.send(b, "vB", count=2, kind="udp", src=B_IP, dst=A_IP, sport=41000, dport=6001, dst_mac=mac)
            self.assertEqual(txt.wait(), 0, txt.stderr())
            self.assertEqual(js.stop(), 0, js.stderr())
            check_ledger(self, txt, 2)
            check_ledger(self, js, 2)
            lines = txt.stdout().splitlines()
            self.assertEqual(len(lines), 2, lines)
            for line in lines:
                self.assertRegex(line, r"^\d\d:\d\d:\d\d\.\d{6} drop vA IP 198\.18\.0\.2\.41000 > 198\.18\.0\.1\.6001: "
                                       r"UDP, length \d+, reason NO_SOCKET at __udp4_lib_rcv\+0x[0-9a-f]+$")
            recs = read_jsonl(t.path("d.jsonl"))
            self.assertEqual(len(recs), 2, recs)
            for r in recs:
                self.assertEqual((r["point"], r["src"], r["dst"], r["sport"], r["dport"], r["reason"]),
                                 ("drop", B_IP, A_IP, 41000, 6001, "NO_SOCKET"))
                self.assertTrue(r["location"].startswith("__udp4_lib_rcv+0x"), r)

    def test_other_namespace_not_reported(self):
        """By default only the namespace hookdump runs in; --all-netns sees the others."""
        with Topology() as t:
            a, b, c_ns = t.netns("a"), t.netns("b"), t.netns("c")
            t.veth(a, "vA", A_IP + "/24", b, "vB", B_IP + "/24")
            own = t.capture(c_ns, "--engine", "drop", "-q", "-o", "csv", "-w", t.path("own.csv"), "udp", "port",
                            "6002", name="own", wait_ready=False)
            every = t.capture(c_ns, "--engine", "drop", "--all-netns", "-q", "-o", "csv", "-w", t.path("all.csv"),
                              "udp", "port", "6002", name="all", wait_ready=False)
            wait_listening(own)
            wait_listening(every)
            t.send(b, "vB", count=3, kind="udp", src=B_IP, dst=A_IP, sport=41000, dport=6002,
                   dst_mac=t.macs[(a, "vA")])
            self.assertEqual(own.stop(), 0, own.stderr())
            self.assertEqual(every.stop(), 0, every.stderr())
            check_ledger(self, own, 0)
            check_ledger(self, every, 3)
            self.assertEqual(read_csv(t.path("own.csv")), [])
            rows = read_csv(t.path("all.csv"))
            self.assertEqual([(r["reason"], r["dst"], r["dport"]) for r in rows], [("NO_SOCKET", A_IP, "6002")] * 3)
            # Another namespace's ifindex names no interface here: the name is left out.
            self.assertEqual({r["ifname"] for r in rows}, {""})
            # netns names where they were dropped: a's cookie, not c's, where hookdump runs.
            self.assertEqual({r["netns"] for r in rows}, {str(t.netns_id(a))})
            self.assertNotEqual(t.netns_id(a), t.netns_id(c_ns))

    def test_auto_picks_drop_with_its_fields(self):
        """--all-netns is drop's: --engine auto picks it, and its records carry the reason and
        the location as --engine drop's do (they were left out when auto picked drop)."""
        with Topology() as t:
            a, b, c_ns = t.netns("a"), t.netns("b"), t.netns("c")
            t.veth(a, "vA", A_IP + "/24", b, "vB", B_IP + "/24")
            caps = [t.capture(c_ns, "--all-netns", "-q", "-o", fmt, "-w", t.path("auto." + fmt), "udp", "port",
                              "6003", name=fmt, wait_ready=False) for fmt in ("csv", "jsonl")]
            for c in caps:
                wait_listening(c)
            t.send(b, "vB", count=3, kind="udp", src=B_IP, dst=A_IP, sport=41000, dport=6003,
                   dst_mac=t.macs[(a, "vA")])
            for c in caps:
                self.assertEqual(c.stop(), 0, c.stderr())
                self.assertEqual(c.stderr().splitlines()[:2], [
                    "hookdump: engine auto: drop (--all-netns is drop's)",
                    "listening at skb:kfree_skb (drop reasons, drop engine)"])
                self.assertEqual(len(c.stderr().splitlines()), 3, c.stderr())
                self.assertEqual(c.ledger(), (3, 3, 0), c.stderr())
            with open(t.path("auto.csv")) as f:
                header = f.readline().rstrip("\n").split(",")
            self.assertEqual(header[-2:], ["reason", "location"])
            for rows in (read_csv(t.path("auto.csv")), read_jsonl(t.path("auto.jsonl"))):
                self.assertEqual([(r["point"], r["dst"], str(r["dport"]), r["reason"]) for r in rows],
                                 [("drop", A_IP, "6003", "NO_SOCKET")] * 3)
                for r in rows:
                    self.assertTrue(r["location"].startswith("__udp4_lib_rcv+0x"), r)

    def test_usage(self):
        with Topology() as t:
            a = t.netns("a")
            r = netns.run_hookdump(a, "capture", "--engine", "afpacket", "--all-reasons", "-c", "1")
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("--all-reasons and --all-netns belong to --engine drop", r.stderr)
            r = netns.run_hookdump(a, "capture", "--engine", "drop", "not", "udp")
            self.assertEqual(r.returncode, 2, r.stderr)



if __name__ == "__main__":
    netns.run_tests(__name__, tools=("ip", "nft"))

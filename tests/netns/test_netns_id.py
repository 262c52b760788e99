#!/usr/bin/env python3
"""One meaning of `netns` on every engine: the same traffic in one namespace, captured by the
AF_PACKET tap, tc, XDP, NFLOG and the drop engine at once, carries the namespace's cookie
(SO_NETNS_COOKIE of a socket made there) in every packet record and flow record, and another
namespace's cookie differs. (hookdump.ko's events are checked in the VM suite.)

  HOOKDUMP_BIN=... HOOKDUMP_SEND=... python3 test_netns_id.py
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from netns import Topology, read_csv, read_jsonl, sh  # noqa: E402

A_IP, B_IP = "198.18.0.1", "198.18.0.2"
COUNT = 4


class NetnsId(unittest.TestCase):
    def test_every_engine_reports_the_cookie(self):
        with Topology() as t:
            a, b = t.netns("a"), t.netns("b")
            t.veth(a, "vA", A_IP + "/24", b, "vB", B_IP + "/24")
            cookie, other = t.netns_id(a), t.netns_id(b)
            self.assertNotEqual(cookie, other)
            # NFLOG logs what reaches prerouting; the drop engine sees the same datagrams die
            # at the closed port (NO_SOCKET).
            sh("nft", "add", "table", "inet", "hd", ns=a)
            sh("nft", "add", "chain", "inet", "hd", "pre", "{ type filter hook prerouting priority 0; }", ns=a)
            sh("nft", "add", "rule", "inet", "hd", "pre", "udp", "dport", "6100", "log", "group", "11", ns=a)
            expr = ("udp", "port", "6100")
            caps = {
                "afpacket": t.capture(a, "--engine", "afpacket", "-i", "vA", "-q", "-o", "jsonl",
                                      "-w", t.path("af.jsonl"), *expr, name="af"),
                "tc": t.capture(a, "--engine", "tc", "-i", "vA", "--direction", "in", "-q", "-o", "jsonl",
                                "-w", t.path("tc.jsonl"), *expr, name="tc", wait_ready=False),
                "tc-flows": t.capture(a, "--engine", "tc", "-i", "vA", "--direction", "in", "-q",
                                      "--flows=" + t.path("tcf.jsonl"), *expr, name="tcf", wait_ready=False),
                "afpacket-flows": t.capture(a, "--engine", "afpacket", "-i", "vA", "-q",
                                            "--flows=" + t.path("aff.csv"), *expr, name="aff"),
                "nflog": t.capture(a, "--engine", "nflog", "--group", "11", "-q", "-o", "csv",
                                   "-w", t.path("nflog.csv"), name="nflog", wait_ready=False),
                "drop": t.capture(a, "--engine", "drop", "-q", "-o", "jsonl", "-w", t.path("drop.jsonl"),
                                  *expr, name="drop", wait_ready=False),
            }
            for name in ("tc", "tc-flows"):
                caps[name].wait_line("listening on vA, link-type EN10MB, tc engine")
            caps["nflog"].wait_line("listening on NFLOG group 11")
            caps["drop"].wait_line("listening at skb:kfree_skb")
            t.send(b, "vB", count=COUNT, kind="udp", src=B_IP, dst=A_IP, sport=41000, dport=6100,
                   dst_mac=t.macs[(a, "vA")])
            for name, c in caps.items():
                self.assertEqual(c.stop(), 0, f"{name}: {c.stderr()}")

            seen = {
                "afpacket": [r["netns"] for r in read_jsonl(t.path("af.jsonl"))],
                "tc": [r["netns"] for r in read_jsonl(t.path("tc.jsonl"))],
                "tc-flows": [r["netns"] for r in read_jsonl(t.path("tcf.jsonl"))],
                "afpacket-flows": [int(r["netns"]) for r in read_csv(t.path("aff.csv"))],
                "nflog": [int(r["netns"]) for r in read_csv(t.path("nflog.csv"))],
                "drop": [r["netns"] for r in read_jsonl(t.path("drop.jsonl"))],
            }
            flows = {"tc-flows", "afpacket-flows"}
            for name, values in seen.items():
                self.assertEqual(values, [cookie] * (1 if name in flows else COUNT), name)


if __name__ == "__main__":
    netns.run_tests(__name__, tools=("ip", "nft"))

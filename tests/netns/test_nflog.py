#!/usr/bin/env python3
"""hookdump capture --engine nflog: the packets an nft 'log group N' rule selects, read over
nfnetlink_log in a network namespace, with the rule's prefix. Exact counts and 5-tuples.

  HOOKDUMP_BIN=... HOOKDUMP_SEND=... python3 test_nflog.py
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from netns import Topology, read_csv, sh  # noqa: E402

A_IP, B_IP = "198.18.0.1", "198.18.0.2"


def wait_listening(c):
    return c.wait_line("listening on NFLOG group ")


class Nflog(unittest.TestCase):
    def test_group_prefix_and_tuples(self):
        with Topology() as t:
            a, b = t.netns("a"), t.netns("b")
            t.veth(a, "vA", A_IP + "/24", b, "vB", B_IP + "/24")
            # Only UDP to port 5001 is logged, with a prefix; other traffic is not.
            sh("nft", "add", "table", "inet", "hd", ns=a)
            sh("nft", "add", "chain", "inet", "hd", "pre", "{ type filter hook prerouting priority 0; }", ns=a)
            sh("nft", "add", "rule", "inet", "hd", "pre", "udp", "dport", "5001", "log", "prefix",
               '"hd-test"', "group", "7", ns=a)
            out = t.path("nflog.csv")
            c = t.capture(a, "--engine", "nflog", "--group", "7", "-q", "-w", out, name="nflog", wait_ready=False)
            wait_listening(c)
            t.send(b, "vB", count=5, kind="udp", src=B_IP, dst=A_IP, sport=40000, dport=5001,
                   dst_mac=t.macs[(a, "vA")])
            t.send(b, "vB", count=3, kind="udp", src=B_IP, dst=A_IP, sport=40000, dport=5002,
                   dst_mac=t.macs[(a, "vA")])
            self.assertEqual(c.stop(), 0, c.stderr())
            rows = read_csv(out)
            self.assertEqual(len(rows), 5, rows)
            for r in rows:
                self.assertEqual((r["point"], r["ifname"], r["dir"], r["proto"], r["src"], r["dst"], r["sport"],
                                  r["dport"], r["label"]),
                                 ("nflog", "vA", "in", "17", B_IP, A_IP, "40000", "5001", "hd-test"))
            # stderr: the listening line and the ledger, nothing else; every logged packet captured.
            self.assertEqual(len(c.stderr().splitlines()), 2, c.stderr())
            self.assertEqual(c.ledger(), (5, 5, 0), c.stderr())
            # The prefix is carried into the events (text output shows it).
            txt = t.capture(a, "--engine", "nflog", "--group", "7", "-c", "1", name="txt", wait_ready=False)
            wait_listening(txt)
            t.send(b, "vB", count=1, kind="udp", src=B_IP, dst=A_IP, sport=40000, dport=5001,
                   dst_mac=t.macs[(a, "vA")])
            self.assertEqual(txt.wait(), 0, txt.stderr())
            self.assertEqual(txt.ledger(), (1, 1, 0), txt.stderr())
            self.assertIn('prefix "hd-test"', txt.stdout())

    def test_group_taken_and_expression_refused(self):
        with Topology() as t:
            a = t.netns("a")
            first = t.capture(a, "--engine", "nflog", "--group", "9", "-q", "-o", "csv", name="first", wait_ready=False)
            wait_listening(first)
            r = netns.run_hookdump(a, "capture", "--engine", "nflog", "--group", "9", "-q", "-o", "csv")
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("NFLOG group 9 is already bound by another process", r.stderr)
            self.assertEqual(first.stop(), 0)
            r = netns.run_hookdump(a, "capture", "--engine", "nflog", "--group", "9", "udp")
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("takes no expression", r.stderr)



if __name__ == "__main__":
    netns.run_tests(__name__, tools=("ip", "nft"))

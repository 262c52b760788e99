#!/usr/bin/env python3
"""hookdump trace's nft point on the host kernel (no module): the nftables rule that dropped a
packet (nft input, iptables-nft FORWARD through a router namespace), and trace's own table:
gone after exit, a killed run's table removed at the next start, other tables untouched. Rules
in iptables-legacy's x_tables are not traced: a namespace where they exist has them in the
"not observed" list, one without them does not.

  HOOKDUMP_BIN=... HOOKDUMP_SEND=... python3 test_trace_nft.py
"""

import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from netns import Topology, sh  # noqa: E402

A_IP, B_IP = "198.18.0.1", "198.18.0.2"
R_A_IP, R_B_IP, C_IP = "198.18.1.1", "198.18.2.1", "198.18.2.2"
SRC_IP = "198.18.1.2"


def nft_handles(ns, family, table, chain):
    """rule text -> handle, as `nft -a -s list chain` prints them."""
    out = sh("nft", "-a", "-s", "list", "chain", family, table, chain, ns=ns).stdout
    rules = {}
    for line in out.splitlines():
        m = re.match(r"^\s+(.*) # handle (\d+)$", line)
        if m and not m.group(1).startswith("chain ") and not m.group(1).startswith("type "):
            rules[m.group(1)] = int(m.group(2))
    return rules


def tables(ns):
    return sorted(l.strip() for l in sh("nft", "list", "tables", ns=ns).stdout.splitlines() if l.strip())


class TraceNft(unittest.TestCase):
    def test_input_drop_names_the_rule(self):
        with Topology() as t:
            a, b = t.netns("a"), t.netns("b")
            t.veth(a, "vA", A_IP + "/24", b, "vB", B_IP + "/24")
            sh("nft", "add table inet f; add chain inet f in { type filter hook input priority 0; }; "
                      "add rule inet f in udp dport 7777 counter drop", ns=a)
            handle = nft_handles(a, "inet", "f", "in")["udp dport 7777 counter drop"]
            out = t.path("trace.jsonl")
            c = t.capture(a, "-i", "vA", "-o", "jsonl", "-w", out, "udp", name="trace", command="trace",
                          wait_ready=False)
            c.wait_line("tracing at ")
            self.assertIn(f"table inet hookdump_trace_{c.proc.pid}", tables(a))
            t.send(b, "vB", count=3, kind="udp", src=B_IP, dst=A_IP, sport=40000, dport=7777,
                   dst_mac=t.macs[(a, "vA")])
            time.sleep(0.5)
            self.assertEqual(c.stop(), 0, c.stderr())
            err = c.stderr()
            recs = [json.loads(line) for line in open(out)]
            self.assertEqual(len(recs), 3, (recs, err))
            for r in recs:
                self.assertEqual([p["point"] for p in r["path"]], ["tap-in", "tc-ingress", "nft", "kfree_skb"], r)
                self.assertEqual((r["fate"], r["dropped_at"], r["reason"]), ("dropped", "LOCAL_IN", "NETFILTER_DROP"))
                self.assertEqual(r["path"][2]["nft"], {"family": "inet", "table": "f", "chain": "in",
                                                       "hook": "LOCAL_IN", "priority": 0, "handle": handle,
                                                       "rule": "udp dport 7777 counter drop", "verdict": "drop"})
            self.assertRegex(err, r"(?m)^3 packets traced$")
            self.assertRegex(err, r"(?m)^ +3  tap-in vA → tc-ingress vA → nft inet f in: drop ✗ dropped at "
                                  rf"LOCAL_IN by nft inet f in handle {handle}: udp dport 7777 counter drop$")
            # The table is gone at exit, the user's is as it was.
            self.assertEqual(tables(a), ["table inet f"])
            self.assertEqual(nft_handles(a, "inet", "f", "in"), {"udp dport 7777 counter drop": handle})

    def test_iptables_nft_forward_drop(self):
        with Topology() as t:
            a, r, c = t.netns("a"), t.netns("r"), t.netns("c")
            t.veth(a, "vA", SRC_IP + "/24", r, "rA", R_A_IP + "/24")
            t.veth(r, "rC", R_B_IP + "/24", c, "vC", C_IP + "/24")
            sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=r)
            sh("iptables-nft", "-A", "FORWARD", "-j", "DROP", ns=r)
            handle = nft_handles(r, "ip", "filter", "FORWARD")["counter drop"]
            out = t.path("trace.jsonl")
            cap = t.capture(r, "-o", "jsonl", "-w", out, "udp", "and", "port", "9000", name="trace",
                            command="trace", wait_ready=False)
            cap.wait_line("tracing at ")
            t.send(a, "vA", count=2, kind="udp", src=SRC_IP, dst=C_IP, sport=40000, dport=9000,
                   dst_mac=t.macs[(r, "rA")])
            time.sleep(0.5)
            self.assertEqual(cap.stop(), 0, cap.stderr())
            err = cap.stderr()
            recs = [json.loads(line) for line in open(out)]
            self.assertEqual(len(recs), 2, (recs, err))
            for rec in recs:
                self.assertEqual([p["point"] for p in rec["path"]], ["tap-in", "tc-ingress", "nft", "kfree_skb"], rec)
                self.assertEqual((rec["fate"], rec["dropped_at"]), ("dropped", "FORWARD"))
                self.assertEqual(rec["path"][2]["nft"], {"family": "ip", "table": "filter", "chain": "FORWARD",
                                                         "hook": "FORWARD", "priority": 0, "handle": handle,
                                                         "rule": "counter drop", "verdict": "drop"})
            self.assertRegex(err, r"(?m)^ +2  tap-in rA → tc-ingress rA → nft ip filter FORWARD: drop ✗ dropped at "
                                  rf"FORWARD by nft ip filter FORWARD handle {handle}: counter drop$")
            self.assertEqual(tables(r), ["table ip filter"])

    def test_killed_run_table_removed_at_next_start(self):
        with Topology() as t:
            a, b = t.netns("a"), t.netns("b")
            t.veth(a, "vA", A_IP + "/24", b, "vB", B_IP + "/24")
            # Someone else's tables, one named like ours but not ours.
            sh("nft", "add table inet keep; add table ip hookdump_trace_x", ns=a)
            first = t.capture(a, "-i", "vA", "udp", name="first", command="trace", wait_ready=False)
            first.wait_line("tracing at ")
            pid = first.proc.pid
            self.assertEqual(tables(a), sorted(["table inet keep", "table ip hookdump_trace_x",
                                                f"table inet hookdump_trace_{pid}"]))
            first.kill()  # SIGKILL: nothing removes the table
            self.assertEqual(tables(a), sorted(["table inet keep", "table ip hookdump_trace_x",
                                                f"table inet hookdump_trace_{pid}"]))
            second = t.capture(a, "-i", "vA", "udp", name="second", command="trace", wait_ready=False)
            second.wait_line("tracing at ")
            self.assertEqual(tables(a), sorted(["table inet keep", "table ip hookdump_trace_x",
                                                f"table inet hookdump_trace_{second.proc.pid}"]))
            self.assertEqual(second.stop(), 0, second.stderr())
            self.assertIn(f"hookdump: removed inet hookdump_trace_{pid}, left by a run that is gone\n",
                          second.stderr())
            self.assertEqual(tables(a), ["table inet keep", "table ip hookdump_trace_x"])

    def not_observed(self, t, ns):
        """The 'not observed' lines of a trace run in `ns` that just starts and stops."""
        c = t.capture(ns, "-o", "jsonl", "-w", t.path("trace.jsonl"), "udp", name="trace", command="trace",
                      wait_ready=False)
        c.wait_line("tracing at ")
        self.assertEqual(c.stop(), 0, c.stderr())
        return [l for l in c.stderr().splitlines() if l.startswith("hookdump: not observed: ")]

    def test_iptables_legacy_rules_are_not_observed(self):
        with Topology() as t:
            a, b = t.netns("a"), t.netns("b")
            t.veth(a, "vA", A_IP + "/24", b, "vB", B_IP + "/24")
            sh("iptables-legacy", "-A", "INPUT", "-p", "udp", "--dport", "7779", "-j", "DROP", ns=a)
            sh("ip6tables-legacy", "-A", "OUTPUT", "-p", "udp", "--dport", "7779", "-j", "DROP", ns=a)
            legacy = [l for l in self.not_observed(t, a) if "legacy" in l]
            self.assertEqual(legacy, [
                "hookdump: not observed: iptables-legacy filter: x_tables rules are not traced "
                "(only nftables rules are)",
                "hookdump: not observed: ip6tables-legacy filter: x_tables rules are not traced "
                "(only nftables rules are)"])
            # The other namespace has no x_tables rules: nothing said of them.
            self.assertEqual([l for l in self.not_observed(t, b) if "legacy" in l], [])


if __name__ == "__main__":
    netns.run_tests(__name__, tools=("ip", "nft", "iptables-nft", "iptables-legacy", "ip6tables-legacy"))

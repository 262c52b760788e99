#!/usr/bin/env python3
"""IPFIX export checked by real collectors (tests/netns/collectors.py): known flow records sent
by hookdump's exporter (hookdump-ipfix-send) over UDP and TCP reach nfcapd and nfacctd exactly:
the same count, 5-tuples (ICMP type and code for nfdump), packets, octets, start and end within
1 ms; nfdump counts zero sequence failures. A collector that is not there: counted, not fatal.
"""

import json
import os
import subprocess
import unittest

import netns
from netns import Topology
from collectors import Nfacctd, Nfcapd, TcpRelay, NFCAPD_PORT, NFACCTD_PORT, RELAY_PORT

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


class Export(unittest.TestCase):
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

    def assert_nfcapd_has(self, nfcapd, sent, who):
        """nfdump decodes exactly the flows sent, with no sequence failure."""
        got, seq_failures = nfcapd.flows()
        self.assert_same_flows(sent, got, who=who)
        self.assertEqual(seq_failures, 0, f"{who}: nfdump's sequence failures")

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
            sent, line = send(ns, "--to", f"127.0.0.1:{NFCAPD_PORT}", "--flows", 3000,
                              "--mtu", 576, "--batch", 200, "--pause-ms", 5)
            self.assertEqual(line, f"3000 flow records exported to 127.0.0.1:{NFCAPD_PORT}")
            self.assert_nfcapd_has(nfcapd, sent, "nfcapd")

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
            sent, line = send(ns, "--to", f"[::1]:{NFCAPD_PORT}", "--flows", 300)
            self.assertEqual(line, f"300 flow records exported to [::1]:{NFCAPD_PORT}")
            self.assert_nfcapd_has(nfcapd6, sent, "nfcapd on ::1")

    def test_nobody_listening_counted_not_fatal(self):
        with Topology() as t:
            ns = t.netns("c")
            sent, line = send(ns, "--to", "127.0.0.1:9", "--flows", 60, "--batch", 10,
                              "--pause-ms", 1100, expect_rc=1)
            self.assertEqual(len(sent), 60)
            # Six messages of ten records (each flushed when the next a second later comes),
            # every other refused: the ICMP error of one is the next send's ECONNREFUSED, and
            # that send does not go.
            self.assertEqual(line, "30 flow records exported to 127.0.0.1:9, "
                                   "30 not sent (Connection refused)")

    def test_tcp_collector_not_there(self):
        with Topology() as t:
            ns = t.netns("c")
            _, line = send(ns, "--to", "127.0.0.1:9", "--transport", "tcp", "--flows", 50,
                           expect_rc=1)
            self.assertEqual(line, "0 flow records exported to 127.0.0.1:9, "
                                   "50 not sent (not connected: Connection refused)")


if __name__ == "__main__":
    if not IPFIX_SEND or not os.access(IPFIX_SEND, os.X_OK):
        netns.log(f"HOOKDUMP_IPFIX_SEND is not an executable: '{IPFIX_SEND}'")
        raise SystemExit(1)
    netns.run_tests(__name__, tools=("ip", "nfcapd", "nfdump", "nfacctd"))

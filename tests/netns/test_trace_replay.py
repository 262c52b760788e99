#!/usr/bin/env python3
"""hookdump trace --record and -r on the host kernel: a live run that sees an nft drop (with
its drop reason) and UDP datagrams delivered to a socket records every observation; the
replay of that file prints the same paths (text and jsonl, byte for byte) and the same summary.
`hookdump read` of the file gives each observation's point, interface and direction.

  HOOKDUMP_BIN=... HOOKDUMP_SEND=... python3 test_trace_replay.py
"""

import json
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from netns import Topology, sh  # noqa: E402

A_IP, B_IP = "198.18.0.1", "198.18.0.2"
HOOKDUMP = os.environ.get("HOOKDUMP_BIN", "hookdump")

UDP_SERVER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 8888))
print("ready", flush=True)
for _ in range(int(sys.argv[1])):
    s.recv(2048)
print("received", flush=True)
"""


def summary(stderr):
    """The 'N packets traced' line and the path counts after it."""
    lines = stderr.splitlines()
    start = next(i for i, l in enumerate(lines) if re.match(r"^\d+ packets traced$", l))
    out = [lines[start]]
    for l in lines[start + 1:]:
        if not re.match(r"^ +\d+  ", l):
            break
        out.append(l)
    return out


class TraceReplay(unittest.TestCase):
    def live_then_replay(self, fmt, after=lambda rec: None):
        with Topology() as t:
            a, b = t.netns("a"), t.netns("b")
            t.veth(a, "vA", A_IP + "/24", b, "vB", B_IP + "/24")
            sh("nft", "add table inet f; add chain inet f in { type filter hook input priority 0; }; "
                      "add rule inet f in udp dport 7777 counter drop", ns=a)
            srv = subprocess.Popen(["ip", "netns", "exec", a, "python3", "-c", UDP_SERVER, "2"],
                                   stdout=subprocess.PIPE, text=True)
            self.assertEqual(srv.stdout.readline().strip(), "ready")
            live, rec = t.path("live." + fmt), t.path("trace.pcapng")
            c = t.capture(a, "-i", "vA", "-o", fmt, "-w", live, "--record", rec, "udp", name="trace",
                          command="trace", wait_ready=False)
            c.wait_line("tracing at ")
            t.send(b, "vB", count=3, kind="udp", src=B_IP, dst=A_IP, sport=40000, dport=7777,
                   dst_mac=t.macs[(a, "vA")])
            t.send(b, "vB", count=2, kind="udp", src=B_IP, dst=A_IP, sport=40001, dport=8888,
                   dst_mac=t.macs[(a, "vA")])
            self.assertEqual(srv.stdout.readline().strip(), "received")
            srv.wait(timeout=5)
            time.sleep(0.5)
            self.assertEqual(c.stop(), 0, c.stderr())
            replayed = t.path("replay." + fmt)
            r = subprocess.run([HOOKDUMP, "trace", "-r", rec, "-o", fmt, "-w", replayed],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            live_bytes, replay_bytes = open(live, "rb").read(), open(replayed, "rb").read()
            self.assertEqual(live_bytes.count(b"\n"), 5, (live_bytes, c.stderr()))
            self.assertEqual(replay_bytes, live_bytes)
            self.assertEqual(summary(r.stderr), summary(c.stderr()))
            after(rec)
            return live_bytes.decode(), summary(c.stderr())

    def test_text_replay_equals_live(self):
        text, rows = self.live_then_replay("text")
        self.assertEqual(text.count("✗ dropped at LOCAL_IN by nft inet f in handle"), 3, text)
        # The socket step's process too (the record keeps it: replay equals live).
        self.assertEqual(len(re.findall(r"socket udp 0\.0\.0\.0:8888 proc python3\[\d+\] uid \d+ ✓ delivered",
                                        text)), 2, text)
        self.assertEqual(rows[0], "5 packets traced")

    def test_jsonl_replay_equals_live(self):
        text, _ = self.live_then_replay("jsonl")
        recs = [json.loads(l) for l in text.splitlines()]
        self.assertEqual([r["fate"] for r in recs], ["dropped"] * 3 + ["delivered"] * 2)
        self.assertEqual([p["point"] for p in recs[0]["path"]], ["tap-in", "tc-ingress", "nft", "kfree_skb"])
        self.assertEqual(recs[0]["reason"], "NETFILTER_DROP")
        # The input chain's policy accept is a step too (nft_tracer keeps the headers of the
        # chain's first message until its verdict).
        self.assertEqual([p["point"] for p in recs[3]["path"]], ["tap-in", "tc-ingress", "nft", "socket"])
        self.assertEqual(recs[3]["path"][3]["comm"], "python3")

    def test_read_keeps_points_and_interfaces(self):
        got = []

        def read(rec):
            r = subprocess.run([HOOKDUMP, "read", rec, "-o", "jsonl"], capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            got.extend((o["point"], o["ifname"], o["dir"], o["dport"])
                       for o in map(json.loads, r.stdout.splitlines()))

        self.live_then_replay("jsonl", read)
        # Per dropped datagram: tap-in, tc-ingress, the nft chain (at input), kfree_skb; per
        # delivered one: tap-in, tc-ingress, the nft chain's policy accept (at input), socket.
        self.assertEqual(sorted(set(got)), sorted({
            ("tap-in", "vA", "in", 7777), ("tc-ingress", "vA", "in", 7777), ("input", None, None, 7777),
            ("drop", "vA", None, 7777),
            ("tap-in", "vA", "in", 8888), ("tc-ingress", "vA", "in", 8888), ("input", None, None, 8888),
            ("socket", "vA", "in", 8888)}), got)
        self.assertEqual(len(got), 3 * 4 + 2 * 4, got)


if __name__ == "__main__":
    netns.run_tests(__name__, tools=("ip", "nft"))

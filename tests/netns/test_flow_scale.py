#!/usr/bin/env python3
"""Flows at scale (issue 13): 500,000 UDP datagrams, each its own flow (distinct ports), sent as
fast as hookdump-send goes into a veth in a namespace. tc flow mode: the kernel's hash holds
65,536 flows a sweep, the packets of the others come through the ring buffer into the
userspace table; AF_PACKET: the userspace flow table. The ledger exact either way: flows
written = flows sent, the packets of the flow records + the kernel's drops = packets sent,
and no drop (the ring keeps up).

  HOOKDUMP_BIN=... HOOKDUMP_SEND=... python3 test_flow_scale.py [FlowScale ...]
"""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from netns import Topology, read_csv  # noqa: E402

A_IP, B_IP = "198.18.0.1", "198.18.0.2"
N = int(os.environ.get("HOOKDUMP_SCALE_FLOWS", "500000"))
SPORT, DPORT = 1, 1000


def cpu_seconds(pid):
    """The process's user + system CPU so far (`ip netns exec` execs hookdump: same pid)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


class FlowScale(unittest.TestCase):
    def check(self, engine):
        with Topology() as t:
            a, b = t.netns("a"), t.netns("b")
            t.veth(a, "vA", A_IP + "/24", b, "vB", B_IP + "/24")
            out = t.path("flows.csv")
            args = ["--engine", engine, "-i", "vA", f"--flows={out}", "--idle-timeout", "60"]
            if engine == "tc":
                args += ["--direction", "in"]
            args += os.environ.get("HOOKDUMP_SCALE_ARGS", "").split()
            c = t.capture(a, *args, name="flows", wait_ready=False).wait_line("listening on ")
            cpu0 = cpu_seconds(c.proc.pid)  # the load (the verifier) and the maps' allocation
            start = time.monotonic()
            line = t.send(b, "vB", count=N, flows=N, sport=SPORT, dport=DPORT)
            took = time.monotonic() - start
            time.sleep(1.5)  # a sweep or two after the last packet: the CPU of the whole run
            cpu, rss = cpu_seconds(c.proc.pid) - cpu0, peak_rss_mib(c.proc.pid)
            netns.log(f"{engine}: {line} in {took:.2f} s ({N / took:,.0f} new flows/s), "
                      f"capture CPU {cpu:.2f} s, peak RSS {rss:.0f} MiB")
            self.assertEqual(c.stop(timeout=60), 0, c.stderr())
            captured, received, dropped = c.ledger()
            rows = read_csv(out)
            flows = {(int(r["sport"]), int(r["dport"])) for r in rows}
            packets = sum(int(r["packets"]) for r in rows)
            netns.log(f"{engine}: {len(rows)} flows written, {packets} packets, {dropped} dropped")
            self.assertEqual(dropped, 0, c.stderr())
            self.assertEqual(packets, N)
            self.assertEqual(captured, N)
            self.assertEqual(len(rows), N)
            self.assertEqual(flows, {((SPORT + i) % 65536, DPORT + i // 65536) for i in range(N)})
            for r in rows:
                self.assertEqual(r["packets"], "1")

    def check_bound(self, engine, n=20000, bound=1000):
        """--max-flows BOUND with N flows: the table never holds more, the oldest go out early
        as `evicted` (counted in the summary line), every packet is in exactly one record."""
        with Topology() as t:
            a, b = t.netns("a"), t.netns("b")
            t.veth(a, "vA", A_IP + "/24", b, "vB", B_IP + "/24")
            out = t.path("flows.csv")
            args = ["--engine", engine, "-i", "vA", f"--flows={out}", "--idle-timeout", "60",
                    "--max-flows", str(bound)]
            if engine == "tc":
                args += ["--direction", "in"]
            c = t.capture(a, *args, name="bound", wait_ready=False).wait_line("listening on ")
            t.send(b, "vB", count=n, flows=n, sport=SPORT, dport=DPORT)
            time.sleep(1.5)  # a sweep after the last packet
            self.assertEqual(c.stop(timeout=60), 0, c.stderr())
            rows = read_csv(out)
            ends = {}
            for r in rows:
                ends[r["end"]] = ends.get(r["end"], 0) + 1
            self.assertEqual(ends, {"evicted": n - bound, "end": bound})
            self.assertEqual(sum(int(r["packets"]) for r in rows), n)
            self.assertEqual(len({(r["sport"], r["dport"]) for r in rows}), n)
            self.assertIn(f"hookdump: {n - bound} flows evicted early because the flow table "
                          f"was full (--max-flows)", c.stderr())

    def test_tc(self):
        self.check("tc")

    def test_tc_table_bound(self):
        self.check_bound("tc")

    def test_afpacket_table_bound(self):
        self.check_bound("afpacket")

    def test_afpacket(self):
        self.check("afpacket")


if __name__ == "__main__":
    netns.run_tests(__name__, tools=("ip",))

#!/usr/bin/env python3
"""hookdump trace on the host kernel (no module here: the tap is the observation point, and
trace says which points are missing). Exact paths per packet, the summary, and the HTML
report rendered by headless Chromium: the screenshot must show the graph.

  HOOKDUMP_BIN=... HOOKDUMP_SEND=... python3 test_trace.py
"""

import json
import os
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from netns import Topology, sh  # noqa: E402

A_IP, B_IP = "198.18.0.1", "198.18.0.2"


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def read_png(path):
    """(width, height, [(r, g, b), ...]) of an 8-bit RGB/RGBA non-interlaced PNG (what
    Chromium writes), so that the test needs no imaging library."""
    import struct
    import zlib
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    pixels = []
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xff
            elif f == 2:
                line[i] = (line[i] + b) & 0xff
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xff
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xff
        pixels.extend(tuple(line[x * bpp:x * bpp + 3]) for x in range(width))
        prev = line
    return width, height, pixels


class Trace(unittest.TestCase):
    def test_tap_paths_summary_and_report(self):
        chromium = find_chromium()
        with Topology() as t:
            a, b = t.netns("a"), t.netns("b")
            t.veth(a, "vA", A_IP + "/24", b, "vB", B_IP + "/24")
            report = t.path("report.html")
            out = t.path("trace.jsonl")
            c = t.capture(a, "-i", "vA", "-o", "jsonl", "-w", out, "--report", report, "udp", name="trace",
                          command="trace", wait_ready=False)
            c.wait_line("tracing at ")
            # 4 received by A, 2 sent by A, and traffic the filter excludes.
            t.send(b, "vB", count=4, kind="udp", src=B_IP, dst=A_IP, sport=40000, dport=7001,
                   dst_mac=t.macs[(a, "vA")])
            t.send(a, "vA", count=2, kind="udp", src=A_IP, dst=B_IP, sport=40001, dport=7002,
                   dst_mac=t.macs[(b, "vB")])
            t.send(b, "vB", count=3, kind="tcp", src=B_IP, dst=A_IP, sport=40000, dport=7003,
                   dst_mac=t.macs[(a, "vA")])
            time.sleep(0.5)  # longer than the correlation window
            self.assertEqual(c.stop(), 0, c.stderr())
            err = c.stderr()
            self.assertIn("hookdump: not observed: PRE_ROUTING, LOCAL_IN, FORWARD, LOCAL_OUT, POST_ROUTING: "
                          "the hookdump kernel module is not loaded", err)
            recs = [json.loads(line) for line in open(out)]
            self.assertEqual(len(recs), 6, recs)
            got = sorted((r["path"][0]["tuple"]["dport"], [p["point"] for p in r["path"]],
                          [p.get("ifname") for p in r["path"]], r["fate"], r["ambiguous"]) for r in recs)
            # No listener on 7001: each datagram dies in UDP's receive path (NO_SOCKET), after
            # the last point this host can observe without the module (tc ingress).
            want = [(7001, ["tap-in", "tc-ingress", "kfree_skb"], ["vA", "vA", "vA"], "dropped", False)] * 4 + \
                   [(7002, ["tc-egress", "tap-out"], ["vA", "vA"], "sent", False)] * 2
            self.assertEqual(got, want)
            for r in recs:
                if r["fate"] == "dropped":
                    self.assertEqual((r["dropped_at"], r["reason"]), ("after tc-ingress", "NO_SOCKET"), r)
                    self.assertRegex(r["location"], r"^__udp4_lib_rcv\+0x[0-9a-f]+$")
            for r in recs:
                tup = r["path"][0]["tuple"]
                if tup["dport"] == 7001:
                    self.assertEqual((tup["src"], tup["dst"], tup["sport"], tup["proto"]), (B_IP, A_IP, 40000, 17))
                else:
                    self.assertEqual((tup["src"], tup["dst"], tup["sport"], tup["proto"]), (A_IP, B_IP, 40001, 17))
            self.assertRegex(err, r"(?m)^6 packets traced$")
            self.assertRegex(err, r"(?m)^ +4  tap-in vA → tc-ingress vA ✗ dropped after tc-ingress$")
            self.assertRegex(err, r"(?m)^ +2  tc-egress vA → tap-out vA ✓ sent$")

            html = open(report).read()
            self.assertIn("tap-out → sent: 2 packets", html)
            self.assertIn("dropped after tc-ingress: 4 packets", html)
            self.assertIn("the hookdump kernel module is not loaded", html)
            png = t.path("report.png")
            r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                "--window-size=1200,900", f"--screenshot={png}", "file://" + report],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
            self.assertTrue(os.path.exists(png), r.stderr.decode(errors="replace")[-2000:])
            width, height, pixels = read_png(png)
            self.assertEqual((width, height), (1200, 900))

            def count(rgb, tol=12):
                return sum(1 for p in pixels if all(abs(p[i] - rgb[i]) <= tol for i in range(3)))
            # Node boxes (#dbeafe), the edges (#2563eb) and the drop badge (#dc2626), as pixels.
            boxes, edges, drops = count((0xdb, 0xea, 0xfe)), count((0x25, 0x63, 0xeb)), count((0xdc, 0x26, 0x26))
            self.assertGreater(boxes, 14 * 100 * 30, "the graph's 14 nodes are not on the screenshot")
            self.assertGreater(edges, 400, "no edges on the screenshot")
            self.assertGreater(drops, 800, "no drop badge on the screenshot")



if __name__ == "__main__":
    netns.run_tests(__name__, tools=("ip", "chromium"))

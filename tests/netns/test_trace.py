#!/usr/bin/env python3
"""hookdump trace on the host kernel (no module here: the tap is the observation point, and
trace says which points are missing). Exact paths per packet, the summary, and the HTML
report rendered by headless Chromium: the page's graph (its DOM, as Chromium parsed it) has
the 14 nodes and exactly the edges and drop badge of the traced paths; the screenshot shows it.

  HOOKDUMP_BIN=... HOOKDUMP_SEND=... python3 test_trace.py
"""

import html.parser
import json
import math
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


# The graph's nodes: trace point or fate -> the label on its box (src/trace/html_report.cpp).
NODES = {"xdp": "xdp", "tap-in": "tap-in", "tc-ingress": "tc ingress", "PRE_ROUTING": "PRE_ROUTING",
         "FORWARD": "FORWARD", "POST_ROUTING": "POST_ROUTING", "tc-egress": "tc egress", "tap-out": "tap-out",
         "LOCAL_IN": "LOCAL_IN", "LOCAL_OUT": "LOCAL_OUT", "delivered": "local socket", "sent": "sent",
         "forwarded": "forwarded", "unknown": "fate unknown"}


class SvgGraph(html.parser.HTMLParser):
    """The elements of <svg id="hook-graph">: boxes (rect + its label), edges (line + title),
    drop badges (g: title + circle)."""

    def __init__(self):
        super().__init__()
        self.depth = 0  # > 0 inside the graph
        self.boxes, self.edges, self.badges, self.other = [], [], [], []
        self._open = []  # [tag, attrs, text] of the open elements inside the graph

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg" and a.get("id") == "hook-graph":
            self.depth = 1
            return
        if not self.depth:
            return
        self.depth += 1
        self._open.append([tag, a, ""])
        if tag == "rect":
            self.boxes.append({"x": float(a["x"]), "y": float(a["y"]), "w": float(a["width"]),
                               "h": float(a["height"]), "label": None})
        elif tag == "line":
            self.edges.append({"x1": float(a["x1"]), "y1": float(a["y1"]), "x2": float(a["x2"]),
                               "y2": float(a["y2"]), "title": None, "label": None})
        elif tag == "g":
            self.badges.append({"title": None, "cx": None, "cy": None})
        elif tag == "circle" and self.badges:
            self.badges[-1].update(cx=float(a["cx"]), cy=float(a["cy"]))
        elif tag not in ("text", "title", "defs", "marker", "path"):
            self.other.append(tag)

    def handle_endtag(self, tag):
        if not self.depth:
            return
        self.depth -= 1
        if not self._open:
            return
        t, a, text = self._open.pop()
        parent = self._open[-1][0] if self._open else "svg"
        if t == "title" and parent == "line":
            self.edges[-1]["title"] = text
        elif t == "title" and parent == "g":
            self.badges[-1]["title"] = text
        elif t == "text" and parent == "svg" and a.get("fill") == "#0f172a":
            self.boxes[-1]["label"] = text  # a box's label follows its rect
        elif t == "text" and parent == "svg" and a.get("fill") == "#1e3a8a":
            self.edges[-1]["label"] = text  # an edge's count follows its line

    def handle_data(self, data):
        if self._open:
            self._open[-1][2] += data


def expected_graph(recs):
    """The edges (from, to) -> packets and drops where -> packets that the traced records make:
    consecutive points of each path, then the last point to the fate (a drop is a badge
    instead); only between nodes of the graph (kfree_skb is none)."""
    edges, drops = {}, {}
    for r in recs:
        names = [p["point"] for p in r["path"]]
        if r["fate"] == "dropped":
            drops[r["dropped_at"]] = drops.get(r["dropped_at"], 0) + 1
        else:
            names.append(r["fate"])
        for e in zip(names, names[1:]):
            if e[0] in NODES and e[1] in NODES:
                edges[e] = edges.get(e, 0) + 1
    return edges, drops


class Trace(unittest.TestCase):
    def check_graph(self, dom, recs):
        g = SvgGraph()
        g.feed(dom)
        self.assertEqual(g.other, [])
        # One box a node, 116x44, each labelled, none on another.
        self.assertEqual(sorted(b["label"] for b in g.boxes), sorted(NODES.values()), g.boxes)
        self.assertEqual({(b["w"], b["h"]) for b in g.boxes}, {(116, 44)})
        centre = {}
        for name, label in NODES.items():
            b = next(b for b in g.boxes if b["label"] == label)
            centre[name] = (b["x"] + b["w"] / 2, b["y"] + b["h"] / 2)
        for b1 in g.boxes:
            for b2 in g.boxes:
                if b1 is not b2:
                    self.assertTrue(abs(b1["x"] - b2["x"]) >= b1["w"] or abs(b1["y"] - b2["y"]) >= b1["h"],
                                    (b1, b2))
        # The edges: exactly the paths' transitions with their counts, each from its source's
        # box centre towards its target, ending at the target's box (the arrow head outside).
        want_edges, want_drops = expected_graph(recs)
        got = {}
        for e in g.edges:
            head, _, n = e["title"].rpartition(": ")
            a, _, b = head.partition(" → ")
            self.assertTrue(n.endswith(" packets"), e)
            got[(a, b)] = int(n.split()[0])
            self.assertEqual(e["label"], str(got[(a, b)]), e)
            self.assertEqual((e["x1"], e["y1"]), centre[a], e)
            (bx, by), (ax, ay) = centre[b], centre[a]
            along = ((e["x2"] - ax) * (bx - ax) + (e["y2"] - ay) * (by - ay)) / math.hypot(bx - ax, by - ay)
            self.assertLess(abs(math.hypot(e["x2"] - ax, e["y2"] - ay) - along), 0.2, e)  # on the segment
            self.assertTrue(abs(e["x2"] - bx) <= 70 and abs(e["y2"] - by) <= 30, (e, b))
        self.assertEqual(got, want_edges)
        # One badge a drop point, on the node it names ("after X": X's box, top right).
        got_drops = {}
        for d in g.badges:
            m = d["title"].removeprefix("dropped ").rpartition(": ")
            got_drops[m[0]] = int(m[2].split()[0])
            x, y = centre[m[0].removeprefix("after ")]
            self.assertEqual((d["cx"] - x, d["cy"] - y), (60, -26), d)
        self.assertEqual(got_drops, want_drops)

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
            r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                                "file://" + report], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace")[-2000:])
            self.check_graph(r.stdout.decode(), recs)
            png = t.path("report.png")
            r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                "--window-size=1200,900", f"--screenshot={png}", "file://" + report],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
            self.assertTrue(os.path.exists(png), r.stderr.decode(errors="replace")[-2000:])
            width, height, pixels = read_png(png)
            self.assertEqual((width, height), (1200, 900))

            def count(rgb, tol=12):
                return sum(1 for p in pixels if all(abs(p[i] - rgb[i]) <= tol for i in range(3)))
            # A smoke test that the page renders: node boxes (#dbeafe), the edges (#2563eb) and the
            # drop badge (#dc2626), as pixels (what they are is checked in the DOM above).
            boxes, edges, drops = count((0xdb, 0xea, 0xfe)), count((0x25, 0x63, 0xeb)), count((0xdc, 0x26, 0x26))
            self.assertGreater(boxes, 14 * 100 * 30, "the graph's 14 nodes are not on the screenshot")
            self.assertGreater(edges, 400, "no edges on the screenshot")
            self.assertGreater(drops, 800, "no drop badge on the screenshot")



if __name__ == "__main__":
    netns.run_tests(__name__, tools=("ip", "chromium"))

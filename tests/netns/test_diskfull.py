#!/usr/bin/env python3
"""A disk that fills up (a real 1 MiB tmpfs, and /dev/full): hookdump stops with one error line
and exit 1, every file it wrote ends at its last whole record (capinfos, tshark and tcpdump -r
read it with no error; csv/jsonl end with a whole line), and the ledger says what reached the
file: the records in it are N of `N packets written to FILE, M not written (ERROR)`, the same
in --stats-json, and N + M = the packets captured.

Run one group:  HOOKDUMP_BIN=... HOOKDUMP_SEND=... python3 test_diskfull.py Capture
(ctest runs each group as netns_diskfull_<group>, label netns). Needs root (namespaces, mount).
"""

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from netns import SmallTmpfs, Topology, read_pcapng  # noqa: E402

A_IP, B_IP = "198.18.0.1", "198.18.0.2"
ENOSPC = "No space left on device"
# 12000 frames of 242 bytes: about 3 MB of pcap, 2 MB of csv; any format fills 1 MiB.
PACKETS, PAYLOAD = 12000, 200
FORMATS = ("pcap", "pcapng", "csv", "jsonl")
WRITTEN_RE = re.compile(r"^(\d+) (packets|paths) written to (.+), (\d+) not written \((.+)\)$")


def two_namespaces(t):
    a, b = t.netns("a"), t.netns("b")
    t.veth(a, "vA", A_IP + "/24", b, "vB", B_IP + "/24")
    return a, b


def records_in(path, fmt):
    """The records in a file, read by the tools a user would read it with; each must read it
    to its end with no error."""
    if fmt in ("pcap", "pcapng"):
        n = netns.tool_packet_count(path)  # capinfos and tcpdump -r
        r = subprocess.run(["tshark", "-r", path, "-T", "fields", "-e", "frame.number"],
                           capture_output=True, text=True, timeout=120)
        err = "\n".join(l for l in r.stderr.splitlines()
                        if not l.startswith("Running as user") and "could be dangerous" not in l)
        if r.returncode != 0 or err.strip():
            raise AssertionError(f"tshark cannot read {path} ({r.returncode}): {err}")
        if len(r.stdout.split()) != n:
            raise AssertionError(f"{path}: tshark reads {len(r.stdout.split())} packets, capinfos {n}")
        return n
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text and not text.endswith("\n"):
        raise AssertionError(f"{path} ends in the middle of a line: {text[-80:]!r}")
    lines = text.splitlines()
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        header = rows[0]
        for r in rows[1:]:
            if len(r) != len(header):
                raise AssertionError(f"{path}: a row of {len(r)} fields, the header has {len(header)}: {r}")
        return len(rows) - 1
    for line in lines:
        json.loads(line)
    return len(lines)


class DiskFull(unittest.TestCase):
    """What every group checks of a run that hit a full disk."""

    def check_run(self, rc, lines, path, unit="packets", why=ENOSPC):
        """rc 1, one 'hookdump: write PATH: WHY' line, one 'N UNIT written to PATH, M not
        written (WHY)' line. Returns (N, M)."""
        self.assertEqual(rc, 1, "\n".join(lines))
        # Not errors: trace's "not observed" notes, and its warning that the tap lost events
        # under load (the run floods it to fill the disk; the count of paths stays exact).
        notes = re.compile(r"^hookdump: (not observed: |\S+ lost \d+ events in the kernel: )")
        errors = [l for l in lines if l.startswith("hookdump: ") and not notes.match(l)]
        self.assertEqual(errors, [f"hookdump: write {path}: {why}"], "\n".join(lines))
        written = [m for m in map(WRITTEN_RE.match, lines) if m]
        self.assertEqual(len(written), 1, "\n".join(lines))
        m = written[0]
        self.assertEqual((m.group(2), m.group(3), m.group(5)), (unit, path, why))
        n, not_written = int(m.group(1)), int(m.group(4))
        self.assertGreater(not_written, 0)
        return n, not_written

    def check_stats(self, stats_path, captured, out_path, n, m, **extra):
        with open(stats_path) as f:
            j = json.load(f)
        self.assertEqual(j["packets_captured"], captured)
        want = {"path": out_path, "records": "packets", "written": n, "not_written": m, "why_not": ENOSPC}
        want.update(extra)
        self.assertEqual(j["outputs"], [want])

    def check_isb(self, path, n, m):
        """pcapng: the statistics follow the last whole block (there is room: the cut one) and
        say what the ledger says."""
        _, pkts, stats = read_pcapng(path)
        self.assertEqual(len(pkts), n)
        self.assertEqual(len(stats), 1, path)
        opts = stats[0]["options"]
        self.assertEqual(opts[1][0].decode(), f"{n} packets written, {m} not written ({ENOSPC})")
        self.assertEqual(int.from_bytes(opts[8][0], sys.byteorder), n)

    def capture_onto_full_disk(self, engine):
        for fmt in FORMATS:
            with self.subTest(fmt=fmt), Topology() as t, SmallTmpfs(1 << 20) as fs:
                a, b = two_namespaces(t)
                path, stats = fs.path("x." + fmt), t.path("x.json")
                c = t.capture(a, "--engine", engine, "-i", "vA", "-w", path, "--stats-json", stats,
                              name=fmt, wait_ready=False).wait_line("listening on ")
                t.send(b, "vB", kind="udp", count=PACKETS, payload=PAYLOAD)
                rc = c.wait(timeout=30)
                lines = c.messages()
                n, m = self.check_run(rc, lines, path)
                captured = c.ledger()[0]
                self.assertEqual(n + m, captured)
                self.assertEqual(records_in(path, fmt), n)
                self.check_stats(stats, captured, path, n, m)
                if fmt == "pcapng":
                    self.check_isb(path, n, m)


class Capture(DiskFull):
    """capture --engine afpacket -w onto a 1 MiB tmpfs, each format."""

    def test_capture(self):
        self.capture_onto_full_disk("afpacket")


class Tc(DiskFull):
    """capture --engine tc -w onto a 1 MiB tmpfs, each format."""

    def test_tc(self):
        self.capture_onto_full_disk("tc")


class Read(DiskFull):
    """hookdump read big.pcap -w onto a 1 MiB tmpfs: what was read is written or counted."""

    def test_read(self):
        with Topology() as t:
            big = t.path("big.pcap")
            r = netns.run_hookdump(None, "generate", "-n", "40000", "-w", big)
            self.assertEqual(r.returncode, 0, r.stderr)
            for fmt in FORMATS:
                with self.subTest(fmt=fmt), SmallTmpfs(1 << 20) as fs:
                    path = fs.path("x." + fmt)
                    # tcp: tcpdump prints the generated VXLAN frames on several lines.
                    r = netns.run_hookdump(None, "read", big, "-w", path, "tcp", timeout=60)
                    n, m = self.check_run(r.returncode, r.stderr.splitlines(), path)
                    self.assertLess(n + m, 40000)
                    self.assertEqual(records_in(path, fmt), n)
                    if fmt == "pcapng":
                        self.check_isb(path, n, m)


class Rotation(DiskFull):
    """-C (and -W) onto a 1 MiB tmpfs: every file whole, the files' records are N, and the
    ledger names the first and the last file and how many there were; -W's overwritten files
    are counted as written."""

    def rotated(self, fs, base, ext):
        files = sorted(f for f in os.listdir(fs.dir) if f.startswith(base + "-"))
        self.assertEqual(files, [f"{base}-{i:05d}.{ext}" for i in range(len(files))])
        return [fs.path(f) for f in files]

    def test_full_disk_while_rotating(self):
        for fmt, size, keep in (("pcap", "0.1", None), ("pcapng", "0.1", None), ("csv", "0.1", None),
                                ("pcapng", "0.4", 3)):
            with self.subTest(fmt=fmt, keep=keep), Topology() as t, SmallTmpfs(1 << 20) as fs:
                a, b = two_namespaces(t)
                stats = t.path("x.json")
                args = ["--engine", "afpacket", "-i", "vA", "-C", size, "-w", fs.path("r." + fmt),
                        "--stats-json", stats]
                if keep:
                    args += ["-W", str(keep)]
                c = t.capture(a, *args, name="rot" + fmt)
                t.send(b, "vB", kind="udp", count=PACKETS, payload=PAYLOAD)
                rc = c.wait(timeout=30)
                files = self.rotated(fs, "r", fmt)
                self.assertGreaterEqual(len(files), 3 if keep else 8, files)
                label = f"{files[0]}..{files[-1]} ({len(files)} files)"
                n, m = self.check_rotated(rc, c.messages(), files[-1], label)
                self.assertEqual(n + m, c.ledger()[0])
                self.assertEqual(sum(records_in(f, fmt) for f in files), n)
                self.check_stats(stats, c.ledger()[0], label.split(" (")[0], n, m,
                                 files=len(files), overwritten=0)

    def check_rotated(self, rc, lines, last, label):
        self.assertEqual(rc, 1, "\n".join(lines))
        errors = [l for l in lines if l.startswith("hookdump: ")]
        self.assertEqual(errors, [f"hookdump: write {last}: {ENOSPC}"], "\n".join(lines))
        written = [m for m in map(WRITTEN_RE.match, lines) if m]
        self.assertEqual(len(written), 1, "\n".join(lines))
        self.assertEqual((written[0].group(3), written[0].group(5)), (label, ENOSPC))
        return int(written[0].group(1)), int(written[0].group(4))

    def test_overwritten_files_are_counted(self):
        """-W 2 on a disk with room: every packet captured was written to a file, some of
        them to files -W has since overwritten, and the ledger says so."""
        with Topology() as t, SmallTmpfs(1 << 20) as fs:
            a, b = two_namespaces(t)
            stats = t.path("x.json")
            c = t.capture(a, "--engine", "afpacket", "-i", "vA", "-C", "0.1", "-W", "2",
                          "-w", fs.path("w.pcapng"), "--stats-json", stats, name="ring")
            t.send(b, "vB", kind="udp", count=3000, payload=PAYLOAD)
            self.assertEqual(c.stop(), 0, c.stderr())
            captured = c.ledger()[0]
            self.assertEqual(captured, 3000)
            files = self.rotated(fs, "w", "pcapng")
            self.assertEqual(len(files), 2)
            with open(stats) as f:
                out = json.load(f)["outputs"]
            self.assertEqual(len(out), 1)
            opened = out[0]["files"]
            self.assertGreater(opened, 4)
            last = files[(opened - 1) % 2]
            self.assertEqual(out[0], {"path": f"{files[0]}..{last}", "records": "packets", "written": 3000,
                                      "not_written": 0, "why_not": None, "files": opened,
                                      "overwritten": opened - 2})
            self.assertIn(f"3000 packets written to {files[0]}..{last} ({opened} files, {opened - 2} since "
                          f"overwritten by -W)", c.messages())
            kept = sum(records_in(f, "pcapng") for f in files)
            self.assertGreater(kept, 0)
            self.assertLess(kept, 3000)


class Trace(DiskFull):
    """hookdump trace -w onto a 1 MiB tmpfs stops at the full disk (it ran on until killed),
    every path line whole; --report onto a full disk is one line, exit 1, no half a page."""

    def test_trace_paths(self):
        for fmt in ("jsonl", "text"):
            with self.subTest(fmt=fmt), Topology() as t, SmallTmpfs(1 << 20) as fs:
                a, b = two_namespaces(t)
                path = fs.path("trace." + fmt)
                c = t.capture(a, "-i", "vA", "-o", fmt, "-w", path, "--window", "20", "udp", name="trace",
                              command="trace", wait_ready=False)
                c.wait_line("tracing at ")
                # More than fill the file even when the tap loses some under load.
                t.send(b, "vB", kind="udp", count=3 * PACKETS, payload=PAYLOAD, rate=20000)
                rc = c.wait(timeout=60)
                lines = c.stderr().splitlines()
                n, m = self.check_run(rc, lines, path, unit="paths")
                traced = [int(l.split()[0]) for l in lines if re.match(r"^\d+ packets traced$", l)]
                self.assertEqual(traced, [n + m])
                with open(path) as f:
                    text = f.read()
                self.assertTrue(text.endswith("\n"))
                got = text.splitlines()
                if fmt == "jsonl":
                    for line in got:
                        json.loads(line)
                self.assertEqual(len(got), n)

    def test_report_onto_full_disk(self):
        with Topology() as t, SmallTmpfs(1 << 20) as fs:
            a, b = two_namespaces(t)
            fs.fill()
            report = fs.path("report.html")
            c = t.capture(a, "-i", "vA", "-w", t.path("paths.txt"), "--report", report, "udp",
                          name="trace", command="trace", wait_ready=False)
            c.wait_line("tracing at ")
            t.send(b, "vB", kind="udp", count=20, payload=PAYLOAD)
            rc = c.stop(settle=1.0, timeout=20)
            lines = c.stderr().splitlines()
            self.assertEqual(rc, 1, c.stderr())
            self.assertEqual([l for l in lines if l.startswith("hookdump: ") and "not observed" not in l],
                             [f"hookdump: write {report}: {ENOSPC}"])
            self.assertEqual(os.path.getsize(report), 0)
            with open(t.path("paths.txt")) as f:
                self.assertEqual(len(f.read().splitlines()), 20)


class StatsJson(DiskFull):
    """--stats-json onto a full disk: one line, exit 1, and no half an object in the file."""

    def test_stats_json_onto_full_disk(self):
        with Topology() as t, SmallTmpfs(1 << 20) as fs:
            a, b = two_namespaces(t)
            fs.fill()
            stats = fs.path("s.json")
            c = t.capture(a, "--engine", "afpacket", "-i", "vA", "-w", t.path("x.pcap"), "--stats-json", stats)
            t.send(b, "vB", kind="udp", count=100, payload=PAYLOAD)
            rc = c.stop()
            lines = c.messages()
            self.assertEqual(rc, 1, c.stderr())
            self.assertEqual([l for l in lines if l.startswith("hookdump: ")],
                             [f"hookdump: write {stats}: {ENOSPC}"])
            self.assertEqual(c.ledger(), (100, 100, 0))
            self.assertEqual(netns.tool_packet_count(t.path("x.pcap")), 100)
            self.assertEqual(os.path.getsize(stats), 0)


class DevFull(DiskFull):
    """-w /dev/full: nothing reaches it; the ledger says 0 written, every captured packet not."""

    def test_dev_full(self):
        for fmt in FORMATS:
            with self.subTest(fmt=fmt), Topology() as t:
                a, b = two_namespaces(t)
                stats = t.path("x.json")
                c = t.capture(a, "--engine", "afpacket", "-i", "vA", "-o", fmt, "-w", "/dev/full",
                              "--stats-json", stats, name=fmt, wait_ready=False)
                # A header in the buffer fails at the first flush (100 ms), maybe before any
                # packet: then nothing was captured and nothing is owed.
                while c.proc.poll() is None and not c._ready():
                    time.sleep(0.01)
                if c.proc.poll() is None:
                    t.send(b, "vB", kind="udp", count=100, payload=PAYLOAD)
                rc = c.stop(settle=0.5)
                lines = c.messages()
                self.assertEqual(rc, 1, "\n".join(lines))
                self.assertEqual([l for l in lines if l.startswith("hookdump: ")],
                                 [f"hookdump: write /dev/full: {ENOSPC}"])
                captured = c.ledger()[0]
                written = [l for l in lines if WRITTEN_RE.match(l)]
                self.assertEqual(written, [f"0 packets written to /dev/full, {captured} not written ({ENOSPC})"]
                                 if captured else [])
                with open(stats) as f:
                    j = json.load(f)
                self.assertEqual(j["packets_captured"], captured)
                self.assertEqual(j["outputs"], [{"path": "/dev/full", "records": "packets", "written": 0,
                                                 "not_written": captured,
                                                 "why_not": ENOSPC}])


if __name__ == "__main__":
    netns.run_tests(__name__, tools=("ip", "capinfos", "tcpdump", "tshark", "mount"))

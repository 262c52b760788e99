#!/usr/bin/env python3
"""Runs hookdump over every file of a capture corpus: no crash, and the exact outcome.

For each file (every link type, malformed captures and non-captures included):

    HOOKDUMP read FILE -o csv
    HOOKDUMP read FILE --flows
    HOOKDUMP read FILE -o pcapng -w TMP/out.pcapng
    HOOKDUMP read TMP/out.pcapng -o csv          (reading back what hookdump wrote)

each with a per-run timeout. What each run must do follows from the file's own structure, read
here without libpcap (capture_structure): a pcap or pcapng file whose records are all complete
exits 0, and the csv, like the pcapng written and read back, holds exactly its packets; a file
cut in the middle of a record exits 1 (a read error after the complete records, which are
output); a file that is neither pcap nor pcapng exits 2 with one line naming it. Any other exit
status, a packet count that differs, a written pcapng hookdump cannot read back (exit status
other than 0) or that holds other packets, a signal, a timeout or a sanitizer report on stderr
("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:" from UBSan) fails the
file. Sanitizers exit with status 1 by default, so stderr is what tells a sanitizer report from
an ordinary runtime failure.

Give it an ASan+UBSan build (-DHOOKDUMP_SANITIZE=ON) to make memory errors visible.

Exit status: 0 when every run passed, 1 otherwise, 2 on bad usage, 77 when the corpus
directory is missing and --skip-missing is given and CI is not "true" (ctest's
SKIP_RETURN_CODE). Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import csv
import io
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "ERROR: UndefinedBehaviorSanitizer")


PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1": "<", b"\x4d\x3c\xb2\xa1": "<",
               b"\xa1\xb2\xc3\xd4": ">", b"\xa1\xb2\x3c\x4d": ">"}
PCAPNG_PACKET_BLOCKS = {2, 3, 6}  # Packet (obsolete), Simple Packet, Enhanced Packet


def capture_structure(path):
    """What the file is, read from its own structure (independent of libpcap):
    ("capture", packets) when it is a pcap/pcapng file whose records/blocks are all complete,
    ("cut", packets before the cut) when a record or block is cut short, ("not-a-capture", 0)."""
    with open(path, "rb") as f:
        data = f.read()
    e = PCAP_MAGICS.get(data[:4])
    if e:
        if len(data) < 24:
            return "cut", 0
        off, n = 24, 0
        while off < len(data):
            if off + 16 > len(data):
                return "cut", n
            caplen = struct.unpack(e + "I", data[off + 8:off + 12])[0]
            off += 16 + caplen
            if off > len(data):
                return "cut", n
            n += 1
        return "capture", n
    if data[:4] != b"\x0a\x0d\x0d\x0a":
        return "not-a-capture", 0
    off, n, e = 0, 0, "<"
    while off < len(data):
        if off + 12 > len(data):
            return "cut", n
        if data[off:off + 4] == b"\x0a\x0d\x0d\x0a":
            e = "<" if data[off + 8:off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        btype, blen = struct.unpack(e + "II", data[off:off + 8])
        if blen < 12 or blen % 4 or off + blen > len(data):
            return "cut", n
        n += btype in PCAPNG_PACKET_BLOCKS
        off += blen
    return "capture", n


# The exit status hookdump must give for each kind of file (the FileEngine's UsageError for a
# file libpcap cannot open, RuntimeError for a read error part-way).
EXPECTED_RC = {"capture": 0, "cut": 1, "not-a-capture": 2}


def describe_rc(rc: int) -> str:
    if rc < 0:
        try:
            return f"killed by signal {-rc} ({signal.Signals(-rc).name})"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit {rc}"


def run(cmd, timeout, stdout=subprocess.DEVNULL):
    """subprocess.run in its own process group, all of which is killed on timeout (so a
    child holding the pipes open cannot stall us). Raises subprocess.TimeoutExpired."""
    with subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE,
                          start_new_session=True) as p:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            raise
        return subprocess.CompletedProcess(cmd, p.returncode, out, err)


def run_one(cmd, timeout, stdout=subprocess.DEVNULL):
    """Returns (failure description or None, exit code, stdout or None, stderr)."""
    try:
        p = run(cmd, timeout, stdout)
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:g}s", None, None, ""
    err = p.stderr.decode("utf-8", "replace")
    for marker in SANITIZER_MARKERS:
        if marker in err:
            i = err.index(marker)
            excerpt = err[max(0, err.rfind("\n", 0, i) + 1):][:600]
            return f"sanitizer report ({describe_rc(p.returncode)}): {excerpt.strip()}", p.returncode, p.stdout, err
    if p.returncode < 0:
        return f"{describe_rc(p.returncode)}: {err.strip()[:300]}", p.returncode, p.stdout, err
    return None, p.returncode, p.stdout, err


def csv_packets(out):
    """The number of packet rows in `read -o csv` output (after its header line)."""
    return max(0, sum(1 for _ in csv.reader(io.StringIO(out.decode("utf-8", "replace")))) - 1)


def check_file(path, args, tmpdir):
    """Returns (name, kind of file, [failures], {run name: exit code})."""
    name = os.path.basename(path)
    failures = []
    codes = {}
    kind, packets = capture_structure(path)
    want = EXPECTED_RC[kind]
    what = {"capture": f"a capture of {packets} packets", "not-a-capture": "not a pcap/pcapng file",
            "cut": f"cut short after {packets} complete packets"}[kind]

    def check(label, cmd, rc_want, count=False):
        stdout = subprocess.PIPE if count else subprocess.DEVNULL
        msg, rc, out, err = run_one(cmd, args.timeout, stdout)
        codes[label] = rc
        if msg:
            failures.append(f"{label}: {msg}")
            return False
        if rc != rc_want:
            failures.append(f"{label}: {describe_rc(rc)}, expected exit {rc_want} ({what}): {err.strip()[:300]}")
            return False
        if rc == 2 and (len(err.strip().splitlines()) != 1 or path not in err):
            failures.append(f"{label}: exit 2 without one line naming the file: {err.strip()[:300]!r}")
            return False
        if count and rc != 2 and csv_packets(out) != packets:
            failures.append(f"{label}: {csv_packets(out)} packets in the csv, the file holds {packets}")
            return False
        return True

    # A per-file output path: the two workers never share one.
    out = os.path.join(tmpdir, f"{abs(hash(path)):x}-{os.getpid()}.pcapng")
    try:
        check("csv", [args.hookdump, "read", path, "-o", "csv"], want, count=True)
        check("flows", [args.hookdump, "read", path, "--flows"], want)
        if check("pcapng", [args.hookdump, "read", path, "-o", "pcapng", "-w", out], want) and want != 2:
            # What hookdump wrote, read back: complete, with every packet it read.
            if not os.path.exists(out):
                failures.append(f"pcapng: exit {want} and no file written")
            else:
                kind_out, packets_out = capture_structure(out)
                if (kind_out, packets_out) != ("capture", packets):
                    failures.append(f"pcapng: the file written is {kind_out} with {packets_out} packets, "
                                    f"expected a capture of {packets}")
                check("reread", [args.hookdump, "read", out, "-o", "csv"], 0, count=True)
    finally:
        try:
            os.unlink(out)
        except FileNotFoundError:
            pass
    return name, kind, failures, codes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("hookdump", help="path of the hookdump binary (a sanitizer build is best)")
    ap.add_argument("corpus", help="directory of capture files")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=10.0, help="per-run timeout in seconds")
    ap.add_argument("--skip-missing", action="store_true",
                    help="exit 77 (skip) when the corpus is missing, unless CI=true")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every file's exit codes")
    ap.add_argument("files", nargs="*", help="only these file names from the corpus")
    args = ap.parse_intermixed_args()

    if not os.path.isdir(args.corpus):
        if args.skip_missing and os.environ.get("CI", "") != "true":
            print("*" * 72)
            print(f"SKIP: corpus directory {args.corpus} not found; corpus_robustness not run")
            print("*" * 72)
            sys.exit(77)
        ci = " (CI=true: not skipped)" if os.environ.get("CI", "") == "true" else ""
        print(f"robustness: corpus directory {args.corpus} not found{ci}", file=sys.stderr)
        sys.exit(2)
    if not os.access(args.hookdump, os.X_OK):
        print(f"robustness: {args.hookdump} is not executable", file=sys.stderr)
        sys.exit(2)

    names = args.files or sorted(os.listdir(args.corpus))
    paths = [os.path.join(args.corpus, n) for n in names
             if os.path.isfile(os.path.join(args.corpus, n))]
    if not paths:
        print(f"robustness: no files in {args.corpus}", file=sys.stderr)
        sys.exit(2)

    t0 = time.monotonic()
    failed = []
    kinds = collections.Counter()
    codes_total = collections.Counter()
    with tempfile.TemporaryDirectory(prefix="hookdump-robustness-") as tmpdir:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
            for name, kind, failures, codes in ex.map(lambda p: check_file(p, args, tmpdir), paths):
                kinds[kind] += 1
                for label, rc in codes.items():
                    codes_total[(label, rc)] += 1
                if args.verbose:
                    print(f"{name}: " + " ".join(f"{k}={v}" for k, v in codes.items()))
                if failures:
                    failed.append(name)
                    for f in failures:
                        print(f"FAIL {name}: {f}")
    elapsed = time.monotonic() - t0

    runs = sum(codes_total.values())
    print()
    print("exit codes by run:")
    for (label, rc), n in sorted(codes_total.items(), key=lambda x: (x[0][0], str(x[0][1]))):
        print(f"  {label:7s} {'timeout' if rc is None else describe_rc(rc):30s} {n:5d}")
    print("files by structure (expected exit 0 / 1 / 2): " + ", ".join(
        f"{kinds[k]} {k}" for k in EXPECTED_RC))
    print(f"SUMMARY: {'PASS' if not failed else 'FAIL'}: {len(paths)} files, {runs} hookdump runs, "
          f"{len(failed)} files with a crash, sanitizer report, timeout or an outcome other than expected, "
          f"{elapsed:.1f}s")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

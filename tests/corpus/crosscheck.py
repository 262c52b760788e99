#!/usr/bin/env python3
"""Cross-check hookdump's packet parser against tshark over a corpus of capture files.

For every capture whose link type hookdump parses, runs

    HOOKDUMP read FILE -o csv
    tshark -n -r FILE -T fields ...

and compares, packet by packet, what hookdump reports (docs/FORMATS.md, csv columns
proto, src, dst, sport, dport, icmp_type, icmp_code) with what tshark's dissection says about
the same packet, mapped to hookdump's definition of the tuple:

  * addresses come from the outermost IP header (tunnels are not decapsulated);
  * proto is the protocol that follows the outermost IP header and its IPv6 extension
    headers (hop-by-hop, routing, fragment, destination options, AH);
  * ports come from the transport header directly after that (TCP, UDP, UDP-Lite, SCTP,
    DCCP), ICMP / ICMPv6 type and code likewise; an ICMP error shows the outer addresses and
    no ports;
  * a non-first fragment carries no ports;
  * a truncated packet yields addresses only when the IP header is complete and ports only
    when the transport header is complete and inside the IP datagram.

tshark runs once per batch of files (mergecap -a concatenates them: tshark's start-up costs
far more than dissecting a test capture); the frames are handed back to the files by
hookdump's packet counts and checked record by record (captured length, time), and a batch
that does not line up is dissected file by file instead. --mergecap '' forces that.

tshark's frame.protocols gives the layer order, so inner headers (GRE, IP-in-IP, VXLAN,
ICMP error payloads, ...) are never taken for the outer tuple.

Every disagreement is put in a category. Categories where tshark differs from hookdump by
design (it decodes an encapsulation hookdump does not, it shows fields of a header that is
cut short, ...) are listed in BY_DESIGN with their reason; any other disagreement is
"unexplained" and fails the run. Agreement is the share of compared packets on which hookdump
and tshark agree on all four parts of the tuple (addresses, proto, ports, ICMP type/code);
by-design differences count as disagreements too, they are only explained.

Exit status: 0 when no disagreement is unexplained, hookdump and tshark read the same number
of packets from every file, agreement >= --min-agreement (99 %), hookdump never crashed or
timed out and tshark never failed; 1 otherwise, 2 on bad usage, 77 when the corpus directory
is missing and --skip-missing is given (ctest's SKIP_RETURN_CODE).

Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import csv
import io
import ipaddress
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

# pcap LINKTYPE_ values hookdump parses (src/packet/parse.h).
SUPPORTED_LINKTYPES = {
    0: "NULL", 1: "EN10MB", 12: "RAW", 14: "RAW", 101: "RAW", 108: "LOOP",
    113: "LINUX_SLL", 228: "IPV4", 229: "IPV6", 276: "LINUX_SLL2",
}

TSHARK_FIELDS = [
    "frame.number", "frame.cap_len", "frame.time_epoch", "frame.protocols",
    "ip.version", "ip.hdr_len", "ip.len", "ip.src", "ip.dst", "ip.proto",
    "ip.frag_offset", "ip.flags.mf",
    "ipv6.src", "ipv6.dst", "ipv6.nxt", "ipv6.plen",
    "ipv6.hopopts.nxt", "ipv6.routing.nxt", "ipv6.dstopts.nxt", "ipv6.fraghdr.nxt",
    "ipv6.fraghdr.offset", "ah.next_header",
    "tcp.srcport", "tcp.dstport", "tcp.hdr_len",
    "udp.srcport", "udp.dstport",
    "sctp.srcport", "sctp.dstport",
    "dccp.srcport", "dccp.dstport",
    "icmp.type", "icmp.code", "icmpv6.type", "icmpv6.code",
    # Where tshark's dissection stopped: "[Packet size limited during capture: TCP truncated]",
    # "[Malformed Packet: IPv6 Fragment]", and the expert messages (for the report).
    "_ws.short", "_ws.malformed", "_ws.expert.message",
]
AGGREGATOR = "\x1f"  # between occurrences of a field; expert messages contain commas

# frame.protocols tokens of IPv6 extension headers, and the field that holds their next header.
IPV6_EXT_TOKENS = {
    "ipv6.hopopts": "ipv6.hopopts.nxt",
    "ipv6.routing": "ipv6.routing.nxt",
    "ipv6.dstopts": "ipv6.dstopts.nxt",
    "ipv6.fraghdr": "ipv6.fraghdr.nxt",
    "ah": "ah.next_header",
}
IPV6_EXT_NUMBERS = {0, 43, 44, 60, 51}

# Transport headers whose ports hookdump reports: token -> (field prefix, IANA protocol).
PORT_TOKENS = {
    "tcp": ("tcp", 6), "udp": ("udp", 17), "udplite": ("udp", 136),
    "sctp": ("sctp", 132), "dccp": ("dccp", 33),
}
ICMP_TOKENS = {"icmp": "icmp", "icmpv6": "icmpv6"}
MIN_HEADER = {6: 20, 17: 8, 136: 8, 132: 12, 33: 12, 1: 8, 58: 8}

# Link-layer tokens hookdump walks through on its way to IP; anything else before the
# outermost IP is an encapsulation hookdump does not decode.
LINK_TOKENS = {"eth", "ethertype", "vlan", "llc", "sll", "null", "loop", "raw", "ip", "ipv6",
               "frame"}

# Why a category is "by design": category -> explanation. Any category not listed here is
# unexplained (hookdump may be wrong): it fails the run. A packet-count mismatch (hookdump and
# tshark read a different number of records from a file) is not a category: it fails too.
BY_DESIGN = {
    "ip-behind-unparsed-encapsulation":
        "tshark finds IP behind a link-layer encapsulation hookdump does not decode (MPLS, "
        "MACsec, NSH, Arista vendor headers, ...). hookdump parses Ethernet with VLAN tags and "
        "LLC/SNAP, Linux SLL/SLL2, NULL/LOOP and raw IPv4/IPv6 only, and reports such frames "
        "as not-ip.",
    "ipv6-payload-length-zero":
        "the IPv6 payload length is 0. hookdump takes that for a jumbogram or a GSO/BIG TCP "
        "super-packet and bounds the datagram by the captured bytes (as tcpdump does), so it "
        "reports the transport header; tshark 4.0 dissects no payload (or marks it malformed) "
        "without a Jumbo Payload option.",
    "partial-ip-header":
        "the IP header is cut by the snap length (IPv4 options included). tshark shows the "
        "fields it read before the cut (the protocol byte, sometimes the addresses); hookdump "
        "reports addresses and protocol only from a complete IP header (TruncatedIp).",
    "ipv6-ext-truncated":
        "an IPv6 extension header is cut short (by the snap length or the payload length). "
        "tshark shows its next-header byte; hookdump needs each whole extension header and "
        "reports addresses but no protocol (TruncatedExt).",
    "partial-transport-header":
        "the transport header is cut short (by the snap length or the end of the IP datagram). "
        "tshark shows the fields it could read before the end; hookdump reports ports / ICMP "
        "type and code only when the whole fixed header (TCP 20, UDP/UDP-Lite 8, SCTP 12, DCCP "
        "12 or 16 with X=1, ICMP 8 bytes) is captured and inside the datagram (TruncatedL4).",
}

# Names tshark uses in "[Packet size limited during capture: NAME truncated]" and
# "[Malformed Packet: NAME]".
CUT_IP = {"IPv4", "IPv6"}
CUT_EXT = {"IPv6 Hop-by-Hop", "IPv6 Routing", "IPv6 Fragment", "IPv6 Destination Options",
           "Authentication Header"}
CUT_L4 = {"TCP", "UDP", "UDP-Lite", "UDPlite", "SCTP", "DCCP", "ICMP", "ICMPv6"}


def fail(msg: str) -> None:
    print(f"crosscheck: {msg}", file=sys.stderr)
    sys.exit(2)


# --------------------------------------------------------------------------- capture headers

def capture_linktype(path: str):
    """Returns ('pcap'|'pcapng', linktype) from the file header, or (None, None)."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
            if len(head) < 24:
                return None, None
            magic = head[:4]
            if magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
                return "pcap", struct.unpack(">I", head[20:24])[0] & 0x03FFFFFF
            if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
                return "pcap", struct.unpack("<I", head[20:24])[0] & 0x03FFFFFF
            if magic != b"\x0a\x0d\x0d\x0a":
                return None, None
            bom = head[8:12]
            if bom == b"\x1a\x2b\x3c\x4d":
                e = ">"
            elif bom == b"\x4d\x3c\x2b\x1a":
                e = "<"
            else:
                return None, None
            # Walk the blocks to the first Interface Description Block.
            f.seek(0)
            data = f.read(1 << 20)
            off = 0
            while off + 12 <= len(data):
                btype, blen = struct.unpack(e + "II", data[off:off + 8])
                if btype == 1:
                    return "pcapng", struct.unpack(e + "H", data[off + 8:off + 10])[0]
                if blen < 12 or blen % 4:
                    return None, None
                off += blen
            return None, None
    except OSError:
        return None, None


# --------------------------------------------------------------------------- running tools

class Result:
    """One file's outcome."""

    def __init__(self, name: str):
        self.name = name
        self.status = "ok"        # ok, unsupported-link, unreadable, crash, timeout, tshark-error
        self.linktype = None
        self.detail = ""
        self.compared = 0
        self.agreed = 0
        self.disagreements = []   # (category, frame number, description)
        self.hookdump_rc = None
        self.tshark_seconds = 0.0
        self.coverage = collections.Counter()
        self.path = ""
        self.rows = None          # hookdump's csv rows until compared
        self.misaligned = 0       # frames that do not look like the same record in both tools
        self.clipped = 0          # records libpcap clipped to the snap length (wiretap did not)
        self.time_differs = 0     # records whose timestamps differ


def run(cmd, timeout, stdout=subprocess.PIPE):
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


def run_hookdump(hookdump: str, path: str, timeout: float):
    p = run([hookdump, "read", path, "-o", "csv"], timeout)
    rows = []
    text = p.stdout.decode("utf-8", "replace")
    if text:
        rows = list(csv.DictReader(io.StringIO(text)))
    return p.returncode, rows, p.stderr.decode("utf-8", "replace")


def run_tshark(tshark: str, path: str, timeout: float):
    cmd = [tshark, "-n", "-r", path,
           "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
           "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=" + AGGREGATOR,
           "-E", "quote=n"]
    for f in TSHARK_FIELDS:
        cmd += ["-e", f]
    p = run(cmd, timeout)
    frames = []
    n = len(TSHARK_FIELDS)
    for line in p.stdout.decode("utf-8", "replace").split("\n"):
        if not line:
            continue
        cols = line.split("\t", n - 1)  # the last field (expert messages) keeps any tab
        cols += [""] * (n - len(cols))
        frames.append({k: (v.split(AGGREGATOR) if v else []) for k, v in zip(TSHARK_FIELDS, cols)})
    return p.returncode, frames


# --------------------------------------------------------------------------- tuple mapping

class Tuple:
    __slots__ = ("addr", "proto", "ports", "icmp")

    def __init__(self, addr=None, proto=None, ports=None, icmp=None):
        self.addr, self.proto, self.ports, self.icmp = addr, proto, ports, icmp

    def __repr__(self):
        a = f"{self.addr[0]}>{self.addr[1]}" if self.addr else "-"
        p = "-" if self.proto is None else str(self.proto)
        s = f"{self.ports[0]}>{self.ports[1]}" if self.ports else "-"
        i = f"{self.icmp[0]}/{self.icmp[1]}" if self.icmp else "-"
        return f"addr={a} proto={p} ports={s} icmp={i}"


def norm_addr(a: str):
    try:
        return str(ipaddress.ip_address(a))
    except ValueError:
        return a


def to_int(v):
    try:
        return int(v, 0)
    except (TypeError, ValueError):
        return None


def nth(frame, field, i):
    vals = frame.get(field, [])
    return vals[i] if i < len(vals) else None


def hookdump_tuple(row) -> Tuple:
    t = Tuple()
    if row.get("src") and row.get("dst"):
        t.addr = (norm_addr(row["src"]), norm_addr(row["dst"]))
    if row.get("proto"):
        t.proto = int(row["proto"])
    if row.get("sport") and row.get("dport"):
        t.ports = (int(row["sport"]), int(row["dport"]))
    if row.get("icmp_type") and row.get("icmp_code"):
        t.icmp = (int(row["icmp_type"]), int(row["icmp_code"]))
    return t


class View:
    """tshark's dissection of one frame mapped to hookdump's tuple, plus context."""

    def __init__(self):
        self.t = Tuple()
        self.tokens = []
        self.ip_pos = None        # index of the outermost IP token
        self.family = None
        self.l4_token = None      # token right after the outermost IP and its extension chain
        self.later_fragment = False
        self.ext_truncated = False
        self.prefix = []          # tokens before the outermost IP
        self.cut = set()          # layers tshark found truncated or malformed
        self.plen_zero = False    # outermost IPv6 header with payload length 0


def tshark_view(fr) -> View:
    v = View()
    protos = fr["frame.protocols"]
    tokens = protos[0].split(":") if protos else []
    v.tokens = tokens
    for text in fr["_ws.short"] + fr["_ws.malformed"]:
        for head, tail in (("[Packet size limited during capture: ", " truncated]"),
                           ("[Malformed Packet: ", "]")):
            if text.startswith(head) and text.endswith(tail):
                v.cut.add(text[len(head):-len(tail)])
    for i, tok in enumerate(tokens):
        if tok in ("ip", "ipv6"):
            v.ip_pos = i
            break
    if v.ip_pos is None:
        v.prefix = tokens
        return v
    v.prefix = tokens[:v.ip_pos]
    fam = tokens[v.ip_pos]
    v.family = fam
    rest = tokens[v.ip_pos + 1:]
    # The outermost IP layer is the first of its kind in the frame; an inner IP of the other
    # family cannot come first either, so occurrence 0 is the outer header's.
    if fam == "ip":
        src, dst = nth(fr, "ip.src", 0), nth(fr, "ip.dst", 0)
        ver = to_int(nth(fr, "ip.version", 0))
        proto = to_int(nth(fr, "ip.proto", 0))
        if src and dst and ver == 4:
            v.t.addr = (norm_addr(src), norm_addr(dst))
        if proto is not None and ver == 4:
            v.t.proto = proto
        off = to_int(nth(fr, "ip.frag_offset", 0))
        v.later_fragment = bool(off)
        chain_len = 0
    else:
        src, dst = nth(fr, "ipv6.src", 0), nth(fr, "ipv6.dst", 0)
        if src and dst:
            v.t.addr = (norm_addr(src), norm_addr(dst))
        nxt = to_int(nth(fr, "ipv6.nxt", 0))
        v.plen_zero = to_int(nth(fr, "ipv6.plen", 0)) == 0
        chain_len = 0
        ext_seen = collections.Counter()
        # Outer-chain extension header occurrences precede any inner ones.
        while nxt is not None and nxt in IPV6_EXT_NUMBERS:
            tok = rest[chain_len] if chain_len < len(rest) else None
            if tok not in IPV6_EXT_TOKENS:
                nxt = None
                v.ext_truncated = True
                break
            field = IPV6_EXT_TOKENS[tok]
            val = to_int(nth(fr, field, ext_seen[tok]))
            ext_seen[tok] += 1
            chain_len += 1
            if tok == "ipv6.fraghdr":
                fo = to_int(nth(fr, "ipv6.fraghdr.offset", ext_seen[tok] - 1))
                if fo:
                    v.later_fragment = True
            if val is None:
                nxt = None
                v.ext_truncated = True
                break
            nxt = val
            if v.later_fragment:
                break
        v.t.proto = nxt
    after = rest[chain_len:]
    v.l4_token = after[0] if after else None
    if v.later_fragment:
        return v
    l4 = v.l4_token
    if l4 in PORT_TOKENS:
        prefix, _ = PORT_TOKENS[l4]
        idx = tokens[:v.ip_pos + 1 + chain_len].count(l4) if l4 != "udplite" else \
            sum(1 for t in tokens[:v.ip_pos + 1 + chain_len] if t in ("udp", "udplite"))
        s, d = to_int(nth(fr, prefix + ".srcport", idx)), to_int(nth(fr, prefix + ".dstport", idx))
        if s is not None and d is not None:
            v.t.ports = (s, d)
    elif l4 in ICMP_TOKENS:
        idx = tokens[:v.ip_pos + 1 + chain_len].count(l4)
        ty, co = to_int(nth(fr, l4 + ".type", idx)), to_int(nth(fr, l4 + ".code", idx))
        if ty is not None and co is not None:
            v.t.icmp = (ty, co)
    return v


def classify(v: View, h: Tuple) -> str:
    """Names the kind of disagreement between tshark's view v and hookdump's tuple h."""
    t = v.t
    if v.ip_pos is not None and h.addr is None and h.proto is None \
            and any(tok not in LINK_TOKENS for tok in v.prefix):
        return "ip-behind-unparsed-encapsulation"
    if v.family == "ipv6" and v.plen_zero and t.addr == h.addr:
        return "ipv6-payload-length-zero"
    if h.addr is None and h.proto is None and v.cut & CUT_IP:
        return "partial-ip-header"
    if t.addr == h.addr and h.proto is None and t.proto is not None \
            and (v.ext_truncated or v.cut & CUT_EXT):
        return "ipv6-ext-truncated"
    if t.addr == h.addr and t.proto == h.proto and v.cut & CUT_L4 and \
            ((t.ports and not h.ports and not h.icmp) or (t.icmp and not h.icmp and not h.ports)):
        return "partial-transport-header"

    def which(a, b):
        return "tshark-only" if b is None else "hookdump-only" if a is None else "differ"
    if t.addr != h.addr:
        return "addr:" + which(t.addr, h.addr)
    if t.proto != h.proto:
        return "proto:" + which(t.proto, h.proto)
    if t.ports != h.ports:
        return "ports:" + which(t.ports, h.ports)
    if t.icmp != h.icmp:
        return "icmp:" + which(t.icmp, h.icmp)
    return "other"


def coverage(v: View):
    """What a compared packet exercises (tshark's view), for the totals."""
    c = []
    if v.t.addr:
        c.append("ipv4" if v.family == "ip" else "ipv6")
    if v.t.ports:
        c.append("ports")
    if v.t.icmp:
        c.append("icmp")
    if v.later_fragment:
        c.append("later fragment")
    if v.ip_pos is not None and any(t in ("ip", "ipv6") for t in v.tokens[v.ip_pos + 1:]):
        c.append("inner IP (tunnel, ICMP error)")
    if v.family == "ipv6" and any(t in IPV6_EXT_TOKENS for t in v.tokens[v.ip_pos + 1:v.ip_pos + 2]):
        c.append("IPv6 extension headers")
    return c


# --------------------------------------------------------------------------- per file

def run_hookdump_phase(path: str, args) -> Result:
    """Reads the file with hookdump; r.rows holds its csv rows when there is something to compare."""
    r = Result(os.path.basename(path))
    r.path = path
    kind, lt = capture_linktype(path)
    r.linktype = lt
    if kind is not None and lt not in SUPPORTED_LINKTYPES:
        r.status = "unsupported-link"
        return r
    try:
        rc, rows, err = run_hookdump(args.hookdump, path, args.timeout)
    except subprocess.TimeoutExpired:
        r.status, r.detail = "timeout", f"hookdump took longer than {args.timeout}s"
        return r
    r.hookdump_rc = rc
    if rc < 0 or rc not in (0, 1, 2):
        r.status = "crash"
        sig = f"signal {-rc} ({signal.Signals(-rc).name})" if rc < 0 else f"exit {rc}"
        r.detail = f"hookdump {sig}: {err.strip()[:300]}"
        return r
    if "ERROR: AddressSanitizer" in err or "runtime error:" in err:
        r.status, r.detail = "crash", "sanitizer report: " + err.strip()[:300]
        return r
    if rc == 2:
        r.status, r.detail = "unreadable", err.strip()[:200]
        return r
    if kind is None:  # read by libpcap but not by our header reader: should not happen
        r.status, r.detail = "unsupported-link", "unknown capture header"
        return r
    if rc == 1:
        r.detail = "hookdump exit 1 (read error): " + err.strip()[:200]
    r.rows = rows
    return r


def epoch_ns(text):
    """'SEC.NANOS' as printed by hookdump and tshark (tshark prints an out-of-range fraction
    in full, e.g. 1418145370.1000000000) -> integer nanoseconds, or None."""
    try:
        sec, _, frac = text.partition(".")
        return int(sec) * 10**9 + (int(frac) if len(frac) >= 9 else int(frac.ljust(9, "0")))
    except (AttributeError, ValueError):
        return None


def record_diff(row, fr):
    """Compares hookdump's csv row with tshark's frame: (same record, clipped, time differs).
    libpcap clips a record longer than the file's snap length to the snap length; wiretap
    keeps all its bytes, so hookdump may see fewer bytes of the same record."""
    h_cap, t_cap = to_int(row.get("caplen")), to_int((fr["frame.cap_len"] or [None])[0])
    h_ts, t_ts = epoch_ns(row.get("ts")), epoch_ns((fr["frame.time_epoch"] or [None])[0])
    if h_cap is None or t_cap is None or h_cap > t_cap:
        return False, False, h_ts != t_ts
    clipped = h_cap < t_cap
    time_differs = h_ts is None or h_ts != t_ts
    return not (clipped and time_differs), clipped, time_differs


def compare(r: Result, frames) -> None:
    rows = r.rows
    n = min(len(rows), len(frames))
    if len(rows) != len(frames):
        r.disagreements.append(("packet-count-mismatch", 0,
                                f"hookdump {len(rows)} packets, tshark {len(frames)}"))
    for i in range(n):
        h = hookdump_tuple(rows[i])
        fr = frames[i]
        same, clipped, time_differs = record_diff(rows[i], fr)
        r.misaligned += not same
        r.clipped += clipped
        r.time_differs += time_differs
        v = tshark_view(fr)
        r.compared += 1
        r.coverage.update(coverage(v))
        if (h.addr, h.proto, h.ports, h.icmp) == (v.t.addr, v.t.proto, v.t.ports, v.t.icmp):
            r.agreed += 1
            continue
        cat = classify(v, h)
        note = ("tshark: " + "; ".join(fr["_ws.expert.message"])) if fr["_ws.expert.message"] else ""
        if clipped:
            note = (f"libpcap clipped the record to the snap length: hookdump saw {rows[i]['caplen']} "
                    f"of {fr['frame.cap_len'][0]} bytes" + ("; " + note if note else ""))
        r.disagreements.append((cat, i + 1, f"`{':'.join(v.tokens)}` tshark {v.t!r}; hookdump {h!r}"
                                + (f" ({note})" if note else "")))
    r.rows = None


def tshark_one(r: Result, args) -> None:
    try:
        _, frames = run_tshark(args.tshark, r.path, args.tshark_timeout)
    except subprocess.TimeoutExpired:
        r.status, r.detail = "tshark-error", "tshark timed out"
        return
    compare(r, frames)


def tshark_batch(batch, args, tmpdir) -> int:
    """Dissects a batch of files with one tshark run over their concatenation (mergecap -a;
    tshark's start-up costs far more than dissecting a test capture). The frames are handed
    back to the files by hookdump's packet counts, and every frame's captured length and time
    must match hookdump's record, else each file of the batch is run on its own.
    Returns the number of tshark runs."""
    if len(batch) > 1 and args.mergecap:
        merged = os.path.join(tmpdir, f"batch-{id(batch):x}.pcapng")
        try:
            m = run([args.mergecap, "-a", "-I", "none", "-F", "pcapng", "-w", merged]
                    + [r.path for r in batch], args.tshark_timeout)
            if m.returncode == 0:
                _, frames = run_tshark(args.tshark, merged, args.tshark_timeout)
                if len(frames) == sum(len(r.rows) for r in batch):
                    pos, parts = 0, []
                    for r in batch:
                        parts.append(frames[pos:pos + len(r.rows)])
                        pos += len(r.rows)
                    if all(record_diff(row, fr)[0] for r, part in zip(batch, parts)
                           for row, fr in zip(r.rows, part)):
                        for r, part in zip(batch, parts):
                            compare(r, part)
                        return 1
        except subprocess.TimeoutExpired:
            pass
        finally:
            if os.path.exists(merged):
                os.unlink(merged)
    for r in batch:
        tshark_one(r, args)
    return 1 + len(batch) if len(batch) > 1 and args.mergecap else len(batch)


# --------------------------------------------------------------------------- report

def write_report(path, results, totals, elapsed, args):
    cats = collections.defaultdict(list)
    for r in results:
        for cat, num, desc in r.disagreements:
            cats[cat].append((r.name, num, desc))
    lines = ["# hookdump vs tshark corpus cross-check", ""]
    lines.append(f"Corpus: `{args.corpus}`  ")
    lines.append(f"tshark: {tshark_version(args.tshark)}  ")
    lines.append(f"Runtime: {elapsed:.1f} s with {args.jobs} workers")
    lines.append("")
    lines.append("| | count |")
    lines.append("|---|---:|")
    for k, val in totals.items():
        lines.append(f"| {k} | {val} |")
    lines.append("")
    lines.append("## Disagreements by category")
    lines.append("")
    if not cats:
        lines.append("None.")
    for cat in sorted(cats, key=lambda c: (-len(cats[c]), c)):
        items = cats[cat]
        files = collections.Counter(name for name, _, _ in items)
        kind = "by design" if cat in BY_DESIGN else "unexplained"
        lines.append(f"### {cat} ({len(items)}, {kind}, {len(files)} files)")
        lines.append("")
        if cat in BY_DESIGN:
            lines.append(BY_DESIGN[cat])
            lines.append("")
        shown = 0
        seen_files = set()
        for name, num, desc in items:
            if name in seen_files and shown >= 3:
                continue
            seen_files.add(name)
            lines.append(f"- `{name}` packet {num}: {desc}")
            shown += 1
            if shown >= args.examples:
                break
        lines.append("")
    with_dis = [r for r in results if r.disagreements]
    if with_dis:
        lines.append("## Files with disagreements")
        lines.append("")
        lines.append("| file | link type | compared | agreed | categories |")
        lines.append("|---|---|---:|---:|---|")
        for r in with_dis:
            bad = collections.Counter(c for c, _, _ in r.disagreements)
            lines.append(f"| `{r.name}` | {SUPPORTED_LINKTYPES.get(r.linktype, r.linktype)} | "
                         f"{r.compared} | {r.agreed} | "
                         + ", ".join(f"{c} {n}" for c, n in sorted(bad.items())) + " |")
        lines.append("")
    bad = [r for r in results if r.status in ("crash", "timeout", "tshark-error")]
    if bad:
        lines.append("## Failures")
        lines.append("")
        for r in bad:
            lines.append(f"- `{r.name}`: {r.status}: {r.detail}")
        lines.append("")
    unread = [r for r in results if r.status == "unreadable"]
    if unread:
        lines.append("## Files hookdump cannot read (exit 2, not counted)")
        lines.append("")
        for r in unread:
            lines.append(f"- `{r.name}`: {r.detail}")
        lines.append("")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def tshark_version(tshark):
    try:
        return run([tshark, "--version"], 30).stdout.decode().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("hookdump", help="path of the hookdump binary")
    ap.add_argument("corpus", help="directory of pcap/pcapng files")
    ap.add_argument("--report", help="write a markdown report to this path")
    ap.add_argument("--tshark", default="tshark")
    ap.add_argument("--mergecap", default="mergecap",
                    help="used to dissect files in batches; '' to run tshark once per file")
    ap.add_argument("--batch", type=int, default=40, help="files per tshark run")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=10.0, help="per-file hookdump timeout (s)")
    ap.add_argument("--tshark-timeout", type=float, default=120.0)
    ap.add_argument("--min-agreement", type=float, default=99.0, help="percent")
    ap.add_argument("--examples", type=int, default=8, help="examples per category in the report")
    ap.add_argument("--skip-missing", action="store_true",
                    help="exit 77 (skip) when the corpus or tshark is missing, unless CI=true")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every disagreement")
    ap.add_argument("files", nargs="*", help="only these file names from the corpus")
    args = ap.parse_intermixed_args()

    ci = os.environ.get("CI", "") == "true"
    if not os.path.isdir(args.corpus):
        if args.skip_missing and not ci:
            print("*" * 72)
            print(f"SKIP: corpus directory {args.corpus} not found; corpus_crosscheck not run")
            print("*" * 72)
            sys.exit(77)
        fail(f"corpus directory {args.corpus} not found" + (" (CI=true: not skipped)" if ci else ""))
    if not shutil.which(args.tshark):
        if args.skip_missing and not ci:
            print("*" * 72)
            print(f"SKIP: {args.tshark} not found (apt-get install tshark); corpus_crosscheck not run")
            print("*" * 72)
            sys.exit(77)
        fail(f"{args.tshark} not found")
    if not os.access(args.hookdump, os.X_OK):
        fail(f"{args.hookdump} is not executable")
    if args.mergecap and not shutil.which(args.mergecap):
        print(f"crosscheck: {args.mergecap} not found: running tshark once per file (slower)")
        args.mergecap = ""

    names = args.files or sorted(os.listdir(args.corpus))
    paths = [os.path.join(args.corpus, n) for n in names
             if os.path.isfile(os.path.join(args.corpus, n))]
    t0 = time.monotonic()
    jobs = max(1, args.jobs)
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
        results = list(ex.map(lambda p: run_hookdump_phase(p, args), paths))
        # Clean reads are dissected in batches; a file hookdump stopped reading early (exit 1)
        # on its own.
        clean = [r for r in results if r.rows is not None and r.hookdump_rc == 0]
        batches = [clean[i:i + args.batch] for i in range(0, len(clean), max(1, args.batch))]
        batches += [[r] for r in results if r.rows is not None and r.hookdump_rc != 0]
        with tempfile.TemporaryDirectory(prefix="hookdump-crosscheck-") as tmpdir:
            tshark_runs = sum(ex.map(lambda b: tshark_batch(b, args, tmpdir), batches))
    elapsed = time.monotonic() - t0

    cat_counts = collections.Counter()
    print("per file: name, link type, status, packets compared / agreed, disagreements by category")
    for r in results:
        bad = collections.Counter(c for c, _, _ in r.disagreements)
        cats = ", ".join(f"{c}={n}" for c, n in sorted(bad.items()))
        lt = SUPPORTED_LINKTYPES.get(r.linktype, f"linktype {r.linktype}")
        if r.status == "unsupported-link":
            print(f"  {r.name}: {lt}: not compared (link type not parsed by hookdump)")
            continue
        print(f"  {r.name}: {lt}: {r.status} {r.compared}/{r.agreed}"
              + (f" [{cats}]" if cats else "") + (f" ({r.detail})" if r.detail else ""))
        if args.verbose:
            for c, num, desc in r.disagreements:
                print(f"      #{num} {c}: {desc}")
        cat_counts.update(bad)

    compared = sum(r.compared for r in results)
    coverage_total = collections.Counter()
    for r in results:
        coverage_total.update(r.coverage)
    agreed = sum(r.agreed for r in results)
    status = collections.Counter(r.status for r in results)
    crashes = status["crash"] + status["timeout"]
    pct = 100.0 * agreed / compared if compared else 0.0
    count_mismatch = cat_counts.pop("packet-count-mismatch", 0)
    design = sum(n for c, n in cat_counts.items() if c in BY_DESIGN)
    unexplained = sum(n for c, n in cat_counts.items() if c not in BY_DESIGN)

    totals = collections.OrderedDict([
        ("files", len(results)),
        ("files compared", sum(1 for r in results if r.status == "ok")),
        ("files with unsupported link type", status["unsupported-link"]),
        ("files hookdump cannot read (exit 2)", status["unreadable"]),
        ("hookdump crashes / timeouts", crashes),
        ("tshark errors", status["tshark-error"]),
        ("tshark runs", tshark_runs),
        ("packets that look like different records in the two tools", sum(r.misaligned for r in results)),
        ("packets clipped to the snap length by libpcap, not by wiretap", sum(r.clipped for r in results)),
        ("packets whose timestamps differ", sum(r.time_differs for r in results)),
        ("files with a packet count mismatch", count_mismatch),
        ("packets compared", compared),
        *((f"  with {k} (per tshark)", n) for k, n in sorted(coverage_total.items())),
        ("packets agreed", agreed),
        ("agreement %", f"{pct:.3f}"),
        ("disagreements by design", design),
        ("disagreements unexplained", unexplained),
    ])
    print()
    print("by link type: files, packets compared / agreed")
    per_lt = collections.defaultdict(lambda: [0, 0, 0])
    for r in results:
        if r.status == "ok":
            e = per_lt[SUPPORTED_LINKTYPES.get(r.linktype, str(r.linktype))]
            e[0] += 1
            e[1] += r.compared
            e[2] += r.agreed
    for lt, (nf, nc, na) in sorted(per_lt.items()):
        print(f"  {lt:12s} {nf:4d} files {nc:6d}/{na}")
    print()
    print("disagreements by category:")
    for c, n in sorted(cat_counts.items(), key=lambda x: (-x[1], x[0])):
        print(f"  {c:40s} {n:6d}  {'by design' if c in BY_DESIGN else 'UNEXPLAINED'}")
    for k, val in totals.items():
        print(f"{k}: {val}")
    if args.report:
        write_report(args.report, results, totals, elapsed, args)
    ok = (compared > 0 and pct >= args.min_agreement and crashes == 0 and unexplained == 0
          and count_mismatch == 0 and status["tshark-error"] == 0)
    for r in results:
        for c, num, desc in r.disagreements:
            if c not in BY_DESIGN:
                print(f"FAIL {r.name}" + (f" packet {num}" if num else "") + f": {c}: {desc}")
        if r.status in ("crash", "timeout", "tshark-error"):
            print(f"FAIL {r.name}: {r.status}: {r.detail}")
    print(f"SUMMARY: {'PASS' if ok else 'FAIL'}: {agreed}/{compared} packets agree ({pct:.2f}%, "
          f"threshold {args.min_agreement}%), {design} by-design and {unexplained} unexplained "
          f"disagreements, {count_mismatch} files with a packet count mismatch, {crashes} crashes, "
          f"{status['tshark-error']} tshark errors, {status['ok']} files compared, "
          f"{status['unreadable']} unreadable, {status['unsupported-link']} unsupported link types, "
          f"{elapsed:.1f}s")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

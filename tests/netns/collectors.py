"""Real IPFIX collectors as test oracles: nfdump's nfcapd (decoded with `nfdump -R DIR -o
json`) and pmacct's nfacctd (print plugin, JSON lines), each started inside a test namespace
(only lo up, so ports cannot collide with anything) and stopped by the test that started it,
also on failure (they are in the Topology's process list, killed when its `with` ends);
and the messages themselves on the wire, as tshark's IPFIX dissector decodes them (`Wire`).

Neither collector takes IPFIX over TCP, so `TcpRelay` (this file run as a program) accepts
the exporter's TCP connections and hands every message it reads off the stream, whole and
unchanged, to a collector's UDP port: the collector decodes exactly the bytes sent over TCP.
"""

import datetime
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time

import netns

NFCAPD_PORT = 9995
NFACCTD_PORT = 9996
RELAY_PORT = 4739


class Daemon:
    """A process in a namespace; kill() is what Topology.close() calls."""

    def __init__(self, topo, ns, cmd, name, stop_signal=signal.SIGTERM, env=None):
        self.name = name
        self.stop_signal = stop_signal
        self.log_path = topo.path(name + ".log")
        self._log = open(self.log_path, "wb")
        full_env = dict(os.environ, TZ="UTC", **(env or {}))
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns] + cmd, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=full_env, preexec_fn=netns._die_with_parent)
        topo.procs.append(self)

    def log(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait_log(self, text, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited ({self.proc.returncode}): {self.log()}")
            time.sleep(0.05)
        raise AssertionError(f"{self.name}: no '{text}' within {timeout}s: {self.log()}")

    def stop(self, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(self.stop_signal)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"{self.name} did not stop on {self.stop_signal!r}: {self.log()}")
        self._log.close()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self._log.closed:
            self._log.close()


def _ms(text, fmt):
    t = datetime.datetime.strptime(text, fmt).replace(tzinfo=datetime.timezone.utc)
    return round(t.timestamp() * 1000)


class Nfcapd(Daemon):
    def __init__(self, topo, ns, port=NFCAPD_PORT, name="nfcapd", bind="127.0.0.1"):
        self.dir = topo.path(name + ".d")
        os.makedirs(self.dir)
        family = ["-6"] if ":" in bind else []
        super().__init__(topo, ns, ["nfcapd"] + family + ["-w", self.dir, "-b", bind, "-p", str(port)],
                         name)
        self.wait_log("Startup nfcapd.")

    def flows(self):
        """Stops nfcapd (which writes its file) and returns (flows, sequence failures)."""
        self.stop()
        r = subprocess.run(["nfdump", "-R", self.dir, "-o", "json"], capture_output=True,
                           text=True, env=dict(os.environ, TZ="UTC"), timeout=120)
        if r.returncode != 0:
            raise AssertionError(f"nfdump -R failed ({r.returncode}): {r.stderr}")
        out = []
        for f in json.loads(r.stdout or "[]"):
            icmp = "icmp_type" in f
            out.append({
                "proto": f["proto"],
                "src": f.get("src4_addr") or f.get("src6_addr"),
                "dst": f.get("dst4_addr") or f.get("dst6_addr"),
                "sport": 0 if icmp else f["src_port"],
                "dport": 0 if icmp else f["dst_port"],
                "icmp": (f["icmp_type"], f["icmp_code"]) if icmp else None,
                "packets": f["in_packets"],
                "octets": f["in_bytes"],
                "start_ms": _ms(f["first"], "%Y-%m-%dT%H:%M:%S.%f"),
                "end_ms": _ms(f["last"], "%Y-%m-%dT%H:%M:%S.%f"),
                "in_if": f.get("input_snmp", 0),
                "out_if": f.get("output_snmp", 0),
                "direction": f.get("direction", 0),
            })
        r = subprocess.run(["nfdump", "-R", self.dir, "-I"], capture_output=True, text=True,
                           timeout=60)
        seq = [int(l.split(":")[1]) for l in r.stdout.splitlines() if l.startswith("Sequence failures:")]
        if len(seq) != 1:
            raise AssertionError(f"nfdump -I: no 'Sequence failures:' line: {r.stdout}{r.stderr}")
        return out, seq[0]


class Nfacctd(Daemon):
    def __init__(self, topo, ns, port=NFACCTD_PORT, name="nfacctd"):
        self.out = topo.path(name + ".jsonl")
        conf = topo.path(name + ".conf")
        with open(conf, "w") as f:
            f.write("\n".join([
                "daemonize: false",
                "nfacctd_ip: 127.0.0.1",
                f"nfacctd_port: {port}",
                "plugins: print[p]",
                "print_output[p]: json",
                f"print_output_file[p]: {self.out}",
                "print_output_file_append[p]: true",
                "print_refresh_time[p]: 1",
                "print_num_protos[p]: true",
                "aggregate[p]: src_host, dst_host, src_port, dst_port, proto, timestamp_start, timestamp_end",
                "timestamps_secs: false",
                "timestamps_utc: true",
                "",
            ]))
        # pmacct stops cleanly (plugins purge their caches) on SIGINT.
        super().__init__(topo, ns, ["nfacctd", "-f", conf], name, stop_signal=signal.SIGINT)
        self.wait_log("waiting for NetFlow/IPFIX data")

    def flows(self, expect=0, timeout=15):
        """Waits until the print plugin has written `expect` records (it writes every second),
        stops nfacctd and returns what it wrote."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._lines() < expect:
            time.sleep(0.2)
        self.stop()
        out = []
        if not os.path.exists(self.out):
            return out
        with open(self.out) as f:
            for line in f:
                if not line.strip():
                    continue
                j = json.loads(line)
                out.append({
                    "proto": int(j["ip_proto"]),
                    "src": j["ip_src"],
                    "dst": j["ip_dst"],
                    "sport": j["port_src"],
                    "dport": j["port_dst"],
                    "packets": j["packets"],
                    "octets": j["bytes"],
                    "start_ms": _ms(j["timestamp_start"], "%Y-%m-%d %H:%M:%S.%f"),
                    "end_ms": _ms(j["timestamp_end"], "%Y-%m-%d %H:%M:%S.%f"),
                })
        return out


    def _lines(self):
        if not os.path.exists(self.out):
            return 0
        with open(self.out) as f:
            return sum(1 for l in f if l.strip())


class Wire(Daemon):
    """The export on the wire: tcpdump on the namespace's lo keeps every datagram to `port`,
    and tshark's IPFIX dissector (`-d udp.port==PORT,cflow`, an implementation nobody here
    wrote) decodes them. flows() checks what holds for every message whatever the records
    (version 10, the length the datagram has, within the MTU, a template known before its
    data, sequence numbers that count the data records sent before, nothing malformed);
    flows() returns the records as the other collectors' dicts, after those checks."""

    END_REASONS = {1: "idle", 2: "active", 3: "fin", 4: "end", 5: "evicted"}

    def __init__(self, topo, ns, port, name="wire"):
        self.port = port
        self.pcap = topo.path(name + ".pcap")
        super().__init__(topo, ns, ["tcpdump", "-i", "lo", "--immediate-mode", "-U", "-B", "8192",
                                    "-w", self.pcap,
                                    "udp", "dst", "port", str(port)], name,
                         stop_signal=signal.SIGINT)
        self.wait_log("listening on lo")

    def _packets(self):
        time.sleep(0.3)  # immediate mode: what was sent is read by then
        self.stop()
        counts = {m.group(2): int(m.group(1)) for m in
                  re.finditer(r"^(\d+) packets? (captured|received by filter|dropped by kernel)$",
                              self.log(), re.M)}
        # (On lo the filter sees each datagram twice, sent and received; libpcap keeps one.
        # What reached the file is checked by the sequence numbers and the records.)
        if len(counts) != 3 or counts["dropped by kernel"]:
            raise AssertionError(f"tcpdump dropped datagrams: {self.log()}")
        r = subprocess.run(["tshark", "-r", self.pcap, "-d", f"udp.port=={self.port},cflow",
                            "-T", "json", "--no-duplicate-keys"], capture_output=True,
                           text=True, timeout=300)
        if r.returncode != 0:
            raise AssertionError(f"tshark failed ({r.returncode}): {r.stderr}")
        return json.loads(r.stdout or "[]")

    def flows(self, mtu=1500):
        """Checks every message, then returns the data records as flow dicts."""
        next_seq = {}
        out = []
        for n, p in enumerate(self._packets(), 1):
            layers = p["_source"]["layers"]
            bad = _find_keys(layers, ("_ws.malformed", "_ws.expert"))
            if bad:
                raise AssertionError(f"message {n}: tshark says {bad}")
            c = layers["cflow"]
            udp_len = int(layers["udp"]["udp.length"]) - 8
            if (int(c["cflow.version"]), int(c["cflow.len"])) != (10, udp_len):
                raise AssertionError(f"message {n}: version {c['cflow.version']}, length "
                                     f"{c['cflow.len']} in a {udp_len}-byte datagram")
            ip_len = int(layers["ip"]["ip.len"]) if "ip" in layers else \
                int(layers["ipv6"]["ipv6.plen"]) + 40
            if ip_len > mtu:
                raise AssertionError(f"message {n}: {ip_len} bytes > MTU {mtu}")
            domain = int(c["cflow.od_id"])
            seq = int(c["cflow.sequence"])
            if seq != next_seq.get(domain, 0):
                raise AssertionError(f"message {n}: sequence {seq}, "
                                     f"{next_seq.get(domain, 0)} data records sent before")
            in_msg = 0
            for name, s in c.items():
                if not name.startswith("Set ") or int(s["cflow.flowset_id"]) < 256:
                    continue
                if "cflow.template_frame" not in s:
                    raise AssertionError(f"message {n}: {name} before its template")
                for k, f in s.items():
                    if k.startswith("Flow "):
                        out.append(self._flow(f))
                        in_msg += 1
            next_seq[domain] = seq + in_msg
        return out

    @classmethod
    def _flow(cls, f):
        proto = int(f["cflow.protocol"])
        icmp = None
        if "cflow.icmp_type_code_ipv4" in f:
            tc = int(f["cflow.icmp_type_code_ipv4"], 0)
            icmp = (tc >> 8, tc & 0xff)
        elif "cflow.icmp_ipv6_type" in f:
            icmp = (int(f["cflow.icmp_ipv6_type"]), int(f["cflow.icmp_ipv6_code"]))
        times = f["cflow.timedelta_tree"]
        return {
            "proto": proto,
            "src": f.get("cflow.srcaddr") or f.get("cflow.srcaddrv6"),
            "dst": f.get("cflow.dstaddr") or f.get("cflow.dstaddrv6"),
            "sport": int(f.get("cflow.srcport", 0)),
            "dport": int(f.get("cflow.dstport", 0)),
            "icmp": icmp,
            "packets": int(f["cflow.packets"]),
            "octets": int(f["cflow.octets"]),
            "start_ms": _tshark_ms(times["cflow.abstimestart"]),
            "end_ms": _tshark_ms(times["cflow.abstimeend"]),
            "end": cls.END_REASONS.get(int(f["cflow.flow_end_reason"]), "?"),
            "in_if": int(f["cflow.inputint"]) if "cflow.inputint" in f else None,
            "out_if": int(f["cflow.outputint"]) if "cflow.outputint" in f else None,
            "direction": int(f["cflow.direction"]) if "cflow.direction" in f else None,
            "point": int(f["cflow.observation_point_id"])
            if "cflow.observation_point_id" in f else None,
            # Enterprise elements tshark has no name for (hookdump's process, PEN 32473): each
            # one's bytes, in the template's order.
            "private": [bytes.fromhex(v.replace(":", "")) for v in
                        _as_list(f.get("cflow.enterprise_private_entry", []))],
        }


def _as_list(v):
    return v if isinstance(v, list) else [v]


def _find_keys(tree, names):
    """The keys among `names` anywhere in tshark's JSON tree."""
    found = []
    if isinstance(tree, dict):
        for k, v in tree.items():
            if k in names:
                found.append((k, v))
            found += _find_keys(v, names)
    elif isinstance(tree, list):
        for v in tree:
            found += _find_keys(v, names)
    return found


def _tshark_ms(text):
    """'Nov 14, 2023 22:13:20.001000000 UTC' -> milliseconds (tshark prints nanoseconds)."""
    date, _, frac = " ".join(text.split()[:4]).partition(".")
    return _ms(date + "." + frac[:6], "%b %d, %Y %H:%M:%S.%f")


class TcpRelay(Daemon):
    """IPFIX over TCP in, the same messages as UDP datagrams out (see the module's text)."""

    def __init__(self, topo, ns, udp_port, port=RELAY_PORT, name="relay"):
        super().__init__(topo, ns, [sys.executable, os.path.abspath(__file__), "relay",
                                    str(port), str(udp_port)], name)
        self.wait_log("relay listening")

    def counts(self, connections=1, timeout=30):
        """Waits until `connections` connections have ended, stops the relay and returns
        (connections, messages) it relayed."""
        self.wait_log(f"connection {connections} closed", timeout)
        self.stop()
        last = [l for l in self.log().splitlines() if l.startswith("relayed ")]
        if not last:
            raise AssertionError(f"relay: no summary: {self.log()}")
        _, conns, _, msgs, _ = last[-1].split()
        return int(conns), int(msgs)


def _relay_main(port, udp_port):
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", port))
    lst.listen(4)
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out.connect(("127.0.0.1", udp_port))
    counts = {"conns": 0, "msgs": 0}

    def done(*_):
        print(f"relayed {counts['conns']} connections, {counts['msgs']} messages", flush=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, done)
    print("relay listening", flush=True)
    while True:
        conn, _ = lst.accept()
        counts["conns"] += 1
        print(f"connection {counts['conns']} open", flush=True)
        buf = b""
        while True:
            data = conn.recv(65536)
            if not data:
                break
            buf += data
            while len(buf) >= 4:
                version, length = struct.unpack("!HH", buf[:4])
                if version != 10 or length < 16:
                    print(f"relay: bad message header {buf[:4].hex()}", flush=True)
                    os._exit(1)
                if len(buf) < length:
                    break
                out.send(buf[:length])
                counts["msgs"] += 1
                buf = buf[length:]
                # nfcapd's socket buffer is small: a message at a time, as UDP would have come.
                time.sleep(0.0002)
        conn.close()
        print(f"connection {counts['conns']} closed", flush=True)


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "relay":
    _relay_main(int(sys.argv[2]), int(sys.argv[3]))

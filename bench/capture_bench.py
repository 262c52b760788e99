#!/usr/bin/env python3
"""Live capture benchmark: hookdump (AF_PACKET, tc, XDP; packets and flows) against tcpdump and
netsniff-ng.

One run, the same traffic for every tool: 64-byte UDP frames over a veth pair between two
network namespaces (198.18.0.0/15), sent by trafgen pinned to CPU 0; the capture runs in the
receiving namespace pinned to CPU 1, with the same snap length and ring size, writing pcap to
tmpfs (flow rows: flow records, csv). The frames go to a MAC address no interface has, so the
receiving stack drops them right after the tap: only capture work is measured. The receive path
(tap, tc ingress, XDP) runs in softirq on CPU 0, on the back of trafgen's sends.

Scenarios (--scenarios, comma-separated; default fixed,sweep,flat,budget):
  fixed   a fixed count at a rate every tool keeps up with; interleaved rounds; medians, and the
          median of the per-round ratios (tools compared within the same round). With the
          "none" row (the same traffic, nothing capturing) in the rounds: whole-machine CPU and
          each tool's capture overhead (its run's whole-machine CPU minus none's, per packet)
  sweep   a ladder of trafgen --rate rates, a few interleaved rounds each; a tool's loss-free
          rate is the highest rate at which it lost nothing in every round, at that rate and
          every lower one (a tool that lost is not run at higher rates)
  flat    trafgen flat out (no rate limit), fixed count; loss, CPU per packet, overheads
  budget  every capture process under the same CPU budget (cgroup v1 CFS quota, a child
          cgroup of /sys/fs/cgroup/cpu made and removed here), evenly paced traffic (trafgen
          --gap ladder): each tool's highest loss-free rate under that budget
  attrib  the capture overhead attributed, not subtracted: the fixed traffic under a
          system-wide `perf record -e cpu-clock -a -g` (a sample every 100 us of CPU); a
          sample is the capture's when it is in the capture process, or when its kernel stack
          holds a function that runs only because a capture is attached (AF_PACKET's taps,
          the tc ingress hook and classifier, generic XDP, hookdump's BPF programs). Kernel
          ns/packet + process ns/packet = the capture's whole-machine overhead, without the
          no-capture run's noise (what it leaves out: cache effects on the rest of the path)

For each tool: sent, captured, dropped (the tool's own report), a check (the veth delivered
every frame; the file holds what the tool's ledger says it captured; flow rows: the packets of
the flow records add up to it), capture-process CPU seconds (its threads' schedstat),
whole-machine CPU seconds (/proc/stat: wall time minus idle, iowait and steal, every CPU), CPU
per packet, and ratios to tcpdump and netsniff-ng. Prints markdown tables, writes JSON. The load
average before and after is recorded: other jobs on the host disturb absolute numbers.

  bench/capture_bench.py [--hookdump build/hookdump] [--tools none,tcpdump,...] [--loss-tools ...]
                         [--scenarios fixed,sweep,flat,budget,attrib] [--rounds 5] [--count 500000]
                         [--attrib-rounds 3] [--rate 100000pps] [--sweep-rates 100k,200k,...] [--sweep-seconds 1]
                         [--flat-count 1000000] [--budget PCT] [--budget-period-ms MS]
                         [--budget-ring-mib MIB] [--budget-gaps 40us,...] [--budget-seconds S]
                         [--rt PRIO] [--compare NAME=PATH] [--json bench/out/capture.json]
  bench/capture_bench.py --profile hookdump [--count 1000000 --rate 200000pps]
                         (one capture under `perf record -g`; prints the top of the profile)

A tool is one entry of TOOLS below (its command line, what it writes, how to read its drop
count, and its ring for the record): adding a row is adding an entry.
Needs root, trafgen and netsniff-ng (Debian's netsniff-ng package), tcpdump, capinfos, bpftool.
"""
import argparse
import csv
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

# Unique per run (other benchmarks and tests may run at the same time).
_TAG = f"{os.getpid() % 100000}"
NS_TX, NS_RX = f"hdbench-{_TAG}-tx", f"hdbench-{_TAG}-rx"
IF_TX, IF_RX = f"hdb{_TAG}t", f"hdb{_TAG}r"
SNAPLEN = 262144
RING_MIB = 8
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _first_int(pattern, text):
    m = re.search(pattern, text)
    return int(m.group(1)) if m else None


# Every tool gets the same interface, snap length (262144), ring size (8 MiB), output (pcap on
# tmpfs) and filter ("udp", run in the kernel). Block layout and timeouts are each tool's own
# (what its options give for an 8 MiB ring); "ring" records them.
TOOLS = [
    {
        "name": "tcpdump",
        "argv": lambda c: ["tcpdump", "-i", c["iface"], "-n", "-s", str(SNAPLEN), "-B", str(c["ring_mib"] * 1024),
                           "-w", c["out"], "udp"],
        "drops": lambda err: _first_int(r"(\d+) packets dropped by kernel", err),
        "ring": "libpcap TPACKET_V3: 32 blocks of 256 KiB, block timeout 1000 ms (tcpdump's pcap timeout)",
    },
    {
        "name": "netsniff-ng",
        "argv": lambda c: ["netsniff-ng", "--in", c["iface"], "--out", c["out"], "--silent", "--notouch-irq",
                           "--ring-size", f"{c['ring_mib']}MiB", "-T", "0xa1b2c3d4", "udp"],
        "drops": lambda err: _first_int(r"(\d+)\s+packets failed filter \(out of space\)", err),
        "ring": "TPACKET_V3: 128 blocks of 64 KiB, block timeout 100 ms; frames up to 2048 bytes (no snap length option); its default "
                "pcap writer",
    },
    {
        "name": "hookdump",
        "argv": lambda c: [c["hookdump"], "capture", "--engine", "afpacket", "-i", c["iface"], "-q", "-s", str(SNAPLEN),
                           "--block-size", str(c["ring_mib"] * 1024 // 8), "--ring-blocks", "8", "-w", c["out"], "udp"],
        "drops": lambda err: _first_int(r"(\d+) dropped by kernel", err),
        "ring": "TPACKET_V3: 8 blocks of 1 MiB, block timeout 50 ms (hookdump's defaults)",
    },
    {
        "name": "hookdump-proc",
        "argv": lambda c: [c["hookdump"], "capture", "--engine", "afpacket", "-i", c["iface"], "-q", "-s", str(SNAPLEN),
                           "--block-size", str(c["ring_mib"] * 1024 // 8), "--ring-blocks", "8", "--proc",
                           "-w", c["out"], "udp"],
        "drops": lambda err: _first_int(r"(\d+) dropped by kernel", err),
        "ring": "as hookdump, with --proc (the endpoint looked up in userspace; no socket has it: a miss, kept 100 ms)",
    },
    {
        # The same with a UDP socket bound at the frames' destination (198.18.0.2:9) by a process
        # started before the capture (seeded from sock_diag): every lookup finds it.
        "name": "hookdump-proc-bound", "bind_udp": ("198.18.0.2", 9),
        "argv": lambda c: [c["hookdump"], "capture", "--engine", "afpacket", "-i", c["iface"], "-q", "-s", str(SNAPLEN),
                           "--block-size", str(c["ring_mib"] * 1024 // 8), "--ring-blocks", "8", "--proc",
                           "-w", c["out"], "udp"],
        "drops": lambda err: _first_int(r"(\d+) dropped by kernel", err),
        "ring": "as hookdump-proc, the destination a bound socket's (found; kept while the programs' change count holds)",
    },
    {
        # Flows only at the tap: every packet read from the ring into the userspace flow table
        # (what --engine auto ran for --flows before tc's in-kernel flow mode was its pick).
        "name": "hookdump-flows", "kind": "flows",
        "argv": lambda c: [c["hookdump"], "capture", "--engine", "afpacket", "-i", c["iface"], "-q", "-s", str(SNAPLEN),
                           "--block-size", str(c["ring_mib"] * 1024 // 8), "--ring-blocks", "8",
                           "--flows=" + c["out"], "udp"],
        "drops": lambda err: _first_int(r"(\d+) dropped by kernel", err),
        "ring": "TPACKET_V3: 8 blocks of 1 MiB, block timeout 50 ms; flow records (csv) at exit",
    },
]


def _bpf_tool(name, engine_args, flows, ring):
    """hookdump's tc or XDP engine: packet mode writes the same pcap as the others; flow mode
    counts 5-tuples in the kernel's per-CPU hash and writes the flow records (csv) at exit."""
    out = ["--flows=" + "{out}"] if flows else ["-w", "{out}"]
    return {
        "name": name, "kind": "flows" if flows else "pcap",
        "argv": lambda c: [c["hookdump"], "capture", "--engine"] + engine_args + ["-i", c["iface"], "-q", "-s", str(SNAPLEN)]
                          + [a.format(out=c["out"]) for a in out] + ["udp"],
        "drops": lambda err: _first_int(r"(\d+) dropped by kernel", err),
        "ring": ring,
    }


_BPF_RING = "BPF ring buffer of 16 MiB (fixed in the engine; one record per packet: header + bytes up to snaplen)"
_BPF_FLOWS = "no ring: a per-CPU hash of 5-tuples (65536 entries) read once a second and at exit"
TOOLS += [
    _bpf_tool("hookdump-tc", ["tc", "--direction", "in"], False, _BPF_RING),
    _bpf_tool("hookdump-tc-flows", ["tc", "--direction", "in"], True, _BPF_FLOWS),
    _bpf_tool("hookdump-xdp", ["xdp", "--xdp-mode", "generic"], False, _BPF_RING),
    _bpf_tool("hookdump-xdp-flows", ["xdp", "--xdp-mode", "generic"], True, _BPF_FLOWS),
    # Not in the default list: native XDP on veth switches the receiving veth to its NAPI path
    # (ptr_ring + veth_poll), so the difference to "none" is not the program's cost alone.
    _bpf_tool("hookdump-xdp-native", ["xdp", "--xdp-mode", "native"], False, _BPF_RING),
    _bpf_tool("hookdump-xdp-native-flows", ["xdp", "--xdp-mode", "native"], True, _BPF_FLOWS),
    # Process attribution (capture --proc, issue 17) on against off: the cgroup programs at
    # the cgroup2 root; tc looks each packet up in the kernel, AF_PACKET in userspace.
    _bpf_tool("hookdump-tc-proc", ["tc", "--direction", "in", "--proc"], False, _BPF_RING),
    # The same traffic with nothing capturing: the base the whole-machine overheads are taken from.
    {"name": "none", "kind": "none", "argv": None, "drops": lambda err: None, "ring": "no capture"},
]
for _t in TOOLS:
    _t.setdefault("kind", "pcap")
DEFAULT_TOOLS = ["none", "tcpdump", "netsniff-ng", "hookdump", "hookdump-tc", "hookdump-tc-flows", "hookdump-xdp",
                 "hookdump-xdp-flows"]
# Scenarios about loss (sweep, budget): the tools with a per-packet userspace path.
DEFAULT_LOSS_TOOLS = ["tcpdump", "netsniff-ng", "hookdump"]
TOOL_BY_NAME = {t["name"]: t for t in TOOLS}
RINGS_SEEN = {}  # tool -> the kernel's view of its ring (ss -0 -e)
RT_PRIO = 0  # --rt: every capture runs SCHED_FIFO at this priority


def sh(*args, check=True, **kw):
    return subprocess.run(args, check=check, text=True, capture_output=True, **kw)


def setup():
    teardown()
    sh("ip", "netns", "add", NS_TX)
    sh("ip", "netns", "add", NS_RX)
    sh("ip", "link", "add", IF_TX, "netns", NS_TX, "type", "veth", "peer", "name", IF_RX, "netns", NS_RX)
    sh("ip", "-n", NS_TX, "addr", "add", "198.18.0.1/24", "dev", IF_TX)
    sh("ip", "-n", NS_RX, "addr", "add", "198.18.0.2/24", "dev", IF_RX)
    for ns, dev in ((NS_TX, IF_TX), (NS_RX, IF_RX)):
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
           f"net.ipv6.conf.{dev}.disable_ipv6=1", check=False)
        sh("ip", "-n", ns, "link", "set", dev, "up")


def teardown():
    for ns in (NS_TX, NS_RX):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def trafgen_conf(path):
    # Ethernet to 02:00:00:00:00:99 (nobody), IPv4 198.18.0.1 -> 198.18.0.2, UDP 4000 -> 9;
    # 64 bytes on the wire without FCS (60 + padding to 64 as trafgen writes it).
    with open(path, "w") as f:
        f.write("""{
  0x02, 0x00, 0x00, 0x00, 0x00, 0x99,  0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  0x08, 0x00,
  0x45, 0x00, const16(50), 0x00, 0x01, 0x40, 0x00, 0x40, 0x11, csumip(14, 33),
  198, 18, 0, 1,  198, 18, 0, 2,
  const16(4000), const16(9), const16(30), 0x00, 0x00,
  fill(0x61, 22),
}
""")


def proc_cpu(pid):
    """(user+sys CPU seconds of every thread of pid at ns resolution (schedstat), user s, sys s)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
            total += int(f.read().split()[0])
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return total / 1e9, int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def stat_snapshot():
    """(monotonic seconds, {cpuN: [user, nice, system, idle, iowait, irq, softirq, steal] in s})."""
    t0 = time.monotonic()
    with open("/proc/stat") as f:
        lines = f.readlines()
    t = (t0 + time.monotonic()) / 2
    cpus = {}
    for line in lines:
        if line.startswith("cpu") and line[3].isdigit():
            parts = line.split()
            cpus[parts[0]] = [int(x) / CLK_TCK for x in parts[1:9]]
    return t, cpus


def machine_delta(a, b):
    """Whole-machine busy CPU seconds between two snapshots: for every CPU, wall time minus the
    idle, iowait and steal time the kernel measured (with NO_HZ the idle time is clocked, not
    sampled; /proc/stat shows it in 10 ms units). The softirq seconds are the tick-sampled
    counter (the receive path that runs on the back of trafgen's send is counted there)."""
    wall = b[0] - a[0]
    per_cpu, busy, softirq = {}, 0.0, 0.0
    for cpu, after in b[1].items():
        d = [y - x for x, y in zip(a[1][cpu], after)]
        cpu_busy = max(wall - d[3] - d[4] - d[7], 0.0)
        per_cpu[cpu] = {"busy_s": round(cpu_busy, 3), "softirq_s": round(d[6], 3), "steal_s": round(d[7], 3)}
        busy += cpu_busy
        softirq += d[6]
    return {"wall_s": round(wall, 3), "busy_s": round(busy, 3), "softirq_s": round(softirq, 3), "per_cpu": per_cpu}


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def _holds_tcx_link(pid, ifindex):
    """The process holds a tcx link on the device (its fdinfo says link_type tcx, ifindex N)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fdinfo")
    except OSError:
        return False
    for fd in fds:
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                info = f.read()
        except OSError:
            continue
        if re.search(r"^link_type:\s*tcx$", info, re.M) and re.search(rf"^ifindex:\s*{ifindex}$", info, re.M):
            return True
    return False


def wait_bound(pid, kind, timeout=20.0):
    """Until the capture is attached: an AF_PACKET socket bound to the capture interface, or for
    the tc/XDP engines the readiness line ("listening on") they print once attached."""
    ifindex = sh("ip", "netns", "exec", NS_RX, "cat", f"/sys/class/net/{IF_RX}/ifindex").stdout.strip()
    end = time.time() + timeout
    while time.time() < end:
        if kind == "bpf":
            # the program is attached when something is: tc filter or XDP on the device
            out = sh("ip", "netns", "exec", NS_RX, "bpftool", "net", "show", "dev", IF_RX, check=False).stdout
            if f"hookdump:{pid}" in out or re.search(r"\(\d+\) (generic|driver) id \d+", out):
                return True
            if _holds_tcx_link(pid, ifindex):  # tcx (6.6+): a link, not a filter (bpftool 7.1 shows none)
                return True
        else:
            try:
                with open(f"/proc/{pid}/net/packet") as f:
                    for line in f.readlines()[1:]:
                        parts = line.split()
                        if parts[3] == "0003" and parts[4] == ifindex:
                            return True
            except OSError:
                pass
        time.sleep(0.05)
    return False


def wait_settled(pid, timeout=10.0):
    """Until the process's CPU time stops growing (< 1 ms in 100 ms)."""
    end = time.time() + timeout
    last = proc_cpu(pid)[0]
    while time.time() < end:
        time.sleep(0.1)
        now = proc_cpu(pid)[0]
        if now - last < 0.001:
            return
        last = now


def count_packets(path):
    out = sh("capinfos", "-c", "-M", path, check=False).stdout
    m = re.search(r"Number of packets:\s+(\d+)", out)
    return int(m.group(1)) if m else 0


def count_flow_packets(path):
    """Packets summed over the flow records (hookdump's csv flow writer)."""
    total = 0
    with open(path) as f:
        rows = list(csv.reader(f))
    if not rows:
        return 0
    col = rows[0].index("packets")
    for r in rows[1:]:
        total += int(r[col])
    return total


def rx_packets():
    """The receiving veth's rx counter (what reached the receive path)."""
    out = sh("ip", "netns", "exec", NS_RX, "cat", f"/sys/class/net/{IF_RX}/statistics/rx_packets", check=False).stdout
    return int(out) if out.strip().isdigit() else None


def trafgen(conf, count, rate):
    """`rate`: None (flat out), "Npps" (trafgen's --rate: its TX ring sends each second's frames in
    one burst at full speed, then waits), or "gap:Nns" (--gap: one sendto a frame, a sleep between
    them: evenly paced, at a lower top rate)."""
    tx = ["ip", "netns", "exec", NS_TX, "taskset", "-c", "0", "trafgen", "--dev", IF_TX, "--conf", conf,
          "--num", str(count), "--cpus", "1", "--no-cpu-stats", "-q"]
    if rate and rate.startswith("gap:"):
        tx += ["--gap", rate[4:]]
    elif rate:
        tx += ["--rate", rate]
    return sh(*tx)


def calibrate_gaps(conf, gaps_ns):
    """The rate trafgen reaches at each --gap (its sleeps overshoot): {gap: pps}."""
    rates = {}
    for g in gaps_ns:
        n = min(max(int(0.4e9 / g), 2000), 100000)
        t0 = time.monotonic()
        trafgen(conf, n, f"gap:{g}ns")
        rates[g] = n / (time.monotonic() - t0)
    return rates


class CpuBudget:
    """A child cgroup of the cgroup v1 cpu controller with a CFS quota: the capture process is
    moved in once it is attached (its start-up is not throttled) and moved out when the window
    ends. Removed at exit, also on failure."""

    ROOT = "/sys/fs/cgroup/cpu"

    def __init__(self, pct, period_ms):
        self.period_us = int(period_ms * 1000)
        self.quota_us = int(round(self.period_us * pct / 100))
        if self.quota_us < 1000:
            raise SystemExit(f"capture_bench: a {pct}% budget of a {period_ms} ms period is a quota under the kernel's "
                             "1 ms minimum: use a longer --budget-period-ms")
        if not os.path.exists(os.path.join(self.ROOT, "cpu.cfs_quota_us")):
            raise SystemExit(f"capture_bench: no cgroup v1 cpu controller with CFS bandwidth at {self.ROOT}")
        self.path = os.path.join(self.ROOT, f"hdbench-{_TAG}")
        os.mkdir(self.path)
        CLEANUP.append(self.remove)
        self._write("cpu.cfs_period_us", self.period_us)
        self._write("cpu.cfs_quota_us", self.quota_us)

    def _write(self, name, value, base=None):
        with open(os.path.join(base or self.path, name), "w") as f:
            f.write(f"{value}\n")

    def enter(self, pid):
        self._write("cgroup.procs", pid)

    def leave(self, pid):
        try:
            self._write("cgroup.procs", pid, self.ROOT)
        except OSError:
            pass  # already gone

    def stat(self):
        with open(os.path.join(self.path, "cpu.stat")) as f:
            return {k: int(v) for k, v in (line.split() for line in f if line.strip())}

    def remove(self):
        if not os.path.isdir(self.path):
            return
        with open(os.path.join(self.path, "cgroup.procs")) as f:
            for pid in f.read().split():
                self.leave(pid)
        for _ in range(50):
            try:
                os.rmdir(self.path)
                return
            except OSError:
                time.sleep(0.1)
        print(f"capture_bench: could not remove {self.path}", file=sys.stderr)


CLEANUP = []  # callables run at exit (cgroup, live captures), also on a signal
LIVE = {}  # pid -> Popen of captures running now


def kill_live():
    for p in list(LIVE.values()):
        if p.poll() is None:
            p.kill()
            p.wait()
    LIVE.clear()


# Kernel functions that run only because a capture is attached: AF_PACKET's receive taps, the tc
# ingress hook with its classifier (nothing else in the benchmark uses tc), generic XDP, and
# hookdump's BPF programs (their JIT symbols, bpf_prog_<tag>_<name>). A sample with one of them on
# its kernel stack is capture work done in softirq on the sender's CPU.
CAPTURE_FRAMES = re.compile(r"^(tpacket_rcv|packet_rcv|packet_rcv_spkt|sch_handle_ingress|tc_run|tcx_run|tcf_classify|"
                            r"do_xdp_generic|bpf_prog_[0-9a-f]+_hd_\w+)$")
ATTRIB_PERIOD_NS = 100000  # perf's cpu-clock sampling period


def perf_attribute(script_text, cap_pid):
    """Samples of `perf script -F comm,pid,ip,sym` sorted into the capture process's, the
    capture's kernel work (CAPTURE_FRAMES on the stack), other busy CPU, and idle."""
    counts = {"process": 0, "kernel": 0, "other": 0, "idle": 0}
    frames = {}
    pid, stack = None, []

    def close():
        if pid is None:
            return
        if pid == cap_pid:
            counts["process"] += 1
        elif pid == 0:
            counts["idle"] += 1
        else:
            hit = next((f for f in stack if CAPTURE_FRAMES.match(f)), None)
            counts["kernel" if hit else "other"] += 1
            if hit:
                frames[hit] = frames.get(hit, 0) + 1

    for line in script_text.splitlines():
        if not line.strip():
            close()
            pid, stack = None, []
        elif line[0] in " \t":
            parts = line.split()
            if len(parts) >= 2:
                stack.append(parts[1].split("+")[0])
        else:
            close()
            stack = []
            try:
                pid = int(line.split()[-1])
            except ValueError:
                pid = None
    close()
    return counts, frames


def run_one(tool, hookdump, count, rate, workdir, perf_data=None, budget=None, ring_mib=RING_MIB, attrib=False):
    """One capture of `count` frames at `rate` (None: flat out). The CPU window starts 0.3 s after
    the capture is attached and ends 1.5 s after trafgen returns (every tool has written its last
    block by then: tcpdump's block timeout, 1000 ms, is the longest); "none" runs the same traffic
    and the same window with nothing capturing."""
    kind = tool["kind"]
    out = os.path.join(workdir, f"{tool['name']}.{'csv' if kind == 'flows' else 'pcap'}")
    conf = os.path.join(workdir, "udp.cfg")
    rx0 = rx_packets()
    cap = None
    holder = None
    try:
        if tool.get("bind_udp"):
            addr, port = tool["bind_udp"]
            holder = subprocess.Popen(["ip", "netns", "exec", NS_RX, "python3", "-c",
                                       f"import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                                       f"s.bind(('{addr}',{port}))\nprint('bound',flush=True)\nsys.stdin.read()"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            holder.stdout.readline()
        if kind != "none":
            argv = tool["argv"]({"iface": IF_RX, "out": out, "hookdump": hookdump, "ring_mib": ring_mib})
            # --proc finds the cgroup2 mount in its mount namespace: `ip netns exec` hides the
            # host's under its own /sys, so it is mounted again there (the same hierarchy).
            remount = ["sh", "-c", 'mount -t cgroup2 none /sys/fs/cgroup && exec "$@"', "sh"] if "--proc" in argv else []
            cmd = ["ip", "netns", "exec", NS_RX] + remount + ["taskset", "-c", "1"] + (["chrt", "-f", str(RT_PRIO)] if RT_PRIO else []) + argv
            cap = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            LIVE[cap.pid] = cap
            # `ip netns exec` execs the tool: the PID is the capture's own
            engine = argv[argv.index("--engine") + 1] if "--engine" in argv else None
            is_bpf = engine in ("tc", "xdp")
            if not wait_bound(cap.pid, "bpf" if is_bpf else "afpacket"):
                cap.kill()
                raise RuntimeError(f"{tool['name']} did not start: {cap.communicate()[1]}")
            key = f"{tool['name']} {ring_mib} MiB"
            if kind == "pcap" and not is_bpf and key not in RINGS_SEEN:
                # the ring as the kernel set it up (ss reads PACKET_DIAG), for the record
                ss = sh("ip", "netns", "exec", NS_RX, "ss", "-0", "-e", "-p", check=False).stdout
                m = re.search(r"ring_rx\(([^)]*)\)", ss)
                RINGS_SEEN[key] = m.group(1) if m else "?"
            # Start-up done (after binding, some tools still map and touch their ring, open
            # files...): under a budget that work would eat the first seconds of the quota.
            wait_settled(cap.pid)
            if budget:
                budget.enter(cap.pid)
        perf = None
        if perf_data and cap:
            perf = subprocess.Popen(["perf", "record", "-g", "-F", "4999", "-o", perf_data, "-p", str(cap.pid)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        attrib_data = os.path.join(workdir, "attrib.data") if attrib else None
        if attrib_data:
            perf = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-c", str(ATTRIB_PERIOD_NS), "-a", "-g",
                                     "-o", attrib_data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)  # perf's own start-up out of the window
        time.sleep(0.3)
        cg0 = budget.stat() if budget else None
        cpu0, u0, s0 = proc_cpu(cap.pid) if cap else (0, 0, 0)
        m0 = stat_snapshot()
        trafgen(conf, count, rate)
        send_s = time.monotonic() - m0[0]
        time.sleep(1.5)
        m1 = stat_snapshot()
        cpu1, u1, s1 = proc_cpu(cap.pid) if cap else (0, 0, 0)
        cg1 = budget.stat() if budget else None
        if budget:
            budget.leave(cap.pid)
        late_s = 0.0
        if cap:
            # A tool still working through its ring (a loaded host, a budget) would stop at
            # SIGINT without draining it (tcpdump does): let it finish first, and say so.
            wait_settled(cap.pid, timeout=30.0)
            late_s = proc_cpu(cap.pid)[0] - cpu1
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait(timeout=60)
        err = ""
        if cap:
            cap.send_signal(signal.SIGINT)
            out_text, err = cap.communicate(timeout=60)
            err = out_text + err
    finally:
        if holder:
            holder.stdin.close()
            holder.wait(timeout=10)
        if cap:
            if budget:
                budget.leave(cap.pid)
            if cap.poll() is None:
                cap.kill()
                cap.wait()
            LIVE.pop(cap.pid, None)
    rx1 = rx_packets()
    machine = machine_delta(m0, m1)
    captured = ledger = None
    if kind == "pcap":
        captured = count_packets(out)
    elif kind == "flows":
        captured = count_flow_packets(out)
    if kind != "none":
        os.unlink(out)
        ledger = _first_int(r"(\d+) packets captured", err)
    delivered = rx1 - rx0 if rx0 is not None and rx1 is not None else None
    # What must hold: the veth delivered every frame, and the tool's file holds what its own
    # ledger says it captured (flow mode: the flow records' packets add up to it).
    problems = []
    if delivered is not None and delivered != count:
        problems.append(f"veth delivered {delivered} of {count}")
    if captured is not None and ledger is not None and captured != ledger:
        problems.append(f"file has {captured}, ledger says {ledger}")
    dropped = tool["drops"](err)
    if captured is not None and captured + (dropped or 0) != count:
        problems.append(f"sent {count} != captured {captured} + dropped {dropped or 0}")
    if late_s > 0.005:
        problems.append(f"still working {late_s * 1000:.0f} ms of CPU after the window (not in its CPU numbers)")
    row = {
        "tool": tool["name"], "sent": count, "rate": rate or "flat", "captured": captured, "ledger_captured": ledger,
        "dropped": dropped, "lost": None if captured is None else count - captured, "delivered": delivered,
        "check": "; ".join(problems) or "ok", "sent_pps": round(count / send_s),
        "cpu_s": round(cpu1 - cpu0, 4), "user_s": round(u1 - u0, 2), "sys_s": round(s1 - s0, 2),
        "machine_cpu_s": machine["busy_s"], "softirq_s": machine["softirq_s"], "machine": machine,
        "seconds": machine["wall_s"],
        "cpu_ns_per_packet": round((cpu1 - cpu0) * 1e9 / count, 1) if cap else None,
        "machine_ns_per_packet": round(machine["busy_s"] * 1e9 / count, 1),
        "softirq_ns_per_packet": round(machine["softirq_s"] * 1e9 / count, 1),
        "stderr_tail": err.strip().splitlines()[-3:],
    }
    if budget:
        row["cgroup"] = {k: cg1[k] - cg0[k] for k in ("nr_periods", "nr_throttled", "throttled_time") if k in cg1}
    if attrib_data:
        text = sh("perf", "script", "-i", attrib_data, "-F", "comm,pid,ip,sym", check=False).stdout
        os.unlink(attrib_data)
        counts, frames = perf_attribute(text, cap.pid if cap else -1)
        per = ATTRIB_PERIOD_NS / count
        row.update({"attrib_samples": counts, "attrib_frames": frames,
                    "attrib_kernel_ns_per_packet": round(counts["kernel"] * per, 1),
                    "attrib_process_ns_per_packet": round(counts["process"] * per, 1),
                    "attrib_ns_per_packet": round((counts["kernel"] + counts["process"]) * per, 1)})
        if tool["kind"] == "none" and counts["kernel"]:
            problems.append(f"{counts['kernel']} capture samples with nothing capturing")
            row["check"] = "; ".join(problems)
    return row


def rounds_of(tools, rounds, fn):
    """Every tool once per round, the order rotated from round to round."""
    rows = []
    for r in range(rounds):
        k = r % len(tools)
        for t in tools[k:] + tools[:k]:
            row = fn(t)
            row["round"] = r
            rows.append(row)
            extra = f" throttled {row['cgroup']['nr_throttled']}/{row['cgroup']['nr_periods']} periods" if "cgroup" in row else ""
            print(f"  round {r} {row['tool']:18} rate {row['rate']:>10} (sent {row['sent_pps']} pps) captured "
                  f"{row['captured']}/{row['sent']} dropped {row['dropped']} cpu {row['cpu_ns_per_packet']} ns/pkt "
                  f"machine {row['machine_ns_per_packet']} ns/pkt{extra} [{row['check']}]", file=sys.stderr)
    return rows


SUMMARY_KEYS = ("sent", "captured", "dropped", "lost", "cpu_s", "user_s", "sys_s", "machine_cpu_s", "softirq_s",
                "cpu_ns_per_packet", "machine_ns_per_packet", "softirq_ns_per_packet", "overhead_ns_per_packet",
                "attrib_kernel_ns_per_packet", "attrib_process_ns_per_packet", "attrib_ns_per_packet")


def _ratios(rows, tool, ref, key):
    """The ratio of `key` to the reference tool's within each round: (median, [min, max])."""
    ratios = []
    for r in rows:
        if r["tool"] != tool or r.get(key) is None:
            continue
        base = [b for b in rows if b["tool"] == ref and b["round"] == r["round"]]
        # an overhead at or under zero (the no-capture run's noise was larger) gives no ratio
        if base and base[0].get(key) and base[0][key] > 0:
            ratios.append(r[key] / base[0][key])
    if not ratios:
        return None, None
    return round(statistics.median(ratios), 3), [round(min(ratios), 3), round(max(ratios), 3)]


def summarize(rows, names):
    # Whole-machine capture overhead: this run's busy CPU minus the no-capture run's of the same
    # round, per packet sent.
    for r in rows:
        base = [b for b in rows if b["tool"] == "none" and b["round"] == r["round"]]
        if base and r["tool"] != "none":
            r["overhead_ns_per_packet"] = round((r["machine_cpu_s"] - base[0]["machine_cpu_s"]) * 1e9 / r["sent"], 1)
    med = {}
    refs = [r for r in ("tcpdump", "netsniff-ng") if r in names]
    for t in names:
        rs = [r for r in rows if r["tool"] == t]
        med[t] = {}
        for k in SUMMARY_KEYS:
            vals = [r[k] for r in rs if r.get(k) is not None]
            med[t][k] = statistics.median(vals) if vals else None
        rng = [r["overhead_ns_per_packet"] for r in rs if r.get("overhead_ns_per_packet") is not None]
        med[t]["overhead_range"] = [min(rng), max(rng)] if rng else None
        med[t]["checks"] = sorted({r["check"] for r in rs})
        for ref in refs:
            med[t][f"cpu_ratio_to_{ref}"], med[t][f"cpu_ratio_to_{ref}_range"] = _ratios(rows, t, ref, "cpu_ns_per_packet")
            med[t][f"overhead_ratio_to_{ref}"], med[t][f"overhead_ratio_to_{ref}_range"] = _ratios(
                rows, t, ref, "overhead_ns_per_packet")
            med[t][f"attrib_ratio_to_{ref}"], med[t][f"attrib_ratio_to_{ref}_range"] = _ratios(
                rows, t, ref, "attrib_ns_per_packet")
    return med


def _fmt(v, spec):
    return "" if v is None else format(v, spec)


def _ratio_cell(m, key):
    if m.get(key) is None:
        return ""
    lo, hi = m[key + "_range"]
    return f"{m[key]} ({lo}-{hi})"


def table(title, med, names, rows):
    """Two tables: the capture process's CPU, and the whole machine's (the tc/XDP engines' work
    is in softirq on the sender's CPU, so only the second one shows it)."""
    refs = [r for r in ("tcpdump", "netsniff-ng") if r in names]
    lines = [f"### {title}", "", "Capture process (its threads' CPU; per packet sent):", "",
             "| tool | sent | captured | dropped | check | capture CPU s (user/sys) | CPU ns/packet | "
             + " | ".join(f"vs {r} (range)" for r in refs) + " |",
             "|---|---:|---:|---:|---|---:|---:|" + "---:|" * len(refs)]
    for t in names:
        m = med[t]
        if t == "none":
            continue
        lines.append(f"| {t} | {m['sent']:.0f} | {_fmt(m['captured'], '.0f')} | {_fmt(m['dropped'], '.0f')} | "
                     f"{', '.join(m['checks'])} | {m['cpu_s']:.3f} ({m['user_s']:.2f}/{m['sys_s']:.2f}) | "
                     f"{_fmt(m['cpu_ns_per_packet'], '.0f')} | "
                     + " | ".join(_ratio_cell(m, f"cpu_ratio_to_{r}") for r in refs) + " |")
    if "none" in names:
        lines += ["", "Whole machine (/proc/stat, every CPU: wall time minus idle, iowait and steal; per packet sent). "
                  "Overhead = this run's minus the no-capture run's of the same round:", "",
                  "| tool | machine CPU s | machine ns/packet | softirq ns/packet (sampled) | overhead ns/packet (range) | "
                  + " | ".join(f"overhead vs {r} (range)" for r in refs) + " |",
                  "|---|---:|---:|---:|---:|" + "---:|" * len(refs)]
        for t in names:
            m = med[t]
            ov = "" if m["overhead_ns_per_packet"] is None else \
                f"{m['overhead_ns_per_packet']:.0f} ({m['overhead_range'][0]:.0f} to {m['overhead_range'][1]:.0f})"
            lines.append(f"| {t} | {m['machine_cpu_s']:.2f} | {m['machine_ns_per_packet']:.0f} | "
                         f"{m['softirq_ns_per_packet']:.0f} | {ov} | "
                         + " | ".join(_ratio_cell(m, f"overhead_ratio_to_{r}") for r in refs) + " |")
        busy = [r["machine"]["busy_s"] / (r["machine"]["wall_s"] * len(r["machine"]["per_cpu"]))
                for r in rows if r["tool"] == "none"]
        if busy and max(busy) > 0.7:
            lines += ["", f"**Warning**: with no capture the machine was already {max(busy):.0%} busy in a round "
                      "(other jobs): the overheads are within that noise and mean nothing here."]
        lines += goal_lines(med, names, "overhead_ratio_to_tcpdump", "whole-machine overhead")
    return "\n".join(lines)


def goal_lines(med, names, key, what):
    """Issue 5's goals for the tc/XDP rows: flow mode <= 0.3x tcpdump's overhead, packets <= 1x."""
    goals = []
    for t in names:
        ratio = med[t].get(key)
        if ratio is None or not t.startswith("hookdump-"):
            continue
        limit = 0.3 if t.endswith("-flows") else 1.0
        goals.append(f"{t} {ratio} ({'met' if ratio <= limit else 'missed'}, goal <= {limit})")
    if not goals:
        return []
    return ["", f"Goals ({what} vs tcpdump's, median of the per-round ratios): " + "; ".join(goals)]


def attrib_table(title, med, names, rows):
    refs = [r for r in ("tcpdump", "netsniff-ng") if r in names]
    lines = [f"### {title}", "",
             "| tool | captured | check | kernel ns/packet | process ns/packet | overhead ns/packet (range) | "
             + " | ".join(f"vs {r} (range)" for r in refs) + " |",
             "|---|---:|---|---:|---:|---:|" + "---:|" * len(refs)]
    for t in names:
        m = med[t]
        if t == "none":
            m = dict(m, **{f"attrib_ratio_to_{r}": None for r in refs})
        vals = [r["attrib_ns_per_packet"] for r in rows if r["tool"] == t]
        lines.append(f"| {t} | {_fmt(m['captured'], '.0f')} | {', '.join(m['checks'])} | "
                     f"{m['attrib_kernel_ns_per_packet']:.0f} | {m['attrib_process_ns_per_packet']:.0f} | "
                     f"{m['attrib_ns_per_packet']:.0f} ({min(vals):.0f}-{max(vals):.0f}) | "
                     + " | ".join(_ratio_cell(m, f"attrib_ratio_to_{r}") for r in refs) + " |")
    frames = {}
    for r in rows:
        for f, n in r.get("attrib_frames", {}).items():
            frames.setdefault(r["tool"], {}).setdefault(f, 0)
            frames[r["tool"]][f] += n
    lines += ["", "Kernel samples by the first capture frame on the stack (all rounds): " + "; ".join(
        f"{t}: " + ", ".join(f"{f} {n}" for f, n in sorted(fr.items(), key=lambda x: -x[1])) for t, fr in frames.items())]
    lines += goal_lines(med, names, "attrib_ratio_to_tcpdump", "attributed overhead")
    return "\n".join(lines)


def parse_rate(s):
    s = s.strip().lower().replace("pps", "")
    mult = 1
    if s.endswith("k"):
        s, mult = s[:-1], 1000
    elif s.endswith("m"):
        s, mult = s[:-1], 1000000
    return int(float(s) * mult)


def sweep(tools, rates, seconds, rounds, run, counts=None):
    """Every tool at every rate of the ladder, a few interleaved rounds a rate. A tool's loss-free
    rate is the highest rate at which it lost nothing in every round, at that rate and every
    lower one; once it has lost it is not run at higher rates. The sweep ends when every tool has
    lost, or where the sender cannot go faster (`sender_limited`)."""
    rows = []
    best = {t["name"]: 0 for t in tools}
    active = list(tools)
    sender_limited = None
    for rate in rates:
        if counts:  # paced by --gap: `rate` is the gap in ns, the count from its calibrated rate
            count = counts[rate]
            pace = f"gap:{rate}ns"
        else:
            count = max(int(rate * seconds), 1000)
            pace = f"{rate}pps"
        rs = rounds_of(active, rounds, lambda t: run(t, count, pace))
        # the step's rate: the asked one with --rate, the achieved one (median) with --gap
        step_pps = statistics.median(r["sent_pps"] for r in rs) if counts else rate
        for r in rs:
            r["rate_pps"] = round(step_pps)
            r["asked"] = f"gap {rate} ns" if counts else f"{rate} pps"
        rows += rs
        for t in list(active):
            if all(r["lost"] == 0 for r in rs if r["tool"] == t["name"]):
                best[t["name"]] = round(step_pps)
            else:
                active.remove(t)
        if not active:
            break
        # The sender is the limit: higher asked rates would send at the same rate.
        if not counts and statistics.median(r["sent_pps"] for r in rs) < 0.8 * rate:
            sender_limited = rate
            break
    return rows, best, sender_limited


def parse_gap_ns(s):
    s = s.strip().lower()
    for unit, mult in (("ns", 1), ("us", 1000), ("ms", 1000000)):
        if s.endswith(unit):
            return int(float(s[:-len(unit)]) * mult)
    return int(float(s) * 1000)  # trafgen's default unit: us


def sweep_tables(title, s, names, rounds):
    lines = [f"### {title}", "", "| tool | loss-free rate (pps) | vs tcpdump |", "|---|---:|---:|"]
    for n in names:
        base = s["loss_free_pps"].get("tcpdump")
        ratio = round(s["loss_free_pps"][n] / base, 2) if base else None
        still = " (no loss at the highest rate run: a lower bound)" if all(
            r["lost"] == 0 for r in s["rows"] if r["tool"] == n) else ""
        lines.append(f"| {n} | {s['loss_free_pps'][n]}{still} | {ratio} |")
    if s.get("sender_limited"):
        lines.append(f"\nThe sweep stopped at {s['sender_limited']} pps: trafgen sent below 0.8x the asked rate "
                     "(the sender is the limit).")
    steps = list(dict.fromkeys(r["asked"] for r in s["rows"]))
    lines += ["", f"rounds without loss at each rate (packets lost in the others; - : not run, it lost at a lower "
              f"rate); trafgen's rate as achieved (median):", "",
              "| asked | sent at (pps) | " + " | ".join(names) + " |",
              "|---:|---:|" + "---|" * len(names)]
    for step in steps:
        achieved = statistics.median(r["sent_pps"] for r in s["rows"] if r["asked"] == step)
        cells = []
        for n in names:
            rs = [r for r in s["rows"] if r["tool"] == n and r["asked"] == step]
            lost = [str(r["lost"]) for r in rs if r["lost"]]
            cells.append((f"{sum(1 for r in rs if not r['lost'])}/{len(rs)}" + (f" ({', '.join(lost)})" if lost else ""))
                         if rs else "-")
        lines.append(f"| {step} | {achieved:.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def profile(tool, a, workdir):
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    data = os.path.join(os.path.dirname(a.json), f"perf-{tool['name']}.data")
    row = run_one(tool, a.hookdump, a.count, a.rate, workdir, perf_data=data)
    print(json.dumps(row, indent=1))
    rep = sh("perf", "report", "-i", data, "--stdio", "--no-children", "--percent-limit", "0.7",
             "--sort", "sym", "-g", "none", check=False).stdout
    print("\n".join(l for l in rep.splitlines() if l and not l.startswith("#")))
    print(f"\nperf data: {data} (perf report -i {data})")


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through the finally blocks: captures, cgroup, namespaces


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--hookdump", default=os.path.join(root, "build", "hookdump"))
    ap.add_argument("--tools", default=",".join(DEFAULT_TOOLS), help="rows of fixed and flat")
    ap.add_argument("--loss-tools", default=",".join(DEFAULT_LOSS_TOOLS), help="rows of sweep and budget")
    ap.add_argument("--scenarios", default="fixed,sweep,flat,budget")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--attrib-rounds", type=int, default=3)
    ap.add_argument("--count", type=int, default=500000)
    ap.add_argument("--rate", default="100000pps")
    ap.add_argument("--sweep-rates", default="100k,200k,300k,400k,500k,600k,700k,800k,1000k,1200k")
    ap.add_argument("--sweep-seconds", type=float, default=1.0)
    ap.add_argument("--sweep-rounds", type=int, default=2)
    ap.add_argument("--flat-count", type=int, default=1000000)
    ap.add_argument("--flat-rounds", type=int, default=3)
    ap.add_argument("--budget", type=float, default=1.0, metavar="PCT",
                    help="budget: CPU share of one CPU every capture process gets (cgroup v1 CFS quota)")
    ap.add_argument("--budget-period-ms", type=float, default=100.0,
                    help="budget: the CFS period (the quota is PCT of it; at least 1 ms)")
    ap.add_argument("--budget-ring-mib", type=int, default=4, help="budget: every tool's ring size")
    ap.add_argument("--budget-gaps", default="20us,10us,5us,3us,2us,1.3us,0.8us,0.5us,0.3us",
                    help="budget: trafgen --gap ladder (evenly paced frames), slowest first")
    ap.add_argument("--budget-seconds", type=float, default=4.0)
    ap.add_argument("--budget-rounds", type=int, default=2)
    ap.add_argument("--compare", metavar="NAME=[ROW:]PATH", action="append", default=[],
                    help="one more row like ROW (default hookdump) running the binary PATH (two builds in the same rounds)")
    ap.add_argument("--rt", type=int, default=0, metavar="PRIO",
                    help="run every capture SCHED_FIFO at PRIO (chrt -f), so that other jobs on a busy host "
                         "do not decide the loss (not with the budget scenario)")
    ap.add_argument("--profile", metavar="TOOL", help="profile one capture of TOOL with perf record -g")
    ap.add_argument("--json", default=os.path.join(root, "bench", "out", "capture.json"))
    a = ap.parse_args()
    global RT_PRIO
    RT_PRIO = a.rt
    scenarios = a.scenarios.split(",")
    unknown = set(scenarios) - {"fixed", "sweep", "flat", "budget", "attrib"}
    if unknown:
        sys.exit(f"capture_bench: unknown scenario {', '.join(sorted(unknown))} (fixed, sweep, flat, budget, attrib)")
    if a.rt and "budget" in scenarios:
        sys.exit("capture_bench: --rt and the budget scenario exclude each other (a SCHED_FIFO task cannot join a "
                 "cgroup without RT runtime, and would not be bound by the CFS quota)")
    if "budget" in scenarios and not os.path.exists(os.path.join(CpuBudget.ROOT, "cpu.cfs_quota_us")):
        sys.exit(f"capture_bench: the budget scenario needs the cgroup v1 cpu controller with CFS bandwidth at "
                 f"{CpuBudget.ROOT} (or leave it out: --scenarios fixed,sweep,flat)")
    for t in ("trafgen", "netsniff-ng", "tcpdump", "capinfos", "taskset", "bpftool") + (("perf",) if "attrib" in scenarios else ()):
        if not shutil.which(t):
            sys.exit(f"capture_bench: {t} is missing (scripts/bootstrap installs it)")
    if os.cpu_count() < 2:
        sys.exit("capture_bench: needs 2 CPUs (sender and capture pinned apart)")
    for spec in a.compare:
        name, path = spec.split("=", 1)
        base = "hookdump"
        if ":" in path and path.split(":", 1)[0] in TOOL_BY_NAME:  # ROW:PATH, e.g. hookdump-tc:old/hookdump
            base, path = path.split(":", 1)
        row = dict(TOOL_BY_NAME[base], name=name)
        base_argv = row["argv"]
        row["argv"] = lambda c, base_argv=base_argv, path=path: base_argv(dict(c, hookdump=os.path.abspath(path)))
        TOOLS.append(row)
        TOOL_BY_NAME[name] = row
        a.tools += "," + name
        a.loss_tools += "," + name
    try:
        tools = [TOOL_BY_NAME[n] for n in a.tools.split(",")]
        loss_tools = [TOOL_BY_NAME[n] for n in a.loss_tools.split(",") if n != "none"]
    except KeyError as e:
        sys.exit(f"capture_bench: unknown tool {e} (known: {', '.join(TOOL_BY_NAME)})")
    names = [t["name"] for t in tools]
    loss_names = [t["name"] for t in loss_tools]
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    workdir = tempfile.mkdtemp(prefix="hdbench-", dir="/dev/shm")
    argv_of = lambda t: t["argv"]({"iface": "IFACE", "out": "OUT", "hookdump": "hookdump", "ring_mib": RING_MIB}) \
        if t["argv"] else []
    result = {"snaplen": SNAPLEN, "ring_mib": RING_MIB, "frame_bytes": 64,
              "tools": {t["name"]: {"argv": argv_of(t), "ring": t["ring"]} for t in tools + loss_tools},
              "loadavg_before": loadavg(), "rt_prio": a.rt}
    try:
        setup()
        trafgen_conf(os.path.join(workdir, "udp.cfg"))
        if a.profile:
            profile(TOOL_BY_NAME[a.profile], a, workdir)
            return
        if "fixed" in scenarios:
            rows = rounds_of(tools, a.rounds, lambda t: run_one(t, a.hookdump, a.count, a.rate, workdir))
            result["fixed"] = {"count": a.count, "rate": a.rate, "rounds": rows, "median": summarize(rows, names)}
            result["loadavg_after_fixed"] = loadavg()
        if "sweep" in scenarios:
            rows, best, limited = sweep(loss_tools, [parse_rate(r) for r in a.sweep_rates.split(",")], a.sweep_seconds,
                                        a.sweep_rounds, lambda t, n, rate: run_one(t, a.hookdump, n, rate, workdir))
            result["sweep"] = {"rates": a.sweep_rates, "seconds": a.sweep_seconds, "rounds_per_rate": a.sweep_rounds,
                               "rows": rows, "loss_free_pps": best, "sender_limited": limited}
            result["loadavg_after_sweep"] = loadavg()
        if "flat" in scenarios:
            rows = rounds_of(tools, a.flat_rounds, lambda t: run_one(t, a.hookdump, a.flat_count, None, workdir))
            result["flat"] = {"count": a.flat_count, "rounds": rows, "median": summarize(rows, names)}
            result["loadavg_after_flat"] = loadavg()
        if "attrib" in scenarios:
            rows = rounds_of(tools, a.attrib_rounds,
                             lambda t: run_one(t, a.hookdump, a.count, a.rate, workdir, attrib=True))
            result["attrib"] = {"count": a.count, "rate": a.rate, "period_ns": ATTRIB_PERIOD_NS, "rounds": rows,
                                "median": summarize(rows, names)}
            result["loadavg_after_attrib"] = loadavg()
        if "budget" in scenarios:
            gaps = [parse_gap_ns(g) for g in a.budget_gaps.split(",")]
            paced = calibrate_gaps(os.path.join(workdir, "udp.cfg"), gaps)
            counts = {g: max(int(paced[g] * a.budget_seconds), 1000) for g in gaps}
            budget = CpuBudget(a.budget, a.budget_period_ms)
            try:
                rows, best, limited = sweep(
                    loss_tools, gaps, a.budget_seconds, a.budget_rounds,
                    lambda t, n, rate: run_one(t, a.hookdump, n, rate, workdir, budget=budget,
                                               ring_mib=a.budget_ring_mib), counts=counts)
            finally:
                budget.remove()
            result["budget"] = {"cpu_pct": a.budget, "period_us": budget.period_us, "quota_us": budget.quota_us,
                                "ring_mib": a.budget_ring_mib, "gaps_ns": gaps,
                                "calibrated_pps": {g: round(p) for g, p in paced.items()}, "seconds": a.budget_seconds,
                                "rounds_per_rate": a.budget_rounds, "rows": rows, "loss_free_pps": best,
                                "sender_limited": limited}
    finally:
        kill_live()
        for fn in reversed(CLEANUP):
            fn()
        teardown()
        shutil.rmtree(workdir, ignore_errors=True)
    result["loadavg_after"] = loadavg()
    result["rings_seen"] = RINGS_SEEN
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump(result, f, indent=1)
    print(f"load average before {result['loadavg_before']}, after {result['loadavg_after']}\n")
    if "fixed" in result:
        print(table(f"(a) fixed count {a.count} at {a.rate}, median of {a.rounds} interleaved rounds",
                    result["fixed"]["median"], names, result["fixed"]["rounds"]))
        print()
    if "sweep" in result:
        print(sweep_tables(f"(b) rate sweep: highest rate with zero loss in all {a.sweep_rounds} rounds "
                           f"({a.sweep_seconds:g} s of traffic a round)", result["sweep"], loss_names, a.sweep_rounds))
        print()
    if "flat" in result:
        print(table(f"(c) flat out, {a.flat_count} frames, median of {a.flat_rounds} rounds",
                    result["flat"]["median"], names, result["flat"]["rounds"]))
        print("\nflat-out rounds (sent rate, lost):",
              "; ".join(f"{r['tool']} {r['sent_pps']} pps lost {r['lost']}" for r in result["flat"]["rounds"]
                        if r["tool"] != "none"))
        print()
    if "attrib" in result:
        print(attrib_table(f"(e) capture overhead attributed by perf (a sample every {ATTRIB_PERIOD_NS // 1000} us of "
                           f"CPU), {a.count} frames at {a.rate}, median of {a.attrib_rounds} interleaved rounds",
                           result["attrib"]["median"], names, result["attrib"]["rounds"]))
        print()
    if "budget" in result:
        b = result["budget"]
        print(sweep_tables(f"(d) the same CPU budget for every capture process: {a.budget:g}% of a CPU (CFS quota "
                           f"{b['quota_us']} us every {b['period_us']} us), {a.budget_ring_mib} MiB rings, "
                           f"{a.budget_seconds:g} s of traffic a round, {a.budget_rounds} rounds a rate",
                           b, loss_names, a.budget_rounds))
        thr = [f"{r['tool']} {r['asked']}: {r['cgroup'].get('nr_throttled')}/{r['cgroup'].get('nr_periods')}"
               for r in b["rows"] if r["round"] == 0 and "cgroup" in r]
        print("\nperiods throttled / periods with the capture runnable (round 0 of each step): " + ", ".join(thr))
        print()
    print("rings as the kernel set them up (ss -0 -e):")
    for n, r in RINGS_SEEN.items():
        print(f"  {n}: {r}")
    print(f"\nJSON: {a.json}")


if __name__ == "__main__":
    main()

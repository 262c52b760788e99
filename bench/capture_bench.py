#!/usr/bin/env python3
"""Live capture benchmark: hookdump (AF_PACKET, 1 worker) against tcpdump and netsniff-ng.

One run, the same traffic for every tool: 64-byte UDP frames over a veth pair between two
network namespaces (198.18.0.0/15), sent by trafgen pinned to CPU 0; the capture runs in the
receiving namespace pinned to CPU 1, with the same snap length and ring size, writing pcap to
tmpfs. The frames go to a MAC address no interface has, so the receiving stack drops them right
after the tap: only capture work is measured.

Scenarios:
  fixed   a fixed count at a rate every tool keeps up with; interleaved rounds; medians
  flat    trafgen flat out (no rate limit), fixed count; loss and CPU per packet

For each tool: sent, captured, dropped (the tool's own report), capture-process CPU seconds
(the process's threads' schedstat), whole-machine CPU seconds (from /proc/stat), CPU per
packet, and ratios to tcpdump and netsniff-ng. Prints a markdown table, writes JSON.

  bench/capture_bench.py [--hookdump build/hookdump] [--rounds 5] [--count 200000]
                         [--rate 50kpps] [--flat-count 2000000] [--json bench/out/capture.json]
Needs root, trafgen and netsniff-ng (Debian's netsniff-ng package) and tcpdump.
"""
import argparse
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

NS_TX, NS_RX = "hdbench-tx", "hdbench-rx"
IF_TX, IF_RX = "hdb-tx", "hdb-rx"
SNAPLEN = 262144
RING_MIB = 8
CLK_TCK = os.sysconf("SC_CLK_TCK")


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
    """CPU seconds of every thread of pid, at nanosecond resolution (schedstat)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
            total += int(f.read().split()[0])
    return total / 1e9


def machine_cpu():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / CLK_TCK


def tool_cmd(tool, hookdump, out):
    if tool == "tcpdump":
        return ["tcpdump", "-i", IF_RX, "-n", "-s", str(SNAPLEN), "-B", str(RING_MIB * 1024), "-w", out, "udp"]
    if tool == "netsniff-ng":
        return ["netsniff-ng", "--in", IF_RX, "--out", out, "--silent", "--notouch-irq",
                "--ring-size", f"{RING_MIB}MiB", "-T", "0xa1b2c3d4", "udp"]
    return [hookdump, "capture", "-i", IF_RX, "-q", "-s", str(SNAPLEN), "--block-size", "1024",
            "--ring-blocks", str(RING_MIB), "-w", out, "udp"]


def wait_bound(pid, timeout=10.0):
    """Until the process has an AF_PACKET socket bound to the capture interface."""
    ifindex = sh("ip", "netns", "exec", NS_RX, "cat", f"/sys/class/net/{IF_RX}/ifindex").stdout.strip()
    end = time.time() + timeout
    while time.time() < end:
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


def count_packets(path):
    out = sh("capinfos", "-c", "-M", path, check=False).stdout
    m = re.search(r"Number of packets:\s+(\d+)", out)
    return int(m.group(1)) if m else 0


def parse_drops(tool, err):
    if tool == "tcpdump":
        m = re.search(r"(\d+) packets dropped by kernel", err)
    elif tool == "netsniff-ng":
        m = re.search(r"(\d+)\s+packets failed filter \(out of space\)", err)
    else:
        m = re.search(r"(\d+) dropped by kernel", err)
    return int(m.group(1)) if m else None


def run_one(tool, hookdump, count, rate, workdir):
    out = os.path.join(workdir, f"{tool}.pcap")
    conf = os.path.join(workdir, "udp.cfg")
    cmd = ["ip", "netns", "exec", NS_RX, "taskset", "-c", "1"] + tool_cmd(tool, hookdump, out)
    cap = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # `ip netns exec` execs the tool: the PID is the capture's own
    if not wait_bound(cap.pid):
        cap.kill()
        raise RuntimeError(f"{tool} did not start: {cap.communicate()[1]}")
    time.sleep(0.3)
    cpu0, m0 = proc_cpu(cap.pid), machine_cpu()
    t0 = time.time()
    tx = ["ip", "netns", "exec", NS_TX, "taskset", "-c", "0", "trafgen", "--dev", IF_TX, "--conf", conf,
          "--num", str(count), "--cpus", "1", "--no-cpu-stats", "-q"]
    if rate:
        tx += ["--rate", rate]
    sent_out = sh(*tx).stdout + ""
    time.sleep(0.5)  # the last ring block is handed over (block timeouts are shorter)
    cpu1, m1 = proc_cpu(cap.pid), machine_cpu()
    elapsed = time.time() - t0
    cap.send_signal(signal.SIGINT)
    out_text, err = cap.communicate(timeout=30)
    err = out_text + err
    captured = count_packets(out)
    os.unlink(out)
    return {
        "tool": tool, "sent": count, "captured": captured, "dropped": parse_drops(tool, err),
        "cpu_s": round(cpu1 - cpu0, 3), "machine_cpu_s": round(m1 - m0, 3), "seconds": round(elapsed, 2),
        "cpu_ns_per_packet": round((cpu1 - cpu0) * 1e9 / max(captured, 1), 1),
        "stderr_tail": err.strip().splitlines()[-3:],
    }


def summarize(rows, tools):
    med = {}
    for t in tools:
        rs = [r for r in rows if r["tool"] == t]
        med[t] = {k: statistics.median([r[k] for r in rs if r[k] is not None] or [0])
                  for k in ("sent", "captured", "dropped", "cpu_s", "machine_cpu_s", "cpu_ns_per_packet")}
    for t in tools:
        for ref in ("tcpdump", "netsniff-ng"):
            base = med[ref]["cpu_ns_per_packet"]
            med[t][f"cpu_ratio_to_{ref}"] = round(med[t]["cpu_ns_per_packet"] / base, 3) if base else None
    return med


def table(title, med, tools):
    lines = [f"### {title}", "",
             "| tool | sent | captured | dropped | capture CPU s | machine CPU s | CPU ns/packet | vs tcpdump | vs netsniff-ng |",
             "|---|---|---|---|---|---|---|---|---|"]
    for t in tools:
        m = med[t]
        lines.append(f"| {t} | {m['sent']:.0f} | {m['captured']:.0f} | {m['dropped']:.0f} | {m['cpu_s']:.3f} | "
                     f"{m['machine_cpu_s']:.3f} | {m['cpu_ns_per_packet']:.0f} | {m['cpu_ratio_to_tcpdump']} | "
                     f"{m['cpu_ratio_to_netsniff-ng']} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--hookdump", default=os.path.join(root, "build", "hookdump"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--count", type=int, default=200000)
    ap.add_argument("--rate", default="50000pps")
    ap.add_argument("--flat-count", type=int, default=2000000)
    ap.add_argument("--flat-rounds", type=int, default=3)
    ap.add_argument("--json", default=os.path.join(root, "bench", "out", "capture.json"))
    a = ap.parse_args()
    for t in ("trafgen", "netsniff-ng", "tcpdump", "capinfos", "taskset"):
        if not shutil.which(t):
            sys.exit(f"capture_bench: {t} is missing (scripts/bootstrap installs it)")
    if os.cpu_count() < 2:
        sys.exit("capture_bench: needs 2 CPUs (sender and capture pinned apart)")
    tools = ["tcpdump", "netsniff-ng", "hookdump"]
    workdir = tempfile.mkdtemp(prefix="hdbench-", dir="/dev/shm")
    result = {"snaplen": SNAPLEN, "ring_mib": RING_MIB, "frame_bytes": 64}
    try:
        setup()
        trafgen_conf(os.path.join(workdir, "udp.cfg"))
        fixed, flat = [], []
        for r in range(a.rounds):
            for t in tools if r % 2 == 0 else reversed(tools):
                fixed.append(run_one(t, a.hookdump, a.count, a.rate, workdir))
        for r in range(a.flat_rounds):
            for t in tools if r % 2 == 0 else reversed(tools):
                flat.append(run_one(t, a.hookdump, a.flat_count, None, workdir))
        result["fixed"] = {"count": a.count, "rate": a.rate, "rounds": fixed, "median": summarize(fixed, tools)}
        result["flat"] = {"count": a.flat_count, "rounds": flat, "median": summarize(flat, tools)}
    finally:
        teardown()
        shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump(result, f, indent=1)
    print(table(f"(a) fixed count {a.count} at {a.rate}, median of {a.rounds} interleaved rounds",
                result["fixed"]["median"], tools))
    print()
    print(table(f"(b) flat out, {a.flat_count} frames, median of {a.flat_rounds} rounds",
                result["flat"]["median"], tools))
    print(f"\nJSON: {a.json}")


if __name__ == "__main__":
    main()

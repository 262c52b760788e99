#!/usr/bin/env python3
"""Live capture benchmark: hookdump (AF_PACKET, 1 worker) against tcpdump and netsniff-ng.

One run, the same traffic for every tool: 64-byte UDP frames over a veth pair between two
network namespaces (198.18.0.0/15), sent by trafgen pinned to CPU 0; the capture runs in the
receiving namespace pinned to CPU 1, with the same snap length and ring size, writing pcap to
tmpfs. The frames go to a MAC address no interface has, so the receiving stack drops them right
after the tap: only capture work is measured.

Scenarios (--scenarios, comma-separated; default fixed,sweep,flat):
  fixed   a fixed count at a rate every tool keeps up with; interleaved rounds; medians, and the
          median of the per-round CPU ratios (tools compared within the same round)
  sweep   a ladder of rates (--sweep-rates), each rate a few interleaved rounds of every tool
          (until a rate where every tool lost packets in every round); a tool's loss-free rate
          is the highest rate of the ladder at which it lost nothing in every round, at that
          rate and every lower one; the table shows the lossless rounds at every rate
  flat    trafgen flat out (no rate limit), fixed count; loss and CPU per packet

For each tool: sent, captured, dropped (the tool's own report), capture-process CPU seconds
(the process's threads' schedstat), whole-machine CPU seconds (from /proc/stat), CPU per
packet, and ratios to tcpdump and netsniff-ng. Prints markdown tables, writes JSON. The load
average before and after is recorded: other jobs on the host disturb absolute numbers.

  bench/capture_bench.py [--hookdump build/hookdump] [--tools tcpdump,netsniff-ng,hookdump]
                         [--scenarios fixed,sweep,flat] [--rounds 5] [--count 300000]
                         [--rate 100000pps] [--sweep-rates 100000,200000,...] [--sweep-seconds 1]
                         [--flat-count 2000000] [--rt PRIO] [--compare NAME=PATH]
                         [--json bench/out/capture.json]
  bench/capture_bench.py --profile hookdump [--count 1000000 --rate 200000pps]
                         (one capture under `perf record -g`; prints the top of the profile)

A tool is one entry of TOOLS below (its command line, how to read its drop count, and its ring
geometry for the record): adding a row is adding an entry.
Needs root, trafgen and netsniff-ng (Debian's netsniff-ng package), tcpdump and capinfos.
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
        "argv": lambda c: ["tcpdump", "-i", c["iface"], "-n", "-s", str(SNAPLEN), "-B", str(RING_MIB * 1024),
                           "-w", c["out"], "udp"],
        "drops": lambda err: _first_int(r"(\d+) packets dropped by kernel", err),
        "ring": "libpcap TPACKET_V3: 32 blocks of 256 KiB, block timeout 1000 ms (tcpdump's pcap timeout)",
    },
    {
        "name": "netsniff-ng",
        "argv": lambda c: ["netsniff-ng", "--in", c["iface"], "--out", c["out"], "--silent", "--notouch-irq",
                           "--ring-size", f"{RING_MIB}MiB", "-T", "0xa1b2c3d4", "udp"],
        "drops": lambda err: _first_int(r"(\d+)\s+packets failed filter \(out of space\)", err),
        "ring": "TPACKET_V3: 128 blocks of 64 KiB, block timeout 100 ms; frames up to 2048 bytes (no snap length option); its default "
                "pcap writer",
    },
    {
        "name": "hookdump",
        "argv": lambda c: [c["hookdump"], "capture", "-i", c["iface"], "-q", "-s", str(SNAPLEN), "--block-size",
                           str(RING_MIB * 1024 // 8), "--ring-blocks", "8", "-w", c["out"], "udp"],
        "drops": lambda err: _first_int(r"(\d+) dropped by kernel", err),
        "ring": "TPACKET_V3: 8 blocks of 1 MiB, block timeout 50 ms (hookdump's defaults)",
    },
]
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


def machine_cpu():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / CLK_TCK


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


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


def trafgen(conf, count, rate):
    tx = ["ip", "netns", "exec", NS_TX, "taskset", "-c", "0", "trafgen", "--dev", IF_TX, "--conf", conf,
          "--num", str(count), "--cpus", "1", "--no-cpu-stats", "-q"]
    if rate:
        tx += ["--rate", rate]
    return sh(*tx)


def run_one(tool, hookdump, count, rate, workdir, perf_data=None):
    out = os.path.join(workdir, f"{tool['name']}.pcap")
    conf = os.path.join(workdir, "udp.cfg")
    argv = tool["argv"]({"iface": IF_RX, "out": out, "hookdump": hookdump})
    cmd = ["ip", "netns", "exec", NS_RX, "taskset", "-c", "1"] + (["chrt", "-f", str(RT_PRIO)] if RT_PRIO else []) + argv
    cap = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # `ip netns exec` execs the tool: the PID is the capture's own
    if not wait_bound(cap.pid):
        cap.kill()
        raise RuntimeError(f"{tool['name']} did not start: {cap.communicate()[1]}")
    if tool["name"] not in RINGS_SEEN:
        # the ring as the kernel set it up (ss reads PACKET_DIAG), for the record
        ss = sh("ip", "netns", "exec", NS_RX, "ss", "-0", "-e", "-p", check=False).stdout
        m = re.search(r"ring_rx\(([^)]*)\)", ss)
        RINGS_SEEN[tool["name"]] = m.group(1) if m else "?"
    perf = None
    if perf_data:
        perf = subprocess.Popen(["perf", "record", "-g", "-F", "4999", "-o", perf_data, "-p", str(cap.pid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    (cpu0, u0, s0), m0 = proc_cpu(cap.pid), machine_cpu()
    t0 = time.time()
    trafgen(conf, count, rate)
    send_s = time.time() - t0
    # Every tool has handed over and written its last, partly filled ring block (tcpdump's
    # block timeout is the longest: 1000 ms), so the CPU window holds all the work.
    time.sleep(1.5)
    (cpu1, u1, s1), m1 = proc_cpu(cap.pid), machine_cpu()
    elapsed = time.time() - t0
    if perf:
        perf.send_signal(signal.SIGINT)
        perf.wait(timeout=60)
    cap.send_signal(signal.SIGINT)
    out_text, err = cap.communicate(timeout=30)
    err = out_text + err
    captured = count_packets(out)
    os.unlink(out)
    dropped = tool["drops"](err)
    return {
        "tool": tool["name"], "sent": count, "rate": rate or "flat", "captured": captured, "dropped": dropped,
        "lost": count - captured, "sent_pps": round(count / send_s),
        "cpu_s": round(cpu1 - cpu0, 4), "user_s": round(u1 - u0, 2), "sys_s": round(s1 - s0, 2),
        "machine_cpu_s": round(m1 - m0, 3), "seconds": round(elapsed, 2),
        "cpu_ns_per_packet": round((cpu1 - cpu0) * 1e9 / max(captured, 1), 1),
        "stderr_tail": err.strip().splitlines()[-3:],
    }


def rounds_of(tools, rounds, fn):
    """Every tool once per round, the order rotated from round to round."""
    rows = []
    for r in range(rounds):
        k = r % len(tools)
        for t in tools[k:] + tools[:k]:
            row = fn(t)
            row["round"] = r
            rows.append(row)
            print(f"  round {r} {row['tool']:12} rate {row['rate']:>10} (sent {row['sent_pps']} pps) captured {row['captured']}/{row['sent']}"
                  f" dropped {row['dropped']} cpu {row['cpu_ns_per_packet']} ns/pkt", file=sys.stderr)
    return rows


def summarize(rows, names):
    med = {}
    refs = [r for r in ("tcpdump", "netsniff-ng") if r in names]
    for t in names:
        rs = [r for r in rows if r["tool"] == t]
        med[t] = {k: statistics.median([r[k] for r in rs if r[k] is not None] or [0])
                  for k in ("sent", "captured", "dropped", "lost", "cpu_s", "user_s", "sys_s", "machine_cpu_s",
                            "cpu_ns_per_packet")}
        for ref in refs:
            # the ratio within each round, then the median of those
            ratios = []
            for r in rs:
                base = [b for b in rows if b["tool"] == ref and b["round"] == r["round"]]
                if base and base[0]["cpu_ns_per_packet"]:
                    ratios.append(r["cpu_ns_per_packet"] / base[0]["cpu_ns_per_packet"])
            med[t][f"cpu_ratio_to_{ref}"] = round(statistics.median(ratios), 3) if ratios else None
            med[t][f"cpu_ratio_to_{ref}_range"] = [round(min(ratios), 3), round(max(ratios), 3)] if ratios else None
    return med


def table(title, med, names):
    refs = [r for r in ("tcpdump", "netsniff-ng") if r in names]
    lines = [f"### {title}", "",
             "| tool | sent | captured | dropped | capture CPU s (user/sys) | machine CPU s | CPU ns/packet | "
             + " | ".join(f"vs {r} (range)" for r in refs) + " |",
             "|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(refs)]
    for t in names:
        m = med[t]
        ratios = " | ".join(f"{m[f'cpu_ratio_to_{r}']} ({m[f'cpu_ratio_to_{r}_range'][0]}-"
                            f"{m[f'cpu_ratio_to_{r}_range'][1]})" for r in refs)
        lines.append(f"| {t} | {m['sent']:.0f} | {m['captured']:.0f} | {m['dropped']:.0f} | {m['cpu_s']:.3f} "
                     f"({m['user_s']:.2f}/{m['sys_s']:.2f}) | {m['machine_cpu_s']:.2f} | {m['cpu_ns_per_packet']:.0f} | "
                     f"{ratios} |")
    return "\n".join(lines)


def parse_rate(s):
    s = s.strip().lower().replace("pps", "")
    mult = 1
    if s.endswith("k"):
        s, mult = s[:-1], 1000
    elif s.endswith("m"):
        s, mult = s[:-1], 1000000
    return int(float(s) * mult)


def sweep(tools, a, workdir):
    """Every tool at every rate of the ladder (until a rate where every tool lost packets in
    every round). Loss-free rate: the highest rate at which the tool lost nothing in every
    round, at that rate and at every lower one."""
    rates = [parse_rate(r) for r in a.sweep_rates.split(",")]
    rows = []
    best = {t["name"]: 0 for t in tools}
    clean_so_far = {t["name"]: True for t in tools}
    for rate in rates:
        count = max(int(rate * a.sweep_seconds), 1000)
        rs = rounds_of(tools, a.sweep_rounds, lambda t: run_one(t, a.hookdump, count, f"{rate}pps", workdir))
        for r in rs:
            r["rate_pps"] = rate
        rows += rs
        for t in tools:
            clean = all(r["lost"] == 0 for r in rs if r["tool"] == t["name"])
            clean_so_far[t["name"]] = clean_so_far[t["name"]] and clean
            if clean_so_far[t["name"]]:
                best[t["name"]] = rate
        if all(r["lost"] > 0 for r in rs):
            break
        # The sender is the limit: higher asked rates would send at the same rate.
        if statistics.median(r["sent_pps"] for r in rs) < 0.8 * rate:
            break
    return rows, best


def profile(tool, a, workdir):
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    data = os.path.join(os.path.dirname(a.json), f"perf-{tool['name']}.data")
    row = run_one(tool, a.hookdump, a.count, a.rate, workdir, perf_data=data)
    print(json.dumps(row, indent=1))
    rep = sh("perf", "report", "-i", data, "--stdio", "--no-children", "--percent-limit", "0.7",
             "--sort", "sym", "-g", "none", check=False).stdout
    print("\n".join(l for l in rep.splitlines() if l and not l.startswith("#")))
    print(f"\nperf data: {data} (perf report -i {data})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--hookdump", default=os.path.join(root, "build", "hookdump"))
    ap.add_argument("--tools", default=",".join(t["name"] for t in TOOLS))
    ap.add_argument("--scenarios", default="fixed,sweep,flat")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--count", type=int, default=300000)
    ap.add_argument("--rate", default="100000pps")
    ap.add_argument("--sweep-rates", default="100k,200k,300k,400k,500k,600k,700k,800k,1000k,1200k")
    ap.add_argument("--sweep-seconds", type=float, default=1.0)
    ap.add_argument("--sweep-rounds", type=int, default=3)
    ap.add_argument("--flat-count", type=int, default=2000000)
    ap.add_argument("--flat-rounds", type=int, default=3)
    ap.add_argument("--compare", metavar="NAME=PATH", action="append", default=[],
                    help="one more hookdump row running the binary PATH (two builds in the same rounds)")
    ap.add_argument("--rt", type=int, default=0, metavar="PRIO",
                    help="run every capture SCHED_FIFO at PRIO (chrt -f), so that other jobs on a busy host "
                         "do not decide the loss")
    ap.add_argument("--profile", metavar="TOOL", help="profile one capture of TOOL with perf record -g")
    ap.add_argument("--json", default=os.path.join(root, "bench", "out", "capture.json"))
    a = ap.parse_args()
    global RT_PRIO
    RT_PRIO = a.rt
    for t in ("trafgen", "netsniff-ng", "tcpdump", "capinfos", "taskset"):
        if not shutil.which(t):
            sys.exit(f"capture_bench: {t} is missing (scripts/bootstrap installs it)")
    if os.cpu_count() < 2:
        sys.exit("capture_bench: needs 2 CPUs (sender and capture pinned apart)")
    for spec in a.compare:
        name, path = spec.split("=", 1)
        row = dict(TOOL_BY_NAME["hookdump"], name=name)
        base_argv = row["argv"]
        row["argv"] = lambda c, base_argv=base_argv, path=path: base_argv(dict(c, hookdump=os.path.abspath(path)))
        TOOLS.append(row)
        TOOL_BY_NAME[name] = row
        a.tools += "," + name
    try:
        tools = [TOOL_BY_NAME[n] for n in a.tools.split(",")]
    except KeyError as e:
        sys.exit(f"capture_bench: unknown tool {e} (known: {', '.join(TOOL_BY_NAME)})")
    names = [t["name"] for t in tools]
    scenarios = a.scenarios.split(",")
    workdir = tempfile.mkdtemp(prefix="hdbench-", dir="/dev/shm")
    result = {"snaplen": SNAPLEN, "ring_mib": RING_MIB, "frame_bytes": 64,
              "tools": {t["name"]: {"argv": t["argv"]({"iface": "IFACE", "out": "OUT.pcap", "hookdump": "hookdump"}),
                                    "ring": t["ring"]} for t in tools},
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
            rows, best = sweep(tools, a, workdir)
            result["sweep"] = {"rates": a.sweep_rates, "seconds": a.sweep_seconds, "rounds_per_rate": a.sweep_rounds,
                               "rows": rows, "loss_free_pps": best}
            result["loadavg_after_sweep"] = loadavg()
        if "flat" in scenarios:
            rows = rounds_of(tools, a.flat_rounds, lambda t: run_one(t, a.hookdump, a.flat_count, None, workdir))
            result["flat"] = {"count": a.flat_count, "rounds": rows, "median": summarize(rows, names)}
    finally:
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
                    result["fixed"]["median"], names))
        print()
    if "sweep" in result:
        s = result["sweep"]
        print(f"### (b) rate sweep: highest rate with zero loss in all {a.sweep_rounds} rounds "
              f"({a.sweep_seconds:g} s of traffic a round)\n")
        print("| tool | loss-free rate (pps) | vs tcpdump |")
        print("|---|---:|---:|")
        for n in names:
            base = s["loss_free_pps"].get("tcpdump")
            ratio = round(s["loss_free_pps"][n] / base, 2) if base else None
            print(f"| {n} | {s['loss_free_pps'][n]} | {ratio} |")
        rates = sorted({r["rate_pps"] for r in s["rows"]})
        print("\nrounds without loss at each rate (packets lost in the others); trafgen's rate as "
              "achieved (median; it falls short of the asked rate when the sender's CPU is the limit):\n")
        print("| asked rate (pps) | sent at (pps) | " + " | ".join(names) + " |")
        print("|---:|---:|" + "---|" * len(names))
        for rate in rates:
            achieved = statistics.median(r["sent_pps"] for r in s["rows"] if r["rate_pps"] == rate)
            cells = []
            for n in names:
                rs = [r for r in s["rows"] if r["tool"] == n and r["rate_pps"] == rate]
                lost = [str(r["lost"]) for r in rs if r["lost"]]
                cells.append(f"{sum(1 for r in rs if not r['lost'])}/{len(rs)}" + (f" ({', '.join(lost)})" if lost else ""))
            print(f"| {rate} | {achieved:.0f} | " + " | ".join(cells) + " |")
        print()
    if "flat" in result:
        print(table(f"(c) flat out, {a.flat_count} frames, median of {a.flat_rounds} rounds",
                    result["flat"]["median"], names))
        print("\nflat-out rounds (sent rate, lost):",
              "; ".join(f"{r['tool']} {r['sent_pps']} pps lost {r['lost']}" for r in result["flat"]["rounds"]))
    print("\nrings as the kernel set them up (ss -0 -e):")
    for n, r in RINGS_SEEN.items():
        print(f"  {n}: {r}")
    print(f"\nJSON: {a.json}")


if __name__ == "__main__":
    main()

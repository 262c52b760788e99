#!/usr/bin/env python3
"""hookdump read --ipfix against softflowd -r, each into nfcapd, on one generated capture:

    bench/ipfix_vs_softflowd.py [-n PACKETS] [-f FLOWS] [-r ROUNDS] [--keep DIR]

Writes `hookdump generate -n PACKETS --flow-count FLOWS` (4,000,000 packets of 100,000 flows by
default) into a temporary directory, starts nfcapd in a network namespace of its own (only lo,
127.0.0.1), and runs, ROUNDS times interleaved:

    hookdump read BIG --ipfix 127.0.0.1:PORT
    softflowd -r BIG -n 127.0.0.1:PORT -v 10 -d -6 -m FLOWS*2 -c none
                              (IPFIX, IPv6 too, the table big enough, no control socket)

For each: wall time, CPU time (user+sys of the process, from wait4), packets per CPU-second, and
what nfdump decoded from that run alone (flows, packets, sequence failures). Prints a markdown
table and writes bench/out/ipfix.json. Needs root (the namespace), nfdump, softflowd.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "netns"))

PORT = 9995
# softflowd 1.1.0 with -r and a control socket waits in accept() for ever (hence -c none).
TIMEOUT_S = 300


def sh(*cmd, **kw):
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True, text=True, **kw)


def timed(cmd, log):
    """Runs cmd (stderr into the file `log`: softflowd -d writes a lot, a pipe would fill);
    returns (wall s, user+sys CPU s, stderr)."""
    t0 = time.monotonic()
    with open(log, "w") as f:
        p = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.DEVNULL, stderr=f,
                             stdin=subprocess.DEVNULL)
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - t0 > TIMEOUT_S:
                p.kill()  # `ip netns exec` execs the command: the tool itself
                _, status, ru = os.wait4(p.pid, 0)
                return None, ru.ru_utime + ru.ru_stime, f"killed after {TIMEOUT_S} s"
            time.sleep(0.05)
    wall = time.monotonic() - t0
    with open(log) as f:
        err = f.read()
    rc = os.waitstatus_to_exitcode(status)
    if rc != 0:
        raise SystemExit(f"{cmd[0]} exited {rc}: {err}")
    return wall, ru.ru_utime + ru.ru_stime, err


def nfdump_totals(d):
    r = sh("nfdump", "-R", d, "-I")
    vals = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition(":")
        vals[k.strip()] = v.strip()
    return int(vals["Flows"]), int(vals["Packets"]), int(vals["Sequence failures"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=4_000_000)
    ap.add_argument("-f", type=int, default=100_000)
    ap.add_argument("-r", type=int, default=3)
    ap.add_argument("--keep")
    a = ap.parse_args()
    hd = os.environ.get("HOOKDUMP", os.path.join(ROOT, "build", "hookdump"))
    work = a.keep or tempfile.mkdtemp(prefix="hd-ipfix-bench-")
    os.makedirs(work, exist_ok=True)
    big = os.path.join(work, "big.pcap")
    if not os.path.exists(big):
        sh(hd, "generate", "-n", a.n, "--flow-count", a.f, "-w", big)
    ns = f"hdb-ipfix-{os.getpid()}"
    sh("ip", "netns", "add", ns)
    rows = {"hookdump": [], "softflowd": []}
    try:
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        cmds = {
            "hookdump": [hd, "read", big, "--ipfix", f"127.0.0.1:{PORT}"],
            "softflowd": ["softflowd", "-r", big, "-n", f"127.0.0.1:{PORT}", "-v", "10", "-d",
                          "-6", "-m", 2 * a.f, "-c", "none", "-p", os.path.join(work, "sf.pid")],
        }
        for rnd in range(a.r):
            for name, cmd in cmds.items():
                d = os.path.join(work, f"{name}-{rnd}")
                shutil.rmtree(d, ignore_errors=True)  # a --keep directory's earlier run
                os.makedirs(d)
                nfcapd = subprocess.Popen(["ip", "netns", "exec", ns, "nfcapd", "-w", d, "-b",
                                           "127.0.0.1", "-p", str(PORT)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(1)
                wall, cpu, why = timed(["ip", "netns", "exec", ns] + cmd, d + ".log")
                if wall is None:
                    print(f"round {rnd} {name}: {why} (CPU {cpu:.2f} s)", flush=True)
                time.sleep(1)
                nfcapd.terminate()
                nfcapd.wait(timeout=30)
                flows, packets, seq = nfdump_totals(d)
                if wall is None:
                    continue
                rows[name].append(dict(wall=wall, cpu=cpu, flows=flows, packets=packets, seq=seq))
                print(f"round {rnd} {name}: wall {wall:.2f} s, CPU {cpu:.2f} s, nfdump: {flows} "
                      f"flows, {packets} packets, {seq} sequence failures", flush=True)
    finally:
        subprocess.run(["ip", "netns", "del", ns])
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{a.n} packets, {a.f} flows, {a.r} rounds, load {os.getloadavg()[0]:.1f}\n")
    print("| exporter | wall s | CPU s | packets / CPU-s | nfdump flows | nfdump packets | seq. failures |")
    print("|---|---|---|---|---|---|---|")
    summary = {}
    for name, rs in rows.items():
        if not rs:
            print(f"| {name} | did not finish | | | | | |")
            continue
        wall = statistics.median(r["wall"] for r in rs)
        cpu = statistics.median(r["cpu"] for r in rs)
        s = dict(wall=wall, cpu=cpu, pps_cpu=a.n / cpu, rounds=rs)
        summary[name] = s
        flows = "/".join(str(r["flows"]) for r in rs)
        packets = "/".join(str(r["packets"]) for r in rs)
        seq = "/".join(str(r["seq"]) for r in rs)
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {a.n / cpu:,.0f} | {flows} | {packets} | {seq} |")
    ratio = None
    if "hookdump" in summary and "softflowd" in summary:
        ratio = summary["hookdump"]["pps_cpu"] / summary["softflowd"]["pps_cpu"]
        print(f"\nhookdump: {ratio:.1f}x softflowd's packets per CPU-second")
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    with open(os.path.join(HERE, "out", "ipfix.json"), "w") as f:
        json.dump(dict(packets=a.n, flows=a.f, summary=summary, ratio=ratio), f, indent=1)


if __name__ == "__main__":
    main()

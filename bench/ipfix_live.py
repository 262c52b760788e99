#!/usr/bin/env python3
"""tc flow mode flat out, --flows=FILE against --flows=FILE --ipfix into nfcapd:

    bench/ipfix_live.py [--hookdump build/hookdump] [-n COUNT] [-r ROUNDS]

capture_bench.py's namespaces, veth pair and trafgen (64-byte UDP frames, flat out, trafgen on
CPU 0, the capture on CPU 1 in the receiving namespace), two kinds of traffic:

  one flow     capture_bench.py's frames (198.18.0.1:4000 -> 198.18.0.2:9): the capture's
               overhead at the flat-out rate, with and without the exporter
  64256 flows  the same frames with the ports' low bytes counting (256 x 251 combinations):
               every run ends with 64,256 flow records, written (and exported) at exit

and two captures, interleaved, ROUNDS times each:

  file   hookdump capture --engine tc --direction in -i IF -q --flows=OUT.csv udp
  ipfix  the same with --ipfix 127.0.0.1:PORT, nfcapd listening there in the namespace

For each run: the capture process's CPU while the traffic runs (schedstat, from 0.3 s after it
attached to 1.5 s after trafgen returns, as capture_bench.py measures), its CPU after that
window until it exited (the last sweep, the csv, the export: wait4's total minus the window and
what came before it), the flow records and packets in the csv, what nfdump decoded (flows,
packets, sequence failures). The exporter's CPU per record: the median exit CPU of "ipfix" minus
that of "file", over the records. Needs root, trafgen, nfdump, bpftool.
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import capture_bench as cb  # noqa: E402

PORT = 9996


def many_flows_conf(path):
    # capture_bench.py's frame; the UDP ports' low bytes count (dinc) with coprime periods.
    with open(path, "w") as f:
        f.write("""{
  0x02, 0x00, 0x00, 0x00, 0x00, 0x99,  0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  0x08, 0x00,
  0x45, 0x00, const16(50), 0x00, 0x01, 0x40, 0x00, 0x40, 0x11, csumip(14, 33),
  198, 18, 0, 1,  198, 18, 0, 2,
  0x10, dinc(0, 255, 1), 0x20, dinc(0, 250, 1), const16(30), 0x00, 0x00,
  fill(0x61, 22),
}
""")


def nfdump_totals(d):
    r = cb.sh("nfdump", "-R", d, "-I", check=False)
    vals = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition(":")
        vals[k.strip()] = v.strip()
    return int(vals.get("Flows", 0)), int(vals.get("Packets", 0)), int(vals.get("Sequence failures", 0))


def csv_totals(path):
    import csv
    with open(path) as f:
        rows = list(csv.reader(f))
    col = rows[0].index("packets")
    return len(rows) - 1, sum(int(r[col]) for r in rows[1:])


def run(hd, mode, conf, count, work):
    out = os.path.join(work, "flows.csv")
    argv = [hd, "capture", "--engine", "tc", "--direction", "in", "-i", cb.IF_RX, "-q", "--flows=" + out]
    nfcapd = d = None
    if mode == "ipfix":
        d = os.path.join(work, "nfcapd")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        nfcapd = subprocess.Popen(["ip", "netns", "exec", cb.NS_RX, "nfcapd", "-w", d, "-b", "127.0.0.1",
                                   "-p", str(PORT)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        argv += ["--ipfix", f"127.0.0.1:{PORT}"]
    argv.append("udp")
    cap = subprocess.Popen(["ip", "netns", "exec", cb.NS_RX, "taskset", "-c", "1"] + argv,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if not cb.wait_bound(cap.pid, "bpf"):
            raise RuntimeError(f"capture did not start: {cap.communicate()[1]}")
        cb.wait_settled(cap.pid)
        time.sleep(0.3)
        cpu0 = cb.proc_cpu(cap.pid)[0]
        t0 = time.monotonic()
        cb.trafgen(conf, count, None)
        send_s = time.monotonic() - t0
        time.sleep(1.5)
        cpu1 = cb.proc_cpu(cap.pid)[0]
        cap.send_signal(signal.SIGINT)
        _, status, ru = os.wait4(cap.pid, 0)
        err = cap.stderr.read()
        cap.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if cap.returncode is None:
            cap.kill()
            cap.wait()
    total = ru.ru_utime + ru.ru_stime
    flows, packets = csv_totals(out)
    os.unlink(out)
    row = dict(mode=mode, sent_pps=round(count / send_s), window_ns_per_packet=(cpu1 - cpu0) * 1e9 / count,
               exit_cpu_s=total - cpu1, flows=flows, packets=packets, rc=cap.returncode, err=err.strip()[-300:])
    if nfcapd:
        time.sleep(1)
        nfcapd.terminate()
        nfcapd.wait(timeout=30)
        row["nfdump"] = nfdump_totals(d)
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hookdump", default=os.path.join(os.path.dirname(HERE), "build", "hookdump"))
    ap.add_argument("-n", type=int, default=1_000_000)
    ap.add_argument("-r", type=int, default=3)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="hd-ipfix-live-")
    load0 = os.getloadavg()[0]
    results = {}
    try:
        cb.setup()
        cb.sh("ip", "-n", cb.NS_RX, "link", "set", "lo", "up")
        one, many = os.path.join(work, "one.cfg"), os.path.join(work, "many.cfg")
        cb.trafgen_conf(one)
        many_flows_conf(many)
        for name, conf in (("one flow", one), ("64256 flows", many)):
            rows = {"file": [], "ipfix": []}
            for r in range(a.r):
                for mode in (("file", "ipfix") if r % 2 == 0 else ("ipfix", "file")):
                    row = run(a.hookdump, mode, conf, a.n, work)
                    rows[mode].append(row)
                    print(f"{name} round {r} {mode}: {row['sent_pps']} pps, capture "
                          f"{row['window_ns_per_packet']:.1f} ns/packet, exit {row['exit_cpu_s'] * 1000:.1f} ms, "
                          f"csv {row['flows']} flows {row['packets']} packets, nfdump {row.get('nfdump')}, rc {row['rc']}",
                          file=sys.stderr, flush=True)
            results[name] = rows
    finally:
        cb.teardown()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{a.n} packets a run, flat out, {a.r} rounds, load {load0:.1f} -> {os.getloadavg()[0]:.1f}\n")
    print("| traffic | capture | sent pps | capture ns/packet (range) | exit CPU ms | csv flows / packets | nfdump flows / packets / seq. failures |")
    print("|---|---|---|---|---|---|---|")
    for name, rows in results.items():
        med = {}
        for mode, rs in rows.items():
            w = [x["window_ns_per_packet"] for x in rs]
            e = statistics.median(x["exit_cpu_s"] for x in rs)
            med[mode] = e
            nf = "; ".join(f"{x['nfdump'][0]} / {x['nfdump'][1]} / {x['nfdump'][2]}" for x in rs) if mode == "ipfix" else "-"
            print(f"| {name} | {mode} | {statistics.median(x['sent_pps'] for x in rs):,.0f} | "
                  f"{statistics.median(w):.1f} ({min(w):.1f}-{max(w):.1f}) | {e * 1000:.1f} | "
                  f"{'/'.join(str(x['flows']) for x in rs)} / {'/'.join(str(x['packets']) for x in rs)} | {nf} |")
        recs = statistics.median(x["flows"] for x in rows["ipfix"])
        print(f"\n{name}: exporter {(med['ipfix'] - med['file']) * 1e9 / recs:,.0f} ns of CPU per exported record "
              f"(median exit CPU, ipfix - file, over {recs:,.0f} records)")


if __name__ == "__main__":
    main()

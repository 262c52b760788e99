#!/usr/bin/env python3
"""Two builds of hookdump.ko, A (--kmod) and B (--kmod-b), by perf samples in one guest: reads
the rounds that bench/kmod_vm_bench.sh --perf "xt xtb xtnflog kmod kmodb ..." profiled
(cpu-clock every 100 us on both vCPUs, call chains) and prints a markdown table (JSON with
--json FILE).

  kmod_ab_perf.py RESULTS_DIR [--json FILE]      (RESULTS_DIR: OUT/bench, with perf/ and kallsyms)

A kind named N times is profiled N times (xt_0, xt_1, ...); set N pairs A's and B's Nth
rounds. Per profiled round, in us of guest CPU an event (samples x 100 us / events):
  path     samples whose call chain holds the packet path's entry: hookdump_tg for xt/xtb
           (-j HOOKDUMP), nft_log_eval for xtnflog (-j NFLOG under iptables-nft), hd_hook for
           kmod/kmodb (the module's own rule); events = the rule's counter (xt kinds) or the
           module's matched counter (kmod kinds)
  then, of the path: alloc (__alloc_skb: the batch), clock (the time reads), listeners
  (netlink_has_listeners), hd_report (all of it, as a function of its own or inlined: by
  the samples in hd_report or hd_record)
  flush    the batch timers' sends (call_timer_fn with hd_flush_all / __nfulnl_send above it)
  reader   the reader process (hookdump), user and kernel
  sender   the sender's thread (kpktgend_*), which runs the whole receive path, the path
           above included; rest = sender - path: the same work in every kind (pktgen, the
           stack, the iptables rule), which the host's load inflates or deflates
  share    path / rest: the path's cost in units of that same work, which a loaded host's
           lost or stretched samples move much less than us an event
On a loaded host the guest's clock, which perf's sampling timer runs on, stalls now and then
and a profile loses samples: one whose sender has less than half the median sender time of
all profiles did not see the traffic; it is shown, marked, and left out of the medians."""
import collections
import json
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kmod_perf_breakdown import PERIOD_US, read_samples  # noqa: E402

PATH = {"xt": ("hookdump_tg",), "xtb": ("hookdump_tg",), "xtnflog": ("nft_log_eval", "nflog_tg"),
        "kmod": ("hd_hook",), "kmodb": ("hd_hook",)}
PARTS = {"alloc": ("__alloc_skb",),
         "clock": ("ktime_get_real_ns", "ktime_get_with_offset", "local_clock", "sched_clock_cpu",
                   "sched_clock", "native_sched_clock"),
         "listeners": ("netlink_has_listeners",),
         "hd_report": ("hd_report", "hd_record")}
FLUSH = ("hd_flush_all", "__nfulnl_send")


def events_of(d, kind, n):
    tag = os.path.join(d, "perf", f"{kind}_{n}")
    if kind.startswith("xt"):
        m = re.search(r"^\[(\d+):\d+\] -A PREROUTING -p udp", open(f"{tag}.ipt").read(), re.M)
        return int(m.group(1)) if m else 0

    def matched(path):
        m = re.search(r"^matched (\d+)", open(path).read(), re.M)
        return int(m.group(1)) if m else 0
    return matched(f"{tag}.stats1") - matched(f"{tag}.stats0")


def profile(d, kind, n):
    data = os.path.join(d, "perf", f"{kind}_{n}.perf.data")
    if not os.path.exists(data):
        return None
    events = events_of(d, kind, n)
    c = collections.Counter()
    # The round's own kallsyms: B's module is loaded where A's was not.
    syms = os.path.join(d, "perf", f"{kind}_{n}.kallsyms")
    for comm, _cpu, chain in read_samples(data, syms if os.path.exists(syms) else os.path.join(d, "kallsyms")):
        if any(p in chain for p in PATH[kind]):
            c["path"] += 1
            for part, fns in PARTS.items():
                if any(f in chain for f in fns):
                    c[part] += 1
        elif "call_timer_fn" in chain and any(f in chain for f in FLUSH):
            c["flush"] += 1
        elif comm == "hookdump":
            c["reader"] += 1
        if comm.startswith("kpktgend"):
            c["sender"] += 1
    c["rest"] = c["sender"] - c["path"]
    return {"events": events, "samples": dict(c), "share": c["path"] / c["rest"] if c["rest"] > 0 else None,
            "us_per_event": {k: v * PERIOD_US / events for k, v in c.items()} if events else {}}


def main():
    d = sys.argv[1]
    json_path = sys.argv[sys.argv.index("--json") + 1] if "--json" in sys.argv else None
    prof = {}
    for k in PATH:
        n = 0
        while os.path.exists(os.path.join(d, "perf", f"{k}_{n}.perf.data")):
            prof.setdefault(k, []).append(profile(d, k, n))
            n += 1
    if not prof:
        sys.exit(f"kmod_ab_perf: {d}/perf has no profiled rounds")
    senders = statistics.median(p["us_per_event"].get("sender", 0) for ps in prof.values() for p in ps)
    for ps in prof.values():
        for p in ps:
            p["valid"] = p["share"] is not None and p["us_per_event"].get("sender", 0) >= senders / 2
    cols = ["path", "hd_report", "alloc", "clock", "listeners", "flush", "reader", "sender", "rest"]
    print("| kind | set | events | " + " | ".join(cols) + " | share |\n|---|---:|---:|" + "---:|" * (len(cols) + 1))
    for k, ps in prof.items():
        for n, p in enumerate(ps):
            u = p["us_per_event"]
            mark = "" if p["valid"] else " (lost samples: left out)"
            print(f"| {k} | {n}{mark} | {p['events']:,} | " + " | ".join(f"{u.get(c, 0):.2f}" for c in cols)
                  + f" | {p['share'] or 0:.3f} |")

    def med(k, c):
        vals = [(p["share"] if c == "share" else p["us_per_event"].get(c, 0)) for p in prof.get(k, []) if p["valid"]]
        return statistics.median(vals) if vals else None

    summary = {k: {c: med(k, c) for c in cols + ["share"]} for k in prof}
    print("\nMedians of the valid profiles (A, B), the path in us an event and as a share of the rest:")
    for a, b in (("xt", "xtb"), ("kmod", "kmodb")):
        if a in prof and b in prof:
            line = ""
            for m in ("path", "share"):
                line += (f"- {m}: {a} {med(a, m):.3f}, {b} {med(b, m):.3f}: B/A {med(b, m) / med(a, m):.2f}x")
                if "xtnflog" in prof and a == "xt":
                    nf = med("xtnflog", m)
                    line += f"; NFLOG {nf:.3f}: A {med(a, m) / nf:.2f}x, B {med(b, m) / nf:.2f}x"
                line += "\n"
            print(line, end="")
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"profiles": prof, "medians": summary}, f, indent=2)


if __name__ == "__main__":
    main()

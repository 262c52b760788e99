#!/usr/bin/env python3
"""The -j HOOKDUMP against -j NFLOG comparison by perf samples, which the host's load does not
skew the way it skews wall-clock windows: reads the profiled rounds that
bench/kmod_vm_bench.sh --xt --perf "xt xtnflog xtrule" recorded in the guest (cpu-clock every
100 us on both vCPUs, call chains) and prints a markdown table (JSON with --json FILE).

  kmod_xt_perf.py RESULTS_DIR [--json FILE]      (RESULTS_DIR: OUT/bench, with perf/ and kallsyms)

--perf "xt xtnflog xtrule xt xtnflog xtrule ..." profiles them in turn: set N is xt_N, xtnflog_N
and xtrule_N, and the ratio is the median of the sets'. Per profiled round, in us of guest CPU an event (samples x 100 us / events):
  busy     every sample but the idle loop's and the benchmark's own tools' (perf, the shell
           that polls the reader's socket, cat, ip, sleep)
  target   samples whose call chain holds the target: hookdump_tg (xt_HOOKDUMP.ko) for
           -j HOOKDUMP; nft_log_eval for -j NFLOG, which iptables-nft turns into nft's own
           log expression (nflog_tg under iptables-legacy); what the packet path pays for it
  flush    samples under the batch timers, outside the packet path: call_timer_fn with
           hd_flush_all (hookdump.ko) or __nfulnl_send (nfnetlink_log) above it
  reader   samples of the reader process (hookdump capture), user and kernel
  delivery target + flush + reader: what is the target's and its reader's by call chain
Added cost of a target = busy(rule -j X, its reader) - busy(the same rule, no target, no
reader); the ratio is HOOKDUMP's over NFLOG's. The rule itself (iptables-nft's chain, its
match and counter) is in both and in the rule-alone round, so it cancels out. "busy" still
moves with the host's load (a vCPU descheduled by the host is sampled wherever it stopped:
the rule-alone round's busy moves too); "delivery", which counts only the samples whose call
chain or process is the target's or its reader's, moves less."""
import collections
import json
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kmod_perf_breakdown import PERIOD_US, read_samples  # noqa: E402

IDLE = {"native_safe_halt", "default_idle", "arch_cpu_idle", "cpu_idle_poll", "poll_idle", "acpi_safe_halt"}
FLUSH = ("hd_flush_all", "__nfulnl_send")
TOOLS = {"perf", "bash", "cat", "ip", "sleep"}
TARGETS = {"xt": ("hookdump_tg",), "xtnflog": ("nft_log_eval", "nflog_tg"), "xtrule": ()}
LABELS = {"xt": "iptables `-j HOOKDUMP --hookdump-group 5` + `capture --engine kmod --group 5 -w x.csv`",
          "xtnflog": "iptables `-j NFLOG --nflog-group 5` + `capture --engine nflog --group 5 -w x.csv`",
          "xtrule": "the same rule, no target, no reader"}


def events_of(d, tag):
    """Events of the profiled round: the rule's counter in its iptables-save -c."""
    m = re.search(r"^\[(\d+):\d+\] -A PREROUTING -p udp", open(os.path.join(d, "perf", f"{tag}.ipt")).read(), re.M)
    return int(m.group(1)) if m else 0


def profile(d, kind, n):
    data = os.path.join(d, "perf", f"{kind}_{n}.perf.data")
    if not os.path.exists(data):
        return None
    events = events_of(d, f"{kind}_{n}")
    c = collections.Counter()
    for comm, _cpu, chain in read_samples(data, os.path.join(d, "kallsyms")):
        if chain and chain[0] in IDLE:
            c["idle"] += 1
        elif comm in TOOLS:
            c["tools"] += 1
        else:
            c["busy"] += 1
            if any(t in chain for t in TARGETS[kind]):
                c["target"] += 1
            elif "call_timer_fn" in chain and any(t in chain for t in FLUSH):
                c["flush"] += 1
            elif comm in ("hookdump", "tcpdump"):
                c["reader"] += 1
    c["delivery"] = c["target"] + c["flush"] + c["reader"]
    us = {k: n * PERIOD_US / events for k, n in c.items()} if events else {}
    return {"events": events, "samples": dict(c), "us_per_event": us}


def main():
    d = sys.argv[1]
    json_path = sys.argv[sys.argv.index("--json") + 1] if "--json" in sys.argv else None
    sets = []
    while all(os.path.exists(os.path.join(d, "perf", f"{k}_{len(sets)}.perf.data")) for k in TARGETS):
        sets.append({k: profile(d, k, len(sets)) for k in TARGETS})
    if not sets:
        sys.exit(f"kmod_xt_perf: {d}/perf has no profiled rounds xt_0, xtnflog_0 and xtrule_0")
    print("| set | profiled round (perf, µs of guest CPU an event) | events | busy | in the target | flush | reader | "
          "delivery | busy added to the rule alone |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    per_set = []
    for n, p in enumerate(sets):
        u = {k: v["us_per_event"] for k, v in p.items()}
        added = {k: u[k].get("busy", 0) - u["xtrule"].get("busy", 0) for k in TARGETS}
        for k in TARGETS:
            print(f"| {n} | {LABELS[k]} | {p[k]['events']:,} | {u[k].get('busy', 0):.2f} | "
                  f"{u[k].get('target', 0):.2f} | {u[k].get('flush', 0):.2f} | {u[k].get('reader', 0):.2f} | "
                  f"{u[k].get('delivery', 0):.2f} | "
                  f"{'' if k == 'xtrule' else f'{added[k]:.2f}'} |")
        per_set.append({"added_us_per_event": {"hookdump": added["xt"], "nflog": added["xtnflog"]},
                        "target_us_per_event": {"hookdump": u["xt"].get("target", 0),
                                                "nflog": u["xtnflog"].get("target", 0)},
                        "reader_us_per_event": {"hookdump": u["xt"].get("reader", 0),
                                                "nflog": u["xtnflog"].get("reader", 0)},
                        "delivery_us_per_event": {"hookdump": u["xt"].get("delivery", 0),
                                                  "nflog": u["xtnflog"].get("delivery", 0)},
                        "delivery_ratio": (u["xt"].get("delivery", 0) / u["xtnflog"]["delivery"]
                                           if u["xtnflog"].get("delivery") else None),
                        "ratio": added["xt"] / added["xtnflog"] if added["xtnflog"] > 0 else None,
                        "target_ratio": (u["xt"].get("target", 0) / u["xtnflog"]["target"]
                                         if u["xtnflog"].get("target") else None),
                        "profiles": p})
    ratios = [s["ratio"] for s in per_set if s["ratio"] is not None]
    tratios = [s["target_ratio"] for s in per_set if s["target_ratio"] is not None]
    dratios = [s["delivery_ratio"] for s in per_set if s["delivery_ratio"] is not None]

    def med_of(key, who):
        return statistics.median(s[key][who] for s in per_set)

    ratio, tratio = (statistics.median(ratios) if ratios else None), (statistics.median(tratios) if tratios else None)
    print(f"\nAdded cost per event (busy with the target and its reader minus busy with the rule alone; medians of "
          f"{len(per_set)} sets): HOOKDUMP {med_of('added_us_per_event', 'hookdump'):.2f} µs, NFLOG "
          f"{med_of('added_us_per_event', 'nflog'):.2f} µs: **{ratio:.2f}x** (per set: "
          f"{' '.join(f'{r:.2f}' for r in ratios)}; goal <= 0.25x). In the packet path only (the target's call "
          f"chain): {med_of('target_us_per_event', 'hookdump'):.2f} against "
          f"{med_of('target_us_per_event', 'nflog'):.2f} µs: {tratio:.2f}x (per set: "
          f"{' '.join(f'{r:.2f}' for r in tratios)}). Delivery (target, flush timers and reader by call chain): "
          f"{med_of('delivery_us_per_event', 'hookdump'):.2f} against {med_of('delivery_us_per_event', 'nflog'):.2f} "
          f"µs: {statistics.median(dratios) if dratios else float('nan'):.2f}x (per set: "
          f"{' '.join(f'{r:.2f}' for r in dratios)}).")
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"sets": per_set, "added_cost_ratio_hookdump_over_nflog": ratio, "target_path_ratio": tratio,
                       "delivery_ratio": statistics.median(dratios) if dratios else None,
                       "goal_ratio_at_most": 0.25, "goal_met": bool(ratio is not None and ratio <= 0.25)}, f, indent=2)


if __name__ == "__main__":
    main()

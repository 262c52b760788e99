#!/usr/bin/env python3
"""Turns the raw results of bench/vm/kmod_bench_guest.sh into markdown tables (standard output)
and a JSON summary.  Usage: kmod_bench_report.py RESULTS_DIR JSON_OUT WALL_SECONDS
Exit status 1 when a measurement is missing or the module's ledger does not add up (a goal
missed is not a failure: it is reported)."""
import glob
import json
import os
import re
import statistics
import sys

d, json_path, wall = sys.argv[1], sys.argv[2], int(sys.argv[3])
med = statistics.median
HZ = 100  # USER_HZ: /proc/stat and /proc/PID/stat ticks

env = {}
for line in open(os.path.join(d, "env.txt")):
    k, _, v = line.rstrip("\n").partition(" ")
    env[k] = v


def kv(path):
    return dict(w.split("=", 1) for w in open(path).read().split())


def counters(path):
    out = {}
    for line in open(path):
        f = line.split()
        if len(f) == 2 and f[1].isdigit():
            out[f[0]] = int(f[1])
    return out


def rounds(kind):
    ps = glob.glob(os.path.join(d, f"{kind}_*.txt"))
    return sorted(ps, key=lambda p: int(re.search(r"_(\d+)\.txt$", p).group(1)))


def cpu(r):
    """Guest CPU ticks over the window (tick sampling: under TCG on a busy host ticks get lost,
    so these are indications only): whole guest busy, softirq, idle; the reader's own."""
    g0, p0 = r["cpu0"].split(";")
    g1, p1 = r["cpu1"].split(";")
    g = [b - a for a, b in zip(map(int, g0.split(",")), map(int, g1.split(",")))]
    p = [b - a for a, b in zip(map(int, p0.split(",")), map(int, p1.split(",")))]
    user, nice, system, idle, iowait, irq, softirq = g
    return {"guest_busy_s": (user + nice + system + irq + softirq) / HZ, "guest_softirq_s": softirq / HZ,
            "guest_idle_s": (idle + iowait) / HZ, "reader_cpu_s": sum(p) / HZ}


def common(r, events):
    # flow: trafgen's start to the socket drained; burst: SIGCONT to the socket drained.
    start = float(r.get("t_cont", r["t0"]))
    secs = float(r["t_drained"]) - start
    out = {"round": int(r["round"]), "mode": r.get("mode", "flow"), "window_s": secs,
           "send_s": float(r["t_sent"]) - float(r["t0"]), "rx": int(r["rx"]),
           "events_per_s": events / secs if secs > 0 else None}
    if r.get("rmem_stopped", "-") != "-":
        out["queued_bytes_while_stopped"] = int(r["rmem_stopped"])
    out.update(cpu(r))
    # The receiver's capacity whatever the sender: events per second of guest CPU (both vCPUs:
    # the receive path on the sender's, the reader on the other).
    out["events_per_cpu_s"] = events / out["guest_busy_s"] if out["guest_busy_s"] > 0 else None
    out["reader_cpu_us_per_event"] = 1e6 * out["reader_cpu_s"] / events if events else None
    return out


def refused(tag):
    """pktgen's 'errors': frames veth could not hand to vb's backlog (full: the receive path,
    hooks included, was behind the sender). None for trafgen, and for pktgen-rx (no backlog:
    its 'errors' would be NET_RX_DROP returns)."""
    if env.get("sender") == "pktgen-rx":
        return None
    try:
        m = re.search(r"errors: (\d+)\s*$", open(tag + ".sender").read())
    except OSError:
        return None
    return int(m.group(1)) if m else None


problems = []
kinds = {}

base = []
for p in rounds("base"):
    r = kv(p)
    x = common(r, int(r["rx"]))
    x["offered_per_s"] = x.pop("events_per_s")
    x["sender_refused"] = refused(p[:-4])
    base.append(x)


def kmod_rounds(kind):
    out = []
    for p in rounds(kind):
        r = kv(p)
        tag = p[:-4]
        s0, s1 = counters(tag + ".stats0"), counters(tag + ".stats1")
        delta = {k: s1.get(k, 0) - s0.get(k, 0) for k in s1}
        drops = {k: v for k, v in delta.items() if k.startswith("dropped_")}
        err = open(tag + ".err").read()
        m = re.search(r"(\d+) packets captured, (\d+) received by filter, (\d+) dropped by kernel", err)
        captured = int(m.group(1)) if m else -1
        rows = int(r["rows"])
        exact = (m is not None
                 and delta.get("matched", -1) == delta.get("delivered", 0) + sum(drops.values())
                 and delta.get("queued", -1) == delta.get("delivered", 0) + drops.get("dropped_nobufs", 0)
                 and captured == delta.get("delivered") and (rows < 0 or rows == captured)
                 and m.group(2) == str(delta.get("matched")))
        nosession = kind == "kmod-nosession"
        listener = kind == "xt"
        if listener:
            # capture --group N is a multicast listener: the module counts what it queued (and
            # "delivered" for a session only); every event matched must be in the csv.
            exact = (m is not None and not any(drops.values())
                     and delta.get("matched", -1) == delta.get("queued") == captured == rows
                     and m.group(2) == str(captured) and m.group(3) == "0")
        if nosession:  # no reader: every match is counted as dropped_nosession, nothing sent
            exact = delta.get("matched", -1) == drops.get("dropped_nosession") and delta.get("delivered") == 0
        if not exact:
            problems.append(f"{kind} round {r['round']}: the ledger does not add up: {delta}, "
                            f"capture line {m.group(0) if m else None!r}, csv rows {rows}")
        x = common(r, delta.get("matched", 0) if nosession else captured if listener else delta.get("delivered", 0))
        x.update({"matched": delta.get("matched"), "delivered": captured if listener else delta.get("delivered"),
                  "lost": 0 if nosession else sum(drops.values()), "drops_by_cause": drops, "batches": delta.get("batches"),
                  "events_per_batch": delta.get("delivered", 0) / delta["batches"] if delta.get("batches") else None,
                  "captured": captured, "csv_rows": rows if rows >= 0 else None, "ledger_exact": exact,
                  "sender_refused": refused(tag)})
        out.append(x)
    return out


def nflog_rounds(kind):
    out = []
    for p in rounds(kind):
        r = kv(p)
        tag = p[:-4]
        err = open(tag + ".err").read()
        m = re.search(r"(\d+) packets? captured\n(\d+) packets? received by filter\n"
                      r"(\d+) packets? dropped by kernel", err)
        captured, _received, kdrop = (int(m.group(i)) for i in (1, 2, 3)) if m else (-1, -1, -1)
        cm = re.search(r"counter packets (\d+)", open(tag + ".nft").read())
        matched = int(cm.group(1)) if cm else -1
        if not m or not cm:
            problems.append(f"{kind} round {r['round']}: no tcpdump statistics or nft counter")
        x = common(r, captured)
        x.update({"matched": matched, "delivered": captured, "lost": matched - captured,
                  "tcpdump_dropped_by_kernel": kdrop, "pcap_bytes": int(r["pcap_bytes"]),
                  "sender_refused": refused(tag)})
        out.append(x)
    return out


def xtnflog_rounds(kind):
    """-j NFLOG read by hookdump --engine nflog: its ledger line, its csv rows and the iptables
    rule's counter agree when nothing is lost."""
    out = []
    for p in rounds(kind):
        r = kv(p)
        tag = p[:-4]
        err = open(tag + ".err").read()
        m = re.search(r"(\d+) packets captured, (\d+) received by filter, (\d+) dropped by kernel", err)
        cm = re.search(r"^\[(\d+):\d+\] -A PREROUTING .*-j NFLOG", open(tag + ".ipt").read(), re.M)
        captured = int(m.group(1)) if m else -1
        matched = int(cm.group(1)) if cm else -1
        rows = int(r["rows"])
        exact = bool(m and cm) and captured == rows == matched and m.group(3) == "0"
        if not exact:
            problems.append(f"{kind} round {r['round']}: the ledger does not add up: rule counter {matched}, "
                            f"capture line {m.group(0) if m else None!r}, csv rows {rows}")
        x = common(r, captured)
        x.update({"matched": matched, "delivered": captured, "lost": matched - captured, "csv_rows": rows,
                  "ledger_exact": exact, "sender_refused": refused(tag)})
        out.append(x)
    return out


def xtrule_rounds(kind):
    """The iptables rule of the xt rounds with no target and no reader: the rule's counter is
    what it matched, which must be every datagram hbB received."""
    out = []
    for p in rounds(kind):
        r = kv(p)
        tag = p[:-4]
        cm = re.search(r"^\[(\d+):\d+\] -A PREROUTING -p udp -m udp --dport 9$", open(tag + ".ipt").read(), re.M)
        matched = int(cm.group(1)) if cm else -1
        exact = matched == int(r["rx"])
        if not exact:
            problems.append(f"{kind} round {r['round']}: the rule's counter {matched} is not the {r['rx']} datagrams received")
        x = common(r, matched)
        x.update({"matched": matched, "delivered": None, "lost": 0, "ledger_exact": exact,
                  "sender_refused": refused(tag)})
        out.append(x)
    return out


kinds["kmod"] = kmod_rounds("kmod")
kinds["nflog"] = nflog_rounds("nflog")
kinds["kmodburst"] = kmod_rounds("kmodburst")
kinds["nflogburst"] = nflog_rounds("nflogburst")
for extra in sorted({os.path.basename(p).split("_")[0] for p in glob.glob(os.path.join(d, "kmod-*_*.txt"))}):
    kinds[extra] = kmod_rounds(extra)
if rounds("xt") or rounds("xtnflog"):
    kinds["xt"] = kmod_rounds("xt")
    kinds["xtnflog"] = xtnflog_rounds("xtnflog")
if rounds("xtrule"):
    kinds["xtrule"] = xtrule_rounds("xtrule")
for k in ("kmod", "nflog"):
    if not kinds[k]:
        problems.append(f"no {k} rounds")

iperf = {"none": [], "hooked": [], "hookedboth": []}
for kind in iperf:
    for p in glob.glob(os.path.join(d, f"iperf_{kind}_*.json")):
        j = json.load(open(p))
        rnd, pos = re.search(r"_(\d+)_(\d+)\.json$", p).groups()
        iperf[kind].append({"round": int(rnd), "position": int(pos),
                            "gbit_per_s": j["end"]["sum_received"]["bits_per_second"] / 1e9,
                            "retransmits": j["end"]["sum_sent"].get("retransmits"),
                            "sender_cpu_percent": j["end"].get("cpu_utilization_percent", {}).get("host_total")})
    iperf[kind].sort(key=lambda x: (x["round"], x["position"]))
    if not iperf[kind] and env.get("iperf_rounds") != "0":
        problems.append(f"no iperf3 '{kind}' rounds")


def iperf_round_ratios(kind):
    """Per round: the hooked run / the mean of the same round's two runs without the module."""
    none = {}
    for x in iperf["none"]:
        none.setdefault(x["round"], []).append(x["gbit_per_s"])
    return [x["gbit_per_s"] / statistics.mean(none[x["round"]]) for x in iperf[kind] if none.get(x["round"])]


def m(kind, key):
    vals = [x[key] for x in kinds.get(kind, []) if x.get(key) is not None]
    return med(vals) if vals else None


def pair_ratios(a, b, key):
    """Ratios a/b of the rounds with the same number (run next to each other)."""
    bb = {x["round"]: x[key] for x in b}
    return [x[key] / bb[x["round"]] for x in a if bb.get(x["round"]) and x.get(key) is not None]


def ratio_of(a, b):
    return a / b if a and b else None


k_eps, n_eps = m("kmod", "events_per_s"), m("nflog", "events_per_s")
ratio = ratio_of(k_eps, n_eps)
pairs = pair_ratios(kinds["kmod"], kinds["nflog"], "events_per_s")
kb_eps, nb_eps = m("kmodburst", "events_per_s"), m("nflogburst", "events_per_s")
bratio = ratio_of(kb_eps, nb_eps)
bpairs = pair_ratios(kinds["kmodburst"], kinds["nflogburst"], "events_per_s")
ledger_ok = all(x["ledger_exact"] for k in kinds if k.startswith("kmod") for x in kinds[k]) and bool(kinds["kmod"])
i_med = {k: med([x["gbit_per_s"] for x in v]) if v else None for k, v in iperf.items()}
i_none, i_hook = i_med["none"], i_med["hooked"]
iratio = ratio_of(i_hook, i_none)
ipairs = iperf_round_ratios("hooked")
iratio_both = ratio_of(i_med["hookedboth"], i_none)
ipairs_both = iperf_round_ratios("hookedboth")
offered = med([x["offered_per_s"] for x in base]) if base else None


def added_cost(kind):
    """Per round: the wall time a delivered event added to the sender alone's time per datagram
    (same round), in µs: what the path (hook, netlink, the reader competing for CPU) costs."""
    bb = {x["round"]: x["window_s"] / x["rx"] for x in base if x["rx"]}
    out = []
    for x in kinds.get(kind, []):
        if x["round"] in bb and x.get("matched"):
            out.append({"round": x["round"], "us": 1e6 * (x["window_s"] / x["matched"] - bb[x["round"]])})
    return out


costs = {k: added_cost(k) for k in kinds if not k.endswith("burst")}


def target_cost(kind):
    """Per round: what the target adds to the same iptables rule without a target, in µs an
    event: window / events of the rule -j X, minus window / datagrams of the rule alone (same
    round). The rule's own evaluation, which both targets pay, is taken out."""
    bb = {x["round"]: x["window_s"] / x["matched"] for x in kinds.get("xtrule", []) if x.get("matched", 0) > 0}
    return [{"round": x["round"], "us": 1e6 * (x["window_s"] / x["matched"] - bb[x["round"]])}
            for x in kinds.get(kind, []) if x["round"] in bb and x.get("matched")]


def per_event(kind):
    """Socket bytes (truesize) queued for one event while the reader was stopped."""
    vals = [x["queued_bytes_while_stopped"] / x["matched"] for x in kinds.get(kind, [])
            if x.get("queued_bytes_while_stopped") and x.get("matched")]
    return med(vals) if vals else None
lossless = {k: all(x["lost"] == 0 for x in v) for k, v in kinds.items() if v}
summary = {
    "what": "hookdump.ko vs NFLOG: events/s delivered to userspace; iperf3 TCP with an idle module. "
            "QEMU/TCG guest on a shared host: only the ratios mean something",
    "env": env, "host_wall_seconds": wall,
    "events": {
        "kmod_events_per_s_median": k_eps, "nflog_events_per_s_median": n_eps,
        "ratio_of_medians": ratio, "ratio_per_round": pairs, "ratio_per_round_median": med(pairs) if pairs else None,
        "goal_ratio": 3.0, "goal_met": bool(ratio and ratio >= 3.0 and ledger_ok),
        "kmod_ledger_exact_all_rounds": ledger_ok, "lossless": lossless,
        "sender_alone_datagrams_per_s_median": offered,
        "ratio_ceiling_sender_alone_over_nflog": ratio_of(offered, n_eps),
        "added_us_per_event": {k: {"median": med([c["us"] for c in v]) if v else None, "per_round": v}
                               for k, v in costs.items()},
        "added_cost_ratio_nflog_over_kmod": ratio_of(med([c["us"] for c in costs["nflog"]]) if costs.get("nflog") else None,
                                                     med([c["us"] for c in costs["kmod"]]) if costs.get("kmod") else None),
        "burst": {"kmod_events_per_s_median": kb_eps, "nflog_events_per_s_median": nb_eps,
                  "ratio_of_medians": bratio, "ratio_per_round": bpairs,
                  "ratio_per_round_median": med(bpairs) if bpairs else None,
                  "kmod_queued_bytes_per_event": per_event("kmodburst"),
                  "nflog_queued_bytes_per_event": per_event("nflogburst")},
        "note_cpu": "guest_* and reader_cpu_* come from tick sampling in a TCG guest on a loaded host: indications only",
        "rounds": {"base": base, **kinds},
    },
    "iperf3": {"gbit_per_s_median": i_med,
               "hooked_over_none": {"ratio_of_medians": iratio, "ratio_per_round": ipairs,
                                    "ratio_per_round_median": med(ipairs) if ipairs else None},
               "hookedboth_over_none": {"ratio_of_medians": iratio_both, "ratio_per_round": ipairs_both,
                                        "ratio_per_round_median": med(ipairs_both) if ipairs_both else None},
               "goal_ratio": 0.97, "goal_met": bool(iratio and iratio >= 0.97), "rounds": iperf},
    "problems": problems,
}


def per_round(xs, key, fmt):
    return " ".join(fmt.format(x[key]) if x.get(key) is not None else "-" for x in xs)


def num(v, fmt="{:,.0f}"):
    return fmt.format(v) if v is not None else "-"


def nums(vs, fmt="{:.2f}"):
    return " ".join(fmt.format(v) for v in vs)


labels = {
    "kmod": "hookdump.ko → `hookdump capture --engine kmod -w x.csv`",
    "nflog": "nft `log group 5` → `tcpdump -i nflog:5 -w x.pcap`",
    "kmodburst": "hookdump.ko → `hookdump capture --engine kmod -w x.csv`",
    "nflogburst": "nft `log group 5` → `tcpdump -i nflog:5 -w x.pcap`",
    "kmod-null": "hookdump.ko → `hookdump capture --engine kmod -o csv >/dev/null`",
    "kmod-skip": "hookdump.ko → `hookdump capture --engine kmod -w x.pcap` (no bytes: read, decode, skip)",
    "kmod-nosession": "hookdump.ko, the rule and no reader (matched, counted, nothing sent)",
    "xt": "iptables `-j HOOKDUMP --hookdump-group 5` → `hookdump capture --engine kmod --group 5 -w x.csv`",
    "xtnflog": "iptables `-j NFLOG --nflog-group 5` → `hookdump capture --engine nflog --group 5 -w x.csv`",
    "xtrule": "the same iptables rule with no target, no reader (its counter only)",
}


for k in kinds:
    if k.startswith("kmod-batch"):
        labels[k] = f"hookdump.ko, batch_events={k[len('kmod-batch'):]} → `hookdump capture --engine kmod -w x.csv`"


def row(k):
    print(f"| {labels.get(k, k)} | {num(m(k, 'events_per_s'))} | {num(m(k, 'events_per_cpu_s'))} | {num(m(k, 'matched'))} | "
          f"{num(m(k, 'delivered'))} | {num(m(k, 'lost'))} | {num(m(k, 'window_s'), '{:.2f}')} | "
          f"{per_round(kinds[k], 'events_per_s', '{:,.0f}')} |")


sender = env.get("sender", "trafgen")
cpu_ratio = ratio_of(m("kmod", "events_per_cpu_s"), m("nflog", "events_per_cpu_s"))
summary["events"]["sender"] = sender
summary["events"]["ratio_events_per_cpu_s"] = cpu_ratio


print("\n### Events delivered to userspace: hookdump.ko vs NFLOG\n")
who = {"pktgen": "pktgen (a kernel thread in hbA) transmits on va UDP datagrams ({} bytes of payload) to hbB's "
                 "closed port 9 over veth",
       "pktgen-rx": "pktgen (a kernel thread in hbB, xmit_mode netif_receive on vb: one skb injected up to 100 "
                    "times) hands vb's receive path UDP datagrams ({} bytes of payload) to port 9 of 198.18.0.3, "
                    "dropped by IP after prerouting; counted by hbB's Ip InReceives"}.get(
    sender, "trafgen (%s process) sends from va UDP datagrams ({} bytes of payload) to hbB's closed port 9 over "
    "veth" % env.get("senders")).format(env.get("payload"))
print(f"QEMU/TCG guest, kernel {env.get('kernel')}, {env.get('nproc')} vCPUs. Traffic: {who}; one rule at "
      f"prerouting in hbB. {len(kinds['kmod'])} rounds, each running every reader once in rotated order; medians.\n")
print(f"**Flow**: {env.get('packets')} datagrams as fast as {sender} sends them while the reader reads; window: "
      f"{sender}'s start to the reader's socket drained. events/CPU-s: delivered events per second of busy guest "
      f"CPU (both vCPUs, tick-sampled).\n")
hdr = ("| reader | events/s | events/CPU-s | matched | delivered | lost | window s | events/s per round |\n"
       "|---|---:|---:|---:|---:|---:|---:|---|")
print(hdr)
for k in kinds:
    if kinds[k] and not k.endswith("burst"):
        row(k)
if base:
    print(f"| (no rule, no reader: {sender} alone, datagrams/s) | {num(offered)} | | | | | "
          f"{num(med([x['window_s'] for x in base]), '{:.2f}')} | {per_round(base, 'offered_per_s', '{:,.0f}')} |")
print(f"\n**kmod / NFLOG: {num(ratio, '{:.2f}')}x** (ratio of medians; per round: {nums(pairs)}; goal >= 3x); "
      f"per CPU-second: {num(cpu_ratio, '{:.2f}')}x.")
if offered and n_eps:
    print(f"\nCeiling: no reader can get more events/s than the sender alone offers ({num(offered)}/s), so with "
          f"this sender the kmod / NFLOG ratio cannot exceed {offered / n_eps:.2f}x, however cheap the module.")
ac = summary["events"]["added_us_per_event"]
if ac.get("kmod", {}).get("median") is not None and ac.get("nflog", {}).get("median") is not None:
    print(f"\nWhat each path adds to the sender alone's time, per event (window / events - the same round's "
          f"sender-alone time per datagram; medians): " +
          ", ".join(f"{k} {num(v['median'], '{:.1f}')} µs" for k, v in ac.items() if v["median"] is not None) +
          f"; NFLOG / kmod = **{num(summary['events']['added_cost_ratio_nflog_over_kmod'], '{:.2f}')}x**.")
if kinds.get("xt") and kinds.get("xtnflog"):
    xt_cost = med([c["us"] for c in costs["xt"]]) if costs.get("xt") else None
    xn_cost = med([c["us"] for c in costs["xtnflog"]]) if costs.get("xtnflog") else None
    xt_pairs = pair_ratios(kinds["xt"], kinds["xtnflog"], "events_per_s")
    cost_pairs = [a["us"] / b["us"] for a in costs["xt"] for b in costs["xtnflog"]
                  if a["round"] == b["round"] and b["us"] > 0]
    xt_ok = all(x["ledger_exact"] for k in ("xt", "xtnflog") for x in kinds[k])
    summary["events"]["xt"] = {
        "events_per_s_ratio_of_medians": ratio_of(m("xt", "events_per_s"), m("xtnflog", "events_per_s")),
        "events_per_s_ratio_per_round": xt_pairs,
        "added_us_per_event": {"hookdump_target": xt_cost, "nflog_target": xn_cost},
        "added_cost_ratio_hookdump_over_nflog": ratio_of(xt_cost, xn_cost),
        "added_cost_ratio_per_round": cost_pairs,
        "goal_ratio_at_most": 0.25, "goal_met": bool(xt_cost and xn_cost and xt_cost / xn_cost <= 0.25 and xt_ok),
        "ledgers_exact_all_rounds": xt_ok}
    if kinds.get("xtrule"):
        tc = {k: target_cost(k) for k in ("xt", "xtnflog")}
        tmed = {k: med([c["us"] for c in v]) if v else None for k, v in tc.items()}
        tpairs = [a["us"] / b["us"] for a in tc["xt"] for b in tc["xtnflog"] if a["round"] == b["round"] and b["us"] > 0]
        summary["events"]["xt"]["target_only"] = {
            "definition": "cost(rule -j X) - cost(rule alone), window/events of each, same round",
            "us_per_event": {"hookdump_target": tmed["xt"], "nflog_target": tmed["xtnflog"]},
            "per_round": tc, "ratio_hookdump_over_nflog": ratio_of(tmed["xt"], tmed["xtnflog"]),
            "ratio_per_round": tpairs,
            "goal_met": bool(tmed["xt"] and tmed["xtnflog"] and tmed["xt"] / tmed["xtnflog"] <= 0.25 and xt_ok)}
    print(f"\n**iptables -j HOOKDUMP against -j NFLOG** (one rule, raw PREROUTING, iptables-nft; both read by "
          f"hookdump, csv): events/s {num(summary['events']['xt']['events_per_s_ratio_of_medians'], '{:.2f}')}x "
          f"(per round: {nums(xt_pairs)}); added cost per event HOOKDUMP {num(xt_cost, '{:.2f}')} µs, NFLOG "
          f"{num(xn_cost, '{:.2f}')} µs: **{num(ratio_of(xt_cost, xn_cost), '{:.2f}')}x** (per round: "
          f"{nums(cost_pairs)}; goal <= 0.25x). Ledgers exact (HOOKDUMP: the module's counters and the capture; "
          f"NFLOG: the rule's counter, hookdump's ledger and the csv rows): "
          f"{sum(x['ledger_exact'] for k in ('xt', 'xtnflog') for x in kinds[k])}"
          f"/{len(kinds['xt']) + len(kinds['xtnflog'])} rounds.")
    if "target_only" in summary["events"]["xt"]:
        t = summary["events"]["xt"]["target_only"]
        print(f"\n**The target's own added cost** (window / events of the rule -j X minus window / datagrams of the "
              f"same rule with no target, same round; medians): HOOKDUMP {num(t['us_per_event']['hookdump_target'], '{:.2f}')} µs, "
              f"NFLOG {num(t['us_per_event']['nflog_target'], '{:.2f}')} µs: **{num(t['ratio_hookdump_over_nflog'], '{:.2f}')}x** "
              f"(per round: {nums(t['ratio_per_round'])}; goal <= 0.25x). Rule alone: "
              f"{per_round(kinds['xtrule'], 'window_s', '{:.2f}')} s for {env.get('packets')} datagrams, counter exact in "
              f"{sum(x['ledger_exact'] for x in kinds['xtrule'])}/{len(kinds['xtrule'])} rounds.")
if kinds["kmodburst"]:
    print(f"\n**Burst**: the reader stopped (SIGSTOP) while {env.get('burst')} datagrams go through, their events "
          f"waiting in its socket (8 MiB); window: SIGCONT to the socket drained. The rate at which each reader "
          f"takes events out of its socket, whatever the sender can offer.\n")
    print(hdr)
    for k in ("kmodburst", "nflogburst"):
        if kinds[k]:
            row(k)
    print(f"\n**kmod / NFLOG, burst: {num(bratio, '{:.2f}')}x** (per round: {nums(bpairs)}). Bytes queued a "
          f"event: kmod {num(summary['events']['burst']['kmod_queued_bytes_per_event'])}, NFLOG "
          f"{num(summary['events']['burst']['nflog_queued_bytes_per_event'])}.")
print(f"\nModule ledger (matched = delivered + drops, queued = delivered + ENOBUFS drops, capture rows = delivered"
      f"): exact in {sum(x['ledger_exact'] for k in kinds if k.startswith('kmod') for x in kinds[k])}"
      f"/{sum(len(v) for k, v in kinds.items() if k.startswith('kmod'))} rounds. NFLOG: nft counter - tcpdump's "
      f"captured = {per_round(kinds['nflog'] + kinds['nflogburst'], 'lost', '{}')}; tcpdump 'dropped by kernel' "
      f"(ENOBUFS errors): {per_round(kinds['nflog'] + kinds['nflogburst'], 'tcpdump_dropped_by_kernel', '{}')}.")
saturated = {k: [x["sender_refused"] for x in kinds[k]] for k in ("kmod", "nflog")
             if kinds[k] and all(x.get("sender_refused") is not None for x in kinds[k])}
if saturated:
    print("\npktgen frames refused at vb's backlog (full: the receive path, hooks and logging included, behind the "
          "sender) per flow round: " + "; ".join(f"{k} {' '.join(map(str, v))}" for k, v in saturated.items()) +
          (f"; {sender} alone {' '.join(str(x['sender_refused']) for x in base)}" if base else "") + ".")
if lossless.get("kmod") and lossless.get("nflog"):
    if saturated and all(sum(v) > 0 for v in saturated.values()):
        print("\nNeither reader lost an event, yet both receive paths refused frames: the delivered rates are what the "
              "guest's receive side (the kernel path on the sender's vCPU, the reader on the other, both vCPUs on a "
              "shared host) can carry, not what the sender offers.")
    else:
        print("\nIn the flow rounds neither reader lost an event: where the sender was not refused frames, those rates "
              "are bounded by the traffic generator (slowed by what each path adds to the packet path and by the "
              "reader competing for the host's CPU), not by either delivery path's capacity.")
print(f"\n### TCP stream: iperf3 -t {env.get('iperf_seconds')} -O 1, hbA → hbB over veth\n")
print(f"{env.get('iperf_rounds')} rounds of none, hooked, none, hookedboth (order rotated each round); the module "
      f"loaded afresh for each hooked run; medians.\n")
print("| setup | Gbit/s | / no module | Gbit/s per run |")
print("|---|---:|---:|---|")
print(f"| no module | {num(i_none, '{:.3f}')} | | {per_round(iperf['none'], 'gbit_per_s', '{:.3f}')} |")
print(f"| hookdump.ko, a rule matching nothing (--dst 198.19.255.254 --hooks all) in both namespaces: 5 hooks each "
      f"| {num(i_hook, '{:.3f}')} | {num(iratio, '{:.3f}')} | {per_round(iperf['hooked'], 'gbit_per_s', '{:.3f}')} |")
print(f"| the same rule in both slots (--priority both): 10 hooks each "
      f"| {num(i_med['hookedboth'], '{:.3f}')} | {num(iratio_both, '{:.3f}')} | {per_round(iperf['hookedboth'], 'gbit_per_s', '{:.3f}')} |")
print(f"\n**with / without (5 hooks a namespace): {num(iratio, '{:.3f}')}** (ratio of medians; per round, against the "
      f"round's runs without the module: {nums(ipairs)}, median {num(med(ipairs) if ipairs else None, '{:.3f}')}; "
      f"goal >= 0.97). Both slots: {num(iratio_both, '{:.3f}')} (per round: {nums(ipairs_both)}).")
print(f"\nbenchmark wall time {wall} s (guest: part 1 {env.get('part1_seconds')} s, part 2 {env.get('part2_seconds')} s); "
      f"module parameters: batch_events={env.get('param_batch_events')} flush_ms={env.get('param_flush_ms')}; JSON: {json_path}")
for p in problems:
    print("PROBLEM:", p)
os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
with open(json_path, "w") as f:
    json.dump(summary, f, indent=2)
sys.exit(1 if problems else 0)

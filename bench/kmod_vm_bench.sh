#!/usr/bin/env bash
# hookdump.ko vs NFLOG, and the cost of loaded-but-idle hooks on a TCP stream, measured in one
# QEMU/TCG guest (Debian's 6.1 kernel; tests/vm/run-vm.sh), in one command:
#
#   bench/kmod_vm_bench.sh [--build-dir DIR] [--hookdump FILE] [--kmod FILE] [-n PACKETS]
#                          [-r ROUNDS] [--burst N] [--payload BYTES] [--sender KIND] [--senders N]
#                          [--iperf-rounds N] [--iperf-seconds S] [--kmod-params PARAMS]
#                          [--extra VARIANTS] [--xt] [--perf KINDS] [--perf-raw] [--kmod-b FILE]
#                          [--out DIR] [--json FILE]
#
#   --build-dir DIR   a CMake build tree with hookdump (default build/); the VM's initramfs is
#                     cached in DIR/vm/
#   --hookdump FILE   the hookdump binary (default DIR/hookdump)
#   --kmod FILE       hookdump.ko built for the guest's kernel (default kmod/hookdump.ko; built
#                     with make -C kmod KDIR=/lib/modules/6.1.*/build when missing)
#   -n PACKETS        UDP datagrams a round (200000)
#   -r ROUNDS         rounds of each of kmod and NFLOG, interleaved (5)
#   --burst N         datagrams of a "burst" round (readers stopped, then drained; 30000; 0: none)
#   --payload BYTES   UDP payload of each datagram (18: 60-byte frames)
#   --sender KIND     pktgen-rx (default: the kernel's packet generator, a kernel thread in the
#                     guest, injecting into vb's receive path, xmit_mode netif_receive: one skb
#                     for up to 100 datagrams, dropped after prerouting; the cheapest sender),
#                     pktgen (the same thread transmitting on va: a fresh skb a datagram, through
#                     veth and vb's backlog, delivered to a closed port) or trafgen (userspace)
#   --senders N       trafgen processes (1)
#   --iperf-rounds N  iperf3 rounds: none, hooked, none, hookedboth each (6)
#   --iperf-seconds S length of one iperf3 round, after a first second not counted (4)
#   --kmod-params P   insmod parameters, e.g. "batch_events=32 flush_ms=20" (default: none)
#   --extra VARIANTS  for investigation, more kmod rounds, e.g. "null skip batch16 nosession":
#                     null (-o csv >/dev/null), skip (-w x.pcap without -s: read and decode
#                     only), batchN (batch_events=N), nosession (the rule, no reader)
#   --xt              also -j HOOKDUMP against -j NFLOG on one iptables rule (iptables-nft, raw
#                     PREROUTING), each read by hookdump (--engine kmod --group 5, --engine
#                     nflog --group 5); needs xt_HOOKDUMP.ko beside --kmod's file and
#                     DIR/xtables/libxt_HOOKDUMP.so; and the same rule with no target, no
#                     reader (xtrule), so that the target's own cost can be taken apart
#   --perf KINDS      before the measured rounds, one round of each of KINDS (kmod nflog base;
#                     with --xt also xt xtnflog xtrule)
#                     under 'perf record -e cpu-clock -c 100000 -a -g': reports in OUT/bench/perf/;
#                     with all three xt kinds, bench/vm/kmod_xt_perf.py's table follows the report;
#                     kmodb and xtb: kmod and xt on --kmod-b's module (an A/B of two builds in
#                     one guest, bench/vm/kmod_ab_perf.py; its table follows too)
#   --perf-raw        keep only each profile's perf.data (no perf report in the guest: faster)
#   --kmod-b FILE     another hookdump.ko (xt_HOOKDUMP.ko beside it) for --perf's kmodb, xtb
#   --out DIR         the VM's results share (default bench/out/kmod_vm/); emptied first
#   --json FILE       the summary (default bench/out/kmod_vm.json)
#
# Under TCG absolute figures mean nothing (and depend on the host's load): only the ratios,
# measured on the same traffic in the same guest, interleaved, are worth reading. Prints a
# markdown table; what is measured is described in bench/vm/kmod_bench_guest.sh and in
# bench/README.md. Needs root (QEMU reads the kernel image; mode 0600 on Debian), QEMU, and in
# the host's root (which the guest runs): trafgen (netsniff-ng), nft (nftables), tcpdump,
# iperf3 -- scripts/bootstrap installs them. Exit status: 0 measured (goals met or not), 1 the
# measurement failed, 77 the VM cannot start here.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

build_dir=$root/build hookdump= ko=$root/kmod/hookdump.ko packets=200000 rounds=5 burst=30000
payload=18 sender=pktgen-rx senders=1 iperf_rounds=6 iperf_seconds=4 kmod_params= extra= perf= xt= ko_b= perf_raw=
out=$root/bench/out/kmod_vm json=$root/bench/out/kmod_vm.json
while (($#)); do
  case $1 in
    --build-dir) build_dir=$2; shift 2 ;;
    --hookdump) hookdump=$2; shift 2 ;;
    --kmod) ko=$2; shift 2 ;;
    --perf-raw) perf_raw=1; shift ;;
    --kmod-b) ko_b=$(realpath "$2"); shift 2 ;;
    -n) packets=$2; shift 2 ;;
    -r) rounds=$2; shift 2 ;;
    --iperf-rounds) iperf_rounds=$2; shift 2 ;;
    --iperf-seconds) iperf_seconds=$2; shift 2 ;;
    --kmod-params) kmod_params=$2; shift 2 ;;
    --extra) extra=$2; shift 2 ;;
    --xt) xt=1; shift ;;
    --perf) perf=$2; shift 2 ;;
    --sender) sender=$2; shift 2 ;;
    --senders) senders=$2; shift 2 ;;
    --payload) payload=$2; shift 2 ;;
    --burst) burst=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --json) json=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "kmod_vm_bench: unknown argument $1" >&2; exit 1 ;;
  esac
done
case $sender in
  pktgen|pktgen-rx|trafgen) ;;
  *) echo "kmod_vm_bench: --sender is pktgen, pktgen-rx or trafgen, not $sender" >&2; exit 1 ;;
esac
build_dir=$(cd "$build_dir" && pwd)
hookdump=$(realpath "${hookdump:-$build_dir/hookdump}")
[[ -x $hookdump ]] || {
  echo "kmod_vm_bench: $hookdump is not built (cmake -S . -B build && cmake --build build)" >&2; exit 1
}
ko=$(realpath "$ko")
for t in trafgen nft tcpdump iperf3; do
  command -v $t >/dev/null || { echo "kmod_vm_bench: $t is missing (scripts/bootstrap installs it)" >&2; exit 1; }
done
if [[ ! -f $ko ]]; then
  kdir=$(ls -d /lib/modules/6.1.*/build 2>/dev/null | sort -V | tail -n1)
  [[ -n $kdir ]] || { echo "kmod_vm_bench: no 6.1 kernel headers (linux-headers-amd64)" >&2; exit 1; }
  make -C "$root/kmod" KDIR="$kdir"
fi

# The case run-vm.sh runs: a wrapper (its name is the case's name) that passes the settings.
case_dir=$root/bench/out/vm
mkdir -p "$case_dir" "$(dirname "$json")"
wrapper=$case_dir/kmod_vm_bench.sh
{
  echo '#!/bin/bash'
  echo '# written by bench/kmod_vm_bench.sh'
  printf 'export BENCH_PACKETS=%q BENCH_BURST=%q BENCH_ROUNDS=%q BENCH_IPERF_ROUNDS=%q BENCH_IPERF_SECONDS=%q\n' \
    "$packets" "$burst" "$rounds" "$iperf_rounds" "$iperf_seconds"
  printf 'export BENCH_SENDER=%q BENCH_PERF=%q BENCH_XT=%q BENCH_KMOD_B=%q BENCH_PERF_RAW=%q\n' "$sender" "$perf" "$xt" "$ko_b" "$perf_raw"
  printf 'export BENCH_KMOD_PARAMS=%q BENCH_EXTRA=%q BENCH_SENDERS=%q BENCH_PAYLOAD=%q HOOKDUMP_KMOD=%q\n' \
    "$kmod_params" "$extra" "$senders" "$payload" "$ko"
  printf 'exec /bin/bash %q\n' "$here/vm/kmod_bench_guest.sh"
} >"$wrapper"

# Generous limits: TCG, and a host that may be busy.
limit=$((600 + (rounds + 1) * (packets + burst) / 200 + iperf_rounds * 4 * (iperf_seconds + 30)))
[[ -z $xt ]] || limit=$((limit + rounds * 2 * (packets / 200 + 30)))
t0=$(date +%s)
rc=0
"$root/tests/vm/run-vm.sh" --build-dir "$build_dir" --hookdump "$hookdump" --out "$out" \
  --case-timeout "$limit" --timeout $((limit + 300)) "$wrapper" || rc=$?
wall=$(($(date +%s) - t0))
((rc != 77)) || exit 77
if [[ ! -f $out/bench/complete ]]; then
  echo "kmod_vm_bench: the guest did not complete the benchmark (run-vm exit $rc); its output:" >&2
  tail -n 40 "$out/cases/kmod_vm_bench.out" >&2 || true
  exit 1
fi

rc=0
python3 "$here/vm/kmod_bench_report.py" "$out/bench" "$json" "$wall" || rc=$?
# --xt --perf "xt xtnflog xtrule": the same comparison by perf samples (bench/vm/kmod_xt_perf.py).
if [[ -f $out/bench/perf/xt_0.perf.data && -f $out/bench/perf/xtnflog_0.perf.data && -f $out/bench/perf/xtrule_0.perf.data ]]; then
  echo
  python3 "$here/vm/kmod_xt_perf.py" "$out/bench" --json "${json%.json}.xt-perf.json" || rc=1
fi
if compgen -G "$out/bench/perf/*b_0.perf.data" >/dev/null; then
  echo
  python3 "$here/vm/kmod_ab_perf.py" "$out/bench" --json "${json%.json}.ab-perf.json" || rc=1
fi
exit $rc

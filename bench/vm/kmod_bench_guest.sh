#!/bin/bash
# The guest side of bench/kmod_vm_bench.sh: run inside the QEMU/TCG guest by
# tests/vm/run-vm.sh as a case script (through a wrapper that bench/kmod_vm_bench.sh writes,
# which exports the BENCH_* settings below). Not a test: it measures, and fails only when a
# measurement could not be taken. Raw results go to $VM_RESULTS/bench/ (the writable share);
# the host script turns them into the table and the JSON.
#
# Topology: namespaces hbA (va, 198.18.0.1/24) and hbB (vb, 198.18.0.2/24) joined by veth.
#
# Part 1, events delivered to userspace (BENCH_ROUNDS rounds; each runs every reader once, the
# order rotated from round to round):
#   kmod   hookdump.ko, one rule (udp dport 9, prerouting, first slot) in hbB, read by
#          'hookdump capture --engine kmod -q -w /tmp/...csv'
#   nflog  nft 'udp dport 9 counter log group 5' (prerouting, priority raw) in hbB, read by
#          'tcpdump -i nflog:5 -B 8192 -w /tmp/...pcap'
#   base   neither (the sender alone), once a round: what the sender can offer
#   kmodburst, nflogburst   the same readers, stopped (SIGSTOP) while BENCH_BURST datagrams
#          go through, so that their events wait in the reader's socket (8 MiB for both); then
#          let go: the window runs from SIGCONT to the socket drained. This is the rate at which
#          the reader takes events out of its socket, whatever the sender can offer.
# Traffic: BENCH_PACKETS UDP datagrams (BENCH_PAYLOAD bytes of payload, 18 by default: 60-byte
# frames) from 198.18.0.1:40000 to port 9, as fast as the sender (BENCH_SENDER) goes: pktgen-rx
# (default) injects them at vb's receive path in hbB, to 198.18.0.3 (dropped after prerouting);
# pktgen or trafgen (BENCH_SENDERS processes) send them from va to 198.18.0.2 (up hbB's stack
# to a closed port). See pktgen_setup. A flow round's window runs from the sender's start to
# the moment every netlink socket of the reader's namespace has been drained (Rmem 0 in
# /proc/PID/net/netlink, polled with shell builtins).
# BENCH_EXTRA adds kmod variants for investigation: null, skip, batchN, nosession (see below).
# BENCH_XT=1 adds two readers of one iptables rule (iptables-nft, raw PREROUTING,
# '-p udp --dport 9') in hbB, both read by hookdump itself:
#   xt       -j HOOKDUMP --hookdump-group 5 (xt_HOOKDUMP.ko), 'hookdump capture --engine kmod
#            --group 5 -q -w /tmp/...csv'
#   xtnflog  -j NFLOG --nflog-group 5, 'hookdump capture --engine nflog --group 5 -q -w
#            /tmp/...csv'
#   xtrule   the same rule with no target (iptables-nft's counter only) and no reader: what
#            the rule itself costs, which both targets pay; cost(rule -j X) - cost(rule alone)
#            is the target's own added cost
#
# Part 2, TCP throughput (BENCH_IPERF_ROUNDS rounds of none, hooked, none, hookedboth, the order
# rotated each round): iperf3 -t BENCH_IPERF_SECONDS -O 1 (the first second not counted) from
# hbA to hbB, with no module loaded ("none") vs hookdump.ko freshly loaded with a rule that
# matches nothing (--dst 198.19.255.254, every hook) in both namespaces, in the first slot
# ("hooked": 5 hooks a namespace) or in both slots ("hookedboth": 10).
source "$HOOKDUMP_SRC/tests/vm/lib.sh"
vm_require_hookdump

N=${BENCH_PACKETS:-200000}
ROUNDS=${BENCH_ROUNDS:-5}
IPERF_ROUNDS=${BENCH_IPERF_ROUNDS:-6}
IPERF_SECONDS=${BENCH_IPERF_SECONDS:-4}
KMOD_PARAMS=${BENCH_KMOD_PARAMS:-}
BURST=${BENCH_BURST:-30000}   # datagrams of a burst round (0: none)
PAYLOAD=${BENCH_PAYLOAD:-18}  # UDP payload bytes: 18 makes 60-byte frames
SENDER=${BENCH_SENDER:-pktgen-rx}   # pktgen-rx (a kernel thread at vb's receive), pktgen (at va), trafgen
PERF=${BENCH_PERF:-}   # profile one extra round of these kinds first (kmod nflog base xt xtnflog xtrule; kmodb xtb: kmod, xt on BENCH_KMOD_B; a kind named twice, twice), into $OUT/perf/
SENDERS=${BENCH_SENDERS:-1}   # trafgen processes (-P)
EXTRA=${BENCH_EXTRA:-}   # investigation: more kmod variants a round (null, skip, batchN, nosession)
XT=${BENCH_XT:-}   # 1: the iptables rounds, -j HOOKDUMP and -j NFLOG (xt, xtnflog)
KO=${HOOKDUMP_KMOD:-$HOOKDUMP_SRC/kmod/hookdump.ko}
KO_A=$KO KO_B=${BENCH_KMOD_B:-}   # B: another build of the module, for the profiles' kmodb, xtb
B=   # "b" while a round runs on KO_B: its kind is kmodb or xtb
OUT=$VM_RESULTS/bench
mkdir -p "$OUT" || vm_fail "mkdir $OUT"
HD=$HOOKDUMP_BIN

for t in trafgen nft tcpdump iperf3 insmod; do
  command -v $t >/dev/null || vm_fail "$t is not installed on the host root (scripts/bootstrap installs it)"
done
[[ -f $KO ]] || vm_fail "$KO is not built (make -C kmod KDIR=/lib/modules/$VM_KVER/build)"
[[ -z $KO_B || -f $KO_B ]] || vm_fail "$KO_B (BENCH_KMOD_B) is missing"

# Sleeping without starting a process (each costs ~0.1-1 s under TCG): read with a timeout on
# a FIFO nobody writes to (the guest has no /dev/fd for a process substitution).
mkfifo "$VM_CASE_TMP/nap" || vm_fail "mkfifo"
exec {nap_fd}<>"$VM_CASE_TMP/nap"
nap() { read -rt "$1" -u "$nap_fd" || true; }

# rmem PID: sets RMEM to the bytes queued in every netlink socket of PID's network namespace.
rmem() {
  local _sk _eth _pid _groups r _rest
  RMEM=0
  { read -r _rest
    while read -r _sk _eth _pid _groups r _rest; do ((RMEM += r)); done; } </proc/$1/net/netlink
}

# cpu PID: sets CPU to "user,nice,system,idle,iowait,irq,softirq" of the whole guest and
# "utime,stime" of PID (clock ticks), from /proc.
cpu() {
  local _c u n sy id io irq sirq _rest f
  read -r _c u n sy id io irq sirq _rest </proc/stat
  read -ra f </proc/$1/stat
  CPU="$u,$n,$sy,$id,$io,$irq,$sirq;${f[13]},${f[14]}"
}

# wait_line FILE PATTERN: waits (up to 60 s) until FILE has a line starting with PATTERN.
wait_line() {
  local i line
  for ((i = 0; i < 600; i++)); do
    if [[ -f $1 ]]; then
      while IFS= read -r line; do [[ $line == "$2"* ]] && return 0; done <"$1"
    fi
    nap 0.1
  done
  cat "$1"
  vm_fail "no '$2' in $1"
}

# drain PID: after the sender is done, waits until PID's namespace holds no queued netlink
# data; sets T_DRAINED to that moment (EPOCHREALTIME).
drain() {
  local i
  for ((i = 0; i < 6000; i++)); do
    rmem "$1"
    if ((RMEM == 0)); then T_DRAINED=$EPOCHREALTIME; return 0; fi
    nap 0.01
  done
  vm_fail "the reader (pid $1) did not drain its socket in 60 s"
}

# send LOG COUNT: COUNT frames from va (or, pktgen-rx, injected at vb); sets T0 and T_SENT.
send() {
  if [[ $SENDER == pktgen* ]]; then
    # pktgen: its thread transmits on va, and veth hands each frame to vb's backlog on the same
    # CPU: that CPU runs the whole receive path (hooks, rules, batching), the other is left to
    # the reader. pktgen-rx: its thread (in hbB) hands the frame to netif_receive_skb on vb
    # itself, the same skb up to $(pg_burst COUNT) times in a row (see pktgen_setup). T0 is
    # taken inside the namespace, after the process start-up.
    local ns=hbA dev=va burst=
    [[ $SENDER == pktgen-rx ]] && { ns=hbB dev=vb burst="echo 'burst $(pg_burst "$2")' >/proc/net/pktgen/vb || exit 1"; }
    ip netns exec $ns /bin/bash -c "echo 'count $2' >/proc/net/pktgen/$dev || exit 1
      $burst
      echo \$EPOCHREALTIME >$VM_CASE_TMP/pktgen.t0
      echo start >/proc/net/pktgen/pgctrl && cat /proc/net/pktgen/$dev" >"$1" 2>&1 \
      || { cat "$1"; vm_fail "pktgen"; }
    T_SENT=$EPOCHREALTIME
    T0=$(<"$VM_CASE_TMP/pktgen.t0")
    return
  fi
  T0=$EPOCHREALTIME
  ip netns exec hbA trafgen -o va -i "$VM_CASE_TMP/udp.cfg" -n "$2" -P "$SENDERS" --no-sock-mem --notouch-irq --no-cpu-stats >"$1" 2>&1 \
    || { cat "$1"; vm_fail "trafgen"; }
  T_SENT=$EPOCHREALTIME
}

# pg_burst COUNT: how many times pktgen-rx injects one skb: the largest divisor of COUNT up to
# 100 (pktgen counts a whole burst, so COUNT stays exact; bottom halves stay off for a burst).
pg_burst() {
  local b=100
  while (($1 % b)); do ((b--)); done
  echo $b
}

# pktgen_setup: one pktgen device on thread 0, sending the same datagram as trafgen's udp.cfg
# (60-byte frames, 198.18.0.1:40000 -> 198.18.0.2:9; no clone: veth delivers the skb itself).
# pktgen: va in hbA. pktgen-rx: vb in hbB, xmit_mode netif_receive: the frame enters vb's
# receive path directly and one skb is injected for a whole burst (pg_burst), which saves the
# skb's allocation and filling, veth's transmit and the backlog (ip_rcv still works on a clone:
# pktgen's reference makes the skb shared). dst_mac is vb's own: eth_type_trans makes it
# PACKET_HOST (any other and ip_rcv drops it as PACKET_OTHERHOST). The destination is
# 198.18.0.3, on vb's subnet but not hbB's, and forwarding is off: after prerouting, where both
# rules look, IP drops it (ip_error, counted in InAddrErrors). A datagram to a closed local port
# costs more (local delivery and an ICMP port unreachable with its route lookup: 9.1 against
# 5.3 us a datagram in one profile; 49k against 59k datagrams/s with no rule).
pktgen_setup() {
  local ns=hbA dev=va mode= dst=198.18.0.2
  [[ $SENDER == pktgen-rx ]] && { ns=hbB dev=vb mode="'xmit_mode netif_receive'" dst=198.18.0.3; }
  modprobe pktgen || vm_fail "modprobe pktgen"
  ip netns exec $ns /bin/bash -c "set -e
    pg() { echo \"\$2\" >/proc/net/pktgen/\$1; }
    pg kpktgend_0 rem_device_all
    pg kpktgend_0 'add_device $dev'
    for c in 'clone_skb 0' $mode 'burst 1' 'delay 0' 'pkt_size $((PAYLOAD + 42))' 'dst $dst' \
      'src_min 198.18.0.1' 'src_max 198.18.0.1' 'dst_mac 02:00:c6:12:00:02' 'udp_src_min 40000' \
      'udp_src_max 40000' 'udp_dst_min 9' 'udp_dst_max 9'; do pg $dev \"\$c\"; done" \
    || vm_fail "pktgen setup"
}

# vb_stats: sets RX to the datagrams hbB received: vb's received packets (sysfs), or with
# pktgen-rx, which bypasses the driver's counters, IP's InReceives in hbB (/proc/net/snmp).
vb_stats() {
  if [[ $SENDER == pktgen-rx ]]; then
    RX=$(ip netns exec hbB awk '$1 == "Ip:" { if (!n) for (i = 2; i <= NF; i++) { if ($i == "InReceives") n = i } else { print $n; exit } }' /proc/net/snmp)
    [[ $RX =~ ^[0-9]+$ ]] || vm_fail "no Ip InReceives in hbB's /proc/net/snmp"
    return
  fi
  RX=$(ip netns exec hbB cat /sys/class/net/vb/statistics/rx_packets)
}

# perf_start TAG / perf_stop: with PERF_ON set (the profiling rounds), samples both vCPUs
# (cpu-clock every 100 us, call chains) over a round's window; the reports, the raw data and
# the guest's kallsyms (to read it again on the host: perf report --kallsyms) go to $OUT.
perf_start() {
  [[ -n ${PERF_ON:-} ]] || return 0
  PERF_TAG=$1
  # Started disabled, enabled through its control FIFO once it is up: under TCG its start-up
  # (synthesizing every task's maps) takes longer than a round. The ack says it is recording.
  rm -f "$VM_CASE_TMP/perf.ctl" "$VM_CASE_TMP/perf.ack"
  mkfifo "$VM_CASE_TMP/perf.ctl" "$VM_CASE_TMP/perf.ack" || vm_fail "mkfifo"
  perf record -e cpu-clock -c 100000 -a -g -D -1 -o "$VM_CASE_TMP/perf.data" \
    --control "fifo:$VM_CASE_TMP/perf.ctl,$VM_CASE_TMP/perf.ack" >"$OUT/$1.perf.log" 2>&1 &
  PERF_PID=$!
  exec {perf_ctl}<>"$VM_CASE_TMP/perf.ctl" {perf_ack}<>"$VM_CASE_TMP/perf.ack"
  echo enable >&$perf_ctl
  local ack=
  read -rt 600 -u $perf_ack ack || true
  [[ $ack == ack* ]] || vm_fail "perf record did not start (ack '$ack'): $(cat "$OUT/$1.perf.log")"
}
perf_stop() {
  [[ -n ${PERF_ON:-} ]] || return 0
  echo disable >&$perf_ctl
  read -rt 60 -u $perf_ack _ || true
  exec {perf_ctl}>&- {perf_ack}<&-
  kill -INT $PERF_PID; wait $PERF_PID || true
  local o=$OUT/$PERF_TAG r=(perf report -i "$VM_CASE_TMP/perf.data" --stdio --kallsyms=/proc/kallsyms)
  # BENCH_PERF_RAW=1: the perf.data only (the host's scripts read it); perf report under TCG
  # takes longer than the round.
  [[ -n ${BENCH_PERF_RAW:-} ]] || {
    "${r[@]}" --no-children --sort cpu,comm -g none >"$o.perf-comm.txt" 2>&1
    "${r[@]}" --no-children --sort sym -g none --percent-limit 0.2 >"$o.perf-self.txt" 2>&1
    "${r[@]}" --children --sort sym -g none --percent-limit 0.5 >"$o.perf-children.txt" 2>&1
    "${r[@]}" --no-children --sort sym -g caller,0.5,callee --percent-limit 1 >"$o.perf-callers.txt" 2>&1
  }
  cp "$VM_CASE_TMP/perf.data" "$o.perf.data"
  # The module's symbols where this round's build of it is loaded (kmodb, xtb reload it).
  cp /proc/kallsyms "$o.kallsyms" 2>/dev/null
  rm -f "$VM_CASE_TMP/perf.data"
}

round_base() {
  local tag=base_$1
  vb_stats; local rx0=$RX
  cpu $$; local cpu0=$CPU
  perf_start $tag
  send "$OUT/$tag.sender" "$N"
  perf_stop
  cpu $$; local cpu1=$CPU
  vb_stats
  printf 'kind=base round=%s t0=%s t_sent=%s t_drained=%s rx=%s cpu0=%s cpu1=%s\n' "$1" "$T0" "$T_SENT" "$T_SENT" \
    $((RX - rx0)) "$cpu0" "$cpu1" >"$OUT/$tag.txt"
  vm_log "base $1: $N frames sent in $(awk -v a="$T0" -v b="$T_SENT" 'BEGIN { printf "%.2f", b - a }') s"
}

# measure PID TAG MODE: the traffic, while reader PID reads. MODE flow: N datagrams while it
# reads. MODE burst: BURST datagrams while it is stopped (SIGSTOP), so that their events wait in
# its socket; then it is let go (T_CONT) and drains them. Sets T0, T_SENT, T_CONT, T_DRAINED,
# RMEM_STOPPED (bytes queued while stopped), RX (datagrams vb received), CPU0, CPU1.
measure() {
  vb_stats; local rx0=$RX
  cpu $1; CPU0=$CPU
  perf_start $2
  RMEM_STOPPED=
  if [[ $3 == burst ]]; then
    kill -STOP $1
    send "$OUT/$2.sender" "$BURST"
    # The module's flush timer (flush_ms) and nfnetlink_log's (1 s) push out partial batches.
    nap 1.2
    rmem $1; RMEM_STOPPED=$RMEM
    T_CONT=$EPOCHREALTIME
    kill -CONT $1
  else
    send "$OUT/$2.sender" "$N"
    T_CONT=$T0
  fi
  drain $1
  perf_stop
  cpu $1; CPU1=$CPU
  vb_stats; RX=$((RX - rx0))
}

# round_kmod ROUND [VARIANT]: VARIANT csv (the benchmark: -w /tmp/bench.csv), or for
# investigation: null (-o csv >/dev/null), skip (-w bench.pcap without -s: the pcap writer
# skips events without bytes, so this is reading and decoding only).
round_kmod() {
  local variant=${2:-csv} kind=kmod$B pid mode=flow batch=
  [[ $variant == burst ]] && { mode=burst; variant=csv; kind=kmodburst; }
  [[ $variant == csv ]] || kind=kmod-$variant
  if [[ $variant == batch* ]]; then   # batchN: batch_events=N for this round (a 0644 parameter)
    batch=$(</sys/module/hookdump/parameters/batch_events)
    echo "${variant#batch}" >/sys/module/hookdump/parameters/batch_events || vm_fail "batch_events"
    variant=csv
  fi
  local tag=${kind}_$1
  local out=(-w /tmp/bench.csv)
  case $variant in
    null) out=(-o csv) ;;
    skip) out=(-w /tmp/bench.pcap) ;;
  esac
  ip netns exec hbB "$HD" kmod stats >"$OUT/$tag.stats0" || vm_fail "kmod stats"
  ip netns exec hbB "$HD" capture --engine kmod --hooks prerouting --priority first \
    --proto udp --dport 9 -q "${out[@]}" 2>"$OUT/$tag.err" >/dev/null &
  pid=$!
  wait_line "$OUT/$tag.err" "listening at netfilter hooks (1 rules"
  measure $pid "$tag" $mode
  nap 0.2
  kill -INT $pid; wait $pid || vm_fail "capture exited $?"
  ip netns exec hbB "$HD" kmod stats >"$OUT/$tag.stats1" || vm_fail "kmod stats"
  local rows=-1 first=
  if [[ $variant == csv ]]; then
    { read -r _; read -r first; } </tmp/bench.csv
    rows=$(($(wc -l </tmp/bench.csv) - 1))
  fi
  printf 'kind=%s mode=%s round=%s t0=%s t_sent=%s t_cont=%s t_drained=%s rmem_stopped=%s rx=%s rows=%s first_ts=%s cpu0=%s cpu1=%s\n' \
    "$kind" $mode "$1" "$T0" "$T_SENT" "$T_CONT" "$T_DRAINED" "${RMEM_STOPPED:--}" "$RX" "$rows" "${first%%,*}" \
    "$CPU0" "$CPU1" >"$OUT/$tag.txt"
  rm -f /tmp/bench.csv /tmp/bench.pcap
  [[ -z $batch ]] || echo "$batch" >/sys/module/hookdump/parameters/batch_events
  vm_log "$kind $1: $(tail -n1 "$OUT/$tag.err")"
}

# round_kmod_nosession ROUND: the rule without any reader (investigation): the module matches
# and counts (dropped_nosession) but builds and sends nothing: the hook's own cost.
round_kmod_nosession() {
  local tag=kmod-nosession_$1
  ip netns exec hbB "$HD" kmod stats >"$OUT/$tag.stats0" || vm_fail "kmod stats"
  ip netns exec hbB "$HD" rules add --hooks prerouting --priority first --proto udp --dport 9 >/dev/null \
    || vm_fail "rules add"
  vb_stats; local rx0=$RX
  cpu $$; CPU0=$CPU
  send "$OUT/$tag.sender" "$N"
  cpu $$; CPU1=$CPU
  vb_stats
  ip netns exec hbB "$HD" rules flush || vm_fail "rules flush"
  ip netns exec hbB "$HD" kmod stats >"$OUT/$tag.stats1" || vm_fail "kmod stats"
  local m0 m1
  m0=$(awk '$1 == "matched" { print $2 }' "$OUT/$tag.stats0"); m1=$(awk '$1 == "matched" { print $2 }' "$OUT/$tag.stats1")
  echo "$((m1 - m0)) packets captured, $((m1 - m0)) received by filter, 0 dropped by kernel (no session)" >"$OUT/$tag.err"
  printf 'kind=kmod-nosession mode=flow round=%s t0=%s t_sent=%s t_cont=%s t_drained=%s rmem_stopped=- rx=%s rows=-1 first_ts= cpu0=%s cpu1=%s\n' \
    "$1" "$T0" "$T_SENT" "$T0" "$T_SENT" $((RX - rx0)) "$CPU0" "$CPU1" >"$OUT/$tag.txt"
  vm_log "kmod-nosession $1: matched $((m1 - m0))"
}

round_nflog() {
  local mode=${2:-flow} kind=nflog pid
  [[ $mode == burst ]] && kind=nflogburst
  local tag=${kind}_$1
  ip netns exec hbB nft -f - <<'EOF' || vm_fail "nft"
table ip hdbench {
  chain pre {
    type filter hook prerouting priority raw; policy accept;
    udp dport 9 counter log group 5
  }
}
EOF
  ip netns exec hbB tcpdump -i nflog:5 -B 8192 -Z root -w /tmp/bench.pcap 2>"$OUT/$tag.err" &
  pid=$!
  wait_line "$OUT/$tag.err" "tcpdump: listening on nflog:5"
  measure $pid "$tag" $mode
  # nfnetlink_log flushes a partly filled batch after its flush timeout (1 s by default).
  nap 1.2
  kill -INT $pid; wait $pid || vm_fail "tcpdump exited $?"
  ip netns exec hbB nft list table ip hdbench >"$OUT/$tag.nft" || vm_fail "nft list"
  ip netns exec hbB nft delete table ip hdbench || vm_fail "nft delete"
  local bytes=$(wc -c </tmp/bench.pcap)
  printf 'kind=%s mode=%s round=%s t0=%s t_sent=%s t_cont=%s t_drained=%s rmem_stopped=%s rx=%s pcap_bytes=%s cpu0=%s cpu1=%s\n' \
    "$kind" $mode "$1" "$T0" "$T_SENT" "$T_CONT" "$T_DRAINED" "${RMEM_STOPPED:--}" "$RX" "$bytes" "$CPU0" "$CPU1" \
    >"$OUT/$tag.txt"
  rm -f /tmp/bench.pcap
  vm_log "$kind $1: $(grep 'captured' "$OUT/$tag.err")"
}

# round_xt ROUND TARGET: one iptables rule in hbB's raw PREROUTING (-p udp --dport 9) whose
# target is TARGET, HOOKDUMP (kind xt: read by capture --engine kmod --group 5) or NFLOG
# (kind xtnflog: read by capture --engine nflog --group 5); both write csv. The rule's counter
# (iptables-save -c) is what it matched.
round_xt() {
  local kind=xt$B pid target=(-j HOOKDUMP --hookdump-group 5) engine=kmod ready="listening for iptables -j HOOKDUMP group 5"
  [[ $2 == NFLOG ]] && { kind=xtnflog target=(-j NFLOG --nflog-group 5) engine=nflog ready="listening on NFLOG group 5"; }
  local tag=${kind}_$1 rule=(-t raw -A PREROUTING -p udp --dport 9 "${target[@]}")
  ip netns exec hbB iptables "${rule[@]}" || vm_fail "iptables ${rule[*]}"
  ip netns exec hbB "$HD" kmod stats >"$OUT/$tag.stats0" || vm_fail "kmod stats"
  ip netns exec hbB "$HD" capture --engine $engine --group 5 -q -w /tmp/bench.csv 2>"$OUT/$tag.err" >/dev/null &
  pid=$!
  wait_line "$OUT/$tag.err" "$ready"
  measure $pid "$tag" flow
  # nfnetlink_log flushes a partly filled batch after its flush timeout (1 s by default).
  nap 1.2
  kill -INT $pid; wait $pid || vm_fail "capture exited $?"
  ip netns exec hbB "$HD" kmod stats >"$OUT/$tag.stats1" || vm_fail "kmod stats"
  ip netns exec hbB iptables-save -c -t raw >"$OUT/$tag.ipt" || vm_fail "iptables-save"
  ip netns exec hbB iptables -t raw -F PREROUTING || vm_fail "iptables -F"
  local rows first
  { read -r _; read -r first; } </tmp/bench.csv
  rows=$(($(wc -l </tmp/bench.csv) - 1))
  printf 'kind=%s mode=flow round=%s t0=%s t_sent=%s t_cont=%s t_drained=%s rmem_stopped=- rx=%s rows=%s first_ts=%s cpu0=%s cpu1=%s\n' \
    "$kind" "$1" "$T0" "$T_SENT" "$T_CONT" "$T_DRAINED" "$RX" "$rows" "${first%%,*}" "$CPU0" "$CPU1" >"$OUT/$tag.txt"
  rm -f /tmp/bench.csv
  vm_log "$kind $1: $(grep 'captured' "$OUT/$tag.err")"
}

# round_xtrule ROUND: the rule of round_xt with no target and no reader: the sender, the
# iptables-nft chain and the rule (its match and counter) alone. The counter is what it matched.
round_xtrule() {
  local tag=xtrule_$1 rule=(-t raw -A PREROUTING -p udp --dport 9)
  ip netns exec hbB iptables "${rule[@]}" || vm_fail "iptables ${rule[*]}"
  vb_stats; local rx0=$RX
  cpu $$; CPU0=$CPU
  perf_start $tag
  send "$OUT/$tag.sender" "$N"
  perf_stop
  cpu $$; CPU1=$CPU
  vb_stats
  ip netns exec hbB iptables-save -c -t raw >"$OUT/$tag.ipt" || vm_fail "iptables-save"
  ip netns exec hbB iptables -t raw -F PREROUTING || vm_fail "iptables -F"
  printf 'kind=xtrule mode=flow round=%s t0=%s t_sent=%s t_cont=%s t_drained=%s rmem_stopped=- rx=%s cpu0=%s cpu1=%s\n' \
    "$1" "$T0" "$T_SENT" "$T0" "$T_SENT" $((RX - rx0)) "$CPU0" "$CPU1" >"$OUT/$tag.txt"
  vm_log "xtrule $1: $(grep -- '-A PREROUTING' "$OUT/$tag.ipt")"
}

loaded() { [[ -d /sys/module/hookdump ]]; }
vm_on_exit 'if loaded; then rmmod hookdump || vm_cleanup_failed "rmmod hookdump"; fi'
vm_on_exit '[[ ! -d /sys/module/xt_HOOKDUMP ]] || rmmod xt_HOOKDUMP || vm_cleanup_failed "rmmod xt_HOOKDUMP"'
load() {
  loaded || vm_run insmod "$KO" $KMOD_PARAMS || vm_fail "insmod $KO"
  [[ -z $XT || -d /sys/module/xt_HOOKDUMP ]] || vm_run insmod "$(dirname "$KO")/xt_HOOKDUMP.ko" || vm_fail "insmod xt_HOOKDUMP.ko"
}
unload() {
  [[ ! -d /sys/module/xt_HOOKDUMP ]] || rmmod xt_HOOKDUMP || vm_fail "rmmod xt_HOOKDUMP"
  ! loaded || rmmod hookdump || vm_fail "rmmod hookdump"
}
# use_ko FILE: hookdump.ko (and xt_HOOKDUMP.ko beside it) from FILE is the one loaded.
use_ko() {
  [[ $KO == "$1" ]] && return
  unload; KO=$1; load
}

# --- setup
vm_veth_pair hbA va 198.18.0.1/24 hbB vb 198.18.0.2/24
ip -n hbA link set va address 02:00:c6:12:00:01 && ip -n hbB link set vb address 02:00:c6:12:00:02 \
  || vm_fail "set MAC addresses"
# The kernel cannot autoload modules in this guest (its modprobe is the initramfs's): load
# what the nft rule needs beforehand.
modprobe -a nf_tables nft_log nfnetlink_log || vm_fail "modprobe nf_tables nft_log nfnetlink_log"
if [[ -n $XT ]]; then
  modprobe -a x_tables nft_compat xt_NFLOG xt_tcpudp || vm_fail "modprobe x_tables nft_compat xt_NFLOG xt_tcpudp"
  export XTABLES_LIBDIR=$HOOKDUMP_BUILD/xtables:/usr/lib/x86_64-linux-gnu/xtables
fi
# tcpdump's -B asks for SO_RCVBUF 8 MiB, which rmem_max caps (hookdump uses SO_RCVBUFFORCE
# for the same 8 MiB): lift the cap so that both readers get the same buffer.
sysctl -qw net.core.rmem_max=8388608 || vm_fail "sysctl rmem_max"
cat >"$VM_CASE_TMP/udp.cfg" <<EOF
{
  eth(da=02:00:c6:12:00:02, sa=02:00:c6:12:00:01, type=0x0800),
  ipv4(saddr=198.18.0.1, daddr=198.18.0.2, ttl=64, df),
  udp(sp=40000, dp=9),
  fill(0x61, $PAYLOAD)
}
EOF
[[ $SENDER == pktgen* ]] && pktgen_setup
load
{
  echo "packets $N"; echo "burst $BURST"; echo "payload $PAYLOAD"; echo "sender $SENDER"; echo "senders $SENDERS"; echo "rounds $ROUNDS"; echo "iperf_rounds $IPERF_ROUNDS"
  echo "iperf_seconds $IPERF_SECONDS"; echo "kernel $(uname -r)"; echo "nproc $(nproc)"
  echo "kmod_params ${KMOD_PARAMS:-(defaults)}"
  for p in /sys/module/hookdump/parameters/*; do echo "param_${p##*/} $(<"$p")"; done
  echo "rmem_max $(sysctl -n net.core.rmem_max)"
  echo "trafgen $(trafgen -v 2>&1 | head -n1)"
  echo "tcpdump $(tcpdump --version 2>&1 | head -n1)"
  echo "nft $(nft --version)"
  echo "iperf3 $(iperf3 --version 2>&1 | head -n1)"
} >"$OUT/env.txt"
# Warm-up: trafgen's, tcpdump's and hookdump's pages into the guest's page cache, and one frame
# through the path.
send "$OUT/warmup.sender" 1
tcpdump --version >/dev/null 2>&1

# --- profiles (not measured rounds: perf itself costs): one round of each kind in $PERF
if [[ -n $PERF ]]; then
  command -v perf >/dev/null || vm_fail "perf is not installed on the host root (linux-perf)"
  cp /proc/kallsyms "$OUT/kallsyms" 2>/dev/null
  out_main=$OUT OUT=$OUT/perf PERF_ON=1
  mkdir -p "$OUT" || vm_fail "mkdir $OUT"
  # A kind named again is profiled again: its Nth profile is round N-1 (kind_0, kind_1, ...).
  declare -A nth
  for k in $PERF; do
    i=${nth[$k]:-0} nth[$k]=$((${nth[$k]:-0} + 1))
    [[ $k == kmodb || $k == xtb ]] && { [[ -n $KO_B ]] || vm_fail "BENCH_PERF: $k needs BENCH_KMOD_B"; }
    if [[ $k == kmodb || $k == xtb ]]; then use_ko "$KO_B"; B=b; else use_ko "$KO_A"; B=; fi
    case $k in
      kmod|kmodb) round_kmod $i ;;
      nflog) round_nflog $i ;;
      base) round_base $i ;;
      xt|xtb) round_xt $i HOOKDUMP ;;
      xtnflog) round_xt $i NFLOG ;;
      xtrule) round_xtrule $i ;;
      *) vm_fail "BENCH_PERF: unknown kind $k" ;;
    esac
  done
  OUT=$out_main PERF_ON= B=
  use_ko "$KO_A"
fi

# --- part 1
t_part1=$EPOCHREALTIME
# Each round runs every reader once, the order rotated by one each round (kmod, nflog, then
# nflog, kmod, ...) so that no reader always runs first or last.
kinds=(kmod nflog)
((BURST > 0)) && kinds+=(kmodburst nflogburst)
for v in $EXTRA; do kinds+=(kmod-$v); done
[[ -n $XT ]] && kinds+=(xt xtnflog xtrule)
for ((r = 1; r <= ROUNDS; r++)); do
  round_base $r
  for ((i = 0; i < ${#kinds[@]}; i++)); do
    k=${kinds[(i + r - 1) % ${#kinds[@]}]}
    case $k in
      kmod) round_kmod $r ;;
      nflog) round_nflog $r ;;
      kmodburst) round_kmod $r burst ;;
      nflogburst) round_nflog $r burst ;;
      kmod-nosession) round_kmod_nosession $r ;;
      xt) round_xt $r HOOKDUMP ;;
      xtnflog) round_xt $r NFLOG ;;
      xtrule) round_xtrule $r ;;
      kmod-*) round_kmod $r "${k#kmod-}" ;;
    esac
  done
done
t_part2=$EPOCHREALTIME

# --- part 2
ip netns exec hbB iperf3 -s -B 198.18.0.2 >"$VM_CASE_TMP/iperf3-server.log" 2>&1 &
srv=$!
vm_on_exit "kill $srv 2>/dev/null"
nap 1
ip netns exec hbA ping -q -c1 -W2 198.18.0.2 >/dev/null || vm_fail "no path hbA -> hbB"
# iperf_round KIND ROUND: KIND none (no module), hooked (the idle rule at every hook, first
# slot: 5 hooks a namespace) or hookedboth (first and last slots: 10 hooks a namespace).
iperf_round() {
  local tag=iperf_$1_$2 ns slots=first
  [[ $1 == hookedboth ]] && slots=both
  if [[ $1 == none ]]; then
    unload
  else
    unload; load   # a fresh module: no rules or counters left from the previous round
    for ns in hbA hbB; do
      ip netns exec $ns "$HD" rules add --dst 198.19.255.254 --hooks all --priority $slots >/dev/null \
        || vm_fail "rules add in $ns"
    done
    ip netns exec hbA "$HD" rules list >"$OUT/$tag.rules"
  fi
  ip netns exec hbA iperf3 -c 198.18.0.2 -t "$IPERF_SECONDS" -O 1 -J >"$OUT/$tag.json" 2>"$OUT/$tag.err" \
    || { cat "$OUT/$tag.err"; vm_fail "iperf3 client"; }
  if [[ $1 != none ]]; then
    ip netns exec hbA "$HD" kmod stats >"$OUT/$tag.stats" || vm_fail "kmod stats"
  fi
  vm_log "iperf3 $1 $2: $(grep -o '"bits_per_second":[^,]*' "$OUT/$tag.json" | tail -n1)"
}
ikinds=(none hooked none hookedboth)   # "none" twice a round: each hooked run has a neighbour
for ((r = 1; r <= IPERF_ROUNDS; r++)); do
  for ((i = 0; i < ${#ikinds[@]}; i++)); do
    k=${ikinds[(i + r - 1) % ${#ikinds[@]}]}
    iperf_round $k ${r}_$i
  done
done
unload
t_end=$EPOCHREALTIME
printf 'part1_seconds %s\npart2_seconds %s\n' \
  "$(awk -v a="$t_part1" -v b="$t_part2" 'BEGIN { printf "%.1f", b - a }')" \
  "$(awk -v a="$t_part2" -v b="$t_end" 'BEGIN { printf "%.1f", b - a }')" >>"$OUT/env.txt"
echo done >"$OUT/complete"
vm_log "done"

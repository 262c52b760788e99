#!/bin/bash
# Loading, capturing and unloading 50 times leaves the kernel log clean and memory back where
# it was (unreclaimable slab within 512 KiB of where it started, after the first round).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../kmod_lib.sh"
vm_require_hookdump
ko=${HOOKDUMP_KMOD:-$HOOKDUMP_SRC/kmod/hookdump.ko}
vm_veth_pair kpA va 198.18.0.1/24 kpB vb 198.18.0.2/24
sunreclaim() { awk '$1 == "SUnreclaim:" { print $2 }' /proc/meminfo; }
round() {
  insmod "$ko" || vm_fail "insmod (round $1)"
  # Emptied here, not by the capture's redirection (done in the child, maybe after
  # kmod_wait_ready has read the last round's "listening" line and the ping has gone).
  : >r.err
  ip netns exec kpA "$HOOKDUMP_BIN" capture --engine kmod -q -c 2 -o csv icmp >r.csv 2>r.err &
  local pid=$!
  kmod_wait_ready r.err 1
  ip netns exec kpA ping -q -c 1 -W 1 198.18.0.2 >/dev/null
  kmod_wait_exit $pid 30 || { rc=$?; cat r.err; vm_fail "capture (round $1) exited $rc"; }
  (($(kmod_count r.csv) == 2)) || vm_fail "round $1: $(kmod_count r.csv) events, expected 2"
  rmmod hookdump || vm_fail "rmmod (round $1)"
}
# slab_growth BEFORE AFTER: the caches whose slabs grew most (kB), for the log: over these
# rounds it has been process and mount caches (signal_cache, anon_vma, mnt_cache, kmalloc-2k),
# whole slabs at a time, not those the module allocates from (kmalloc-128 rules, skbuff batches,
# per-CPU counters).
slab_growth() {
  awk 'FNR == 1 { f++ } $1 !~ /^(#|slabinfo)/ {
         for (i = 1; i <= NF; i++) if ($i == "slabdata") kb = $(i + 2) * $6 * 4
         if (f == 1) a[$1] = kb; else if (kb != a[$1]) print kb - a[$1], $1 }' "$1" "$2" |
    sort -rn | head -n 6 | tr '\n' ' '
}
round 0
sync; echo 3 >/proc/sys/vm/drop_caches
cp /proc/slabinfo slab.0
base=$(sunreclaim)
for i in $(seq 1 50); do round $i; done
sync; echo 3 >/proc/sys/vm/drop_caches; sleep 1
now=$(sunreclaim)
cp /proc/slabinfo slab.1
vm_log "SUnreclaim: $base kB after round 0, $now kB after 50 more; largest growth (kB, cache): $(slab_growth slab.0 slab.1)"
((now - base < 512)) || vm_fail "unreclaimable slab grew by $((now - base)) kB over 50 rounds (kB, cache: $(slab_growth slab.0 slab.1))"
if dmesg | grep -E 'WARNING|BUG|Oops|general protection'; then vm_fail "kernel log"; fi

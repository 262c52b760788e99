#!/bin/bash
# A reader that stops reading gets drop counts, not a stall: the capture is stopped (SIGSTOP)
# while a flood goes on; the kernel keeps forwarding packets (the flood completes), the module
# counts the events it could not deliver, and its ledger adds up: every matched packet was
# delivered or dropped for a stated cause. The capture, resumed, reports the same numbers.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../kmod_lib.sh"
vm_require_hookdump
vm_insmod_hookdump batch_events=8
vm_veth_pair kdA va 198.18.0.1/24 kdB vb 198.18.0.2/24
ip netns exec kdA "$HOOKDUMP_BIN" capture --engine kmod --hooks output,postrouting -s 512 -q -w slow.csv icmp >cap.err 2>&1 &
pid=$!
kmod_wait_ready cap.err 1
kill -STOP $pid
start=$(date +%s)
vm_run ip netns exec kdA ping -q -f -c 20000 -s 400 198.18.0.2 | tail -2 || vm_fail "flood ping"
(( $(date +%s) - start < 120 )) || vm_fail "the flood took too long: the packet path stalled?"
kill -CONT $pid
sleep 1
kill -INT $pid; kmod_wait_exit $pid 20 || vm_fail "capture exited $?"
cat cap.err
ip netns exec kdA "$HOOKDUMP_BIN" kmod stats | tee stats.txt
m=$(awk '$1=="matched"{print $2}' stats.txt) d=$(awk '$1=="delivered"{print $2}' stats.txt)
nb=$(awk '$1=="dropped_nobufs"{print $2}' stats.txt) nf=$(awk '$1=="dropped_full"{print $2}' stats.txt)
nm=$(awk '$1=="dropped_nomem"{print $2}' stats.txt) ns=$(awk '$1=="dropped_nosession"{print $2}' stats.txt)
q=$(awk '$1=="queued"{print $2}' stats.txt)
((m == 40000)) || vm_fail "matched $m, expected 40000 (20000 requests x output, postrouting)"
((nb > 0)) || vm_fail "a stopped reader caused no ENOBUFS drops: did the module block?"
((m == d + nb + nf + nm + ns)) || vm_fail "ledger: matched $m != delivered $d + drops $nb + $nf + $nm + $ns"
((q == d + nb)) || vm_fail "queued $q != delivered $d + dropped_nobufs $nb"
rows=$(kmod_count slow.csv)
((rows == d)) || vm_fail "the capture wrote $rows events, the module delivered $d"
grep -q "^$rows packets captured, $m received by filter, $((nb + nf + nm)) dropped by kernel$" cap.err \
  || vm_fail "the capture's ledger line does not match the module's counters"
vm_log "matched $m = delivered $d + dropped $((nb + nf + nm + ns)) (nobufs $nb); capture wrote $rows"

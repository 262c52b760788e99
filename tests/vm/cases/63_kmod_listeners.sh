#!/bin/bash
# Two passive listeners ('hookdump kmod listen', the multicast group) both receive every
# event of a session, and the session itself receives them too.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../kmod_lib.sh"
vm_require_hookdump
vm_insmod_hookdump
vm_veth_pair klA va 198.18.0.1/24 klB vb 198.18.0.2/24
N=5
for l in 1 2; do
  ip netns exec klA "$HOOKDUMP_BIN" kmod listen -w listen$l.csv >l$l.err 2>&1 &
  eval "lpid$l=$!"
done
for l in 1 2; do
  for ((i = 0; i < 300; i++)); do grep -q '^listening to hookdump.ko events' l$l.err && break; sleep 0.1; done
  grep -q '^listening to hookdump.ko events' l$l.err || { cat l$l.err; vm_fail "listener $l not ready"; }
done
ip netns exec klA "$HOOKDUMP_BIN" capture --engine kmod --hooks output -q -w session.csv icmp >cap.err 2>&1 &
pid=$!
kmod_wait_ready cap.err 1
sleep 0.3
vm_run ip netns exec klA ping -q -c $N -i 0.2 198.18.0.2 >/dev/null || vm_fail ping
sleep 0.3
kill -INT $pid; kmod_wait_exit $pid 10 || vm_fail "capture exited $?"
sleep 0.2
kill -INT $lpid1 $lpid2
kmod_wait_exit $lpid1 10; rc1=$?
kmod_wait_exit $lpid2 10; rc2=$?
cat cap.err l1.err l2.err
((rc1 == 0 && rc2 == 0)) || vm_fail "the listeners exited $rc1 and $rc2 after SIGINT"
# The session's ledger: all N matched, delivered and written. A listener writes all N (the
# module's counters are the session's, not a listener's).
ledger="$N packets captured, $N received by filter, 0 dropped by kernel"
(($(grep -cF "$ledger" cap.err) == 1)) || vm_fail "capture: no ledger line '$ledger...'"
for l in 1 2; do
  (($(grep -c "^$N packets captured, " l$l.err) == 1)) || vm_fail "listener $l: no ledger line '$N packets captured, ...'"
done
for f in session.csv listen1.csv listen2.csv; do
  got=$(kmod_count $f '$2 == "output" && $7 == 1 && $12 == 8')
  ((got == N)) || { cat $f; vm_fail "$f has $got echo requests at output, expected $N"; }
done
cut -d, -f1,8-12 session.csv > s.ts; cut -d, -f1,8-12 listen1.csv > l1.ts; cut -d, -f1,8-12 listen2.csv > l2.ts
cmp -s s.ts l1.ts && cmp -s s.ts l2.ts || vm_fail "listeners and the session saw different events"
vm_log "both listeners and the session received the same $N events"

#!/bin/bash
# Every hook sees exactly the packets it should, IPv4 and IPv6: N echo requests from A to B
# through the router R, and their N replies. In R: prerouting, forward and postrouting see
# 2N each (requests and replies), input and output none. In A: output and postrouting see the
# N requests, prerouting and input the N replies. The 5-tuples are the ones sent.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../kmod_lib.sh"
vm_require_hookdump
vm_insmod_hookdump
kmod_router_topology
N=4

for fam in 4 6; do
  if [[ $fam == 4 ]]; then a=198.18.1.2 b=198.18.2.2 proto=1 req=8 rep=0 ping=ping
  else a=2001:db8:1::2 b=2001:db8:2::2 proto=58 req=128 rep=129 ping="ping -6"; fi
  for ns in kR kA; do
    ip netns exec $ns "$HOOKDUMP_BIN" capture --engine kmod --hooks all -q -w $ns-$fam.csv \
      "ip$([[ $fam == 6 ]] && echo 6) and host $a and host $b" >$ns-$fam.err 2>&1 &
    eval "pid_$ns=$!"
  done
  kmod_wait_ready kR-$fam.err 2; kmod_wait_ready kA-$fam.err 2
  vm_run ip netns exec kA $ping -q -c $N -i 0.2 -W 2 $b || vm_fail "ping IPv$fam"
  sleep 0.3
  kill -INT $pid_kR $pid_kA
  kmod_wait_exit $pid_kR 10; rc_kR=$?
  kmod_wait_exit $pid_kA 10; rc_kA=$?
  cat kR-$fam.err kA-$fam.err
  ((rc_kR == 0 && rc_kA == 0)) || vm_fail "IPv$fam: the captures exited $rc_kR (R) and $rc_kA (A) after SIGINT"
  # Every event the module matched was delivered and written: R saw 6N, A 4N.
  for l in "kR $((6 * N))" "kA $((4 * N))"; do
    set -- $l
    ledger="$2 packets captured, $2 received by filter, 0 dropped by kernel"
    (($(grep -cF "$ledger" $1-$fam.err) == 1)) || vm_fail "IPv$fam $1: no ledger line '$ledger...'"
  done
  expect() {  # file point count condition
    local got; got=$(kmod_count "$1" "\$2 == \"$2\" && $4")
    ((got == $3)) || { cat "$1"; vm_fail "IPv$fam $1: $2 saw $got, expected $3"; }
  }
  reqc="\$7 == $proto && \$8 == \"$a\" && \$9 == \"$b\" && \$12 == $req"
  repc="\$7 == $proto && \$8 == \"$b\" && \$9 == \"$a\" && \$12 == $rep"
  for p in prerouting forward postrouting; do
    expect kR-$fam.csv $p $N "$reqc"; expect kR-$fam.csv $p $N "$repc"
  done
  for p in input output; do expect kR-$fam.csv $p 0 1; done
  (($(kmod_count kR-$fam.csv) == 6 * N)) || vm_fail "IPv$fam R: $(kmod_count kR-$fam.csv) events, expected $((6 * N))"
  for p in output postrouting; do expect kA-$fam.csv $p $N "$reqc"; done
  for p in prerouting input; do expect kA-$fam.csv $p $N "$repc"; done
  expect kA-$fam.csv forward 0 1
  (($(kmod_count kA-$fam.csv) == 4 * N)) || vm_fail "IPv$fam A: $(kmod_count kA-$fam.csv) events, expected $((4 * N))"
  # forwarded packets name both interfaces' sides: in at r0, out at r1 for requests
  vm_log "IPv$fam: every hook saw exactly its packets"
done

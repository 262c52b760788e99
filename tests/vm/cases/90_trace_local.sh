#!/bin/bash
# hookdump trace in one namespace, with hookdump.ko at both priorities of every hook and the
# tap: a datagram dropped by an nft INPUT rule (entered LOCAL_IN, never left it), one
# delivered to a socket, and one sent by the host (LOCAL_OUT -> POST_ROUTING -> tap-out, in
# that order: the egress tap is after POSTROUTING, the ingress tap before PREROUTING), with tc
# ingress/egress, the drop reason from kfree_skb and the socket (after LOCAL_IN, and after
# POST_ROUTING for the one sent).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../kmod_lib.sh"
source "$(dirname "$0")/../trace_lib.sh"
vm_require_hookdump
vm_insmod_hookdump
trace_modprobe_nft
vm_veth_pair ktA va 198.18.0.1/24 ktB vb 198.18.0.2/24
ip netns exec ktA nft -f - <<'NFT' || vm_fail "nft"
table inet hdtrace {
  chain in { type filter hook input priority 0; udp dport 7009 drop; }
}
NFT
trace_start ktA trace.err --report report.html udp
ip netns exec ktA python3 -c "
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('198.18.0.1', 7010))
s.settimeout(30)
open('rx.ready', 'w').close()
for i in range(2): s.recv(100)
" &
rx=$!
for ((i = 0; i < 300; i++)); do [[ -e rx.ready ]] && break; sleep 0.1; done
ip netns exec ktB python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('198.18.0.2', 40001))
for i in range(3): s.sendto(b'drop me %d' % i, ('198.18.0.1', 7009))
for i in range(2): s.sendto(b'deliver %d' % i, ('198.18.0.1', 7010))
" || vm_fail "sender B"
ip netns exec ktA python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('198.18.0.1', 40002))
s.sendto(b'sent', ('198.18.0.2', 7011))
" || vm_fail "sender A"
wait $rx || vm_fail "the listener did not get its 2 datagrams"
trace_stop trace.err

dropped=$(trace_query 't["dport"] == 7009')
echo "$dropped"
[[ $(grep -c . <<<"$dropped") == 3 ]] || vm_fail "expected 3 traced packets to port 7009"
# The nft step (issue 16) between LOCAL_IN's first and last priority, where the rule dropped it.
want="tap-in@va tc-ingress@va PRE_ROUTING/first PRE_ROUTING/last LOCAL_IN/first nft kfree_skb@va | dropped | LOCAL_IN | NETFILTER_DROP | single"
[[ $(grep -cx "$want" <<<"$dropped") == 3 ]] || vm_fail "port 7009: not '$want' for all 3"

delivered=$(trace_query 't["dport"] == 7010')
echo "$delivered"
# The input chain accepts it by its policy (no rule matches port 7010).
want="tap-in@va tc-ingress@va PRE_ROUTING/first PRE_ROUTING/last LOCAL_IN/first nft LOCAL_IN/last socket@va | delivered | - | - | single"
[[ $(grep -cx "$want" <<<"$delivered") == 2 && $(grep -c . <<<"$delivered") == 2 ]] \
  || vm_fail "port 7010: expected 2 x '$want'"

sent=$(trace_query 't["dport"] == 7011')
echo "$sent"
want="LOCAL_OUT/first LOCAL_OUT/last POST_ROUTING/first POST_ROUTING/last socket@va tc-egress@va tap-out@va | sent | - | - | single"
[[ $sent == "$want" ]] || vm_fail "port 7011: expected '$want'"

grep -q "^6 packets traced" trace.err || vm_fail "summary: not 6 packets"
grep -q "^ *3  tap-in va → tc-ingress va → PRE_ROUTING → LOCAL_IN(first) → nft inet hdtrace in: drop ✗ dropped at LOCAL_IN by nft inet hdtrace in handle 2: udp dport 7009 drop$" trace.err || vm_fail "summary line of the drops"
grep -q "^ *2  tap-in va → tc-ingress va → PRE_ROUTING → LOCAL_IN(first) → nft inet hdtrace in: accept → LOCAL_IN(last) → socket udp 198\.18\.0\.1:7010 proc python3\[$rx\] uid 0 ✓ delivered$" trace.err \
  || vm_fail "summary line of the deliveries (the policy step, the socket and its process, pid $rx)"
grep -q '<svg id="hook-graph"' report.html || vm_fail "no graph in the report"
grep -q "LOCAL_IN → delivered: 2 packets" report.html || vm_fail "report: LOCAL_IN → delivered edge"
vm_log "drop in LOCAL_IN, delivery and local output traced hook by hook"

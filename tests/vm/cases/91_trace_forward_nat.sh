#!/bin/bash
# hookdump trace in a router namespace (A -- R -- B): a forwarded datagram goes
# PRE_ROUTING -> FORWARD -> POST_ROUTING -> tap-out on the other side; DNAT at PRE_ROUTING and
# SNAT (masquerade) at POST_ROUTING show before -> after at those steps; with forwarding
# disabled the datagram leaves PRE_ROUTING and dies in routing (ip_error: IP_INADDRERRORS on 6.1).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../kmod_lib.sh"
source "$(dirname "$0")/../trace_lib.sh"
vm_require_hookdump
vm_insmod_hookdump
trace_modprobe_nft
kmod_router_topology
ip netns exec kR nft -f - <<'NFT' || vm_fail "nft"
table ip hdnat {
  chain pre { type nat hook prerouting priority -100; udp dport 8080 dnat to 198.18.2.2:9090; }
  chain post { type nat hook postrouting priority 100; oifname "r1" udp dport 9090 masquerade; }
}
NFT
trace_start kR trace.err udp
send() {  # send SPORT DST DPORT N
  ip netns exec kA python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('198.18.1.2', $1))
for i in range($4): s.sendto(b'payload %d' % i, ('$2', $3))
" || vm_fail "sender"
}
send 41000 198.18.2.2 7020 2
send 41001 198.18.1.1 8080 1
sleep 0.5
ip netns exec kR sysctl -qw net.ipv4.ip_forward=0
send 41002 198.18.2.2 7021 2
trace_stop trace.err

fwd=$(trace_query 't["dport"] == 7020')
echo "$fwd"
# The first datagram of the flow passes the nat chains, where no rule matches: their policy
# gives the verdict (the 6.1 kernel sends the headers in the message before the policy's); the
# second is conntrack's, no nat chain runs.
want1="tap-in@r0 tc-ingress@r0 PRE_ROUTING/first nft PRE_ROUTING/last FORWARD/first FORWARD/last POST_ROUTING/first nft POST_ROUTING/last tc-egress@r1 tap-out@r1 | forwarded | - | - | single"
want2="tap-in@r0 tc-ingress@r0 PRE_ROUTING/first PRE_ROUTING/last FORWARD/first FORWARD/last POST_ROUTING/first POST_ROUTING/last tc-egress@r1 tap-out@r1 | forwarded | - | - | single"
[[ $(sed -n 1p <<<"$fwd") == "$want1" && $(sed -n 2p <<<"$fwd") == "$want2" && $(grep -c . <<<"$fwd") == 2 ]] \
  || vm_fail "forwarded: expected '$want1' then '$want2'"
python3 - <<'PY' || vm_fail "forwarded: the policy steps"
import json
p = [json.loads(l) for l in open("trace.jsonl") if '"dport":7020' in l][0]
nft = [o["nft"] for o in p["path"] if o["point"] == "nft"]
print(nft)
assert nft == [
    {"family": "ip", "table": "hdnat", "chain": "pre", "hook": "PRE_ROUTING", "priority": -100,
     "policy": True, "verdict": "accept"},
    {"family": "ip", "table": "hdnat", "chain": "post", "hook": "POST_ROUTING", "priority": 100,
     "policy": True, "verdict": "accept"}], nft
PY

nat=$(trace_query 't["dport"] == 8080')
echo "$nat"
# The nat chains (issue 16's nft point) between the hooks' first and last priorities.
want="tap-in@r0 tc-ingress@r0 PRE_ROUTING/first nft PRE_ROUTING/last FORWARD/first FORWARD/last POST_ROUTING/first nft POST_ROUTING/last tc-egress@r1 tap-out@r1 | forwarded | - | - | single"
[[ $nat == "$want" ]] || vm_fail "NAT: expected '$want'"
# The tuple at each step: DNAT between PRE_ROUTING's priorities, SNAT between POST_ROUTING's.
python3 - <<'PY' || vm_fail "NAT tuples"
import json
p = [json.loads(l) for l in open("trace.jsonl") if '"dport":8080' in l][0]
tup = [(o["tuple"]["src"], o["tuple"]["sport"], o["tuple"]["dst"], o["tuple"]["dport"])
       for o in p["path"] if o["point"] != "nft"]
orig = ("198.18.1.2", 41001, "198.18.1.1", 8080)
dnat = ("198.18.1.2", 41001, "198.18.2.2", 9090)
snat = ("198.18.2.1", 41001, "198.18.2.2", 9090)
want = [orig, orig, orig, dnat, dnat, dnat, dnat, snat, snat, snat]
print(tup)
assert tup == want, f"tuples {tup} != {want}"
PY
grep -q "^ *1  tap-in r0 → tc-ingress r0 → PRE_ROUTING → FORWARD → POST_ROUTING → tc-egress r1 → tap-out r1 ✓ forwarded$" trace.err || vm_fail "summary: forwarded"
# The NAT'd datagram and the first of the plain ones: the same steps (the verdicts are accept).
grep -q "^ *2  tap-in r0 → tc-ingress r0 → PRE_ROUTING(first) → nft ip hdnat pre: accept → PRE_ROUTING(last) → FORWARD → POST_ROUTING(first) → nft ip hdnat post: accept → POST_ROUTING(last) → tc-egress r1 → tap-out r1 ✓ forwarded$" trace.err || vm_fail "summary: NAT forwarded"
grep -q "^ *2  tap-in r0 → tc-ingress r0 → PRE_ROUTING(first) → nft ip hdnat pre: accept → PRE_ROUTING(last) ✗ dropped after PRE_ROUTING(last)$" trace.err || vm_fail "summary: routing drop"

off=$(trace_query 't["dport"] == 7021')
echo "$off"
# Never confirmed by conntrack, each is a new connection: the nat chain's policy for both.
want="tap-in@r0 tc-ingress@r0 PRE_ROUTING/first nft PRE_ROUTING/last kfree_skb@r0 | dropped | after PRE_ROUTING(last) | IP_INADDRERRORS | single"
[[ $(grep -cx "$want" <<<"$off") == 2 && $(grep -c . <<<"$off") == 2 ]] || vm_fail "forwarding off: expected 2 x '$want'"
grep -q "^5 packets traced" trace.err || vm_fail "summary: not 5 packets"
vm_log "forwarding, DNAT/SNAT and a routing drop traced hook by hook"

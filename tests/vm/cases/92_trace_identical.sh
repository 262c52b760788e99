#!/bin/bash
# Two byte-identical datagrams in one burst (same IP id, same payload: a raw socket sends the
# same bytes twice) are told apart and marked ambiguous, never merged into one path; a third
# datagram with its own id is traced alone, not marked.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../kmod_lib.sh"
source "$(dirname "$0")/../trace_lib.sh"
vm_require_hookdump
vm_insmod_hookdump
trace_modprobe_nft
vm_veth_pair kiA va 198.18.0.1/24 kiB vb 198.18.0.2/24
trace_start kiA trace.err udp
ip netns exec kiA python3 -c "
import socket, struct
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def packet(ipid):
    src, dst = socket.inet_aton('198.18.0.1'), socket.inet_aton('198.18.0.2')
    data = b'same bytes'
    udp = struct.pack('!HHHH', 40100, 7030, 8 + len(data), 0) + data
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), ipid, 0x4000, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    return ip + udp
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
same = packet(4242)
s.sendto(same, ('198.18.0.2', 0))
s.sendto(same, ('198.18.0.2', 0))
s.sendto(packet(4243), ('198.18.0.2', 0))
" || vm_fail "raw sender"
trace_stop trace.err
got=$(trace_query 't["dport"] == 7030')
echo "$got"
path="LOCAL_OUT/first LOCAL_OUT/last POST_ROUTING/first POST_ROUTING/last socket@va tc-egress@va tap-out@va | sent | - | -"
[[ $(grep -c . <<<"$got") == 3 ]] || vm_fail "expected 3 traced packets"
[[ $(grep -cx "$path | ambiguous" <<<"$got") == 2 ]] || vm_fail "expected the 2 identical ones as 2 ambiguous full paths"
[[ $(grep -cx "$path | single" <<<"$got") == 1 ]] || vm_fail "expected the third alone and not ambiguous"
vm_log "identical packets told apart (ambiguous), never merged"

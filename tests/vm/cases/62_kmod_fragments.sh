#!/bin/bash
# Fragments carry ports only in the first: a 3000-byte UDP datagram over MTU 1500 arrives as
# 3 fragments. At B's prerouting (first priority, before any reassembly) 3 events: the first
# with ports and frag=1, two later ones without ports. IPv4 reassembles before LOCAL_IN, so
# input sees the datagram once, with ports and frag=0; IPv6 reassembles after LOCAL_IN (the
# fragment header is handled as an upper protocol), so input sees the 3 fragments again.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../kmod_lib.sh"
vm_require_hookdump
vm_insmod_hookdump
vm_veth_pair kfA va 198.18.0.1/24 kfB vb 198.18.0.2/24
ip netns exec kfA sysctl -qw net.ipv6.conf.va.disable_ipv6=0 net.ipv6.conf.va.accept_dad=0
ip netns exec kfB sysctl -qw net.ipv6.conf.vb.disable_ipv6=0 net.ipv6.conf.vb.accept_dad=0
ip -n kfA addr add 2001:db8::1/64 dev va nodad; ip -n kfB addr add 2001:db8::2/64 dev vb nodad
ip netns exec kfB "$HOOKDUMP_BIN" capture --engine kmod --hooks prerouting,input -q -w frag.csv 'udp or proto 17 or ip6' >cap.err 2>&1 &
pid=$!
kmod_wait_ready cap.err 3
ip netns exec kfA python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('198.18.0.1', 41000))
s.sendto(b'z' * 3000, ('198.18.0.2', 9999))
t = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); t.bind(('2001:db8::1', 41006))
t.sendto(b'z' * 3000, ('2001:db8::2', 9999))
" || vm_fail "sender"
sleep 0.5
kill -INT $pid; kmod_wait_exit $pid 10 || vm_fail "capture exited $?"
cat cap.err frag.csv
for fam in 198.18.0.1 2001:db8::1; do
  sp=$([[ $fam == 198.18.0.1 ]] && echo 41000 || echo 41006)
  first=$(kmod_count frag.csv "\$2 == \"prerouting\" && \$8 == \"$fam\" && \$16 == 1 && \$10 == $sp && \$11 == 9999")
  later=$(kmod_count frag.csv "\$2 == \"prerouting\" && \$8 == \"$fam\" && \$16 == 1 && \$10 == \"\" && \$11 == \"\"")
  whole=$(kmod_count frag.csv "\$2 == \"input\" && \$8 == \"$fam\" && \$16 == 0 && \$10 == $sp && \$11 == 9999")
  ifirst=$(kmod_count frag.csv "\$2 == \"input\" && \$8 == \"$fam\" && \$16 == 1 && \$10 == $sp")
  ilater=$(kmod_count frag.csv "\$2 == \"input\" && \$8 == \"$fam\" && \$16 == 1 && \$10 == \"\"")
  if [[ $fam == 198.18.0.1 ]]; then want="1 2 1 0 0"; else want="1 2 0 1 2"; fi
  [[ "$first $later $whole $ifirst $ilater" == "$want" ]] \
    || vm_fail "$fam: prerouting first/later, input whole/first/later = $first $later $whole $ifirst $ilater, want $want"
done
vm_log "ports only in first fragments; the reassembled datagram at input has them"

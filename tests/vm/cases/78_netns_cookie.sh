#!/bin/bash
# One meaning of netns: hookdump.ko's events, the AF_PACKET tap and tc on Debian's 6.1 carry
# the cookie of the namespace the packets are in (SO_NETNS_COOKIE of a socket made there), the
# same value in packets and flows; another namespace's differs.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../kmod_lib.sh"
vm_require_hookdump
vm_insmod_hookdump
vm_modprobe "${VM_TC_MODULES[@]}"  # clsact and cls_bpf are modules on Debian's kernel
vm_veth_pair ncA va 198.18.0.1/24 ncB vb 198.18.0.2/24
cookie() {
  ip netns exec "$1" python3 -c "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); print(int.from_bytes(s.getsockopt(socket.SOL_SOCKET, 71, 8), 'little'))"
}
ca=$(cookie ncA) cb=$(cookie ncB)
[[ -n $ca && -n $cb && $ca != "$cb" && $ca != 0 ]] || vm_fail "namespace cookies: A '$ca', B '$cb'"
N=3
ip netns exec ncA "$HOOKDUMP_BIN" capture --engine kmod --dport 7100 --hooks input -q -w kmod.csv >kmod.err 2>&1 &
kpid=$!
ip netns exec ncA "$HOOKDUMP_BIN" capture --engine afpacket -i va -q -w af.csv udp port 7100 >af.err 2>&1 &
apid=$!
ip netns exec ncA "$HOOKDUMP_BIN" capture --engine tc -i va --direction in -q --flows=tc.csv udp port 7100 >tc.err 2>&1 &
tpid=$!
kmod_wait_ready kmod.err 1
for f in af.err tc.err; do
  for ((i = 0; i < 300; i++)); do grep -q "^listening on va" $f && break; kmod_nap 0.1; done
  grep -q "^listening on va" $f || { cat $f; vm_fail "$f: not listening"; }
done
ip netns exec ncB python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range($N): s.sendto(b'x' * 10, ('198.18.0.1', 7100))
" || vm_fail "sender"
kmod_nap 0.5
for p in $kpid $apid $tpid; do
  kill -INT $p; kmod_wait_exit $p 20; rc=$?
  ((rc == 0)) || { cat kmod.err af.err tc.err; vm_fail "capture $p exited $rc"; }
done
# netns is the 5th column of packet records and the 1st of flow records.
k=$(kmod_rows kmod.csv | cut -d, -f5 | sort | uniq -c | awk '{print $1" "$2}')
a=$(kmod_rows af.csv | cut -d, -f5 | sort | uniq -c | awk '{print $1" "$2}')
t=$(kmod_rows tc.csv | cut -d, -f1 | sort | uniq -c | awk '{print $1" "$2}')
[[ $k == "$N $ca" ]] || vm_fail "kmod events: netns '$k', expected '$N $ca'"
[[ $a == "$N $ca" ]] || vm_fail "AF_PACKET records: netns '$a', expected '$N $ca'"
[[ $t == "1 $ca" ]] || vm_fail "tc flow records: netns '$t', expected '1 $ca'"
vm_log "kmod, AF_PACKET and tc flows all report netns $ca (B is $cb)"

#!/bin/bash
# The classic use: 'capture --engine kmod --src A --hooks output -w sent.csv' records the
# 5-tuple of every packet the host sends from A, and nothing else (not the packets sent from
# another local address B, not the packets received). With --metrics, the scrape names the
# kmod engine's netlink socket: its 16 MiB buffer (8 MiB asked for, doubled by the kernel)
# and nothing queued once the 9 events are read; promtool accepts the text.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../kmod_lib.sh"
vm_require_hookdump
vm_insmod_hookdump
vm_veth_pair ksA va 198.18.0.1/24 ksB vb 198.18.0.2/24
ip -n ksA addr add 198.18.0.5/24 dev va
N=6
ip netns exec ksA "$HOOKDUMP_BIN" capture --engine kmod --src 198.18.0.1 --hooks output -q -w sent.csv \
  --metrics 127.0.0.1:9464 >cap.err 2>&1 &
pid=$!
kmod_wait_ready cap.err 1
for p in 7001 7002 7003; do
  ip netns exec ksA python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('198.18.0.1', 40000 + $p % 10))
for i in range($N // 3): s.sendto(b'x' * 10, ('198.18.0.2', $p))
t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
t.bind(('198.18.0.5', 0))
for i in range(5): t.sendto(b'y', ('198.18.0.2', $p))
" || vm_fail "python3 sender"
done
ip netns exec ksB ping -q -c 3 -i 0.2 198.18.0.1 >/dev/null || vm_fail "ping from B"
sleep 0.3
scrape() {
  ip netns exec ksA python3 -c "
import urllib.request
print(urllib.request.urlopen('http://127.0.0.1:9464/metrics', timeout=10).read().decode(), end='')"
}
metric() { awk -v k="$1" '$1 == k { print $2 }' metrics.txt; }
for ((i = 0; i < 50; i++)); do
  scrape >metrics.txt || vm_fail "scrape of /metrics"
  [[ $(metric 'hookdump_packets_captured_total{engine="kmod"}') == 9 ]] && break
  kmod_nap 0.1
done
promtool check metrics <metrics.txt || { cat metrics.txt; vm_fail "promtool check metrics"; }
buf=$(metric 'hookdump_socket_receive_buffer_bytes{engine="kmod"}')
queued=$(metric 'hookdump_socket_receive_queue_bytes{engine="kmod"}')
[[ $buf == 16777216 && $queued == 0 ]] \
  || { cat metrics.txt; vm_fail "kmod socket: buffer '$buf' queued '$queued' (want 16777216, 0)"; }
kill -INT $pid; kmod_wait_exit $pid 10 || vm_fail "capture exited $?"
cat cap.err sent.csv
total=$(kmod_count sent.csv)
udp=$(kmod_count sent.csv '$2 == "output" && $7 == 17 && $8 == "198.18.0.1" && $9 == "198.18.0.2" && $10 >= 40001 && $10 <= 40003 && $11 >= 7001 && $11 <= 7003')
echo3=$(kmod_count sent.csv '$7 == 1 && $8 == "198.18.0.1" && $12 == 0')
((udp == 6 && echo3 == 3 && total == 9)) \
  || vm_fail "expected 6 UDP datagrams and 3 echo replies from 198.18.0.1 only, got $udp UDP, $echo3 replies, $total rows"
for p in 7001 7002 7003; do
  (($(kmod_count sent.csv "\$10 == 40000 + $p % 10 && \$11 == $p") == 2)) || vm_fail "port $p: not exactly 2 datagrams"
done
grep -q "^9 packets captured, 9 received by filter, 0 dropped by kernel" cap.err || vm_fail "ledger"
vm_log "exactly the 9 packets sent from 198.18.0.1"

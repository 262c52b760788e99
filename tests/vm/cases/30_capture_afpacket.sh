#!/bin/bash
# 'hookdump capture' (AF_PACKET engine) on Debian's 6.1 kernel sees exactly the packets sent
# across a veth pair: with -c N it stops by itself after the N echo requests ping sent; without
# -c, stopped by SIGINT, it holds exactly N requests and N replies. tcpdump cross-checks the files.
source "$(dirname "$0")/../lib.sh"
vm_require_hookdump
N=5
vm_veth_pair vmA veth-a 198.18.0.1/30 vmB veth-b 198.18.0.2/30
ifindex=$(ip netns exec vmB cat /sys/class/net/veth-b/ifindex) || vm_fail "no veth-b in vmB"

# Waits until process $1 has an AF_PACKET socket bound (ETH_P_ALL) to veth-b: hookdump binds
# last, after its filter and ring are in place. /proc/PID/net is the process's namespace's.
wait_bound() {
  local i sk ref type proto iface rest
  for ((i = 0; i < 300; i++)); do
    while read -r sk ref type proto iface rest; do
      [[ $proto == 0003 && $iface == "$ifindex" ]] && return 0
    done <"/proc/$1/net/packet" 2>/dev/null
    kill -0 "$1" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
count() { grep -c "$1" "$2"; }

# 1. -c N: stops by itself after exactly the N echo requests.
ip netns exec vmB "$HOOKDUMP_BIN" capture --engine afpacket -i veth-b -q -c "$N" -w req.pcap 'icmp[icmptype] == icmp-echo' \
  >cap1.out 2>cap1.err &
pid=$!
wait_bound $pid || { cat cap1.err; vm_fail "hookdump capture did not bind to veth-b"; }
vm_run ip netns exec vmA ping -q -c "$N" -i 0.2 -W 2 198.18.0.2 || vm_fail "ping"
vm_wait_exit $pid 15
rc=$?
cat cap1.err
((rc != 124)) || vm_fail "hookdump capture -c $N did not stop after $N packets"
((rc == 0)) || vm_fail "hookdump capture -c $N exited $rc"
grep -q "^$N packets captured" cap1.err || vm_fail "the ledger does not say $N packets captured"
"$HOOKDUMP_BIN" read req.pcap >req.txt || vm_fail "hookdump read req.pcap"
tcpdump -nr req.pcap >req.tcpdump 2>/dev/null || vm_fail "tcpdump -r req.pcap"
cat req.tcpdump
(($(wc -l <req.txt) == N)) || vm_fail "hookdump read shows $(wc -l <req.txt) packets, expected $N"
(($(count '198.18.0.1 > 198.18.0.2: ICMP echo request' req.tcpdump) == N)) \
  || vm_fail "the capture does not hold exactly $N echo requests 198.18.0.1 > 198.18.0.2"
for ((s = 1; s <= N; s++)); do
  grep -q "seq $s," req.tcpdump || vm_fail "echo request seq $s is missing"
done

# 2. No -c, stopped by SIGINT: exactly N requests and N replies, nothing else, nothing dropped.
ip netns exec vmB "$HOOKDUMP_BIN" capture --engine afpacket -i veth-b -q -w all.pcap icmp >cap2.out 2>cap2.err &
pid=$!
wait_bound $pid || { cat cap2.err; vm_fail "hookdump capture did not bind to veth-b"; }
vm_run ip netns exec vmA ping -q -c "$N" -i 0.2 -W 2 198.18.0.2 || vm_fail "ping"
sleep 0.5  # > --block-timeout (50 ms): the last block is handed over
kill -INT $pid
vm_wait_exit $pid 15
rc=$?
cat cap2.err
((rc == 0)) || vm_fail "hookdump capture exited $rc after SIGINT"
tcpdump -nr all.pcap >all.tcpdump 2>/dev/null || vm_fail "tcpdump -r all.pcap"
cat all.tcpdump
req=$(count 'ICMP echo request' all.tcpdump) rep=$(count 'ICMP echo reply' all.tcpdump)
((req == N && rep == N && $(wc -l <all.tcpdump) == 2 * N)) \
  || vm_fail "expected $N echo requests and $N replies only, got $req requests, $rep replies, $(wc -l <all.tcpdump) packets"
grep -q "^$((2 * N)) packets captured, .* 0 dropped by kernel$" cap2.err \
  || vm_fail "the ledger does not say $((2 * N)) packets captured, none dropped"
vm_log "captured exactly the $N requests (-c) and $N requests + $N replies (SIGINT)"

# 3. With the project's own sender (tests/netns, when built): N UDP frames to a MAC no
#    interface has (the receiving kernel drops them after the tap), -c N stops after exactly them.
send=$HOOKDUMP_BUILD/tests/netns/hookdump-send
if [[ ! -x $send ]]; then
  vm_log "$send is not built: part 3 (hookdump-send) not run"
  exit 0
fi
ip netns exec vmB "$HOOKDUMP_BIN" capture --engine afpacket -i veth-b -q -c "$N" -w udp.pcap 'udp and dst port 5001' \
  >cap3.out 2>cap3.err &
pid=$!
wait_bound $pid || { cat cap3.err; vm_fail "hookdump capture did not bind to veth-b"; }
vm_run ip netns exec vmA "$send" -i veth-a --kind udp -n "$N" --src 198.18.0.1 --dst 198.18.0.2 \
  --dport 5001 --dst-mac 02:00:00:00:00:99 || vm_fail "hookdump-send"
vm_wait_exit $pid 15
rc=$?
cat cap3.err
((rc != 124)) || vm_fail "hookdump capture -c $N did not stop after the $N frames hookdump-send sent"
((rc == 0)) || vm_fail "hookdump capture -c $N exited $rc"
tcpdump -nr udp.pcap >udp.tcpdump 2>/dev/null || vm_fail "tcpdump -r udp.pcap"
cat udp.tcpdump
(($(count '198.18.0.1.[0-9]* > 198.18.0.2.5001: UDP' udp.tcpdump) == N)) \
  || vm_fail "the capture does not hold exactly the $N UDP frames hookdump-send sent"
vm_log "captured exactly the $N frames hookdump-send sent (-c)"

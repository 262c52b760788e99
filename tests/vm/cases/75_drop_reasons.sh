#!/bin/bash
# 'hookdump capture --engine drop' on Debian's 6.1 kernel: an nft rule in a namespace drops N
# UDP packets of one flow -> exactly N events with that 5-tuple, reason NETFILTER_DROP, freed in
# nft_do_chain (in the nf_tables module, loaded before hookdump starts). Another flow, to a
# closed port, is outside the first capture's filter and shows in a second one as NO_SOCKET in
# __udp4_lib_rcv. The reason numbers differ from the build machine's kernel (7 vs 12 for
# NETFILTER_DROP): the names come from the guest's BTF.
source "$(dirname "$0")/../lib.sh"
vm_require_hookdump
[[ -r /sys/kernel/btf/vmlinux ]] || vm_fail "the guest kernel has no /sys/kernel/btf/vmlinux"
N=5 M=3
send=$HOOKDUMP_BUILD/tests/netns/hookdump-send
[[ -x $send ]] || vm_fail "$send is not built"
vm_veth_pair vmA veth-a 198.18.0.1/30 vmB veth-b 198.18.0.2/30
mac_a=$(ip netns exec vmA cat /sys/class/net/veth-a/address) || vm_fail "no veth-a in vmA"
ifindex_a=$(ip netns exec vmA cat /sys/class/net/veth-a/ifindex)
vm_modprobe "${VM_NFT_MODULES[@]}"
ip netns exec vmA nft add table inet hd || vm_fail "nft add table"
ip netns exec vmA nft add chain inet hd in '{ type filter hook input priority 0; }' || vm_fail "nft add chain"
ip netns exec vmA nft add rule inet hd in udp dport 5001 drop || vm_fail "nft add rule"

# Waits until the capture whose stderr is $2 (pid $1) says it is attached.
wait_listening() {
  local i
  for ((i = 0; i < 600; i++)); do
    grep -q "listening at skb:kfree_skb" "$2" && { sleep 0.3; return 0; }
    kill -0 "$1" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

ip netns exec vmA "$HOOKDUMP_BIN" capture --engine drop -q -w nft.csv udp and dst port 5001 >nft.out 2>nft.err &
p1=$!
ip netns exec vmA "$HOOKDUMP_BIN" capture --engine drop -c "$M" udp port 5002 >sock.txt 2>sock.err &
p2=$!
vm_on_exit "kill -9 $p1 $p2 2>/dev/null"
wait_listening $p1 nft.err || { cat nft.err; vm_fail "drop capture 1 not ready"; }
wait_listening $p2 sock.err || { cat sock.err; vm_fail "drop capture 2 not ready"; }
vm_run ip netns exec vmB "$send" -i veth-b --kind udp -n "$N" --src 198.18.0.2 --dst 198.18.0.1 \
  --sport 40000 --dport 5001 --dst-mac "$mac_a" || vm_fail "hookdump-send (5001)"
vm_run ip netns exec vmB "$send" -i veth-b --kind udp -n "$M" --src 198.18.0.2 --dst 198.18.0.1 \
  --sport 40000 --dport 5002 --dst-mac "$mac_a" || vm_fail "hookdump-send (5002)"
vm_wait_exit $p2 30
rc=$?
cat sock.err sock.txt
((rc == 0)) || vm_fail "capture -c $M exited $rc"
sleep 0.5
kill -INT $p1
vm_wait_exit $p1 30
rc=$?
cat nft.err nft.csv
((rc == 0)) || vm_fail "capture 1 exited $rc after SIGINT"

# csv: ts,point,ifname,ifindex,netns,dir,proto,src,dst,sport,dport,...,verdict,reason,location
head -1 nft.csv | grep -q ',verdict,reason,location$' || vm_fail "nft.csv has no reason,location columns"
rows=$(tail -n +2 nft.csv | wc -l)
((rows == N)) || vm_fail "expected exactly $N drop events, got $rows"
good=$(tail -n +2 nft.csv | awk -F, -v ifx="$ifindex_a" '$2 == "drop" && $3 == "veth-a" && $4 == ifx &&
  $7 == 17 && $8 == "198.18.0.2" && $9 == "198.18.0.1" && $10 == 40000 && $11 == 5001 && $18 == "drop" &&
  $19 == "NETFILTER_DROP" && $20 ~ /^nft_do_chain\+0x[0-9a-f]+$/' | wc -l)
((good == N)) || vm_fail "only $good of $N events are 198.18.0.2.40000 > 198.18.0.1.5001 NETFILTER_DROP at nft_do_chain"
(($(tail -n +2 nft.csv | cut -d, -f20 | sort -u | wc -l) == 1)) || vm_fail "the $N drops are freed at different places"
grep -q "^$N packets captured, $N received by filter, 0 dropped by kernel" nft.err || vm_fail "ledger of capture 1"

(($(wc -l <sock.txt) == M)) || vm_fail "expected $M NO_SOCKET lines, got $(wc -l <sock.txt)"
(($(grep -cE '^[0-9:.]+ drop veth-a IP 198\.18\.0\.2\.40000 > 198\.18\.0\.1\.5002: UDP, length [0-9]+, reason NO_SOCKET at __udp4_lib_rcv\+0x[0-9a-f]+$' sock.txt) == M)) \
  || vm_fail "the closed-port drops do not read 'reason NO_SOCKET at __udp4_lib_rcv+0x..'"
vm_log "$N nft drops: NETFILTER_DROP at $(tail -n +2 nft.csv | cut -d, -f20 | sort -u); $M closed-port drops: NO_SOCKET"

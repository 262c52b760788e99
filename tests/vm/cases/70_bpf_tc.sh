#!/bin/bash
# --engine tc on Debian's 6.1 kernel: every frame hookdump-send sends is recorded once at tc
# egress of the sender and tc ingress of the receiver, with its 5-tuple and length; nothing
# stays attached after SIGINT.
source "$(dirname "$0")/../bpf_lib.sh"
vm_require_bpf
N=6
vm_veth_pair vmA veth-a 198.18.0.1/30 vmB veth-b 198.18.0.2/30

bpf_start vmB rx.out rx.err --engine tc -i veth-b -w rx.csv
rx=$pid
bpf_start vmA tx.out tx.err --engine tc -i veth-a --direction out -w tx.csv
tx=$pid
cat rx.err
vm_run ip netns exec vmA "$SEND" -i veth-a --kind udp -n $N --flows 3 --src 198.18.0.1 --dst 198.18.0.2 \
  --sport 40000 --dport 5001 --payload 32 --dst-mac $OTHER_MAC || vm_fail "hookdump-send udp"
vm_run ip netns exec vmA "$SEND" -i veth-a --kind tcp -n 2 --src 198.18.0.1 --dst 198.18.0.2 \
  --sport 41000 --dport 80 --payload 32 --dst-mac $OTHER_MAC || vm_fail "hookdump-send tcp"
bpf_stop $rx
bpf_stop $tx
cat rx.err tx.err
for f in rx tx; do
  grep -q "^$((N + 2)) packets captured, $((N + 2)) received by filter, 0 dropped by kernel$" $f.err \
    || vm_fail "$f: the ledger does not say $((N + 2)) packets captured, none dropped"
done
rows rx.csv
# point,ifname,dir,proto,src,dst,sport,dport,len
cut -d, -f2,3,6,7,8,9,10,11,14 rx.csv | tail -n +2 | sort | uniq -c >rx.sum
cut -d, -f2,3,6,7,8,9,10,11,14 tx.csv | tail -n +2 | sort | uniq -c >tx.sum
cat rx.sum tx.sum
cat >rx.want <<WANT
      2 tc-ingress,veth-b,in,17,198.18.0.1,198.18.0.2,40000,5001,74
      2 tc-ingress,veth-b,in,17,198.18.0.1,198.18.0.2,40001,5001,74
      2 tc-ingress,veth-b,in,17,198.18.0.1,198.18.0.2,40002,5001,74
      2 tc-ingress,veth-b,in,6,198.18.0.1,198.18.0.2,41000,80,86
WANT
sed 's/tc-ingress,veth-b,in/tc-egress,veth-a,out/' rx.want >tx.want
diff rx.want rx.sum || vm_fail "tc ingress rows differ from what was sent"
diff tx.want tx.sum || vm_fail "tc egress rows differ from what was sent"
for ns_if in vmA:veth-a vmB:veth-b; do
  ns=${ns_if%%:*} dev=${ns_if#*:}
  [[ -z $(ip netns exec $ns tc filter show dev $dev ingress; ip netns exec $ns tc filter show dev $dev egress) ]] \
    || vm_fail "tc filters left on $dev"
  ip netns exec $ns tc qdisc show dev $dev | grep -c clsact >/dev/null && vm_fail "clsact left on $dev"
done
vm_log "tc ingress and egress: exactly the $((N + 2)) frames sent, nothing left attached"

#!/bin/bash
# Rules in the kernel select exactly the expected subset; --flows counts in the kernel what
# was sent (tc and XDP), on Debian's 6.1 kernel.
source "$(dirname "$0")/../bpf_lib.sh"
vm_require_bpf
vm_veth_pair vmA veth-a 198.18.0.1/30 vmB veth-b 198.18.0.2/30
bpf_start vmB r1.out r1.err --engine tc --direction in -i veth-b -q -w r1.csv 'udp and dst port 5002'
r1=$pid
bpf_start vmB r2.out r2.err --engine xdp -i veth-b -q -w r2.csv --proto tcp
r2=$pid
bpf_start vmB f1.out f1.err --engine tc --direction in -i veth-b --flows=f1.csv
f1=$pid
send() { ip netns exec vmA "$SEND" -i veth-a --src 198.18.0.1 --dst 198.18.0.2 --payload 32 --dst-mac $OTHER_MAC "$@" \
  || vm_fail "hookdump-send $*"; }
send --kind udp -n 3 --sport 40000 --dport 5001
send --kind udp -n 4 --sport 40000 --dport 5002
send --kind tcp -n 2 --sport 41000 --dport 80
send --kind icmp -n 1
for p in $r1 $r2 $f1; do bpf_stop $p; done
cat r1.err r2.err f1.err f1.csv
(($(rows r1.csv | wc -l) == 4)) || vm_fail "'udp and dst port 5002': expected 4 rows"
(($(rows r2.csv | wc -l) == 2)) || vm_fail "--proto tcp (xdp): expected 2 rows"
grep -q "^4 packets captured, 4 received by filter, 0 dropped" r1.err || vm_fail "r1 ledger"
# netns,ifindex,point,dir,proto,src,dst,sport,dport,icmp_type,icmp_code,first,last,packets,
# bytes,octets,tcp_flags,end
cut -d, -f5-9,14,15,18 f1.csv | tail -n +2 | sort >f1.sum
cat >f1.want <<WANT
1,198.18.0.1,198.18.0.2,,,1,74,end
17,198.18.0.1,198.18.0.2,40000,5001,3,222,end
17,198.18.0.1,198.18.0.2,40000,5002,4,296,end
6,198.18.0.1,198.18.0.2,41000,80,2,172,end
WANT
diff f1.want f1.sum || vm_fail "flow records differ from what was sent"
grep -q "^10 packets captured, 10 received by filter, 0 dropped" f1.err || vm_fail "flows ledger"
vm_log "rules and kernel flows exact"

#!/bin/bash
# iptables -j HOOKDUMP beyond 85_xt_hookdump's OUTPUT and FORWARD, with iptables-nft and
# iptables-legacy, IPv4 and IPv6, on A -- R -- B:
# - B's filter INPUT (group 6, csv), A's mangle OUTPUT (group 7, jsonl), R's nat POSTROUTING
#   (group 8, pcapng; nat sees a connection's first packet only: one event per flow, and only
#   with conntrack on in R, which the rule's '-m conntrack --ctstate NEW' asks for) and two
#   rules of group 9 in A's filter OUTPUT (csv): exact rows (hook, 5-tuple) and the rule's label
#   in csv/jsonl (`label`) and in the pcapng comment (read back, as text and as csv), for each;
# - capture --group 7 EXPRESSION: the group's events that the expression matches, only;
# - one of group 9's rules deleted mid-capture: its events stop, the other rule's and every
#   other capture's go on;
# - iptables -S gives the INPUT, mangle and nat rules back as written; iptables-translate has
#   no nft statement for the target and says so (the rule as a comment);
# - kmod listen shows every group's events with their labels (jsonl);
# - the rules deleted, rmmod works.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../kmod_lib.sh"
source "$(dirname "$0")/../xt_lib.sh"
xt_setup iptable_mangle iptable_nat ip6table_mangle ip6table_nat xt_conntrack nft_ct "${VM_NFT_MODULES[@]}"
kmod_router_topology

# send SPORT_BASE N1 N2 N6: from A, N1 datagrams BASE+1 -> B:7001, N2 BASE+11 -> B:7002 (IPv4),
# N6 BASE+2 -> [B]:7001 (IPv6)
send() {
  ip netns exec kA python3 -c "
import socket, sys
b, n1, n2, n6 = map(int, sys.argv[1:])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('198.18.1.2', b + 1))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('198.18.1.2', b + 11))
t = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); t.bind(('2001:db8:1::2', b + 2))
for i in range(n1): s.sendto(b'x' * 10, ('198.18.2.2', 7001))
for i in range(n2): u.sendto(b'x' * 10, ('198.18.2.2', 7002))
for i in range(n6): t.sendto(b'y' * 20, ('2001:db8:2::2', 7001))
" "$@" || vm_fail "python3 sender"
}
# want FILE LINES...: the sorted 'uniq -c' lines expected in FILE.want
want() { local f=$1; shift; printf '%s\n' "$@" | sort >"$f.want"; }
# check NAME WHAT: NAME.sum (sorted) is NAME.want
check() { sort "$1.sum" >"$1.sorted"; diff "$1.want" "$1.sorted" || vm_fail "$2: rows differ"; }

base=40000
for flavour in nft legacy; do
  ipt=iptables-$flavour ip6t=ip6tables-$flavour
  vm_log "--- $ipt"
  # Source ports of their own per flavour: R's conntrack still holds the first flavour's flows,
  # and nat sees a flow's first packet only.
  p1=$((base + 1)) p2=$((base + 11)) p6=$((base + 2))
  rules=(
    "kB $ipt -A INPUT -p udp -m udp --dport 7001 -j HOOKDUMP --hookdump-group 6 --hookdump-label in-v4"
    "kB $ip6t -A INPUT -p udp -m udp --dport 7001 -j HOOKDUMP --hookdump-group 6 --hookdump-label in-v6"
    "kA $ipt -t mangle -A OUTPUT -p udp -j HOOKDUMP --hookdump-group 7 --hookdump-label mangle-v4"
    "kA $ip6t -t mangle -A OUTPUT -p udp -j HOOKDUMP --hookdump-group 7 --hookdump-label mangle-v6"
    "kR $ipt -t nat -A POSTROUTING -p udp -m conntrack --ctstate NEW -j HOOKDUMP --hookdump-group 8 --hookdump-snaplen 128 --hookdump-label nat-v4"
    "kR $ip6t -t nat -A POSTROUTING -p udp -m conntrack --ctstate NEW -j HOOKDUMP --hookdump-group 8 --hookdump-snaplen 128 --hookdump-label nat-v6"
    "kA $ipt -A OUTPUT -p udp -m udp --dport 7001 -j HOOKDUMP --hookdump-group 9 --hookdump-label x"
    "kA $ipt -A OUTPUT -p udp -m udp --dport 7002 -j HOOKDUMP --hookdump-group 9 --hookdump-label y"
  )
  for r in "${rules[@]}"; do
    read -r ns cmd args <<<"$r"
    vm_run ip netns exec $ns $cmd $args || vm_fail "$r"
    # iptables -S: the rule as written (-A CHAIN ...), in its table.
    table=filter; [[ $args == "-t "* ]] && { table=${args#-t }; table=${table%% *}; args=${args#-t $table }; }
    chain=${args#-A }; chain=${chain%% *}
    [[ $(ip netns exec $ns $cmd -t $table -S $chain) == *"$args"* ]] \
      || { ip netns exec $ns $cmd -t $table -S $chain; vm_fail "$cmd -t $table -S $chain: not '$args'"; }
  done

  if [[ $flavour == nft ]]; then
    # No nft statement does what the target does: iptables-translate gives the rule back as
    # a comment, as for every extension without xlate.
    out=$(iptables-translate -A OUTPUT -p udp -j HOOKDUMP --hookdump-group 3 --hookdump-label sent 2>&1)
    vm_log "iptables-translate: $out"
    [[ $out == *"# -A OUTPUT -p udp -j HOOKDUMP --hookdump-group 3 --hookdump-label sent"* ]] \
      || vm_fail "iptables-translate: $out"
  fi

  xt_start kB 6 b6 b6.csv
  xt_start kA 7 a7 a7.jsonl
  xt_start kA 7 a7e a7e.csv 'udp and dst port 7002'
  xt_start kR 8 r8 r8.pcapng
  xt_start kA 9 a9 a9.csv
  ip netns exec kA "$HOOKDUMP_BIN" kmod listen -w all.jsonl >all.err 2>&1 &
  pid_all=$!
  xt_wait_line all.err "listening to hookdump.ko events"
  send $base 2 1 2
  # Mid-capture: rule x goes; y and the other groups' rules stay.
  vm_run ip netns exec kA $ipt -D OUTPUT -p udp -m udp --dport 7001 -j HOOKDUMP --hookdump-group 9 --hookdump-label x \
    || vm_fail "$ipt -D OUTPUT (x)"
  send $base 2 1 1
  kmod_nap 0.5
  xt_stop b6 a7 a7e r8 a9 all
  cat b6.err a7.err a7e.err r8.err a9.err b6.csv a7e.csv a9.csv

  # csv: ts,point,ifname,ifindex,netns,dir,proto,src,dst,sport,dport,...,verdict,label (19)
  cut -d, -f2,6-11,19 b6.csv | tail -n +2 | sort | uniq -c >b6.sum
  want b6 "      4 input,in,17,198.18.1.2,198.18.2.2,$p1,7001,in-v4" \
          "      3 input,in,17,2001:db8:1::2,2001:db8:2::2,$p6,7001,in-v6"
  check b6 "$ipt: group 6 (B's INPUT)"
  cut -d, -f2,6-11,19 a7e.csv | tail -n +2 | sort | uniq -c >a7e.sum
  want a7e "      2 output,out,17,198.18.1.2,198.18.2.2,$p2,7002,mangle-v4"
  check a7e "$ipt: group 7 with 'udp and dst port 7002'"
  cut -d, -f2,6-11,19 a9.csv | tail -n +2 | sort | uniq -c >a9.sum
  want a9 "      2 output,out,17,198.18.1.2,198.18.2.2,$p1,7001,x" \
          "      2 output,out,17,198.18.1.2,198.18.2.2,$p2,7002,y"
  check a9 "$ipt: group 9 (rule x deleted mid-capture)"
  # jsonl, with its label key.
  jsum() {
    python3 -c "
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if sys.argv[2] == 'all' or r['label'] in sys.argv[2].split(','):
        print(','.join(str(r[k]) for k in ('point', 'dir', 'proto', 'src', 'dst', 'sport', 'dport', 'label')))
" "$@" | sort | uniq -c
  }
  jsum a7.jsonl all >a7.sum || vm_fail "a7.jsonl"
  want a7 "      4 output,out,17,198.18.1.2,198.18.2.2,$p1,7001,mangle-v4" \
          "      2 output,out,17,198.18.1.2,198.18.2.2,$p2,7002,mangle-v4" \
          "      3 output,out,17,2001:db8:1::2,2001:db8:2::2,$p6,7001,mangle-v6"
  check a7 "$ipt: group 7 (A's mangle OUTPUT), jsonl"
  # kmod listen in A: groups 7 and 9, labels and all.
  jsum all.jsonl all >all.sum || vm_fail "all.jsonl"
  cat a7.want a9.want >all.want
  sort -o all.want all.want
  check all "$ipt: kmod listen in A"
  # pcapng: the label in the packet's comment, read back.
  "$HOOKDUMP_BIN" read r8.pcapng >r8.txt 2>r8.rerr || { cat r8.rerr; vm_fail "hookdump read r8.pcapng"; }
  cat r8.txt
  cut -d' ' -f2- r8.txt | sed 's/, length [0-9]*//' | sort | uniq -c >r8.sum
  want r8 "      1 postrouting r1 IP 198.18.1.2.$p1 > 198.18.2.2.7001: UDP prefix \"nat-v4\"" \
          "      1 postrouting r1 IP 198.18.1.2.$p2 > 198.18.2.2.7002: UDP prefix \"nat-v4\"" \
          "      1 postrouting r1 IP6 2001:db8:1::2.$p6 > 2001:db8:2::2.7001: UDP prefix \"nat-v6\""
  check r8 "$ipt: group 8 (R's nat POSTROUTING), pcapng"
  # ... and as csv: the label column, as the capture's own csv would have it.
  "$HOOKDUMP_BIN" read r8.pcapng -o csv >r8r.csv 2>r8.rerr || { cat r8.rerr; vm_fail "hookdump read r8.pcapng -o csv"; }
  [[ $(head -n1 r8r.csv) == *,verdict,label ]] || vm_fail "read r8.pcapng -o csv: header $(head -n1 r8r.csv)"
  cut -d, -f2,6-11,19 r8r.csv | tail -n +2 | sort | uniq -c >r8r.sum
  want r8r "      1 postrouting,out,17,198.18.1.2,198.18.2.2,$p1,7001,nat-v4" \
           "      1 postrouting,out,17,198.18.1.2,198.18.2.2,$p2,7002,nat-v4" \
           "      1 postrouting,out,17,2001:db8:1::2,2001:db8:2::2,$p6,7001,nat-v6"
  check r8r "$ipt: group 8's pcapng read back as csv"
  xt_ledger b6 7; xt_ledger a7 9; xt_ledger a7e 2; xt_ledger r8 3; xt_ledger a9 4

  for r in "${rules[@]}"; do
    read -r ns cmd args <<<"$r"
    [[ $args == *"--hookdump-label x" ]] && continue  # deleted already
    vm_run ip netns exec $ns $cmd ${args/-A /-D } || vm_fail "deleting: $r"
  done
  base=$((base + 100))
done

xt_rmmod
vm_log "INPUT, mangle, nat; iptables-nft and -legacy, IPv4 and IPv6: exact rows and labels in csv, jsonl, pcapng; --group with an expression; a rule deleted mid-capture; -S round trip; translate; rmmod after"

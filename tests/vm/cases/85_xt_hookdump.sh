#!/bin/bash
# iptables -j HOOKDUMP (kmod/xt_HOOKDUMP.ko, the extension BUILD/xtables/libxt_HOOKDUMP.so),
# with iptables-nft (nft_compat) and iptables-legacy, IPv4 and IPv6, on A -- R -- B:
# - rules in A's OUTPUT (group 3: IPv4, group 5: IPv6) and R's FORWARD (group 4: both) ->
#   'capture --engine kmod --group N' gets exactly its group's packets, with their 5-tuples,
#   the chain's hook and the rule's label; two groups' captures in one namespace kept apart;
# - iptables -S gives the rules back as written;
# - bad options are refused with one clear line (the extension's parse), and past it by the
#   kernel's checkentry with a line in the kernel log;
# - rmmod xt_HOOKDUMP is refused while a rule uses the target, and works after it is deleted
#   (a reader killed with -9 first).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../kmod_lib.sh"
source "$(dirname "$0")/../xt_lib.sh"
xt_setup
kmod_router_topology

# start NS GROUP NAME: a capture of GROUP in NS, csv to NAME.csv
start() { xt_start "$1" "$2" "$3" "$3.csv"; }

for flavour in nft legacy; do
  ipt=iptables-$flavour ip6t=ip6tables-$flavour
  vm_log "--- $ipt"
  # Bad options: the extension refuses them before anything reaches the kernel.
  out=$(ip netns exec kA $ipt -A OUTPUT -j HOOKDUMP --hookdump-snaplen 5000 2>&1) && vm_fail "snaplen 5000 accepted"
  [[ $out == *'bad value for option "--hookdump-snaplen", or out of range (0-4096)'* ]] || vm_fail "snaplen 5000: $out"
  out=$(ip netns exec kA $ipt -A OUTPUT -j HOOKDUMP --hookdump-label 0123456789abcdef0123456789abcdefX 2>&1) && vm_fail "long label accepted"
  [[ $out == *'maximum length of 31 characters'* ]] || vm_fail "long label: $out"
  out=$(ip netns exec kA $ipt -A OUTPUT -j HOOKDUMP --hookdump-group 70000 2>&1) && vm_fail "group 70000 accepted"
  [[ $out == *'--hookdump-group'* ]] || vm_fail "group 70000: $out"

  # The kernel's checkentry, past the extension (the tests' variant, which checks nothing):
  # refused, with a line in the kernel log naming the problem, and no rule left.
  for bad in "--hookdump-snaplen 5000|snaplen 5000 is out of range (0-4096)" \
             "--hookdump-flags 8|unknown flags 0x8" \
             "--hookdump-label 0123456789abcdef0123456789abcdef|label is not NUL-terminated within 32 bytes"; do
    opt=${bad%%|*} msg="xt_HOOKDUMP: ${bad#*|}"
    before=$(dmesg | grep -cF "$msg")
    XTABLES_LIBDIR=$HOOKDUMP_BUILD/xtables-unchecked:/usr/lib/x86_64-linux-gnu/xtables \
      ip netns exec kA $ipt -A OUTPUT -j HOOKDUMP $opt 2>bad.err && vm_fail "the kernel accepted $opt"
    vm_log "$opt: $(<bad.err)"
    (($(dmesg | grep -cF "$msg") > before)) || { dmesg | tail -5; vm_fail "$opt: no '$msg' in the kernel log"; }
    [[ $(ip netns exec kA $ipt -S OUTPUT) != *HOOKDUMP* ]] || vm_fail "$opt: a rule was left"
  done

  vm_run ip netns exec kA $ipt -A OUTPUT -s 198.18.1.2/32 -p udp -j HOOKDUMP --hookdump-group 3 --hookdump-label sent-v4 \
    || vm_fail "$ipt -A OUTPUT"
  vm_run ip netns exec kA $ip6t -A OUTPUT -p udp -j HOOKDUMP --hookdump-group 5 --hookdump-snaplen 64 --hookdump-label sent-v6 \
    || vm_fail "$ip6t -A OUTPUT"
  vm_run ip netns exec kR $ipt -A FORWARD -p udp -j HOOKDUMP --hookdump-group 4 --hookdump-label fwd || vm_fail "$ipt -A FORWARD"
  vm_run ip netns exec kR $ip6t -A FORWARD -p udp -j HOOKDUMP --hookdump-group 4 --hookdump-label fwd || vm_fail "$ip6t -A FORWARD"
  # iptables -S: the rules as written.
  [[ $(ip netns exec kA $ipt -S OUTPUT) == *"-A OUTPUT -s 198.18.1.2/32 -p udp -j HOOKDUMP --hookdump-group 3 --hookdump-label sent-v4"* ]] \
    || { ip netns exec kA $ipt -S OUTPUT; vm_fail "$ipt -S OUTPUT"; }
  [[ $(ip netns exec kA $ip6t -S OUTPUT) == *"-A OUTPUT -p udp -j HOOKDUMP --hookdump-group 5 --hookdump-snaplen 64 --hookdump-label sent-v6"* ]] \
    || { ip netns exec kA $ip6t -S OUTPUT; vm_fail "$ip6t -S OUTPUT"; }
  [[ $(ip netns exec kR $ipt -S FORWARD) == *"-A FORWARD -p udp -j HOOKDUMP --hookdump-group 4 --hookdump-label fwd"* ]] \
    || { ip netns exec kR $ipt -S FORWARD; vm_fail "$ipt -S FORWARD"; }

  # rmmod while rules use the target: refused.
  rmmod xt_HOOKDUMP 2>rmmod.err && vm_fail "rmmod xt_HOOKDUMP worked while rules use it"
  vm_log "rmmod while in use: $(<rmmod.err)"

  start kA 3 a3; start kA 5 a5; start kR 4 r4
  ip netns exec kA python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('198.18.1.2', 40001))
for i in range(4): s.sendto(b'x' * 10, ('198.18.2.2', 7001))
t = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
t.bind(('2001:db8:1::2', 40002))
for i in range(3): t.sendto(b'y' * 20, ('2001:db8:2::2', 7002))
" || vm_fail "python3 sender"
  ip netns exec kA ping -q -c 2 -i 0.2 198.18.2.2 >/dev/null || vm_fail "ping"  # not udp: no event
  kmod_nap 0.5
  xt_stop a3 a5 r4
  cat a3.err a5.err r4.err a3.csv a5.csv r4.csv
  # csv: ts,point,ifname,ifindex,netns,dir,proto,src,dst,sport,dport,...,verdict,label
  [[ $(head -1 a3.csv) == *,verdict,label ]] || vm_fail "no label column: $(head -1 a3.csv)"
  cut -d, -f2,6-11,19 a3.csv | tail -n +2 | sort | uniq -c >a3.sum
  cut -d, -f2,6-11,19 a5.csv | tail -n +2 | sort | uniq -c >a5.sum
  cut -d, -f2,6-11,19 r4.csv | tail -n +2 | sort | uniq -c >r4.sum
  printf '      4 output,out,17,198.18.1.2,198.18.2.2,40001,7001,sent-v4\n' >a3.want
  printf '      3 output,out,17,2001:db8:1::2,2001:db8:2::2,40002,7002,sent-v6\n' >a5.want
  printf '      3 forward,,17,2001:db8:1::2,2001:db8:2::2,40002,7002,fwd\n      4 forward,,17,198.18.1.2,198.18.2.2,40001,7001,fwd\n' \
    | sort >r4.want
  diff a3.want a3.sum || vm_fail "$ipt: group 3 (A's OUTPUT, IPv4) rows differ"
  diff a5.want a5.sum || vm_fail "$ip6t: group 5 (A's OUTPUT, IPv6) rows differ"
  sort r4.sum >r4.sorted
  diff r4.want r4.sorted || vm_fail "$ipt/$ip6t: group 4 (R's FORWARD) rows differ"
  xt_ledger a3 4; xt_ledger a5 3; xt_ledger r4 7

  # The label, in the text output (as NFLOG's prefix).
  ip netns exec kA "$HOOKDUMP_BIN" capture --engine kmod --group 3 -c 1 >t.out 2>t.err &
  tp=$!
  xt_wait_line t.err "listening for iptables -j HOOKDUMP group 3"
  ip netns exec kA python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('198.18.1.2', 40003))
s.sendto(b'z', ('198.18.2.2', 7003))" || vm_fail "python3 sender"
  kmod_wait_exit $tp 20 || vm_fail "capture -c 1 exited $?"
  cat t.out
  grep -q 'IP 198\.18\.1\.2\.40003 > 198\.18\.2\.2\.7003: UDP.* prefix "sent-v4"$' t.out || vm_fail "no label in the text output"

  # A reader killed with -9, then the rules deleted and (after the loop) the module removed:
  # nothing left behind, a clean kernel log (99_dmesg_clean).
  start kA 3 k3
  kill -9 "$pid_k3"; wait "$pid_k3" 2>/dev/null
  ip netns exec kA $ipt -F OUTPUT && ip netns exec kA $ip6t -F OUTPUT \
    && ip netns exec kR $ipt -F FORWARD && ip netns exec kR $ip6t -F FORWARD || vm_fail "flushing the rules"
done

# No rule uses the target any more: rmmod works.
xt_rmmod
vm_log "iptables-nft and -legacy, IPv4 and IPv6: exact rows per group, -S round trip, bad options refused, rmmod refused in use and fine after"

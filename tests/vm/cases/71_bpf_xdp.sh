#!/bin/bash
# --engine xdp on Debian's 6.1 kernel, native (veth's driver mode) and generic: every frame
# received is recorded once; a second XDP capture is refused with one line; the link is gone
# after exit and after kill -9.
source "$(dirname "$0")/../bpf_lib.sh"
vm_require_bpf
N=5
vm_veth_pair vmA veth-a 198.18.0.1/30 vmB veth-b 198.18.0.2/30
for mode in native generic; do
  bpf_start vmB $mode.out $mode.err --engine xdp --xdp-mode $mode -i veth-b -w $mode.csv
  p=$pid
  head -1 $mode.err
  grep -q "^listening on veth-b, link-type EN10MB, xdp engine ($mode)" $mode.err || vm_fail "xdp $mode: wrong listening line"
  vm_run ip netns exec vmA "$SEND" -i veth-a --kind udp -n $N --src 198.18.0.1 --dst 198.18.0.2 --dport 5001 \
    --payload 32 --dst-mac $OTHER_MAC || vm_fail "hookdump-send"
  bpf_stop $p
  cat $mode.err
  grep -q "^$N packets captured, $N received by filter, 0 dropped by kernel" $mode.err || vm_fail "xdp $mode: ledger"
  (($(rows $mode.csv | grep -c '^[0-9.]*,xdp,veth-b,.*,in,17,198.18.0.1,198.18.0.2,40000,5001,.*,74,74,') == N)) \
    || { cat $mode.csv; vm_fail "xdp $mode: expected $N rows of the frames sent"; }
  ip netns exec vmB ip -d link show veth-b | grep -c "prog/xdp" >/dev/null && vm_fail "xdp $mode: still attached after exit"
done

bpf_start vmB first.out first.err --engine xdp -i veth-b -q -o csv
first=$pid
ip netns exec vmB "$HOOKDUMP_BIN" capture --engine xdp -i veth-b -q -o csv >second.out 2>second.err
rc=$?
cat second.err
((rc == 1)) || vm_fail "a second XDP capture exited $rc, expected 1"
grep -Eq "^hookdump: an XDP program \('hd_xdp', id [0-9]+\) is already attached to veth-b: hookdump does not replace it; use --engine tc$" second.err \
  || vm_fail "no one-line refusal"
kill -9 $first
wait $first 2>/dev/null
for ((i = 0; i < 50; i++)); do
  ip netns exec vmB ip -d link show veth-b | grep -c "prog/xdp" >/dev/null || break
  sleep 0.1
done
ip netns exec vmB ip -d link show veth-b | grep -c "prog/xdp" >/dev/null && vm_fail "XDP still attached after kill -9"
vm_log "xdp native and generic exact; refusal; detached after exit and kill -9"

#!/bin/bash
# tc filters after SIGTERM (gone) and kill -9 (left: netlink tc filters outlive their process
# on 6.1), removed by the next start, which leaves a live run's filters alone.
source "$(dirname "$0")/../bpf_lib.sh"
vm_require_bpf
vm_veth_pair vmA veth-a 198.18.0.1/30 vmB veth-b 198.18.0.2/30
# (Whole outputs compared, not piped into grep -q: with pipefail, grep's early exit fails tc.)
filters() { ip netns exec vmB tc filter show dev veth-b ingress; ip netns exec vmB tc filter show dev veth-b egress; }
bpf_start vmB t.out t.err --engine tc -i veth-b -q -o csv
[[ $(filters) == *"hookdump:$pid "* ]] || vm_fail "no filter hookdump:$pid"
bpf_stop $pid TERM
[[ -z $(filters) ]] || vm_fail "filters left after SIGTERM"

bpf_start vmB k.out k.err --engine tc -i veth-b -q -o csv
dead=$pid
kill -9 $dead
wait $dead 2>/dev/null
filters
(($(filters | grep -c "hookdump:$dead") == 2)) || vm_fail "expected the killed run's 2 filters to be left"
bpf_start vmB l.out l.err --engine tc -i veth-b -q -o csv
live=$pid
cat l.err
grep -q "^hookdump: removed 2 tc filter(s) left on veth-b by a hookdump that did not exit cleanly$" l.err \
  || vm_fail "the next start did not remove the leftovers"
bpf_start vmB o.out o.err --engine tc -i veth-b -q -o csv
other=$pid
grep -q removed o.err && vm_fail "a start removed a live run's filters"
filters
[[ $(filters) == *"hookdump:$dead "* ]] && vm_fail "leftover still there"
(($(filters | grep -c "hookdump:") == 4)) || vm_fail "expected the two live runs' 4 filters"
bpf_stop $other
bpf_stop $live
[[ -z $(filters) ]] || vm_fail "filters left at the end"
ip netns exec vmB tc qdisc show dev veth-b | grep -c clsact >/dev/null && vm_fail "clsact left at the end"
vm_log "SIGTERM clean, kill -9 leftovers removed at the next start, live runs untouched"

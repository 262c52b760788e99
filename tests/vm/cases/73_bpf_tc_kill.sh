#!/bin/bash
# What a run leaves attached after SIGTERM and kill -9, on either kind of tc attachment:
# - netlink tc filters (clsact; what the engine uses where the kernel has no tcx links, as on
#   6.1, and with HOOKDUMP_TC_CLSACT=1 anywhere): gone after SIGTERM, left by kill -9 (they
#   outlive their process), removed by the next start, which leaves a live run's filters alone;
# - tcx links (the first choice where the kernel has them, as on 6.12): no filter at all, two
#   links while it runs, none after kill -9 (a link goes with the last fd on it).
# Which kind the kernel has is probed (tcx_link_attach in /proc/kallsyms), not read off the
# version.
source "$(dirname "$0")/../bpf_lib.sh"
vm_require_bpf
vm_veth_pair vmA veth-a 198.18.0.1/30 vmB veth-b 198.18.0.2/30
# (Whole outputs compared, not piped into grep -q: with pipefail, grep's early exit fails tc.)
filters() { ip netns exec vmB tc filter show dev veth-b ingress; ip netns exec vmB tc filter show dev veth-b egress; }
# tcx_links: the guest's tcx links, one "TYPE PROG_ID" a line (Debian 12's bpftool, from 6.1,
# names no tcx link type: it prints the number, BPF_LINK_TYPE_TCX = 11, and no ifindex; the
# case runs alone in the guest, so every tcx link is this case's)
tcx_links() {
  bpftool -j link show | python3 -c '
import json, sys
for l in json.load(sys.stdin):
    if l.get("type") in ("tcx", 11):
        print(l.get("type"), l.get("prog_id"))'
}
tcx=0
awk '$3 == "tcx_link_attach" { f = 1 } END { exit !f }' /proc/kallsyms && tcx=1
vm_log "kernel $(uname -r): tcx links $( ((tcx)) && echo yes || echo no)"

if ((tcx)); then
  bpf_start vmB x.out x.err --engine tc -i veth-b -q -o csv
  [[ -z $(filters) ]] || { filters; vm_fail "a tcx kernel, yet the run added netlink tc filters"; }
  tcx_links
  (($(tcx_links | grep -c .) == 2)) || vm_fail "expected 2 tcx links while the run lives"
  kill -9 $pid
  wait $pid 2>/dev/null
  for ((i = 0; i < 50; i++)); do [[ -z $(tcx_links) ]] && break; sleep 0.1; done
  [[ -z $(tcx_links) ]] || { tcx_links; vm_fail "tcx links left after kill -9"; }
  [[ -z $(filters) ]] || vm_fail "filters after kill -9 of a tcx run"
  vm_log "tcx: 2 links while running, nothing left after kill -9"
else
  bpf_start vmB x.out x.err --engine tc -i veth-b -q -o csv
  [[ $(filters) == *"hookdump:$pid "* ]] || vm_fail "no tcx links here, yet no filter hookdump:$pid"
  bpf_stop $pid
fi

# The netlink filters, on every kernel.
export HOOKDUMP_TC_CLSACT=1
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
vm_log "clsact filters: SIGTERM clean, kill -9 leftovers removed at the next start, live runs untouched"

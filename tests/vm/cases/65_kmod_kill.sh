#!/bin/bash
# kill -9 of a capture while traffic flows: its session ends (NETLINK_URELEASE) and takes its
# rules with it, and the hooks only those rules needed are unregistered; a rule added with
# 'rules add' stays (for passive listeners) with its hooks. Then rmmod while a capture runs
# succeeds, and the capture ends with the one line saying so and exit 1, not a hang.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../kmod_lib.sh"
vm_require_hookdump
ko=${HOOKDUMP_KMOD:-$HOOKDUMP_SRC/kmod/hookdump.ko}
vm_veth_pair kkA va 198.18.0.1/24 kkB vb 198.18.0.2/24
vm_run insmod "$ko" || vm_fail insmod
vm_on_exit "[[ ! -d /sys/module/hookdump ]] || rmmod hookdump"  # when a check fails before the rmmod
hd() { ip netns exec kkA "$HOOKDUMP_BIN" "$@"; }
# stats_is "matched rules hooks": the counters that must not move, and the gauges.
stats_is() {
  local got
  got=$(hd kmod stats | awk '$1 == "matched" || $1 == "rules" || $1 == "hooks" { printf "%s%s %s", s, $1, $2; s = ", " }')
  [[ $got == "$1" ]] || vm_fail "$2: kmod stats say '$got', expected '$1'"
}
all=prerouting,input,forward,output,postrouting

# The kept rule: udp at every hook, first slot (both families: 10 hooks).
out=$(hd rules add --proto udp) || vm_fail "rules add"
[[ $out == "added id 1 proto 17 hooks $all priority first hits 0 owner none" ]] || vm_fail "rules add said '$out'"
stats_is "matched 0, rules 1, hooks 10" "with the kept rule"

ip netns exec kkA ping -q -i 0.01 -c 100000 198.18.0.2 >/dev/null &
ping_pid=$!
vm_on_exit "kill $ping_pid 2>/dev/null"
# The capture's rule: icmp (IPv4) at every hook, last slot: 5 hooks of its own.
# Started directly, not through hd(): kill -9 must reach hookdump itself, not a subshell.
ip netns exec kkA "$HOOKDUMP_BIN" capture --engine kmod --priority last -q -o csv icmp >/dev/null 2>k1.err &
pid=$!
kmod_wait_ready k1.err 1
# Until the ping (started first, but slower to start under TCG) is matched.
for ((i = 0; i < 100; i++)); do
  hd rules list >list1.txt || vm_fail "rules list"
  grep -q '^id 2 .* hits [1-9]' list1.txt && break
  kmod_nap 0.1
done
cat list1.txt
mapfile -t lines <list1.txt
((${#lines[@]} == 2)) || vm_fail "${#lines[@]} rules listed during the capture, expected 2"
[[ ${lines[0]} == "id 1 proto 17 hooks $all priority first hits 0 owner none" ]] || vm_fail "kept rule: '${lines[0]}'"
[[ ${lines[1]} =~ ^"id 2 ip proto 1 hooks $all priority last hits "([0-9]+)" owner session "[1-9][0-9]*$ ]] \
  || vm_fail "the capture's rule: '${lines[1]}'"
((BASH_REMATCH[1] > 0)) || vm_fail "the capture's rule matched nothing"
hd kmod stats | awk '$1 == "rules" || $1 == "hooks"' | paste -sd' ' | grep -qx 'rules 2 hooks 15' \
  || vm_fail "during the capture: not 2 rules on 15 hooks"

kill -9 $pid; wait $pid 2>/dev/null
# The socket is closed when the process is gone: nothing of the capture is left.
out=$(hd rules list) || vm_fail "rules list"
[[ $out == "id 1 proto 17 hooks $all priority first hits 0 owner none" ]] || vm_fail "after kill -9 the rules are '$out'"
m1=$(hd kmod stats | awk '$1 == "matched" { print $2 }')
stats_is "matched $m1, rules 1, hooks 10" "after kill -9"
kmod_nap 0.5  # icmp still flows: nothing matches it any more
stats_is "matched $m1, rules 1, hooks 10" "0.5 s after kill -9, icmp flowing"
kill $ping_pid 2>/dev/null || vm_fail "the ping ended before the check (no traffic to not match)"
wait $ping_pid

ip netns exec kkA "$HOOKDUMP_BIN" capture --engine kmod -q -o csv icmp >/dev/null 2>run.err &
pid2=$!
kmod_wait_ready run.err 1
vm_run rmmod hookdump || vm_fail "rmmod with a kept rule and a running capture"
kmod_wait_exit $pid2 10; rc=$?
cat run.err
((rc == 1)) || vm_fail "the capture exited $rc after rmmod, expected 1"
(($(grep -cFx 'hookdump: the hookdump kernel module was unloaded' run.err) == 1)) \
  || vm_fail "the capture did not say once that the module was unloaded"
lsmod | grep -q '^hookdump ' && vm_fail "hookdump still loaded"
vm_log "kill -9: the capture's rule and its 5 hooks went, the kept rule stayed; rmmod during a capture: exit 1"

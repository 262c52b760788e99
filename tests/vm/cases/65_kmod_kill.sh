#!/bin/bash
# kill -9 of the reader while traffic flows ends its session (NETLINK_URELEASE); the rules it
# added stay (it could not remove them) until flushed, and rmmod then succeeds. Also: rmmod
# while a capture is running succeeds, and the capture ends with an error, not a hang.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../kmod_lib.sh"
vm_require_hookdump
ko=${HOOKDUMP_KMOD:-$HOOKDUMP_SRC/kmod/hookdump.ko}
vm_veth_pair kkA va 198.18.0.1/24 kkB vb 198.18.0.2/24
vm_run insmod "$ko" || vm_fail insmod
ip netns exec kkA ping -q -i 0.01 -c 400 198.18.0.2 >/dev/null &
ping_pid=$!
ip netns exec kkA "$HOOKDUMP_BIN" capture --engine kmod -q -o csv icmp >/dev/null 2>k1.err &
pid=$!
kmod_wait_ready k1.err 1
sleep 0.5
kill -9 $pid; wait $pid 2>/dev/null
sleep 0.3
before=$(kmod_stat kkA dropped_nosession)
sleep 0.5
after=$(kmod_stat kkA dropped_nosession)
((after > before)) || vm_fail "after kill -9 the rule should still match with no session (nosession $before -> $after)"
ip netns exec kkA "$HOOKDUMP_BIN" capture --engine kmod -q -o csv icmp >/dev/null 2>run.err &
pid2=$!
kmod_wait_ready run.err 1
vm_run rmmod hookdump || vm_fail "rmmod with a killed reader's rules and a running capture"
kmod_wait_exit $pid2 10; rc=$?
((rc != 124)) || vm_fail "the capture hung after rmmod"
cat run.err
wait $ping_pid
lsmod | grep -q '^hookdump ' && vm_fail "hookdump still loaded"
vm_log "kill -9 then rmmod: clean; capture after rmmod exited $rc"

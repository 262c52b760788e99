#!/bin/bash
# Random and malformed netlink messages are refused (or harmlessly accepted), every one is
# answered, and the module works afterwards. The kernel log is checked for WARNING/BUG/Oops.
source "$(dirname "$0")/../lib.sh"
vm_require_hookdump
fuzz=$HOOKDUMP_BUILD/tests/kmod/hookdump-nlfuzz
[[ -x $fuzz ]] || vm_fail "$fuzz is not built"
vm_insmod_hookdump
vm_modprobe veth
ip netns add kz || vm_fail netns
vm_on_exit "ip netns delete kz"
for seed in 1 2 3; do
  vm_run ip netns exec kz "$fuzz" 4000 $seed || vm_fail "nlfuzz seed $seed"
done
vm_run "$fuzz" 2000 7 || vm_fail "nlfuzz in the initial namespace"
"$HOOKDUMP_BIN" rules flush
if dmesg | grep -E 'WARNING|BUG|Oops|general protection|KASAN|UBSAN'; then vm_fail "kernel log"; fi
vm_log "fuzzed; no kernel complaints"

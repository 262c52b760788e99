#!/bin/bash
# The guest runs the Debian kernel run-vm.sh booted (6.1 or 6.12, --kernel), not the host's, and
# the hookdump.ko the cases load was built for it.
source "$(dirname "$0")/../lib.sh"
r=$(uname -r)
vm_log "uname -r: $r; hookdump.ko: $HOOKDUMP_KMOD"
[[ $r == "$VM_KVER" ]] || vm_fail "expected $VM_KVER (the kernel run-vm.sh booted), got $r"
[[ $r == "$VM_KSERIES".* ]] || vm_fail "expected a $VM_KSERIES kernel (run-vm.sh --kernel), got $r"
[[ -d /lib/modules/$r/kernel ]] || vm_fail "/lib/modules/$r is not visible in the guest"
touch /probe-read-only 2>/dev/null && vm_fail "the guest's root is writable: it must be the host's, read-only"
vermagic=$(modinfo -F vermagic "$HOOKDUMP_KMOD") || vm_fail "modinfo $HOOKDUMP_KMOD"
[[ ${vermagic%% *} == "$r" ]] || vm_fail "$HOOKDUMP_KMOD is built for ${vermagic%% *}, the guest runs $r"
vm_log "root is read-only, /lib/modules/$r present, hookdump.ko built for $r"

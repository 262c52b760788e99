#!/bin/bash
# The guest runs Debian's 6.1 kernel (the one kmod/hookdump.ko is built against), not the host's.
source "$(dirname "$0")/../lib.sh"
r=$(uname -r)
vm_log "uname -r: $r"
[[ $r == 6.1.* ]] || vm_fail "expected a 6.1 kernel, got $r"
[[ $r == "$VM_KVER" ]] || vm_fail "expected $VM_KVER (the kernel run-vm.sh booted), got $r"
[[ -d /lib/modules/$r/kernel ]] || vm_fail "/lib/modules/$r is not visible in the guest"
touch /probe-read-only 2>/dev/null && vm_fail "the guest's root is writable: it must be the host's, read-only"
vm_log "root is read-only, /lib/modules/$r present"

#!/bin/bash
# modprobe veth works in the guest, and two network namespaces joined by a veth pair ping each other.
source "$(dirname "$0")/../lib.sh"
vm_veth_pair vmA veth-a 198.18.0.1/30 vmB veth-b 198.18.0.2/30
lsmod | grep -q '^veth ' || vm_fail "veth is not loaded"
vm_run ip netns exec vmA ping -c 3 -i 0.2 -W 2 198.18.0.2 || vm_fail "vmA cannot ping vmB"
vm_run ip netns exec vmB ping -c 3 -i 0.2 -W 2 198.18.0.1 || vm_fail "vmB cannot ping vmA"

# Helpers for the VM cases (tests/vm/cases/*.sh). A case is a bash script run inside the
# guest by guest-run.sh; it starts with
#
#   source "$(dirname "$0")/../lib.sh"
#
# and exits 0 (pass), 77 (skip: vm_skip) or anything else (fail: vm_fail). The guest's root
# is the host's, read-only: write only under /tmp (tmpfs; $VM_CASE_TMP is the case's own
# directory and its working directory) and /run. Network namespaces a case creates are
# deleted after it in any case; vm_on_exit registers other cleanups.
#
# Environment: HOOKDUMP_SRC, HOOKDUMP_BUILD, HOOKDUMP_BIN (the build's hookdump), HOOKDUMP_KMOD
# (the hookdump.ko built for the guest's kernel), VM_KVER (the guest kernel's release),
# VM_KSERIES (6.1 or 6.12), VM_CASE, VM_CASE_TMP, CI.
set -uo pipefail

vm_log() { echo "[$VM_CASE] $*"; }
vm_fail() { echo "[$VM_CASE] FAIL: $*"; exit 1; }
vm_skip() { echo "[$VM_CASE] SKIP: $*"; exit 77; }

# Runs "$@" echoing it first; returns its status.
vm_run() { echo "+ $*"; "$@"; }

# Cleanups run at exit, last registered first.
# A cleanup that must succeed calls vm_cleanup_failed when it does not: the case then fails.
_vm_cleanups=()
_vm_cleanup_rc=0
vm_on_exit() { _vm_cleanups+=("$*"); }
vm_cleanup_failed() { echo "[$VM_CASE] FAIL (cleanup): $*"; _vm_cleanup_rc=1; }
_vm_exit() {
  local rc=$? i
  for ((i = ${#_vm_cleanups[@]} - 1; i >= 0; i--)); do eval "${_vm_cleanups[$i]}" || true; done
  ((rc == 0 && _vm_cleanup_rc != 0)) && rc=1
  exit $rc
}
trap _vm_exit EXIT

# vm_nap SECONDS: sleeps without starting a process (each costs ~0.1-1 s under TCG): a read
# with a timeout on a FIFO nobody writes to.
vm_nap() {
  if [[ -z ${_vm_nap_fd:-} ]]; then
    [[ -p $VM_CASE_TMP/.vm_nap ]] || mkfifo "$VM_CASE_TMP/.vm_nap" || vm_fail "mkfifo"
    exec {_vm_nap_fd}<>"$VM_CASE_TMP/.vm_nap"
  fi
  read -rt "$1" -u "$_vm_nap_fd" || true
}

# vm_wait_exit PID SECONDS: waits for PID; returns its status (124 when killed after SECONDS).
vm_wait_exit() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$1" 2>/dev/null || { wait "$1"; return; }
    vm_nap 0.1
  done
  kill -9 "$1"; wait "$1"
  return 124
}

# vm_modprobe MODULE...: loads kernel modules, failing the case when one does not load. The
# guest cannot autoload them (its kernel's modprobe path is the initramfs's).
vm_modprobe() { modprobe -a "$@" || vm_fail "modprobe $*"; }
# What nft rules need (NAT included), and what the tc points need (clsact, cls_bpf).
VM_NFT_MODULES=(nf_tables nft_chain_nat nft_nat nft_masq nf_conntrack nf_nat)
VM_TC_MODULES=(sch_ingress cls_bpf)

vm_require_hookdump() {
  [[ -x $HOOKDUMP_BIN ]] || vm_fail "$HOOKDUMP_BIN is not built"
}

# vm_veth_pair NS_A IF_A ADDR_A NS_B IF_B ADDR_B (addresses with their prefix, 198.18.0.0/15)
# Two network namespaces joined by a veth pair, up, addressed, IPv6 off (no router or
# neighbour solicitations to muddle packet counts). Deleted at exit.
vm_veth_pair() {
  local na=$1 ia=$2 aa=$3 nb=$4 ib=$5 ab=$6 ns
  vm_modprobe veth
  for ns in "$na" "$nb"; do
    ip netns add "$ns" || vm_fail "ip netns add $ns"
    vm_on_exit "ip netns delete $ns 2>/dev/null"
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  done
  ip link add "$ia" netns "$na" type veth peer name "$ib" netns "$nb" || vm_fail "ip link add veth"
  ip -n "$na" addr add "$aa" dev "$ia" && ip -n "$nb" addr add "$ab" dev "$ib" || vm_fail "ip addr add"
  ip -n "$na" link set "$ia" up && ip -n "$nb" link set "$ib" up || vm_fail "ip link set up"
}

# vm_insmod_hookdump [PARAM=VALUE...]
# Loads the project's kernel module, built on the host beforehand for the guest's kernel
# ($HOOKDUMP_KMOD: the build's BUILD/kmod/KVER/hookdump.ko, run-vm.sh --kmod), and unloads it
# at exit. A module that
# was not built skips the case, or fails it under CI=true; one built for another kernel fails.
vm_insmod_hookdump() {
  local ko=${HOOKDUMP_KMOD:-$HOOKDUMP_SRC/kmod/hookdump.ko} vermagic
  if [[ ! -f $ko ]]; then
    local msg="$ko is not built (make -C $HOOKDUMP_SRC/kmod KDIR=/lib/modules/$VM_KVER/build)"
    [[ ${CI:-} == true ]] && vm_fail "$msg"
    vm_skip "$msg"
  fi
  vermagic=$(modinfo -F vermagic "$ko") || vm_fail "modinfo $ko"
  [[ ${vermagic%% *} == "$(uname -r)" ]] || vm_fail "$ko is built for ${vermagic%% *}, the guest runs $(uname -r)"
  vm_run insmod "$ko" "$@" || vm_fail "insmod $ko"
  vm_on_exit "rmmod hookdump || vm_cleanup_failed 'rmmod hookdump'"
}

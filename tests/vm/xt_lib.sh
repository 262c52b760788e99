# Helpers for the iptables -j HOOKDUMP cases (tests/vm/cases/8[56]_xt_*.sh); sourced after lib.sh
# and kmod_lib.sh.

# xt_setup MODULES...: the extension from the build tree, hookdump.ko and xt_HOOKDUMP.ko loaded
# (with x_tables and MODULES first), xt_HOOKDUMP removed at exit when still there.
xt_setup() {
  vm_require_hookdump
  export XTABLES_LIBDIR=$HOOKDUMP_BUILD/xtables:/usr/lib/x86_64-linux-gnu/xtables
  [[ -f $HOOKDUMP_BUILD/xtables/libxt_HOOKDUMP.so ]] || vm_fail "$HOOKDUMP_BUILD/xtables/libxt_HOOKDUMP.so is not built"
  xt_ko=$(dirname "$HOOKDUMP_KMOD")/xt_HOOKDUMP.ko
  [[ -f $xt_ko ]] || vm_fail "$xt_ko is not built"
  vm_modprobe x_tables ip_tables iptable_filter ip6_tables ip6table_filter nf_tables nft_compat "$@"
  vm_insmod_hookdump
  [[ -d /sys/module/xt_HOOKDUMP ]] || vm_run insmod "$xt_ko" || vm_fail "insmod $xt_ko"
  vm_on_exit "[[ ! -d /sys/module/xt_HOOKDUMP ]] || rmmod xt_HOOKDUMP || vm_cleanup_failed 'rmmod xt_HOOKDUMP'"
}

# xt_rmmod: once no rule uses the target, rmmod works (nft_compat lets go of it after the commit).
xt_rmmod() {
  local i
  for ((i = 0; i < 50; i++)); do rmmod xt_HOOKDUMP 2>/dev/null && break; kmod_nap 0.1; done
  [[ ! -d /sys/module/xt_HOOKDUMP ]] || vm_fail "rmmod xt_HOOKDUMP refused after the rules were deleted"
}

# xt_wait_line FILE TEXT: until FILE has a line starting with TEXT (a capture's ready line)
xt_wait_line() {
  local i
  for ((i = 0; i < 300; i++)); do grep -q "^$2" "$1" 2>/dev/null && return 0; kmod_nap 0.1; done
  cat "$1"; vm_fail "no '$2' in $1"
}

# xt_start NS GROUP NAME FILE [ARGS...]: 'capture --engine kmod --group GROUP ARGS -w FILE' in
# NS, stderr to NAME.err, its pid in pid_NAME; returns once it listens.
xt_start() {
  local ns=$1 group=$2 name=$3 file=$4
  shift 4
  ip netns exec "$ns" "$HOOKDUMP_BIN" capture --engine kmod --group "$group" -q -w "$file" "$@" >"$name.err" 2>&1 &
  eval "pid_$name=$!"
  xt_wait_line "$name.err" "listening for iptables -j HOOKDUMP group $group"
}

# xt_stop NAME...: SIGINT to each capture, each exits 0.
xt_stop() {
  local n p
  for n; do
    p=$(eval echo "\$pid_$n")
    kill -INT "$p"; kmod_wait_exit "$p" 20 || vm_fail "capture $n exited $?"
  done
}

# xt_ledger NAME N: the capture's ledger says N packets, none dropped.
xt_ledger() {
  grep -q "^$2 packets captured, $2 received by filter, 0 dropped by kernel" "$1.err" \
    || { cat "$1.err"; vm_fail "$1: the ledger does not say $2 packets"; }
}

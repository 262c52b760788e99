# Helpers for the eBPF engine cases (70_* .. 74_*): on top of lib.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SEND=$HOOKDUMP_BUILD/tests/netns/hookdump-send
OTHER_MAC=02:00:00:00:00:99  # no interface has it: the receiver drops the frames after tc/XDP

vm_require_bpf() {
  vm_require_hookdump
  [[ -x $SEND ]] || vm_fail "$SEND is not built"
  vm_modprobe "${VM_TC_MODULES[@]}"  # clsact and cls_bpf are modules on Debian's kernel
}

# bpf_start NS OUT ERR ARGS...: starts 'hookdump capture ARGS' in NS; sets $pid once it has
# attached (its 'listening on' line) and caught SIGINT/SIGTERM.
bpf_start() {
  local ns=$1 out=$2 err=$3 i caught
  shift 3
  ip netns exec "$ns" "$HOOKDUMP_BIN" capture "$@" >"$out" 2>"$err" &
  pid=$!
  for ((i = 0; i < 600; i++)); do
    kill -0 $pid 2>/dev/null || { cat "$err"; vm_fail "hookdump capture $* exited early"; }
    if grep -q "^listening on " "$err"; then
      caught=$(awk '/^SigCgt:/ {print $2}' /proc/$pid/status 2>/dev/null)
      (((0x$caught & 0x4002) == 0x4002)) && return 0
    fi
    sleep 0.05
  done
  cat "$err"
  vm_fail "hookdump capture $* did not attach within 30 s"
}

# bpf_stop PID [SIGNAL]: signals it, waits up to 20 s; fails unless it exits 0.
bpf_stop() {
  local p=$1 sig=${2:-INT} i
  sleep 0.3
  kill -"$sig" "$p"
  for ((i = 0; i < 200; i++)); do
    kill -0 "$p" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$p" 2>/dev/null && { kill -9 "$p"; vm_fail "hookdump did not exit after SIG$sig"; }
  wait "$p" || vm_fail "hookdump exited $? after SIG$sig"
}

# rows FILE: data rows of a csv capture
rows() { tail -n +2 "$1"; }

# Helpers for the hookdump trace cases (tests/vm/cases/9*_trace_*.sh); sourced after lib.sh.

# trace_start NS ERRFILE ARGS...: starts 'hookdump trace ARGS' in NS (jsonl to trace.jsonl)
# and waits for its readiness line; sets TRACE_PID.
trace_start() {
  local ns=$1 err=$2 i
  shift 2
  ip netns exec "$ns" "$HOOKDUMP_BIN" trace -o jsonl -w trace.jsonl "$@" >"$err" 2>&1 &
  TRACE_PID=$!
  for ((i = 0; i < 300; i++)); do
    grep -q "^tracing at" "$err" 2>/dev/null && return 0
    kill -0 $TRACE_PID 2>/dev/null || break
    sleep 0.1
  done
  cat "$err"
  vm_fail "hookdump trace did not become ready"
}

# trace_stop ERRFILE: SIGINT, wait, show what it printed.
trace_stop() {
  sleep 0.8  # longer than the settle time and the correlation window: every packet complete
  kill -INT $TRACE_PID
  kmod_wait_exit $TRACE_PID 20 || { cat "$1"; vm_fail "trace exited $?"; }
  cat "$1"
  cat trace.jsonl
}

# trace_paths FILTER: the 'path' lines (text form rebuilt by python) of the packets whose
# first tuple matches FILTER (a python expression over t = the first tuple dict).
trace_query() {
  python3 - "$1" <<'PY'
import json, sys
cond = sys.argv[1]
for line in open("trace.jsonl"):
    p = json.loads(line)
    t = p["path"][0]["tuple"]
    if not eval(cond):
        continue
    steps = []
    for o in p["path"]:
        name = o["point"] + ("/" + o["slot"] if "slot" in o else "") + ("@" + o["ifname"] if "ifname" in o and not o["point"].isupper() else "")
        steps.append(name)
    print(" ".join(steps), "|", p["fate"], "|", p.get("dropped_at", "-"), "|", p.get("reason") or "-",
          "|", "ambiguous" if p["ambiguous"] else "single")
PY
}

# What nft rules (NAT included) and the tc points need.
trace_modprobe_nft() { vm_modprobe "${VM_NFT_MODULES[@]}" "${VM_TC_MODULES[@]}"; }

#!/bin/bash
# SESSION_STOP with the session's socket still open (hookdump-kmodsession drives the module by
# hand): the rules the session added go with it, and the hooks only they needed (2 of 12); a
# rule added outside a session stays; a second SESSION_STOP is refused with the module's own
# message; what the socket adds afterwards is kept. Then a capture that stops normally
# (SIGINT, SESSION_STOP) leaves no rule and no hook, and its ledger adds up.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../kmod_lib.sh"
vm_require_hookdump
tool=$HOOKDUMP_BUILD/tests/kmod/hookdump-kmodsession
[[ -x $tool ]] || vm_fail "$tool is not built"
vm_insmod_hookdump
vm_veth_pair ksA va 198.18.0.1/24 ksB vb 198.18.0.2/24
ip netns exec ksA "$tool" >session.txt 2>&1; rc=$?
cat session.txt
((rc == 0)) || vm_fail "hookdump-kmodsession exited $rc"
cat >expected.txt <<'EXP'
before the session: rules 1:kept; rules 1 hooks 10
in the session: rules 1:kept 2:session; rules 2 hooks 12
after SESSION_STOP: rules 1:kept; rules 1 hooks 10
stopping it again: No such file or directory (this socket has no capture session)
added after the session: rules 1:kept 3:kept; rules 2 hooks 12
flushed: rules none; rules 0 hooks 0
EXP
diff -u expected.txt session.txt || vm_fail "the session went otherwise"

N=5
ip netns exec ksA "$HOOKDUMP_BIN" capture --engine kmod --hooks output -w cap.csv icmp 2>cap.err &
pid=$!
kmod_wait_ready cap.err 1
vm_run ip netns exec ksA ping -q -c $N -i 0.2 198.18.0.2 >/dev/null || vm_fail ping
kill -INT $pid; kmod_wait_exit $pid 10; rc=$?
cat cap.err
((rc == 0)) || vm_fail "the capture exited $rc after SIGINT"
got=$(kmod_count cap.csv '$2 == "output" && $7 == 1 && $8 == "198.18.0.1" && $9 == "198.18.0.2" && $12 == 8')
((got == N && $(kmod_count cap.csv) == N)) || { cat cap.csv; vm_fail "cap.csv: $got echo requests of $(kmod_count cap.csv) rows, expected $N"; }
ledger="$N packets captured, $N received by filter, 0 dropped by kernel"
(($(grep -cF "$ledger" cap.err) == 1)) || vm_fail "no ledger line '$ledger...'"
out=$(ip netns exec ksA "$HOOKDUMP_BIN" rules list) || vm_fail "rules list"
[[ -z $out ]] || vm_fail "rules left after the capture stopped: $out"
st=$(ip netns exec ksA "$HOOKDUMP_BIN" kmod stats | awk '$1 == "rules" || $1 == "hooks"' | paste -sd' ')
[[ $st == "rules 0 hooks 0" ]] || vm_fail "after the capture: '$st'"
vm_log "SESSION_STOP: the session's rule and its 2 hooks went, the kept rule stayed; a stopped capture left nothing"

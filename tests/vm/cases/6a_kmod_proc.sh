#!/bin/bash
# capture --engine kmod --proc: hookdump.ko names the sender of a locally generated packet from
# its socket (uid, cgroup) and the task it was sent in (pid, comm), and nobody else. A python3
# client in cgroup /hdkmod of A sends N UDP datagrams on a connected socket to an echo server in
# B through the router R and reads the N replies. In A: output and postrouting show the client's
# pid, comm python3, uid 0 and cgroup /hdkmod for the N requests; prerouting and input show no
# process for the N replies (a connected socket's early demux gives the reply a socket: still
# no process). In R every forwarded packet has none. The module names the processes itself: no
# cgroup program of process attribution is attached while the captures run.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../kmod_lib.sh"
vm_require_hookdump
vm_insmod_hookdump
kmod_router_topology
N=3
mkdir -p /sys/fs/cgroup
mount -t cgroup2 none /sys/fs/cgroup || vm_fail "mount cgroup2"
vm_on_exit "umount /sys/fs/cgroup"
mkdir /sys/fs/cgroup/hdkmod || vm_fail "mkdir cgroup"
vm_on_exit "rmdir /sys/fs/cgroup/hdkmod"

cat >server.py <<PY
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.2.2", 7001))
open("server.ready", "w").close()
for _ in range($N):
    data, peer = s.recvfrom(100)
    s.sendto(data, peer)
PY
cat >client.py <<PY
import os, socket
open("client.pid", "w").write(str(os.getpid()))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.connect(("198.18.2.2", 7001))
for i in range($N):
    s.send(b"x" * 32)
    s.recv(100)
PY
ip netns exec kB python3 server.py &
srv=$!
for ns in kR kA; do
  # ip netns exec mounts a /sys of its own: the cgroup2 mount again inside, for the paths.
  ip netns exec $ns sh -c 'mount -t cgroup2 none /sys/fs/cgroup && exec "$0" "$@"' \
    "$HOOKDUMP_BIN" capture --engine kmod --hooks all --proc -q -w $ns.csv \
    "udp and host 198.18.1.2 and host 198.18.2.2" >$ns.err 2>&1 &
  eval "pid_$ns=$!"
done
kmod_wait_ready kR.err 2; kmod_wait_ready kA.err 2
attached=$(bpftool cgroup show /sys/fs/cgroup) || vm_fail "bpftool cgroup show"
grep -q hd_sock_create <<<"$attached" && { echo "$attached"; vm_fail "kmod --proc attached the cgroup programs"; }
for ((i = 0; i < 100; i++)); do [[ -f server.ready ]] && break; kmod_nap 0.1; done
# The client joins the cgroup before it starts (and makes its socket).
vm_run sh -c 'echo $$ >/sys/fs/cgroup/hdkmod/cgroup.procs && exec ip netns exec kA python3 client.py' \
  || vm_fail "the client did not get its $N replies"
wait $srv || vm_fail "the server exited $?"
kmod_nap 0.3
kill -INT $pid_kR $pid_kA
kmod_wait_exit $pid_kR 10; rc_kR=$?
kmod_wait_exit $pid_kA 10; rc_kA=$?
cat kR.err kA.err
((rc_kR == 0 && rc_kA == 0)) || vm_fail "the captures exited $rc_kR (R) and $rc_kA (A)"
cpid=$(cat client.pid)
head -1 kA.csv
# The columns by name, from the header.
col() { awk -F, -v n="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == n) print i }' "$1"; }
for c in point src dst pid comm uid cgroup; do
  eval "c_$c=$(col kA.csv $c)"
  [[ -n $(eval echo \$c_$c) ]] || vm_fail "no column $c in kA.csv"
done
expect() {  # file point src count process
  local got
  got=$(kmod_count "$1" "\$$c_point == \"$2\" && \$$c_src == \"$3\" && \
    \$$c_pid \",\" \$$c_comm \",\" \$$c_uid \",\" \$$c_cgroup == \"$5\"")
  ((got == $4)) || { cat "$1"; vm_fail "$1: $2 from $3 with process '$5': $got, expected $4"; }
}
a=198.18.1.2 b=198.18.2.2
for p in output postrouting; do expect kA.csv $p $a $N "$cpid,python3,0,/hdkmod"; done
for p in prerouting input; do expect kA.csv $p $b $N ",,,"; done
(($(kmod_count kA.csv) == 4 * N)) || { cat kA.csv; vm_fail "A: $(kmod_count kA.csv) events, expected $((4 * N))"; }
for p in prerouting forward postrouting; do
  expect kR.csv $p $a $N ",,,"; expect kR.csv $p $b $N ",,,"
done
(($(kmod_count kR.csv) == 6 * N)) || { cat kR.csv; vm_fail "R: $(kmod_count kR.csv) events, expected $((6 * N))"; }
vm_log "A's sent packets name python3[$cpid] in /hdkmod; received and forwarded ones nobody"

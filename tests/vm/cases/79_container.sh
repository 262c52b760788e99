#!/bin/bash
# Containers: an unprivileged user (uid 1000) in a user and network namespace of its own is
# root there (GENL_UNS_ADMIN_PERM), and may add rules, capture (--engine kmod) and listen in
# its namespace; it sees its own namespace's packets and none of the initial namespace's, which
# meanwhile sees its own and none of the container's; it cannot see or change the initial
# namespace's rules. The eBPF engines (tc, xdp, drop) refuse there with one line naming the
# privilege. Needs a guest that is not chrooted (tests/vm/init: switch_root), since the kernel
# refuses user namespaces to a chrooted process.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../kmod_lib.sh"
vm_require_hookdump
vm_insmod_hookdump
if [[ -f /proc/sys/kernel/unprivileged_userns_clone ]]; then  # Debian's switch
  old=$(</proc/sys/kernel/unprivileged_userns_clone)
  sysctl -qw kernel.unprivileged_userns_clone=1 || vm_fail "sysctl unprivileged_userns_clone"
  vm_on_exit "sysctl -qw kernel.unprivileged_userns_clone=$old"
fi
all=prerouting,input,forward,output,postrouting
N=4 M=3

# The initial namespace: root's rule (icmp, kept), a root listener, and its own traffic.
ip link set lo up
out=$("$HOOKDUMP_BIN" rules add --proto icmp) || vm_fail "rules add in the initial namespace"
[[ $out == "added id 1 proto 1 hooks $all priority first hits 0 owner none" ]] || vm_fail "rules add said '$out'"
"$HOOKDUMP_BIN" kmod listen -w init.csv 2>init.err &
lpid=$!
for ((i = 0; i < 300; i++)); do grep -q '^listening to hookdump.ko events' init.err && break; kmod_nap 0.1; done
grep -q '^listening to hookdump.ko events' init.err || { cat init.err; vm_fail "the initial namespace's listener is not ready"; }

# The container's part runs as uid 1000, root of its own user namespace, with only lo.
c=$VM_CASE_TMP/c
mkdir "$c" && chown 1000:1000 "$c" || vm_fail "mkdir $c"
cat >"$c/inside.sh" <<'INSIDE'
set -u
cd "$C"
H=$HOOKDUMP_BIN
say() { echo "$*" >>steps.txt; }
nap() { read -rt "$1" -u 9 || true; }
mkfifo .nap && exec 9<>.nap
wait_line() {  # FILE PREFIX
  local i
  for ((i = 0; i < 300; i++)); do grep -q "^$2" "$1" 2>/dev/null && return 0; nap 0.1; done
  return 1
}
say "uid $(id -u) in a user namespace mapping $(awk '{ print $1 "->" $2 }' /proc/self/uid_map)"
ip link set lo up && ip addr add 198.18.5.1/32 dev lo || say "cannot set up lo"
"$H" rules add --proto udp --hooks input >>steps.txt 2>&1; say "rules add: exit $?"
"$H" rules list >>steps.txt 2>&1; say "rules list: exit $?"
"$H" kmod listen -w listen.csv 2>listen.err &
lp=$!
wait_line listen.err 'listening to hookdump.ko events' || say "listener not ready"
"$H" capture --engine kmod --hooks output -w cap.csv icmp 2>cap.err &
cp=$!
wait_line cap.err 'listening at netfilter hooks (1 rules' || say "capture not ready"
ping -q -c "$N" -i 0.2 -W 2 198.18.5.1 >/dev/null; say "ping: exit $?"
nap 0.3
kill -INT $cp; wait $cp; say "capture: exit $?"
nap 0.2
kill -INT $lp; wait $lp; say "listen: exit $?"
"$H" rules flush; say "rules flush: exit $?"
"$H" rules del 1 >>steps.txt 2>&1; say "rules del 1: exit $?"
"$H" rules list >>steps.txt 2>&1; say "rules list: exit $?"
for e in tc xdp; do
  "$H" capture --engine $e -i lo -c 1 >/dev/null 2>>steps.txt; say "capture --engine $e: exit $?"
done
"$H" capture --engine drop -c 1 >/dev/null 2>>steps.txt; say "capture --engine drop: exit $?"
nsenter --net=/proc/1/ns/net true 2>/dev/null; say "entering the initial network namespace: exit $?"
INSIDE
ping -q -c $M -i 0.3 127.0.0.1 >/dev/null &
ping_pid=$!
C=$c N=$N timeout 120 setpriv --reuid=1000 --regid=1000 --clear-groups \
  unshare --user --map-root-user --net bash "$c/inside.sh"
rc=$?
wait $ping_pid || vm_fail "ping in the initial namespace"
kmod_nap 0.3
kill -INT $lpid; kmod_wait_exit $lpid 10; lrc=$?
cat init.err "$c"/cap.err "$c"/listen.err
cat "$c/steps.txt"
((rc == 0)) || vm_fail "the container's script exited $rc"
((lrc == 0)) || vm_fail "the initial namespace's listener exited $lrc"

eperm_line() { echo "hookdump: the $1 engine needs $2 in the initial user namespace, and this process is in a user namespace of its own (a container); --engine kmod or afpacket work here"; }
cat >expected.txt <<EXP
uid 0 in a user namespace mapping 0->1000
added id 1 proto 17 hooks input priority first hits 0 owner none
rules add: exit 0
id 1 proto 17 hooks input priority first hits 0 owner none
rules list: exit 0
ping: exit 0
capture: exit 0
listen: exit 0
rules flush: exit 0
hookdump: deleting rule 1: No such file or directory (no rule with this id)
rules del 1: exit 1
rules list: exit 0
$(eperm_line tc "CAP_BPF and CAP_NET_ADMIN")
capture --engine tc: exit 1
$(eperm_line xdp "CAP_BPF and CAP_NET_ADMIN")
capture --engine xdp: exit 1
$(eperm_line drop "CAP_BPF and CAP_PERFMON")
capture --engine drop: exit 1
entering the initial network namespace: exit 1
EXP
diff -u expected.txt "$c/steps.txt" || vm_fail "the container's steps went otherwise"

# The container saw its N echo requests and N replies at output (lo), and nothing else.
mine='$2 == "output" && $7 == 1 && $8 == "198.18.5.1" && $9 == "198.18.5.1"'
for f in cap.csv listen.csv; do
  got=$(kmod_count "$c/$f" "$mine") all_rows=$(kmod_count "$c/$f")
  ((got == 2 * N && all_rows == 2 * N)) || { cat "$c/$f"; vm_fail "container $f: $got of $all_rows rows are its $((2 * N)) pings"; }
done
ledger="$((2 * N)) packets captured, $((2 * N)) received by filter, 0 dropped by kernel"
(($(grep -cF "$ledger" "$c/cap.err") == 1)) || vm_fail "container capture: no ledger line '$ledger...'"
# The initial namespace saw its M pings (request and reply at 4 hooks of lo each) and none of
# the container's.
got=$(kmod_count init.csv '$7 == 1 && $8 == "127.0.0.1" && $9 == "127.0.0.1"')
((got == 8 * M && $(kmod_count init.csv) == 8 * M)) || { cat init.csv; vm_fail "init.csv: $got of $(kmod_count init.csv) rows are the initial namespace's $((8 * M))"; }
# Its rule is still there, untouched by the container's flush and del.
out=$("$HOOKDUMP_BIN" rules list) || vm_fail "rules list"
[[ $out == "id 1 proto 1 hooks $all priority first hits $((8 * M)) owner none" ]] || vm_fail "the initial namespace's rules: '$out'"
"$HOOKDUMP_BIN" rules flush
vm_log "container: rules, capture and listen in its own namespace, its $((2 * N)) packets only; eBPF engines refused in one line"

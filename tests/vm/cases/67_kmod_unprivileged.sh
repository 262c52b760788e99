#!/bin/bash
# An unprivileged user gets EPERM (as one clear line, exit 1) for every command that changes
# the module's state and for joining the events group; reading rules and stats is allowed.
source "$(dirname "$0")/../lib.sh"
vm_require_hookdump
vm_insmod_hookdump
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
all=prerouting,input,forward,output,postrouting
kept="id 1 proto 17 hooks $all priority first hits 0 owner none"
out=$("$HOOKDUMP_BIN" rules add --proto udp) || vm_fail "rules add as root"
[[ $out == "added $kept" ]] || vm_fail "rules add said '$out'"
for cmd in "rules add --proto udp" "rules flush" "rules del 1" "kmod listen -c 1" "capture --engine kmod -c 1 udp"; do
  timeout 60 setpriv --reuid=65534 --regid=65534 --clear-groups "$HOOKDUMP_BIN" $cmd >out.txt 2>err.txt; rc=$?
  cat err.txt
  ((rc == 1)) || vm_fail "'$cmd' as nobody exited $rc, expected 1"
  grep -q "needs CAP_NET_ADMIN" err.txt || vm_fail "'$cmd' as nobody: no clear EPERM line"
  (($(wc -l <err.txt) == 1)) || vm_fail "'$cmd' as nobody: more than one line"
done
# Nothing of that changed anything; reading is allowed and shows what root added.
out=$(as_nobody "$HOOKDUMP_BIN" rules list) || vm_fail "rules list as nobody"
[[ $out == "$kept" ]] || vm_fail "rules list as nobody: '$out', expected '$kept'"
as_nobody "$HOOKDUMP_BIN" kmod stats >stats.txt || vm_fail "kmod stats as nobody"
cat stats.txt
printf '%s\n' "matched 0" "queued 0" "delivered 0" "dropped_full 0" "dropped_nobufs 0" "dropped_nomem 0" \
  "dropped_nosession 0" "batches 0" "rules 1" "hooks 10" | diff -u - stats.txt || vm_fail "kmod stats as nobody"
"$HOOKDUMP_BIN" rules flush || vm_fail "rules flush as root"
vm_log "unprivileged: EPERM where it changes state, reads allowed"

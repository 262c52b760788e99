#!/bin/bash
# An unprivileged user gets EPERM (as one clear line, exit 1) for every command that changes
# the module's state and for joining the events group; reading rules and stats is allowed.
source "$(dirname "$0")/../lib.sh"
vm_require_hookdump
vm_insmod_hookdump
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
for cmd in "rules add --proto udp" "rules flush" "rules del 1" "kmod listen -c 1" "capture --engine kmod -c 1 udp"; do
  timeout 60 setpriv --reuid=65534 --regid=65534 --clear-groups "$HOOKDUMP_BIN" $cmd >out.txt 2>err.txt; rc=$?
  cat err.txt
  ((rc == 1)) || vm_fail "'$cmd' as nobody exited $rc, expected 1"
  grep -q "needs CAP_NET_ADMIN" err.txt || vm_fail "'$cmd' as nobody: no clear EPERM line"
  (($(wc -l <err.txt) == 1)) || vm_fail "'$cmd' as nobody: more than one line"
done
as_nobody "$HOOKDUMP_BIN" rules list || vm_fail "rules list as nobody"
as_nobody "$HOOKDUMP_BIN" kmod stats >/dev/null || vm_fail "kmod stats as nobody"
vm_log "unprivileged: EPERM where it changes state, reads allowed"

#!/bin/bash
# Runs last: after everything the other cases did, the kernel log has no WARNING, BUG or Oops.
source "$(dirname "$0")/../lib.sh"
dmesg >"$VM_CASE_TMP/dmesg.txt" || vm_fail "dmesg"
vm_log "$(wc -l <"$VM_CASE_TMP/dmesg.txt") kernel log lines"
# Whole words: "DEBUG" is no BUG. "Call Trace" catches the rest (a lockdep splat, a hung task).
if grep -nE '\<(WARNING|BUG|Oops)\>|general protection fault|Call Trace' "$VM_CASE_TMP/dmesg.txt"; then
  vm_fail "the kernel log has warnings or oopses (above; the whole log is dmesg.txt in the results)"
fi

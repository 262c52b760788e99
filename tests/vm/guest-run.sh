#!/bin/bash
# Runs inside the VM (the host's read-only root as its real root; /tmp and /run are tmpfs):
# each case script in turn, in its own /tmp directory, with a time limit. Records
#   $VM_RESULTS/cases/NAME.out      the case's output (stdout and stderr)
#   $VM_RESULTS/cases/NAME.status   "pass|fail|skip EXIT_CODE SECONDS"
#   $VM_RESULTS/results.tsv         the same, one line a case
#   $VM_RESULTS/dmesg.txt           the kernel log after the last case
# A case passes with exit 0, is skipped with 77, fails otherwise (124: it timed out).
# Environment for the cases: HOOKDUMP_SRC, HOOKDUMP_BUILD, HOOKDUMP_BIN, VM_RESULTS, VM_KVER,
# CI, VM_CASE (its name), VM_CASE_TMP (its scratch directory, also its working directory).
# Every process started costs ~0.1-1 s under TCG over 9p: builtins wherever possible.
set -u
R=${VM_RESULTS:?}
mkdir -p "$R/cases"
# Guest uptime in centiseconds.
uptime_cs() { local up _; read -r up _ </proc/uptime; echo $((10#${up%.*} * 100 + 10#${up#*.})); }
secs() { printf '%d.%d' $(($1 / 100)) $(($1 % 100 / 10)); }
echo "boot_seconds $(secs "$(uptime_cs)")" >>"$R/timing"
echo "vm-run: kernel $(</proc/sys/kernel/osrelease); $# case(s)" >/dev/console

for c in "$@"; do
  name=${c##*/}
  name=${name%.sh}
  name=${name#[0-9][0-9]_}
  export VM_CASE=$name VM_CASE_TMP=/tmp/vm-case-$name
  mkdir "$VM_CASE_TMP"
  echo "vm-run: --- $name" >/dev/console
  echo "vm-run: case $name starts" >/dev/kmsg 2>/dev/null
  t0=$(uptime_cs)
  # timeout leads its own process group: on expiry it signals the whole group, and after the
  # case whatever the case left running in it is killed.
  (cd "$VM_CASE_TMP" && exec timeout -k 5 "${VM_CASE_TIMEOUT:-300}" /bin/bash "$c") \
    </dev/null >"$R/cases/$name.out" 2>&1 &
  pid=$!
  wait $pid
  rc=$?
  if kill -KILL -- -$pid 2>/dev/null; then
    echo "vm-run: killed processes the case left running" >>"$R/cases/$name.out"
  fi
  # A module the case left loaded (a case killed by its timeout runs no cleanup) would fail
  # every later case that loads it.
  for m in hookdump; do
    [[ -d /sys/module/$m ]] || continue
    if rmmod "$m" 2>>"$R/cases/$name.out"; then
      echo "vm-run: FAIL: the case left module $m loaded (unloaded it)" >>"$R/cases/$name.out"
    else
      echo "vm-run: FAIL: the case left module $m loaded, and rmmod failed" >>"$R/cases/$name.out"
    fi
    ((rc != 0)) || rc=1
  done
  dt=$(secs $(($(uptime_cs) - t0)))
  case $rc in
    0) status=pass ;;
    77) status=skip ;;
    124) status=fail; echo "vm-run: TIMEOUT after ${VM_CASE_TIMEOUT:-300}s" >>"$R/cases/$name.out" ;;
    *) status=fail ;;
  esac
  echo "$status $rc $dt" >"$R/cases/$name.status"
  printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$rc" "$dt" >>"$R/results.tsv"
  echo "vm-run: --- $name: $status (exit $rc, ${dt}s)" >/dev/console
  [[ $status != fail ]] || tail -n 40 "$R/cases/$name.out" >/dev/console
  # Whatever a case left behind must not leak into the next one.
  shopt -s nullglob; ns=(/run/netns/*); shopt -u nullglob
  ((${#ns[@]} == 0)) || ip -all netns delete
done

dmesg >"$R/dmesg.txt"
echo "run_seconds $(secs "$(uptime_cs)")" >>"$R/timing"

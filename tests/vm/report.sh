#!/usr/bin/env bash
# Reports one VM case's result, recorded by vm_boot (run-vm.sh --collect) in RESULTS_DIR:
#   tests/vm/report.sh RESULTS_DIR NAME
# Exit 0 passed, 1 failed or no result, 77 skipped (the case skipped, or the VM could not start
# and CI is not "true").
set -u
results=$1 name=$2
if [[ -f $results/skipped ]]; then
  echo "SKIPPED: the VM could not start: $(<"$results/skipped")"
  exit 77
fi
if [[ ! -f $results/cases/$name.status ]]; then
  echo "FAILED: no result for case '$name' in $results (the VM run did not get to it;"
  echo "see vm_boot's output and $results/console.log)"
  exit 1
fi
read -r status rc secs <"$results/cases/$name.status"
case $status in
  pass)
    echo "passed in the VM (${secs}s)"; exit 0 ;;
  skip)
    cat "$results/cases/$name.out"; echo "skipped in the VM"; exit 77 ;;
  *)
    echo "FAILED in the VM (exit $rc, ${secs}s). Output:"
    sed 's/^/  | /' "$results/cases/$name.out"
    echo "all output: $results/cases/$name.out"
    echo "console log: $results/console.log"
    [[ -f $results/dmesg.txt ]] && echo "guest dmesg: $results/dmesg.txt"
    exit 1 ;;
esac

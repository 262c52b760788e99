#!/usr/bin/env bash
# Boots ONE QEMU guest (TCG; Debian's newest installed kernel of a series, 6.1 or 6.12) whose root is this host's
# root shared read-only over 9p, and runs test cases inside it; results come back through a
# second, writable 9p share (the output directory).
#
#   tests/vm/run-vm.sh --build-dir BUILD [options] [CASE.sh...]
#
#   --build-dir DIR   the CMake build tree (the guest runs DIR/hookdump); the initramfs is
#                     cached in DIR/vm/
#   --kernel SERIES   the Debian kernel series to boot: 6.1 (default) or 6.12
#   --kmod FILE       the hookdump.ko the cases load (default: DIR/kmod/KVER/hookdump.ko,
#                     which the build makes for each kernel, else kmod/hookdump.ko)
#   --source-dir DIR  the source tree (default: this script's ../..)
#   --hookdump FILE   the hookdump binary the cases run (default BUILD/hookdump)
#   --out DIR         the results share (default BUILD/vm/results); emptied first
#   --timeout SEC     kill QEMU after SEC seconds (default 2400, as ctest passes)
#   --case-timeout S  per-case limit inside the guest (default 450, as ctest passes)
#   --collect         exit 0 once every case has a recorded result, passed or not (for the
#                     ctest fixture, which reports each case as its own test)
#   --shell           no cases: an interactive shell on the serial console (stdio); leave
#                     with 'exit' (the guest powers off)
#   CASE.sh...        case scripts (default: every tests/vm/cases/*.sh, in name order)
# Environment: HOOKDUMP_VM_QEMU, the QEMU binary (default qemu-system-x86_64); CI.
#
# In OUT: console.log (the serial console), dmesg.txt, results.tsv (name, status, exit code,
# seconds), cases/NAME.out (each case's output), cases/NAME.status, timing.
# A case's NAME is its file name without a leading "NN_" and the ".sh".
#
# Exit status: 0 every case passed (with --collect: every case has a result); 1 a case failed
# or the VM did not finish; 77 the VM cannot start here (no such kernel, no QEMU...) and CI is
# not "true" (with CI=true that is a failure, 1).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src_dir=$(cd "$here/../.." && pwd)
build_dir= out_dir= hookdump= kmod= series=6.1 timeout=2400 case_timeout=450 collect=0 shell=0
cases=()
while (($#)); do
  case $1 in
    --build-dir) build_dir=$2; shift 2 ;;
    --source-dir) src_dir=$2; shift 2 ;;
    --out) out_dir=$2; shift 2 ;;
    --hookdump) hookdump=$2; shift 2 ;;
    --kernel) series=$2; shift 2 ;;
    --kmod) kmod=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --case-timeout) case_timeout=$2; shift 2 ;;
    --collect) collect=1; shift ;;
    --shell) shell=1; shift ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run-vm: unknown option $1" >&2; exit 1 ;;
    *) cases+=("$1"); shift ;;
  esac
done
[[ -n $build_dir ]] || { echo "run-vm: --build-dir is required" >&2; exit 1; }
build_dir=$(cd "$build_dir" && pwd) || exit 1
src_dir=$(cd "$src_dir" && pwd) || exit 1
out_dir=${out_dir:-$build_dir/vm/results}
hookdump=${hookdump:-$build_dir/hookdump}
# The guest sees the host's root, but with its own empty /tmp and /run.
for d in "$build_dir" "$src_dir" "$hookdump"; do
  case $d in
    /tmp|/tmp/*|/run|/run/*) echo "run-vm: $d is under /tmp or /run, which the guest does not see (it mounts its own)" >&2; exit 1 ;;
  esac
done

# The VM cannot start here: a loud skip, or a failure under CI.
cannot_start() {
  echo "######################################################################" >&2
  echo "run-vm: THE VM CANNOT START: $*" >&2
  if [[ ${CI:-} == true ]]; then
    echo "run-vm: CI=true: this is a failure" >&2
    echo "######################################################################" >&2
    exit 1
  fi
  echo "run-vm: SKIPPING the VM suite (scripts/bootstrap installs what it needs; CI=true fails)" >&2
  echo "######################################################################" >&2
  mkdir -p "$out_dir" && echo "$*" >"$out_dir/skipped"
  exit 77
}

# Empty the results share, but never a directory that is not one.
if [[ -d $out_dir && -n $(ls -A "$out_dir") && ! -f $out_dir/.hookdump-vm-results && ! -f $out_dir/run.sh ]]; then
  echo "run-vm: $out_dir is not empty and is not a previous results directory; refusing to empty it" >&2
  exit 1
fi
rm -rf "$out_dir"
mkdir -p "$out_dir/cases" && : >"$out_dir/.hookdump-vm-results" || exit 1

qemu=$(command -v "${HOOKDUMP_VM_QEMU:-qemu-system-x86_64}") \
  || cannot_start "${HOOKDUMP_VM_QEMU:-qemu-system-x86_64} not found (apt-get install qemu-system-x86)"
initramfs_info=$("$here/mkinitramfs.sh" "$build_dir" "$series")
case $? in
  0) ;;
  3) cannot_start "mkinitramfs: prerequisite missing (see above)" ;;
  *) echo "run-vm: mkinitramfs failed" >&2; exit 1 ;;
esac
{ read -r initramfs; read -r kernel; read -r kver; } <<<"$initramfs_info"
if [[ -z $kmod ]]; then
  kmod=$build_dir/kmod/$kver/hookdump.ko
  [[ -f $kmod ]] || kmod=$src_dir/kmod/hookdump.ko
fi

if ((!shell)); then
  if ((${#cases[@]} == 0)); then
    cases=("$src_dir"/tests/vm/cases/*.sh)
    [[ -e ${cases[0]} ]] || { echo "run-vm: no cases in $src_dir/tests/vm/cases" >&2; exit 1; }
  fi
  for i in "${!cases[@]}"; do
    c=$(cd "$(dirname "${cases[$i]}")" && pwd)/$(basename "${cases[$i]}")
    [[ -f $c ]] || { echo "run-vm: no such case: ${cases[$i]}" >&2; exit 1; }
    case $c in /tmp/*|/run/*) echo "run-vm: $c is under /tmp or /run, which the guest does not see" >&2; exit 1 ;; esac
    cases[$i]=$c
    n=$(basename "$c" .sh); echo "${n#[0-9][0-9]_}"
  done >"$out_dir/cases.list"
fi

# What the guest runs (in the host's root, which the initramfs's init switches to).
{
  echo "# written by run-vm.sh on the host"
  printf 'export HOOKDUMP_SRC=%q HOOKDUMP_BUILD=%q HOOKDUMP_BIN=%q HOOKDUMP_KMOD=%q\n' \
    "$src_dir" "$build_dir" "$hookdump" "$kmod"
  printf 'export VM_RESULTS=/run/hookdump-vm VM_CASE_TIMEOUT=%q VM_KVER=%q VM_KSERIES=%q CI=%q\n' \
    "$case_timeout" "$kver" "$series" "${CI:-}"
  echo 'export HOME=/tmp TMPDIR=/tmp LANG=C.UTF-8 LC_ALL=C.UTF-8'
  echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  if ((shell)); then
    echo 'export TERM=${TERM:-vt100} PS1="vm# "'
    echo 'cd /tmp; exec setsid -c /bin/bash -i </dev/ttyS0 >/dev/ttyS0 2>&1'
  else
    printf 'exec /bin/bash %q' "$here/guest-run.sh"
    printf ' %q' "${cases[@]}"
    echo
  fi
} >"$out_dir/run.sh"

qemu_args=(
  -accel tcg -cpu max -m 2048 -smp 2
  -nodefaults -no-reboot -display none -monitor none
  -kernel "$kernel" -initrd "$initramfs"
  # cryptomgr.notests, tsc=reliable, no_timer_check: seconds less of boot under TCG.
  -append "console=ttyS0 panic=-1 rdinit=/init mitigations=off cryptomgr.notests tsc=reliable no_timer_check"
  -virtfs "local,path=/,mount_tag=root,security_model=none,readonly=on,multidevs=remap"
  -virtfs "local,path=$out_dir,mount_tag=results,security_model=none,multidevs=remap"
)
if ((shell)); then
  echo "run-vm: interactive guest on $kver; 'exit' powers it off" >&2
  exec "$qemu" "${qemu_args[@]}" -serial mon:stdio
fi

echo "run-vm: booting $kver (TCG) with ${#cases[@]} case(s); console: $out_dir/console.log"
t0=$(date +%s.%N)
timeout -k 10 "$timeout" "$qemu" "${qemu_args[@]}" \
  -chardev "file,id=con,path=$out_dir/console.log" -serial chardev:con \
  </dev/null >"$out_dir/qemu.log" 2>&1
qrc=$?
t1=$(date +%s.%N)
wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
echo "vm_wall_seconds $wall" >>"$out_dir/timing"

finished=1
if ((qrc == 124 || qrc == 137)); then
  echo "run-vm: TIMEOUT: QEMU killed after ${timeout}s" >&2; finished=0
elif ((qrc != 0)); then
  echo "run-vm: QEMU exited $qrc:" >&2; sed 's/^/  /' "$out_dir/qemu.log" >&2; finished=0
elif grep -q 'terminating on signal' "$out_dir/qemu.log"; then
  # Not our timeout: something else on this host killed QEMU (a pkill of qemu, say).
  echo "run-vm: QEMU was KILLED FROM OUTSIDE this script: $(grep 'terminating on signal' "$out_dir/qemu.log")" >&2
  finished=0
fi
if [[ ! -f $out_dir/guest.rc ]]; then
  echo "run-vm: the guest did not finish its run (no guest.rc); last console lines:" >&2
  tail -n 25 "$out_dir/console.log" 2>/dev/null | sed 's/^/  | /' >&2
  finished=0
fi

# Summary, one line a case.
failed=0 missing=0
while read -r name; do
  if [[ -f $out_dir/cases/$name.status ]]; then
    read -r status rc secs <"$out_dir/cases/$name.status"
    printf '  %-28s %-5s %6ss\n' "$name" "$status" "$secs"
    [[ $status == pass || $status == skip ]] || failed=1
  else
    printf '  %-28s %s\n' "$name" "NO RESULT"
    missing=1
  fi
done <"$out_dir/cases.list"
boot=$(awk '$1 == "boot_seconds" { print $2 }' "$out_dir/timing" 2>/dev/null)
echo "run-vm: guest kernel booted to the case runner in ${boot:-?}s (guest clock); whole VM run ${wall}s"
if ((failed || missing || !finished)); then
  echo "run-vm: console log: $out_dir/console.log"
  [[ -f $out_dir/dmesg.txt ]] && echo "run-vm: guest dmesg: $out_dir/dmesg.txt"
  echo "run-vm: case outputs: $out_dir/cases/"
fi
((finished && !missing)) || exit 1
((collect)) && exit 0
exit $failed

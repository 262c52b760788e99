#!/usr/bin/env bash
# ctest pkg_install (label pkg, root): scripts/package builds both Debian packages (lintian:
# no errors), dpkg -i installs them on this machine, DKMS builds hookdump.ko for every kernel
# in /lib/modules that has headers, hookdump is on PATH with the project's version, man finds
# its page; then both are purged and nothing of them is left (their files, /usr/src/hookdump-*,
# /var/lib/dkms/hookdump, hookdump.ko under /lib/modules). Also cleans up when it fails, and
# first removes what a killed run left.
#
# Usage: test_packages.sh SOURCE_DIR WORK_DIR
set -euo pipefail
src=$1
work=$2
pkgs=(hookdump-dkms hookdump)

if [[ $(id -u) -ne 0 ]]; then
  echo "*** pkg_install needs root (dpkg -i, dkms) ***" >&2
  [[ ${CI:-} == true ]] && exit 1
  exit 77
fi

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
leftovers() { # what is still there of the packages (empty: nothing)
  local p f
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${db:Status-Status}\n' "$p" 2>/dev/null | grep -qv '^not-installed$' &&
      echo "package $p: $(dpkg-query -W -f='${db:Status-Status}' "$p")"
  done
  if [[ -f $work/files ]]; then
    while IFS= read -r f; do
      [[ -e $f && ! -d $f ]] && echo "$f"
    done <"$work/files"
  fi
  compgen -G '/usr/src/hookdump-*' || true
  [[ -e /var/lib/dkms/hookdump ]] && echo /var/lib/dkms/hookdump
  compgen -G '/lib/modules/*/updates/dkms/hookdump.ko*' || true
}
purge() {
  dpkg --purge "${pkgs[@]}" >"$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; return 1; }
}
cleanup() {
  local rc=$?
  [[ -n ${stage:-} ]] && rm -rf "$stage"
  if [[ -n $(leftovers) ]]; then
    purge || true
    # What dpkg could not remove (a failed prerm): by hand.
    dkms remove hookdump --all >/dev/null 2>&1 || true
    rm -rf /usr/src/hookdump-* /var/lib/dkms/hookdump /lib/modules/*/updates/dkms/hookdump.ko*
  fi
  exit $rc
}
trap cleanup EXIT

mkdir -p "$work"
rm -f "$work/files"
if [[ -n $(leftovers) ]]; then
  echo "removing what an earlier run left: $(leftovers | tr '\n' ' ')"
  purge
fi

t0=$SECONDS
# The stage at one path for every checkout: dpkg-buildflags put it in each compile's
# -ffile-prefix-map, so only then can the compiler cache serve another clone's build (the
# package's compile was 293 of this test's 366 s). One run at a time holds it (flock).
stage=/var/tmp/hookdump-pkg-test
exec {stage_lock}>/var/tmp/hookdump-pkg-test.lock
flock "$stage_lock"
PKG_STAGE=$stage "$src/scripts/package" --out "$work/dist" 2>&1 | tee "$work/package.log"
t1=$SECONDS
version=$(sed -n '/^project/s/.*VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
arch=$(dpkg --print-architecture)
debs=("$work/dist/hookdump_${version}_${arch}.deb" "$work/dist/hookdump-dkms_${version}_all.deb")
for d in "${debs[@]}"; do [[ -f $d ]] || fail "scripts/package wrote no $d"; done
grep -q '^package: lintian' "$work/package.log" || fail "scripts/package did not run lintian"
grep -E '^E: ' "$work/package.log" && fail "lintian reported errors"

# The binary package's dependencies come from dpkg-shlibdeps.
deps=$(dpkg-deb -f "${debs[0]}" Depends)
for lib in libpcap0.8 libbpf1 libmnl0 libc6; do
  [[ $deps == *"$lib "* || $deps == *"$lib," ]] || fail "Depends has no $lib: $deps"
done
[[ $(dpkg-deb -f "${debs[1]}" Depends) == *dkms* ]] || fail "hookdump-dkms does not depend on dkms"
dpkg-deb -c "${debs[0]}" | grep -q 'usr/src' && fail "hookdump carries the module's source"

dpkg -i "${debs[@]}" 2>&1 | tee "$work/install.log"
t2=$SECONDS
for p in "${pkgs[@]}"; do
  [[ $(dpkg-query -W -f='${db:Status-Status}' "$p") == installed ]] || fail "$p is not installed"
  dpkg -L "$p" >>"$work/files"
done

# DKMS: built and installed for exactly the kernels with headers.
want=() got=()
for m in /lib/modules/*/; do
  k=$(basename "$m")
  [[ -e $m/build/Makefile ]] && want+=("$k")
done
((${#want[@]})) || fail "no kernel in /lib/modules has headers: nothing for DKMS to build against"
dkms status hookdump | tee "$work/dkms-status"
while read -r line; do
  [[ $line =~ ^hookdump/$version,\ ([^,]+),\ [^:]+:\ installed ]] && got+=("${BASH_REMATCH[1]}")
done <"$work/dkms-status"
[[ $(printf '%s\n' "${got[@]}" | sort) == $(printf '%s\n' "${want[@]}" | sort) ]] ||
  fail "dkms installed hookdump for '${got[*]}', the kernels with headers are '${want[*]}'"
for k in "${want[@]}"; do
  ko=$(compgen -G "/lib/modules/$k/updates/dkms/hookdump.ko*" | head -n1) ||
    fail "no hookdump.ko for $k"
  [[ $(modinfo -F vermagic "$ko") == "$k "* ]] || fail "$ko is not built for $k"
  [[ $(modinfo -F name "$ko") == hookdump ]] || fail "$ko: not hookdump"
done

# The binary on PATH, its version, its man page and completion.
[[ $(command -v hookdump) == /usr/bin/hookdump ]] || fail "hookdump on PATH is '$(command -v hookdump)'"
[[ $(hookdump --version | head -n1) == "hookdump $version" ]] ||
  fail "hookdump --version says '$(hookdump --version | head -n1)', the project is $version"
[[ $(man -w hookdump) == /usr/share/man/man8/hookdump.8.gz ]] || fail "man -w hookdump: '$(man -w hookdump)'"
man hookdump 2>/dev/null | grep -q -- '--ipfix-transport' || fail "man hookdump does not show the options"
[[ -f /usr/share/bash-completion/completions/hookdump ]] || fail "no bash completion"

purge
t3=$SECONDS
cat "$work/purge.log"
left=$(leftovers)
[[ -z $left ]] || fail "left after purge: $left"
echo "pkg_install: package ${version} in $((t1 - t0)) s, dpkg -i (dkms for ${want[*]}) in $((t2 - t1)) s, purge in $((t3 - t2)) s"

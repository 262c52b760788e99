#!/usr/bin/env bash
# Builds the VM suite's initramfs: busybox (static), the virtio and 9p modules of the newest
# installed Debian kernel of a series (6.1, 6.12; decompressed: busybox insmod does not read
# .ko.xz), and tests/vm/init, which mounts the host's root read-only over 9p and switches to it.
#
#   tests/vm/mkinitramfs.sh BUILD_DIR [SERIES]      (SERIES: 6.1 by default)
#
# Writes BUILD_DIR/vm/initramfs-KVER.cpio.gz and BUILD_DIR/vm/vmlinux-KVER (below) and prints
# three lines: the initramfs, the kernel to boot and KVER. Cached: rebuilt only when an input (the kernel version, a module, busybox,
# init or this script) changes. Exits 3 when a prerequisite is missing (no such kernel, no
# static busybox...), 1 on any other failure.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
[[ $# -eq 1 || $# -eq 2 ]] || { echo "usage: $0 BUILD_DIR [SERIES]" >&2; exit 1; }
out_dir=$1/vm
series=${2:-6.1}
missing() { echo "mkinitramfs: $*" >&2; exit 3; }

# The newest installed kernel of the series: the image and its modules must both be present.
kernel=
for k in $(ls -1 /boot/vmlinuz-"$series".* 2>/dev/null | sort -V -r); do
  v=${k#/boot/vmlinuz-}
  if [[ -d /lib/modules/$v/kernel ]]; then kernel=$k; kver=$v; break; fi
done
[[ -n $kernel ]] || missing "no Debian $series kernel with modules (/boot/vmlinuz-$series.*, /lib/modules/$series.*); scripts/bootstrap installs linux-image-amd64 (6.1) and linux-image-6.12-amd64"
[[ -r $kernel ]] || missing "$kernel is not readable (Debian installs it mode 0600: run as root)"

busybox=
for b in /bin/busybox /usr/bin/busybox; do
  if [[ -x $b ]] && ! ldd "$b" >/dev/null 2>&1; then busybox=$b; break; fi
done
[[ -n $busybox ]] || missing "no static busybox; install busybox-static"

# What the guest needs to mount its root: virtio-pci and 9p over virtio. Each is loaded after
# the modules it depends on (modules.dep lists them, the last one to load first), and those
# are whatever this kernel splits them into (6.1 has fscache, 6.12 folds it into netfs).
# Built in (CONFIG_...=y) is fine: nothing to load.
wanted=(virtio_pci 9pnet_virtio 9p)
mod_files=() seen=" "
dep_line() { grep -E "(^|/)$1\.ko(\.xz|\.zst|\.gz)?:" "/lib/modules/$kver/modules.dep" | head -n1; }
add_module() { # path relative to /lib/modules/KVER (as modules.dep has it)
  local f=$1 m
  m=${f##*/}; m=${m%%.ko*}
  [[ $seen == *" $m "* ]] && return
  seen+="$m "
  [[ $f == /* ]] || f=/lib/modules/$kver/$f
  [[ -f $f ]] || missing "module $m not found under /lib/modules/$kver"
  mod_files+=("$m=$f")
}
for m in "${wanted[@]}"; do
  line=$(dep_line "$m" || true)
  if [[ -z $line ]]; then
    grep -qE "/$m\.ko" "/lib/modules/$kver/modules.builtin" 2>/dev/null && continue
    missing "module $m not found under /lib/modules/$kver"
  fi
  read -r -a deps <<<"${line#*:}"
  for ((i = ${#deps[@]} - 1; i >= 0; i--)); do add_module "${deps[$i]}"; done
  add_module "${line%%:*}"
done

# The kernel booted: the ELF vmlinux inside the bzImage, extracted once (cached) when it has a
# PVH entry point, which QEMU jumps to directly. Under TCG that saves the 10-15 s the bzImage
# stub spends decompressing itself. Falls back to the bzImage.
vmlinux=$out_dir/vmlinux-$kver
kkey=$( (echo "$kver"; sha256sum "$kernel" | cut -d' ' -f1) | sha256sum | cut -d' ' -f1)
# (The .key alone, without the vmlinux, records that there is none to extract.)
if [[ ! -f $vmlinux.key || $(<"$vmlinux.key") != "$kkey" ]]; then
  mkdir -p "$out_dir"
  rm -f "$vmlinux" "$vmlinux.key"
  py=/usr/bin/python3; [[ -x $py ]] || py=python3  # Debian's has lzma; a pyenv one may not
  if "$py" - "$kernel" "$vmlinux.tmp" <<'PY'
import lzma, struct, subprocess, sys, zlib
data = open(sys.argv[1], "rb").read()
def unzstd(b):  # 6.12 is zstd-compressed; Python 3.11 has no zstd: the zstd tool (its
    # complaint about the bytes after the frame is expected; the output is what counts)
    return subprocess.run(["zstd", "-qdc"], input=b, capture_output=True).stdout
def candidates():
    for magic, dec in ((b"\xfd7zXZ\x00", lambda b: lzma.LZMADecompressor().decompress(b)),
                       (b"\x28\xb5\x2f\xfd", unzstd),
                       (b"\x1f\x8b\x08", lambda b: zlib.decompressobj(31).decompress(b))):
        i = data.find(magic)
        while i >= 0:
            try:
                yield dec(data[i:])
            except Exception:
                pass
            i = data.find(magic, i + 1)
def has_pvh(elf):
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        return False
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for k in range(phnum):
        ptype, _, off, _, _, filesz = struct.unpack_from("<IIQQQQ", elf, phoff + k * phentsize)
        if ptype != 4:  # PT_NOTE
            continue
        p, end = off, off + filesz
        while p + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", elf, p)
            name = elf[p + 12:p + 12 + namesz].rstrip(b"\0")
            if name == b"Xen" and ntype == 18:  # XEN_ELFNOTE_PHYS32_ENTRY
                return True
            p += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False
for elf in candidates():
    if has_pvh(elf):
        open(sys.argv[2], "wb").write(elf)
        sys.exit(0)
sys.exit(1)
PY
  then
    mv -f "$vmlinux.tmp" "$vmlinux"
    echo "$kkey" >"$vmlinux.key"
    echo "mkinitramfs: extracted $vmlinux (PVH entry) from $kernel" >&2
  else
    rm -f "$vmlinux.tmp"
    echo "mkinitramfs: no PVH vmlinux in $kernel; booting the bzImage (slower)" >&2
    echo "$kkey" >"$vmlinux.key"
  fi
fi
[[ -f $vmlinux ]] && boot_kernel=$vmlinux || boot_kernel=$kernel

# Cache key: everything that goes into the image.
key=$( {
  echo "$kver"
  sha256sum "$0" "$here/init" "$busybox" | cut -d' ' -f1
  for mf in "${mod_files[@]}"; do echo "${mf%%=*}"; sha256sum "${mf#*=}" | cut -d' ' -f1; done
} | sha256sum | cut -d' ' -f1)
image=$out_dir/initramfs-$kver.cpio.gz
if [[ -f $image && -f $image.key && $(<"$image.key") == "$key" ]]; then
  printf '%s\n' "$image" "$boot_kernel" "$kver"
  exit 0
fi

mkdir -p "$out_dir"
stage=$(mktemp -d "$out_dir/stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,dev,proc,sys,newroot,lib/modules}
cp "$busybox" "$stage/bin/busybox"
for applet in sh mount umount insmod mkdir cat echo sleep poweroff switch_root sync; do
  ln -s busybox "$stage/bin/$applet"
done
: >"$stage/modules.order"
for mf in "${mod_files[@]}"; do
  m=${mf%%=*} f=${mf#*=}
  case $f in
    *.ko.xz)  xz -dc "$f" >"$stage/lib/modules/$m.ko" ;;
    *.ko.zst) zstd -qdc "$f" >"$stage/lib/modules/$m.ko" ;;
    *.ko.gz)  gzip -dc "$f" >"$stage/lib/modules/$m.ko" ;;
    *)        cp "$f" "$stage/lib/modules/$m.ko" ;;
  esac
  echo "$m" >>"$stage/modules.order"
done
install -m 0755 "$here/init" "$stage/init"

tmp=$(mktemp "$out_dir/initramfs.XXXXXX")
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -6 >"$tmp"
chmod 0644 "$tmp"
mv -f "$tmp" "$image"
echo "$key" >"$image.key"
echo "mkinitramfs: built $image for $kver" >&2
printf '%s\n' "$image" "$boot_kernel" "$kver"

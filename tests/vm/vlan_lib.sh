# Helpers for the VLAN cases (31_capture_vlan_subif, 77_bpf_vlan): on top of bpf_lib.sh.
#
# vmA: veth-a 198.18.0.1/30, veth-a.100 198.18.100.1/24, veth-a.200 198.18.101.1/24
# vmB: veth-b 198.18.0.2/30, veth-b.100 198.18.100.2/24, veth-b.200 198.18.101.2/24
source "$(dirname "${BASH_SOURCE[0]}")/bpf_lib.sh"

vlan_topology() {
  vm_modprobe 8021q
  vm_veth_pair vmA veth-a 198.18.0.1/30 vmB veth-b 198.18.0.2/30
  local ns side vid net
  for ns in vmA vmB; do
    side=${ns#vm}
    side=${side,,}
    for vid in 100 200; do
      net=$((vid == 100 ? 100 : 101))
      ip -n $ns link add link veth-$side name veth-$side.$vid type vlan id $vid \
        || vm_fail "ip link add veth-$side.$vid type vlan id $vid"
      ip -n $ns addr add 198.18.$net.$([[ $side == a ]] && echo 1 || echo 2)/24 dev veth-$side.$vid \
        && ip -n $ns link set veth-$side.$vid up || vm_fail "veth-$side.$vid up"
    done
  done
}

# The traffic, numbered by hookdump-send's packet id: 0-3 vlan 100 from 198.18.100.2, 4-5
# vlan 100 from 198.18.100.3, 6-8 vlan 200, 9-10 untagged; all through vmB's interfaces (the
# kernel tags the VLAN devices' frames) to a MAC nobody has, so nothing answers.
VLAN_FRAMES=11
vlan_send() {
  local common=(--kind udp --payload 32 --dst-mac $OTHER_MAC)
  vm_run ip netns exec vmB "$SEND" -i veth-b.100 "${common[@]}" -n 4 --src 198.18.100.2 --dst 198.18.100.1 \
    --first-id 0 >/dev/null || vm_fail "hookdump-send on veth-b.100"
  vm_run ip netns exec vmB "$SEND" -i veth-b.100 "${common[@]}" -n 2 --src 198.18.100.3 --dst 198.18.100.1 \
    --first-id 4 >/dev/null || vm_fail "hookdump-send on veth-b.100"
  vm_run ip netns exec vmB "$SEND" -i veth-b.200 "${common[@]}" -n 3 --src 198.18.101.2 --dst 198.18.101.1 \
    --first-id 6 >/dev/null || vm_fail "hookdump-send on veth-b.200"
  vm_run ip netns exec vmB "$SEND" -i veth-b "${common[@]}" -n 2 --src 198.18.0.2 --dst 198.18.0.1 \
    --first-id 9 >/dev/null || vm_fail "hookdump-send on veth-b"
}

# pcap_frames FILE: one line a frame, sorted by packet id: "id len caplen vlan-id|- sha1 of the bytes"
pcap_frames() {
  python3 - "$1" "$HOOKDUMP_SRC/tests/netns" <<'PY'
import hashlib, struct, sys
sys.path.insert(0, sys.argv[2])
import netns
lt, pkts = netns.read_pcap(sys.argv[1])
assert lt == 1, f"{sys.argv[1]}: link type {lt}"
rows = []
for _, length, d in pkts:
    tag = str(struct.unpack(">H", d[14:16])[0] & 0xfff) if d[12:14] in (b"\x81\x00", b"\x88\xa8") else "-"
    rows.append((netns.payload_id(d), length, len(d), tag, hashlib.sha1(d).hexdigest()[:12]))
for r in sorted(rows, key=lambda r: (r[0] is None, r[0] or 0)):
    print(*r)
PY
}

# pcap_ids FILE: the packet ids, sorted, on one line.
pcap_ids() { pcap_frames "$1" | awk '{ printf "%s%s", sep, $1; sep = " " } END { print "" }'; }

# vlan_txvlan NS DEV on|off: the device's tx VLAN offload (ethtool -K DEV txvlan on|off, through
# the legacy ETHTOOL_SFLAGS ioctl: the guest has no ethtool). Off, the kernel puts the tag into
# the frame before the driver (validate_xmit_vlan), as a NIC would put it on the wire; on,
# veth hands it to its peer in the skb's metadata.
vlan_txvlan() {
  ip netns exec "$1" python3 - "$2" "$3" <<'PY' || vm_fail "txvlan $3 on $2"
import ctypes, fcntl, socket, struct, sys
SIOCETHTOOL, GFLAGS, SFLAGS, TXVLAN = 0x8946, 0x25, 0x26, 1 << 7
def call(cmd, data=0):
    v = ctypes.create_string_buffer(struct.pack("II", cmd, data))
    ifr = struct.pack("16sP16x", sys.argv[1].encode(), ctypes.addressof(v))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifr)
    return struct.unpack("II", v.raw[:8])[1]
flags = call(GFLAGS)
call(SFLAGS, flags | TXVLAN if sys.argv[2] == "on" else flags & ~TXVLAN)
assert bool(call(GFLAGS) & TXVLAN) == (sys.argv[2] == "on"), "the flag did not change"
PY
}

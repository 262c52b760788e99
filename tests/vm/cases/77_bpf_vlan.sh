#!/bin/bash
# The tc and XDP engines on VLAN traffic (sub-interfaces over a veth pair, as in
# 31_capture_vlan_subif): tc ingress on the receiver's parent and tc egress on the sender's
# record the same frames, bytes and lengths as AF_PACKET there (the tag, which the kernel keeps
# in the skb's metadata, put back), and `vlan N` expressions select the same packets.
# XDP sees what the driver hands over: with the sender's tx VLAN offload off (the tag in the
# frame, as on a wire) the same as AF_PACKET; with it on (veth passes the tag to its peer as
# metadata) the frames without their tag.
source "$(dirname "$0")/../vlan_lib.sh"
vm_require_bpf
vlan_topology

# (Each capture loads and verifies the programs, seconds under TCG: few of them.)
declare -A expr=([v100h]="vlan 100 and host 198.18.100.2" [novlan]="not vlan")
declare -A want_ids=([v100h]="0 1 2 3" [novlan]="9 10")

# 1. Offload on (veth's default): tc ingress, tc egress and the filters; XDP without the tag.
#    At tc ingress the kernel has untagged the frame either way (offload on or off), so the
#    filters run once.
vlan_txvlan vmB veth-b on
pids=()
bpf_start vmA ref.out ref.err --engine afpacket -i veth-a -w ref.pcap; pids+=($pid)
bpf_start vmB refout.out refout.err --engine afpacket -i veth-b -w refout.pcap; pids+=($pid)
bpf_start vmA tcin.out tcin.err --engine tc --direction in -i veth-a -w tcin.pcap; pids+=($pid)
bpf_start vmB tcout.out tcout.err --engine tc --direction out -i veth-b -w tcout.pcap; pids+=($pid)
bpf_start vmA xdp.out xdp.err --engine xdp -i veth-a -w xdp.pcap; pids+=($pid)
for k in "${!expr[@]}"; do
  bpf_start vmA $k.out $k.err --engine tc --direction in -i veth-a -q -w $k.pcap "${expr[$k]}"; pids+=($pid)
done
bpf_start vmB out200.out out200.err --engine tc --direction out -i veth-b -q -w out200.pcap "vlan 200"
pids+=($pid)
vlan_send
for p in "${pids[@]}"; do bpf_stop $p; done
head -1 xdp.err
for f in ref refout tcin tcout xdp; do
  pcap_frames $f.pcap >$f.frames
  echo "$f:"; cat $f.frames
done
(($(wc -l <ref.frames) == VLAN_FRAMES)) || vm_fail "AF_PACKET saw $(wc -l <ref.frames) frames, expected $VLAN_FRAMES"
[[ $(awk '{ printf "%s ", $4 }' ref.frames) == "100 100 100 100 100 100 200 200 200 - - " ]] \
  || vm_fail "AF_PACKET: not the tags sent"
diff ref.frames tcin.frames || vm_fail "tc ingress differs from AF_PACKET on veth-a"
diff refout.frames tcout.frames || vm_fail "tc egress differs from AF_PACKET on veth-b"
diff ref.frames tcout.frames || vm_fail "tc egress on veth-b differs from what veth-a received"
# The tag never reaches XDP: the same frames without it, 74 bytes.
awk '{ print $1, $4, $2, $3 }' xdp.frames >xdp.tags
awk '{ print $1, "-", 74, 74 }' ref.frames >want.tags
diff want.tags xdp.tags || vm_fail "XDP with the tag in metadata: expected the frames untagged"
for k in "${!expr[@]}"; do
  got=$(pcap_ids $k.pcap)
  vm_log "tc ingress '${expr[$k]}': $got"
  [[ $got == "${want_ids[$k]}" ]] || vm_fail "tc ingress '${expr[$k]}' selects $got, expected ${want_ids[$k]}"
done
[[ $(pcap_ids out200.pcap) == "6 7 8" ]] || vm_fail "tc egress 'vlan 200' selects $(pcap_ids out200.pcap)"

# 2. Offload off: the tag in the frame; XDP records what AF_PACKET does. (XDP's translated
#    filter on in-frame tags: 80_cbpf_translate.)
vlan_txvlan vmB veth-b off
bpf_start vmA xdp2.out xdp2.err --engine xdp -i veth-a -w xdp2.pcap
x=$pid
bpf_start vmA ref2.out ref2.err --engine afpacket -i veth-a -w ref2.pcap
r=$pid
vlan_send
bpf_stop $x
bpf_stop $r
pcap_frames ref2.pcap >ref2.frames
pcap_frames xdp2.pcap | tee xdp2.frames
diff ref.frames ref2.frames || vm_fail "AF_PACKET's frames differ with the offload off"
diff ref2.frames xdp2.frames || vm_fail "XDP differs from AF_PACKET (the tag in the frame)"

vm_log "tc ingress/egress = AF_PACKET (bytes, lengths, vlan filters) with the tag in metadata; XDP = AF_PACKET with the tag in the frame, untagged frames with it in metadata"

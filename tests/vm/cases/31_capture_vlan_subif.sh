#!/bin/bash
# VLAN sub-interfaces (8021q, a module the guest loads by hand) over a veth pair between two
# namespaces, AF_PACKET engine: on the parent every frame of veth-b.100/.200 shows its tag
# (pcap bytes, lengths, text `vlan N`), on the sub-interface the same frames untagged; `vlan N`
# expressions select exactly their subset. (The host's kernel has no 8021q: netns_vlansubif
# cannot run there.)
source "$(dirname "$0")/../vlan_lib.sh"
vm_require_bpf
vlan_topology

declare -A expr=(
  [v100]="vlan 100"
  [v100h]="vlan 100 and host 198.18.100.2"
  [novlan]="not vlan"
)
declare -A want_ids=(
  [v100]="0 1 2 3 4 5" [v100h]="0 1 2 3" [novlan]="9 10"
)
pids=()
bpf_start vmA a.pcap.out a.pcap.err --engine afpacket -i veth-a -w a.pcap; pids+=($pid)
bpf_start vmB b.out b.err --engine afpacket -i veth-b -w b.pcap; pids+=($pid)
bpf_start vmA s100.out s100.err --engine afpacket -i veth-a.100 -w s100.pcap; pids+=($pid)
for k in "${!expr[@]}"; do
  bpf_start vmA $k.out $k.err --engine afpacket -i veth-a -q -w $k.pcap "${expr[$k]}"; pids+=($pid)
done
vlan_send
for p in "${pids[@]}"; do bpf_stop $p; done

"$HOOKDUMP_BIN" read a.pcap >a.txt || vm_fail "hookdump read a.pcap"
cat a.txt
tagged() { # ID -> the VLAN id hookdump-send's frame ID went through, or -
  (($1 < 6)) && echo 100 && return
  (($1 < 9)) && echo 200 && return
  echo -
}
for f in a b; do
  pcap_frames $f.pcap >$f.frames
  cat $f.frames
  ((i = 0))
  while read -r id len caplen tag sum; do
    [[ $id == "$i" && $tag == "$(tagged $id)" && $len == "$caplen" ]] || vm_fail "$f.pcap frame $i: $id $len $caplen $tag"
    want=$([[ $tag == - ]] && echo 74 || echo 78)
    ((len == want)) || vm_fail "$f.pcap frame $id: length $len, expected $want"
    ((i++))
  done <$f.frames
  ((i == VLAN_FRAMES)) || vm_fail "$f.pcap holds $i frames, expected $VLAN_FRAMES"
done
diff a.frames b.frames || vm_fail "the frames differ between the sender's and the receiver's parent"
(($(tcpdump -enr a.pcap 2>/dev/null | grep -c 'vlan 100, p 0, ethertype IPv4') == 6)) || vm_fail "tcpdump does not see 6 frames tagged 100"

count() { grep -c -- "$1" a.txt; }
(($(count ' vlan 100, IP 198.18.100.2.40000 > 198.18.100.1.5001: UDP, length 32$') == 4)) || vm_fail "text: vlan 100 from .2"
(($(count ' vlan 100, IP 198.18.100.3.40000 > 198.18.100.1.5001: UDP, length 32$') == 2)) || vm_fail "text: vlan 100 from .3"
(($(count ' vlan 200, IP 198.18.101.2.40000 > 198.18.101.1.5001: UDP, length 32$') == 3)) || vm_fail "text: vlan 200"
(($(count ' IP 198.18.0.2.40000 > 198.18.0.1.5001: UDP, length 32$') == 2)) || vm_fail "text: untagged"
(($(wc -l <a.txt) == VLAN_FRAMES)) || vm_fail "text: $(wc -l <a.txt) lines, expected $VLAN_FRAMES"

pcap_frames s100.pcap | tee s100.frames
[[ $(pcap_ids s100.pcap) == "0 1 2 3 4 5" ]] || vm_fail "veth-a.100: ids $(pcap_ids s100.pcap), expected 0-5"
awk '$4 != "-" || $2 != 74 || $3 != 74 { exit 1 }' s100.frames || vm_fail "veth-a.100: frames not untagged, 74 bytes"
for k in "${!expr[@]}"; do
  got=$(pcap_ids $k.pcap)
  vm_log "'${expr[$k]}': $got"
  [[ $got == "${want_ids[$k]}" ]] || vm_fail "'${expr[$k]}' selects $got, expected ${want_ids[$k]}"
done
vm_log "tags on the parents (both sides), untagged on the sub-interfaces, vlan filters exact"

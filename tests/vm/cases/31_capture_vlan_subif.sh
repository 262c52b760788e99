#!/bin/bash
# VLAN sub-interfaces (8021q, a module the guest loads by hand) over a veth pair between two
# namespaces, AF_PACKET engine: on the parent every frame of veth-b.100/.200 shows its tag
# (pcap bytes, lengths, text `vlan N`), on the sub-interface the same frames untagged (pcap, and
# csv rows naming veth-a.100); `-i any` sees each sub-interface frame twice, tagged on veth-a
# and untagged on veth-a.100/.200, under their ifindex and ifname; `vlan N` expressions select
# exactly their subset; capinfos and tcpdump read every file written. (The host's kernel has no
# 8021q, so VLAN sub-interfaces are tested here only.)
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
bpf_start vmA s100c.out s100c.err --engine afpacket -i veth-a.100 -w s100.csv; pids+=($pid)
bpf_start vmA any.out any.err --engine afpacket -i any -w any.pcap; pids+=($pid)
bpf_start vmA anyc.out anyc.err --engine afpacket -i any -w any.csv; pids+=($pid)
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

# The sub-interface's csv, and -i any (SLL2 pcap and csv): every frame once on veth-a (the tag
# put back between the cooked header and IP), each sub-interface frame again untagged on its
# sub-interface. Lengths from the frames sent: 20 + 8 + 32 bytes of IP, 14 of Ethernet or 20 of
# cooked header, 4 of tag. Then capinfos and tcpdump read every file to the end.
declare -A ifx
for i in veth-a veth-a.100 veth-a.200; do
  ifx[$i]=$(ip netns exec vmA cat /sys/class/net/$i/ifindex) || vm_fail "no $i in vmA"
done
counts=(a.pcap=$VLAN_FRAMES b.pcap=$VLAN_FRAMES s100.pcap=6 any.pcap=20)
for k in "${!expr[@]}"; do
  counts+=($k.pcap=$(wc -w <<<"${want_ids[$k]}"))
done
python3 - "$HOOKDUMP_SRC/tests/netns" "${ifx[veth-a]}" "${ifx[veth-a.100]}" "${ifx[veth-a.200]}" \
  "${counts[@]}" <<'PY' || vm_fail "the sub-interface's csv, -i any or a file's readability (above)"
import struct, sys
from collections import Counter
sys.path.insert(0, sys.argv[1])
import netns
ia, i100, i200 = (int(x) for x in sys.argv[2:5])
bad = []
def check(what, got, want):
    print(f"{what}: {got}")
    if got != want:
        bad.append(f"{what}: expected {want}")

rows = netns.read_csv("s100.csv")
check("veth-a.100 csv (ifname ifindex src dst dport len caplen)",
      [(r["ifname"], r["ifindex"], r["src"], r["dst"], r["dport"], r["len"], r["caplen"]) for r in rows],
      [("veth-a.100", str(i100), "198.18.100.2", "198.18.100.1", "5001", "74", "74")] * 4
      + [("veth-a.100", str(i100), "198.18.100.3", "198.18.100.1", "5001", "74", "74")] * 2)

# Packet id -> (VLAN, source) as vlan_send sends them.
sent = {i: (100, "198.18.100.2") for i in range(4)}
sent.update({i: (100, "198.18.100.3") for i in (4, 5)})
sent.update({i: (200, "198.18.101.2") for i in (6, 7, 8)})
sent.update({i: (None, "198.18.0.2") for i in (9, 10)})
sub = {100: i100, 200: i200}
lt, pkts = netns.read_pcap("any.pcap")
check("any.pcap link type", lt, 276)
got = Counter()
for _, length, d in pkts:
    proto, ifindex = struct.unpack(">HxxI", d[:8])
    vid, inner = (struct.unpack(">H", d[20:22])[0] & 0xFFF, struct.unpack(">H", d[22:24])[0]) \
        if proto == 0x8100 else (None, proto)
    got[(netns.payload_id(d, 276), ifindex, vid, inner, length, len(d))] += 1
want = Counter()
for i, (vid, _) in sent.items():
    want[(i, ia, vid, 0x0800, 84 if vid else 80, 84 if vid else 80)] += 1
    if vid:
        want[(i, sub[vid], None, 0x0800, 80, 80)] += 1
check("any.pcap (id ifindex vlan ethertype len caplen)", sorted(got.items()), sorted(want.items()))

rows = netns.read_csv("any.csv")
got = Counter((r["ifname"], r["ifindex"], r["src"], r["len"]) for r in rows)
want = Counter()
for vid, src in sent.values():
    want[("veth-a", str(ia), src, "84" if vid else "80")] += 1
    if vid:
        want[(f"veth-a.{vid}", str(sub[vid]), src, "80")] += 1
check("any.csv (ifname ifindex src len)", sorted(got.items()), sorted(want.items()))

for arg in sys.argv[5:]:
    path, n = arg.split("=")
    try:
        check(f"{path}: packets capinfos and tcpdump read", netns.tool_packet_count(path), int(n))
    except AssertionError as e:
        bad.append(str(e))
for b in bad:
    print("FAIL", b)
sys.exit(1 if bad else 0)
PY
vm_log "tags on the parents (both sides), untagged on the sub-interfaces (csv: veth-a.100), -i any twice each, vlan filters exact, files readable"

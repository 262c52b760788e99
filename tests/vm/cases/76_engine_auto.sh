#!/bin/bash
# --engine auto (capture's default) on Debian's 6.1 kernel with hookdump.ko: loaded and no -i,
# it picks the module and says so, and records exactly the datagrams sent, at prerouting and
# input; -i names a link, so not the module: for packets AF_PACKET (its capture process costs
# less than tc's), for flows only tc (counted in the kernel). After rmmod: the same at -i,
# AF_PACKET without -i. The stderr lines exactly.
source "$(dirname "$0")/../bpf_lib.sh"
source "$(dirname "$0")/../kmod_lib.sh"
vm_require_bpf
ko=${HOOKDUMP_KMOD:-$HOOKDUMP_SRC/kmod/hookdump.ko}
if [[ ! -f $ko ]]; then
  [[ ${CI:-} == true ]] && vm_fail "$ko is not built"
  vm_skip "$ko is not built"
fi
N=5
vm_veth_pair auA va 198.18.0.1/24 auB vb 198.18.0.2/24
mac_b=$(ip netns exec auB cat /sys/class/net/vb/address) || vm_fail "vb's MAC address"

# send: N UDP datagrams A -> B:5001, to B's own MAC (B's stack takes them: prerouting, input).
send() {
  vm_run ip netns exec auA "$SEND" -i va --kind udp -n $N --src 198.18.0.1 --dst 198.18.0.2 \
    --sport 40000 --dport 5001 --payload 32 --dst-mac "$mac_b" || vm_fail "hookdump-send"
}
# first_lines FILE: its first two lines, the auto line and the readiness line.
first_lines() { head -n 2 "$1"; }
expect_lines() {
  local got
  got=$(first_lines "$1")
  [[ $got == "$2" ]] || vm_fail "$1: expected
$2
got
$got"
}

vm_run insmod "$ko" || vm_fail "insmod $ko"
vm_on_exit "rmmod hookdump 2>/dev/null; true"

# Loaded, no -i: the module. -i vb: a link's frames, not netfilter hooks: packets through the
# tap, flows only through tc.
ip netns exec auB "$HOOKDUMP_BIN" capture -q -w k.csv udp and dst port 5001 >k.out 2>k.err &
kpid=$!
# (kmod_wait_ready stops at a 'hookdump: ' line: the auto line is one.)
for ((i = 0; i < 600; i++)); do
  kill -0 $kpid 2>/dev/null || { cat k.err; vm_fail "the kmod capture exited early"; }
  if grep -q "^listening at netfilter hooks (1 rules" k.err; then
    caught=$(awk '/^SigCgt:/ {print $2}' /proc/$kpid/status 2>/dev/null)
    (((0x$caught & 0x4002) == 0x4002)) && break
  fi
  kmod_nap 0.05
done
((i < 600)) || { cat k.err; vm_fail "the kmod capture did not become ready within 30 s"; }
bpf_start auB l.out l.err -q -i vb -w l.csv udp and dst port 5001
lpid=$pid
bpf_start auB lf.out lf.err -q -i vb --flows=lf.csv udp and dst port 5001
lfpid=$pid
send
kmod_nap 0.5
kill -INT $kpid; kmod_wait_exit $kpid 20 || vm_fail "the kmod capture exited $?"
bpf_stop $lpid
bpf_stop $lfpid
cat k.err l.err lf.err
expect_lines k.err "hookdump: engine auto: kmod (hookdump.ko is loaded)
listening at netfilter hooks (1 rules, kmod engine)"
expect_lines l.err "hookdump: engine auto: afpacket (-i vb names a link; hookdump.ko sees netfilter hooks; packets at vb: the tap costs less than tc)
listening on vb, link-type EN10MB (Ethernet), snapshot length 262144 bytes"
expect_lines lf.err "hookdump: engine auto: tc (-i vb names a link; hookdump.ko sees netfilter hooks; flows only at vb: tc counts them in the kernel)
listening on vb, link-type EN10MB, tc engine (ingress+egress), flows counted in the kernel, snapshot length 262144 bytes"
# point,ifname,dir,proto,src,dst,sport,dport,len,caplen: the module copies the IP packet
# (auto asks for min(-s, 4096) bytes).
cut -d, -f2,3,6,7,8,9,10,11,14,15 k.csv | tail -n +2 | sort | uniq -c >k.sum
cat k.sum
cat >k.want <<WANT
      $N input,vb,in,17,198.18.0.1,198.18.0.2,40000,5001,60,60
      $N prerouting,vb,in,17,198.18.0.1,198.18.0.2,40000,5001,60,60
WANT
diff k.want k.sum || vm_fail "the module's events differ from the $N datagrams sent"
grep -q "^$((2 * N)) packets captured, $((2 * N)) received by filter, 0 dropped by kernel$" k.err \
  || vm_fail "kmod: the ledger does not say $((2 * N)) events, none dropped"
cut -d, -f2,3,6,7,8,9,10,11,14,15 l.csv | tail -n +2 | sort | uniq -c >l.sum
echo "      $N tap-in,vb,in,17,198.18.0.1,198.18.0.2,40000,5001,74,74" >l.want
diff l.want l.sum || vm_fail "AF_PACKET's records differ from the $N frames sent"
# proto,src,dst,sport,dport,packets,bytes,end: one flow, the N frames (74 bytes on the wire each).
flow_want="17,198.18.0.1,198.18.0.2,40000,5001,$N,$((74 * N)),end"
flows() { cut -d, -f5,6,7,8,9,14,15,18 "$1" | tail -n +2; }
[[ $(flows lf.csv) == "$flow_want" ]] || { cat lf.csv; vm_fail "tc's flow differs from the $N frames sent"; }
vm_log "module loaded: no -i picked kmod ($((2 * N)) events, prerouting and input), -i vb picked AF_PACKET for packets ($N frames), tc for flows only (1 flow of $N)"

vm_run rmmod hookdump || vm_fail "rmmod hookdump"
bpf_start auB t.out t.err -q -i vb -w t.csv udp and dst port 5001
tpid=$pid
bpf_start auB tf.out tf.err -q -i vb --flows=tf.csv udp and dst port 5001
tfpid=$pid
bpf_start auB a.out a.err -q -w a.csv udp and dst port 5001
apid=$pid
send
bpf_stop $tpid
bpf_stop $tfpid
bpf_stop $apid
cat t.err tf.err a.err
expect_lines t.err "hookdump: engine auto: afpacket (hookdump.ko not loaded; packets at vb: the tap costs less than tc)
listening on vb, link-type EN10MB (Ethernet), snapshot length 262144 bytes"
expect_lines tf.err "hookdump: engine auto: tc (hookdump.ko not loaded; flows only at vb: tc counts them in the kernel)
listening on vb, link-type EN10MB, tc engine (ingress+egress), flows counted in the kernel, snapshot length 262144 bytes"
expect_lines a.err "hookdump: engine auto: afpacket (hookdump.ko not loaded; tc needs one interface (-i IFACE))
listening on any, link-type LINUX_SLL2 (Linux cooked v2), snapshot length 262144 bytes"
cut -d, -f2,3,6,7,8,9,10,11,14,15 t.csv | tail -n +2 | sort | uniq -c >t.sum
diff l.want t.sum || vm_fail "AF_PACKET's records after rmmod differ from the $N frames sent"
[[ $(flows tf.csv) == "$flow_want" ]] || { cat tf.csv; vm_fail "tc's flow after rmmod differs from the $N frames sent"; }
# -i any: the cooked header (20 bytes) in the length instead of Ethernet's 14.
cut -d, -f2,3,6,7,8,9,10,11,14,15 a.csv | tail -n +2 | sort | uniq -c >a.sum
echo "      $N tap-in,vb,in,17,198.18.0.1,198.18.0.2,40000,5001,80,80" >a.want
diff a.want a.sum || vm_fail "AF_PACKET's records differ from the $N frames sent"
vm_log "after rmmod: -i vb picked AF_PACKET for packets and tc for flows only, no -i AF_PACKET, each with exactly the $N frames"

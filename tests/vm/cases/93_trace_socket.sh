#!/bin/bash
# hookdump trace's socket point on Debian's kernels, without hookdump.ko (the hosts the eBPF
# points are for): their cgroup_skb programs have no bpf_get_netns_cookie, so the programs read
# the namespace from the socket. Two UDP datagrams delivered to a listening socket and the
# segments of an accepted TCP connection: fate delivered at the socket step with the socket's
# protocol, local address and port, and the receiving process (pid, comm; process attribution's
# cgroup programs, loaded with the socket point); the connection's segments out: sent, from the
# socket. A third namespace's socket on the same port is not reported (other namespace).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../kmod_lib.sh"
source "$(dirname "$0")/../trace_lib.sh"
vm_require_hookdump
trace_modprobe_nft
vm_veth_pair ksA va 198.18.0.1/24 ksB vb 198.18.0.2/24
vm_veth_pair ksC vc 198.18.3.1/24 ksD vd 198.18.3.2/24

SECONDS=0
trace_start ksA trace.err "udp port 7030 or tcp port 7031"
vm_log "trace ready after ${SECONDS}s"
grep -q "not observed: socket" trace.err && { cat trace.err; vm_fail "the socket point is not observed"; }
ip netns exec ksA python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 7030))
s.settimeout(60)
open('udp.ready', 'w').close()
for i in range(2): s.recv(100)
" &
udp_rx=$!
# The other namespace's listener on the same port: its datagram is not ours.
ip netns exec ksC python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 7030))
s.settimeout(60)
open('other.ready', 'w').close()
s.recv(100)
" &
other_rx=$!
ip netns exec ksA python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('198.18.0.1', 7031)); s.listen(1); s.settimeout(60)
open('tcp.ready', 'w').close()
c, _ = s.accept()
got = b''
while True:
    d = c.recv(4096)
    if not d: break
    got += d
c.close()
assert got == b'hookdump' * 4, got
" &
tcp_rx=$!
for ((i = 0; i < 300; i++)); do
  [[ -e udp.ready && -e other.ready && -e tcp.ready ]] && break
  sleep 0.1
done
[[ -e udp.ready && -e other.ready && -e tcp.ready ]] || vm_fail "the listeners did not start"
ip netns exec ksB python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('198.18.0.2', 40030))
for i in range(2): s.sendto(b'deliver %d' % i, ('198.18.0.1', 7030))
c = socket.create_connection(('198.18.0.1', 7031), timeout=30)
c.sendall(b'hookdump' * 4)
c.shutdown(socket.SHUT_WR)
c.recv(1)
c.close()
" || vm_fail "sender B"
ip netns exec ksD python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('198.18.3.2', 40031))
s.sendto(b'elsewhere', ('198.18.3.1', 7030))
" || vm_fail "sender D"
wait $udp_rx || vm_fail "the UDP listener did not get its 2 datagrams"
wait $other_rx || vm_fail "the other namespace's listener did not get its datagram"
wait $tcp_rx || vm_fail "the TCP listener did not get the data"
trace_stop trace.err

udp=$(trace_query 't["dport"] == 7030')
echo "$udp"
want="tap-in@va tc-ingress@va socket@va | delivered | - | - | single"
[[ $(grep -cx "$want" <<<"$udp") == 2 && $(grep -c . <<<"$udp") == 2 ]] \
  || vm_fail "UDP: expected 2 x '$want'"
tcp_in=$(trace_query 't["dport"] == 7031')
echo "$tcp_in"
want="tap-in@va tc-ingress@va socket@va | delivered | - | - | single"
n_in=$(grep -c . <<<"$tcp_in")
# SYN, the handshake's ACK, the data, FIN, the last ACK: at least 4 segments in.
((n_in >= 4)) && [[ $(grep -cx "$want" <<<"$tcp_in") == "$n_in" ]] \
  || vm_fail "TCP in: expected >= 4 x '$want'"
tcp_out=$(trace_query 't["sport"] == 7031')
echo "$tcp_out"
want="socket@va tc-egress@va tap-out@va | sent | - | - | single"
n_out=$(grep -c . <<<"$tcp_out")
((n_out >= 2)) && [[ $(grep -cx "$want" <<<"$tcp_out") == "$n_out" ]] \
  || vm_fail "TCP out: expected >= 2 x '$want'"
# The socket step of each: exact protocol, direction, local address and port.
# ip netns exec execs python3: $! is its pid.
python3 - "$n_in" "$n_out" "$udp_rx" "$tcp_rx" <<'PY' || vm_fail "socket steps"
import json, sys
n_in, n_out, udp_pid, tcp_pid = map(int, sys.argv[1:5])
procs = {7030: udp_pid, 7031: tcp_pid}
recs = [json.loads(l) for l in open("trace.jsonl")]
assert len(recs) == 2 + n_in + n_out, len(recs)
want = {
    7030: {"direction": "in", "proto": 17, "addr": "0.0.0.0", "port": 7030},
    7031: {"direction": "in", "proto": 6, "addr": "198.18.0.1", "port": 7031},
}
seen = {7030: 0, 7031: 0, "out": 0, "proc": 0}
for r in recs:
    socks = [o for o in r["path"] if o["point"] == "socket"]
    assert len(socks) == 1, r
    t = r["path"][0]["tuple"]
    if t["dport"] in want:
        assert socks[0]["socket"] == want[t["dport"]], r
        assert socks[0]["tuple"]["src"] == "198.18.0.2" and socks[0]["tuple"]["dst"] == "198.18.0.1", r
        # The TCP listener's close releases its socket before the last segments: none there.
        if t["dport"] == 7030 or socks[0]["pid"] is not None:
            assert (socks[0]["pid"], socks[0]["comm"], socks[0]["uid"]) == (procs[t["dport"]], "python3", 0), r
            seen["proc"] += 1
        seen[t["dport"]] += 1
    else:
        assert socks[0]["socket"] == {"direction": "out", "proto": 6, "addr": "198.18.0.1",
                                      "port": 7031}, r
        assert socks[0]["pid"] in (tcp_pid, None), r
        seen["out"] += 1
# The UDP datagrams, and at least the SYN, the handshake's ACK and the data in.
assert seen["proc"] >= 2 + 3, seen
del seen["proc"]
assert seen == {7030: 2, 7031: n_in, "out": n_out}, seen
PY
grep -q "^ *2  tap-in va → tc-ingress va → socket udp 0\.0\.0\.0:7030 proc python3\[$udp_rx\] uid 0 ✓ delivered$" \
  trace.err || vm_fail "summary: UDP delivered"
grep -q "^ *[0-9]*  tap-in va → tc-ingress va → socket tcp 198\.18\.0\.1:7031 proc python3\[$tcp_rx\] uid 0 ✓ delivered$" \
  trace.err || vm_fail "summary: TCP delivered"
grep -q "no process attribution" trace.err && vm_fail "no process attribution"
vm_log "UDP and TCP delivered to their sockets, the socket step and its process exact, on $(uname -r)"

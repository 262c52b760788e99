#!/usr/bin/env python3
"""hookdump trace's socket point on the host kernel (no module): cgroup_skb programs at the
cgroup v2 root report the socket a packet was handed to. A packet accepted by every nft chain
and delivered to a listening UDP socket, and the segments of an accepted TCP connection: fate
delivered at the socket step, with the socket's protocol, address and port, and its process
(pid, command name, uid, cgroup: process attribution's map), none for the kernel's own sockets.
The programs are detached after exit and after kill -9 (bpftool: no cgroup attachment, no link
of theirs left).

  HOOKDUMP_BIN=... HOOKDUMP_SEND=... python3 test_trace_socket.py
"""

import json
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from netns import Topology, sh  # noqa: E402

A_IP, B_IP = "198.18.0.1", "198.18.0.2"
PROG_NAMES = ("hookdump_sk_in", "hookdump_sk_out")

# Named hd-rcv (prctl PR_SET_NAME), its pid on the ready line.
UDP_SERVER = """
import ctypes, os, socket, sys
ctypes.CDLL(None).prctl(15, b"hd-rcv", 0, 0, 0)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
print("ready", os.getpid(), flush=True)
for _ in range(int(sys.argv[2])):
    s.recv(2048)
print("received", sys.argv[2], flush=True)
"""

TCP_SERVER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
print("ready", flush=True)
c, _ = s.accept()
got = b""
while True:
    d = c.recv(4096)
    if not d:
        break
    got += d
c.close()
print("received", len(got), flush=True)
"""

TCP_CLIENT = """
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])))
c.sendall(b"hookdump" * 4)
c.shutdown(socket.SHUT_WR)
c.recv(1)
c.close()
"""


def cgroup2_root():
    """Where this process sees the cgroup v2 hierarchy (as trace finds it)."""
    for line in open("/proc/self/mountinfo"):
        before, _, after = line.partition(" - ")
        f = before.split()
        if after.split()[0] == "cgroup2" and f[3] == "/":
            return f[4]
    raise AssertionError("no cgroup v2 hierarchy mounted")


def our_programs(pid):
    """ids of the socket programs the process holds: the programs named ours among those its
    descriptors refer to (/proc/PID/fdinfo: prog_id of program and link descriptors)."""
    held = set()
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            for line in open(f"/proc/{pid}/fdinfo/{fd}"):
                if line.startswith("prog_id:"):
                    held.add(int(line.split()[1]))
        except OSError:
            pass
    progs = json.loads(sh("bpftool", "-j", "prog", "show").stdout)
    return {p["id"] for p in progs if p.get("name") in PROG_NAMES and p["id"] in held}


def attached_ids():
    """Program ids attached at the cgroup v2 root, and program ids of every bpf_link."""
    cg = json.loads(sh("bpftool", "-j", "cgroup", "show", cgroup2_root()).stdout.strip() or "[]")
    links = json.loads(sh("bpftool", "-j", "link", "list").stdout.strip() or "[]")
    return {p["id"] for p in cg}, {l["prog_id"] for l in links if "prog_id" in l}


def server(ns, script, *args):
    p = subprocess.Popen(["ip", "netns", "exec", ns, "python3", "-c", script, *map(str, args)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready = p.stdout.readline().split()
    assert ready[:1] == ["ready"], p.stderr.read()
    p.server_pid = int(ready[1]) if len(ready) > 1 else p.pid
    return p


def cgroup_of(pid):
    """The process's cgroup v2 path (/proc/PID/cgroup's 0:: line)."""
    for line in open(f"/proc/{pid}/cgroup"):
        if line.startswith("0::"):
            return line[3:].strip()
    raise AssertionError(f"{pid}: no cgroup v2 line")


NO_PROC = {"pid": None, "comm": None, "uid": None, "cgroup": None}


class TraceSocket(unittest.TestCase):
    def trace(self, t, ns, *expr, iface="vA"):
        out = t.path("trace.jsonl")
        c = t.capture(ns, "-i", iface, "-o", "jsonl", "-w", out, *expr, name="trace", command="trace",
                      wait_ready=False)
        c.wait_line("tracing at ")
        return c, out

    def test_udp_delivered_to_a_listening_socket(self):
        with Topology() as t:
            a, b = t.netns("a"), t.netns("b")
            t.veth(a, "vA", A_IP + "/24", b, "vB", B_IP + "/24")
            # Every chain accepts it.
            sh("nft", "add table inet f; add chain inet f in { type filter hook input priority 0; policy drop; }; "
                      "add rule inet f in udp dport { 8887, 8888 } accept", ns=a)
            srv = server(a, UDP_SERVER, 8888, 3)
            proc = {"pid": srv.server_pid, "comm": "hd-rcv", "uid": os.getuid(),
                    "cgroup": cgroup_of(srv.server_pid)}
            c, out = self.trace(t, a, "udp", "and", "port", "8888", "or", "port", "8887")
            self.assertIn("socket (cgroup_skb)", c.stderr())
            self.assertNotIn("no process attribution", c.stderr())
            t.send(b, "vB", count=3, kind="udp", src=B_IP, dst=A_IP, sport=40000, dport=8888,
                   dst_mac=t.macs[(a, "vA")])
            # A closed port: accepted by the chain, no socket takes it.
            t.send(b, "vB", count=1, kind="udp", src=B_IP, dst=A_IP, sport=40001, dport=8887,
                   dst_mac=t.macs[(a, "vA")])
            self.assertEqual(srv.stdout.readline().strip(), "received 3")
            srv.wait(timeout=5)
            time.sleep(0.5)
            self.assertEqual(c.stop(), 0, c.stderr())
            err = c.stderr()
            recs = [json.loads(line) for line in open(out)]
            closed = [r for r in recs if r["path"][0]["tuple"]["dport"] == 8887]
            recs = [r for r in recs if r["path"][0]["tuple"]["dport"] == 8888]
            self.assertEqual(len(recs), 3, (recs, err))
            self.assertEqual(len(closed), 1, (closed, err))
            self.assertNotIn("socket", [p["point"] for p in closed[0]["path"]], closed)
            self.assertNotIn("pid", json.dumps(closed), closed)
            for r in recs:
                self.assertEqual([p["point"] for p in r["path"]], ["tap-in", "tc-ingress", "nft", "socket"], r)
                self.assertEqual(r["fate"], "delivered", r)
                self.assertEqual(r["path"][2]["nft"]["verdict"], "accept", r)
                sock = r["path"][3]
                self.assertEqual(sock["socket"], {"direction": "in", "proto": 17, "addr": "0.0.0.0", "port": 8888})
                self.assertEqual({k: sock[k] for k in proc}, proc, sock)
                self.assertEqual(sock["tuple"], {"src": B_IP, "dst": A_IP, "sport": 40000, "dport": 8888,
                                                 "proto": 17})
                self.assertEqual(sock["ifname"], "vA")
            self.assertRegex(err, r"(?m)^ +3  tap-in vA → tc-ingress vA → nft inet f in: accept → "
                                  rf"socket udp 0\.0\.0\.0:8888 proc hd-rcv\[{srv.server_pid}\] "
                                  rf"uid {os.getuid()} ✓ delivered$")

    def test_tcp_delivered_to_an_accepted_connection(self):
        with Topology() as t:
            a, b = t.netns("a"), t.netns("b")
            t.veth(a, "vA", A_IP + "/24", b, "vB", B_IP + "/24")
            srv = server(a, TCP_SERVER, A_IP, 9000)
            c, out = self.trace(t, a, "tcp", "and", "port", "9000")
            sh("python3", "-c", TCP_CLIENT, A_IP, "9000", ns=b)
            self.assertEqual(srv.stdout.readline().strip(), "received 32")
            srv.wait(timeout=5)
            time.sleep(0.5)
            self.assertEqual(c.stop(), 0, c.stderr())
            err = c.stderr()
            recs = [json.loads(line) for line in open(out)]
            inbound = [r for r in recs if r["path"][0]["tuple"]["dst"] == A_IP]
            outbound = [r for r in recs if r["path"][0]["tuple"]["src"] == A_IP]
            self.assertEqual(len(inbound) + len(outbound), len(recs), recs)
            # SYN, the handshake's ACK, the data, FIN, the last ACK: at least 4 segments in.
            self.assertGreaterEqual(len(inbound), 4, (recs, err))
            self.assertGreaterEqual(len(outbound), 2, (recs, err))
            # The listener's process (seeded: it listened before the start) on the segments to
            # the listener and the accepted connection (sockops gives it the listener's); none
            # from the server's close on (close releases the socket before its FIN).
            known = [r for r in recs if r["path"][-1 if r in inbound else 0]["pid"] is not None]
            self.assertGreaterEqual(len(known), 3, recs)
            for r in known:
                sock = r["path"][-1 if r in inbound else 0]
                self.assertEqual((sock["pid"], sock["comm"], sock["uid"]), (srv.pid, "python3", os.getuid()), r)
            for r in inbound:
                self.assertEqual([p["point"] for p in r["path"]], ["tap-in", "tc-ingress", "socket"], r)
                self.assertEqual(r["fate"], "delivered", r)
                self.assertEqual(r["path"][2]["socket"], {"direction": "in", "proto": 6, "addr": A_IP,
                                                          "port": 9000}, r)
            for r in outbound:
                self.assertEqual([p["point"] for p in r["path"]], ["socket", "tc-egress", "tap-out"], r)
                self.assertEqual(r["fate"], "sent", r)
                self.assertEqual(r["path"][0]["socket"], {"direction": "out", "proto": 6, "addr": A_IP,
                                                          "port": 9000}, r)
            # The summary: the delivered segments with the process, and those without.
            n_known = len([r for r in known if r in inbound])
            summary = {m.group(2) or "": int(m.group(1)) for m in re.finditer(
                r"(?m)^ +(\d+)  tap-in vA → tc-ingress vA → socket tcp 198\.18\.0\.1:9000( proc \S+ uid \d+)? "
                r"✓ delivered$", err)}
            want = {f" proc python3[{srv.pid}] uid {os.getuid()}": n_known}
            if len(inbound) > n_known:
                want[""] = len(inbound) - n_known
            self.assertEqual(summary, want, err)

    def test_one_cgroup2_mount_a_run(self):
        """Plain `ip netns exec` (no cgroup2 in mountinfo): process attribution's programs and
        the socket program attach at one root, one fsopen/fsmount (two before: one each)."""
        with Topology() as t:
            a, b = t.netns("a"), t.netns("b")
            t.veth(a, "vA", A_IP + "/24", b, "vB", B_IP + "/24")
            log = t.path("strace.log")
            c = t.capture(a, "-i", "vA", "-o", "jsonl", name="trace", command="trace", wait_ready=False,
                          wrapper=netns.strace_wrapper(log, ("fsopen", "fsmount")))
            c.wait_line("tracing at ")
            self.assertEqual(c.stop(), 0, c.stderr())
            self.assertNotIn("no process attribution", c.stderr())
            for call in ("fsopen", "fsmount"):
                self.assertEqual(len(netns.strace_calls(log, c.proc.pid, call)), 1, open(log).read())

    def detached_after(self, end):
        with Topology() as t:
            a, b = t.netns("a"), t.netns("b")
            t.veth(a, "vA", A_IP + "/24", b, "vB", B_IP + "/24")
            c, _ = self.trace(t, a, "udp")
            ids = our_programs(c.proc.pid)
            self.assertEqual(len(ids), 2, sh("bpftool", "prog", "show").stdout)
            on_cgroup, linked = attached_ids()
            self.assertEqual(ids & on_cgroup, ids)
            self.assertEqual(ids & linked, ids)
            end(c)
            for _ in range(50):  # the kernel releases a killed process's links as its files close
                on_cgroup, linked = attached_ids()
                if not (ids & (on_cgroup | linked)):
                    break
                time.sleep(0.1)
            self.assertEqual(ids & on_cgroup, set())
            self.assertEqual(ids & linked, set())

    def test_detached_after_exit(self):
        self.detached_after(lambda c: self.assertEqual(c.stop(), 0, c.stderr()))

    def test_detached_after_kill(self):
        self.detached_after(lambda c: c.kill())


if __name__ == "__main__":
    netns.run_tests(__name__, tools=("ip", "nft", "bpftool", "strace"))

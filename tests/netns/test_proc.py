#!/usr/bin/env python3
"""hookdump capture --proc (issue 17): which process sent or received each packet, with no
module. Python clients and servers (tests/netns/proc_peer.py) with known pids and command
names in namespace A, their peers in B, captured at A's vA on tc (the kernel looks the process
up), AF_PACKET (userspace looks it up) and XDP (ingress only, looked up in userspace by the
destination); every packet of the test's ports carries exactly
its process, every packet the kernel made itself (ARP, ICMP errors, resets) or forwarded
carries none; --pid/--comm/--cgroup keep exactly their process's packets; the cgroup programs
are detached after an exit and after kill -9. NFLOG refuses --proc (its packets carry no kernel
time to match a socket's life against).

  HOOKDUMP_BIN=... HOOKDUMP_SEND=... python3 test_proc.py [Group ...]
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import collectors  # noqa: E402
import netns  # noqa: E402
from netns import Topology, read_jsonl, sh  # noqa: E402

A_IP, B_IP = "198.18.0.1", "198.18.0.2"
PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "proc_peer.py")
N = 3  # messages each way
IPFIX_PORT = collectors.NFCAPD_PORT
# `ip netns exec` mounts the namespace's sysfs over /sys, hiding the cgroup2 mount under it:
# the capture mounts cgroup2 again in its (private) mount namespace, where hookdump finds it
# in /proc/self/mountinfo. The same hierarchy: the same ids and paths.
CGROUP2 = ("sh", "-c", 'mount -t cgroup2 none /sys/fs/cgroup && exec "$@"', "sh")


class Peer:
    """proc_peer.py in a namespace: its pid (the one it prints), its exit. Started without
    waiting for it (the pid is read when first asked for): a test's peers start at once, not
    one interpreter start after another. Killed at the end of the test if still running."""

    live = []  # every peer started, for PeerTest.tearDown

    def __init__(self, ns, name, mode, *args, stdin=False, cgroup=None):
        self.name = name
        self._pid = None

        def enter_cgroup():
            # Before the exec: the sockets it makes are made in the cgroup.
            if cgroup:
                with open(cgroup + "/cgroup.procs", "w") as f:
                    f.write(str(os.getpid()))

        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, PEER, name, mode] +
                                     [str(a) for a in args],
                                     stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     preexec_fn=enter_cgroup)
        Peer.live.append(self)

    @property
    def pid(self):
        if self._pid is None:
            line = self.proc.stdout.readline()
            m = re.match(r"pid (\d+)", line)
            if not m:
                raise AssertionError(f"{self.name}: no pid line ({line!r}): {self.proc.stderr.read()}")
            self._pid = int(m.group(1))
        return self._pid

    def wait_line(self, word):
        self.pid  # the first line
        line = self.proc.stdout.readline()
        if not line.startswith(word):
            raise AssertionError(f"{self.name}: expected {word!r}, got {line!r}: {self.proc.stderr.read()}")
        return line.split()[1:] if " " in line.strip() else []

    def go(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def wait(self, timeout=60):
        # A bound on a failure only: a loaded host (load 20) starts eight interpreters slowly.
        self.pid  # a peer that died before its pid line says why
        rc = self.proc.wait(timeout=timeout)
        if rc != 0:
            raise AssertionError(f"{self.name} exited {rc}: {self.proc.stderr.read()}")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class PeerTest(unittest.TestCase):
    def tearDown(self):
        # A failed test leaves its servers waiting for clients that never came.
        while Peer.live:
            Peer.live.pop().kill()


def topology(t):
    a, b = t.netns("a"), t.netns("b")
    t.veth(a, "vA", A_IP + "/24", b, "vB", B_IP + "/24")
    return a, b


def start(t, a, engine, *extra, name="cap", wrapper=CGROUP2):
    """capture --proc on A's vA (jsonl), once it is listening."""
    args = ["--engine", engine, "-i", "vA", "--proc", "-q", "-o", "jsonl", *extra]
    return t.capture(a, *args, name=name, wait_ready=False, wrapper=wrapper).wait_line("listening on ")


def rows(cap):
    cap.stop(settle=0.5)
    assert cap.rc == 0, cap.stderr()
    with open(cap.out_path) as f:
        return [json.loads(line) for line in f if line.strip()]


def port_rows(rs, port):
    return [r for r in rs if r.get("sport") == port or r.get("dport") == port]


def two_servers(a, peers, cgroup=None):
    """The server a filter selects (hd-usrv, UDP port 7001, in `cgroup` if given) and
    another (hd-other, 7005), each put in `peers` as it starts, both ready."""
    for name, port, cg in (("hd-usrv", 7001, cgroup), ("hd-other", 7005, None)):
        peers.append(Peer(a, name, "udp-wait", port, N, stdin=True, cgroup=cg))
        peers[-1].wait_line("ready")
    return peers[-2], peers[-1]


def serve_both(b, srv, other):
    """Both servers go; a client in `b` sends each its N datagrams, and both got them."""
    srv.go()
    other.go()
    Peer(b, "hd-c1", "udp-client", A_IP, 7001, N).wait()
    Peer(b, "hd-c2", "udp-client", A_IP, 7005, N).wait()
    srv.wait()
    other.wait()


class Base(PeerTest):
    engine = "tc"
    directions = ("in", "out")  # what the engine sees (XDP: ingress only)

    def exchange(self, t, a, b):
        """A's UDP server (7001) and TCP server (7003) answer B's clients; A's UDP client (to
        7002) and TCP client (to 7004) talk to B's servers. Returns A's four peers."""
        udp_srv = Peer(a, "hd-usrv", "udp-server", 7001, N)
        tcp_srv = Peer(a, "hd-tsrv", "tcp-server", 7003, N)
        b_udp = Peer(b, "hd-bu", "udp-server", 7002, N)
        b_tcp = Peer(b, "hd-bt", "tcp-server", 7004, N)
        for p in (udp_srv, tcp_srv, b_udp, b_tcp):
            p.wait_line("ready")
        clients = [Peer(b, "hd-bcu", "udp-client", A_IP, 7001, N),
                   Peer(b, "hd-bct", "tcp-client", A_IP, 7003, N)]
        udp_cli = Peer(a, "hd-ucli", "udp-client", B_IP, 7002, N)
        tcp_cli = Peer(a, "hd-tcli", "tcp-client", B_IP, 7004, N)
        for p in clients + [udp_cli, tcp_cli, udp_srv, tcp_srv, b_udp, b_tcp]:
            p.wait()
        return {7001: udp_srv, 7003: tcp_srv, 7002: udp_cli, 7004: tcp_cli}

    def check_exchange(self, rs, peers):
        for port, peer in peers.items():
            got = port_rows(rs, port)
            proto = 17 if port in (7001, 7002) else 6
            self.assertTrue(all(r["proto"] == proto for r in got), got)
            for d in ("in", "out"):
                mine = [r for r in got if r["dir"] == d]
                if d not in self.directions:
                    self.assertEqual(mine, [], got)
                elif proto == 17:
                    self.assertEqual(len(mine), N, got)
                else:
                    self.assertGreaterEqual(len(mine), N, got)
            closing = False
            for r in got:
                flags = r.get("tcp_flags") or ""
                # close() releases the socket before its FIN goes out: from the first FIN on,
                # a TCP packet may have no process (never another one's).
                closing = closing or "F" in flags
                # The SYN-ACK goes out on the listener's request socket, which has no entry
                # at tc egress.
                synack = self.engine == "tc" and r["dir"] == "out" and "S" in flags
                if (closing or synack) and r["pid"] is None:
                    continue
                self.assertEqual((r["pid"], r["comm"]), (peer.pid, peer.name), r)
                self.assertEqual(r["uid"], os.getuid(), r)
                self.assertTrue(r["cgroup"].startswith("/"), r)


class Tc(Base):
    engine = "tc"

    def test_udp_and_tcp_both_sides(self):
        with Topology() as t:
            a, b = topology(t)
            cap = start(t, a, self.engine)
            peers = self.exchange(t, a, b)
            rs = rows(cap)
            self.check_exchange(rs, peers)
            # Text output names the process as the issue shows it.

    def test_text_line(self):
        with Topology() as t:
            a, b = topology(t)
            cap = t.capture(a, "--engine", self.engine, "-i", "vA", "--proc", "-q", "udp",
                            wait_ready=False, wrapper=CGROUP2).wait_line("listening on ")
            srv = Peer(a, "hd-usrv", "udp-server", 7001, 1)
            srv.wait_line("ready")
            Peer(b, "hd-bcu", "udp-client", A_IP, 7001, 1).wait()
            srv.wait()
            cap.stop(settle=0.5)
            lines = [l for l in cap.stdout().splitlines() if ".7001" in l]
            self.assertEqual(len(lines), 2, cap.stdout())
            for l in lines:
                self.assertTrue(l.endswith(f"UDP, length 32, proc hd-usrv[{srv.pid}] uid {os.getuid()}"), l)

    def test_kernel_made_packets_have_no_process(self):
        with Topology() as t:
            a, b = topology(t)
            cap = start(t, a, self.engine)
            # B to closed ports of A: A's kernel answers with an ICMP port unreachable and a
            # reset; ARP both ways before that.
            sh("python3", "-c", "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
               f"s.sendto(b'x'*32, ('{A_IP}', 7999))", ns=b)
            sh("python3", "-c", "import socket\ntry:\n socket.create_connection(('"
               f"{A_IP}', 7998), timeout=2)\nexcept OSError: pass", ns=b)
            rs = rows(cap)
            icmp = [r for r in rs if r["proto"] == 1]
            rst = [r for r in rs if r["proto"] == 6 and r["dir"] == "out"]
            arp = [r for r in rs if r["proto"] is None]
            closed = port_rows(rs, 7999) + port_rows(rs, 7998)
            if "out" in self.directions:
                self.assertTrue(icmp and rst, rs)
            # In: ARP, the datagram to 7999, the SYN(s) to 7998.
            self.assertTrue(arp and len(closed) >= 2, rs)
            for r in icmp + rst + arp + closed:
                self.assertIsNone(r["pid"], r)
                self.assertIsNone(r["comm"], r)

    def test_socket_from_before_the_start(self):
        with Topology() as t:
            a, b = topology(t)
            srv = Peer(a, "hd-old", "udp-wait", 7001, N, stdin=True)
            srv.wait_line("ready")
            cap = start(t, a, self.engine)
            srv.go()
            Peer(b, "hd-bcu", "udp-client", A_IP, 7001, N).wait()
            srv.wait()
            got = port_rows(rows(cap), 7001)
            self.assertEqual(len(got), len(self.directions) * N, got)
            for r in got:
                self.assertEqual((r["pid"], r["comm"]), (srv.pid, "hd-old"), r)

    def test_port_taken_by_another_process(self):
        """One server on 7001 answers, exits; a second process binds 7001 and answers: each
        exchange is its own server's (AF_PACKET keeps the answers it read until the cgroup
        programs change the map: the exit and the bind do)."""
        with Topology() as t:
            a, b = topology(t)
            cap = start(t, a, self.engine, "udp")
            servers = []
            for name in ("hd-first", "hd-second"):
                srv = Peer(a, name, "udp-server", 7001, N)
                srv.wait_line("ready")
                Peer(b, "hd-bcu", "udp-client", A_IP, 7001, N).wait()
                srv.wait()
                servers.append(srv)
                time.sleep(0.3)  # the ring's block read (timeout 50 ms) before the next bind
            got = port_rows(rows(cap), 7001)
            self.assertEqual([(r["pid"], r["comm"]) for r in got],
                             [(s.pid, s.name) for s in servers for _ in range(2 * N)], got)

    def test_inherited_socket_is_its_creators(self):
        with Topology() as t:
            a, b = topology(t)
            srv = Peer(b, "hd-bu", "udp-server", 7002, N)
            srv.wait_line("ready")
            cap = start(t, a, self.engine)
            parent = Peer(a, "hd-parent", "udp-fork", B_IP, 7002, N, "hd-child")
            child = int(parent.wait_line("child")[0])
            parent.wait()
            srv.wait()
            got = port_rows(rows(cap), 7002)
            self.assertEqual(len(got), 2 * N, got)
            for r in got:
                # The rule (bpf/hookdump_proc.h): a shared socket is its creator's.
                self.assertEqual((r["pid"], r["comm"]), (parent.pid, "hd-parent"), r)
                self.assertNotEqual(r["pid"], child)

    def test_filters_select_exactly_their_packets(self):
        for how in ("pid", "comm", "cgroup"):
            with self.subTest(filter=how):
                self.check_filter(how, CGROUP2)

    def test_cgroup_filter_without_a_cgroup2_mount(self):
        """Plain `ip netns exec` (no cgroup2 in the capture's mountinfo): --cgroup finds its id
        through the same detached mount --proc reads cgroups with (it exited 2, "no cgroup v2
        mount", before)."""
        self.check_filter("cgroup", ())

    def check_filter(self, how, wrapper):
        with Topology() as t:
            a, b = topology(t)
            cg = f"/hookdump-test-{os.getpid()}"
            mount = cgroup2_mount()
            os.makedirs(mount + cg, exist_ok=True)
            peers = []
            try:
                srv, other = two_servers(a, peers, cgroup=mount + cg)
                arg = {"pid": ["--pid", str(srv.pid)], "comm": ["--comm", "hd-usrv"],
                       "cgroup": ["--cgroup", cg]}[how]
                cap = start(t, a, self.engine, *arg, wrapper=wrapper)
                serve_both(b, srv, other)
                rs = rows(cap)
                self.assertEqual(len(rs), len(self.directions) * N, rs)
                for r in rs:
                    self.assertEqual((r["pid"], r["comm"], r["cgroup"]), (srv.pid, "hd-usrv", cg), r)
            finally:
                # A capture that failed leaves the servers waiting: the cgroup is busy until
                # they are gone.
                for p in peers:
                    if p.proc.poll() is None:
                        p.proc.kill()
                        p.proc.wait()
                os.rmdir(mount + cg)

    def test_pid_filter_on_a_pcap_only_capture(self):
        """-w FILE alone: nothing else parses the packets, the lookup reads its key from the
        bytes at fixed offsets (ProcAttribution's quick_endpoint); --pid keeps exactly the
        server's datagrams, each way the engine sees."""
        with Topology() as t:
            a, b = topology(t)
            srv, other = two_servers(a, [])
            pcap = t.path("proc.pcap")
            cap = t.capture(a, "--engine", self.engine, "-i", "vA", "--pid", str(srv.pid), "-q", "-w", pcap,
                            name="cap", wait_ready=False, wrapper=CGROUP2)
            cap.wait_line("listening on ")
            serve_both(b, srv, other)
            cap.stop(settle=0.5)
            self.assertEqual(cap.rc, 0, cap.stderr())
            r = netns.run_hookdump(None, "read", pcap, "-o", "jsonl")
            self.assertEqual(r.returncode, 0, r.stderr)
            got = [json.loads(line) for line in r.stdout.splitlines()]
            self.assertEqual(len(got), len(self.directions) * N, got)
            for x in got:
                self.assertEqual((x["proto"], 7001 in (x["sport"], x["dport"])), (17, True), x)

    def test_detached_after_exit_and_kill(self):
        for how in ("exit", "kill"):
            with self.subTest(end=how), Topology() as t:
                a, _ = topology(t)
                cap = start(t, a, self.engine)
                self.assertTrue(attached_progs(cap.proc.pid), "no cgroup program attached while running")
                pid = hookdump_pid(cap)
                if how == "exit":
                    cap.stop()
                else:
                    os.kill(pid, signal.SIGKILL)
                    cap.wait()
                deadline = time.monotonic() + 5
                while cgroup_progs() and time.monotonic() < deadline:
                    time.sleep(0.1)
                self.assertEqual(cgroup_progs(), [], "cgroup programs left attached")


class AfPacket(Tc):
    engine = "afpacket"


class Xdp(Base):
    """XDP sees packets coming in, before the kernel's socket lookup: each is looked up in
    userspace by its destination (the socket bound to it), or has none."""
    engine = "xdp"
    directions = ("in",)
    test_udp_and_tcp_both_sides = Tc.test_udp_and_tcp_both_sides
    test_kernel_made_packets_have_no_process = Tc.test_kernel_made_packets_have_no_process
    test_socket_from_before_the_start = Tc.test_socket_from_before_the_start
    test_filters_select_exactly_their_packets = Tc.test_filters_select_exactly_their_packets
    test_cgroup_filter_without_a_cgroup2_mount = Tc.test_cgroup_filter_without_a_cgroup2_mount
    check_filter = Tc.check_filter
    test_pid_filter_on_a_pcap_only_capture = Tc.test_pid_filter_on_a_pcap_only_capture


class Flows(Base):
    engine = "afpacket"

    def test_flow_records_carry_the_process(self):
        with Topology() as t:
            a, b = topology(t)
            flows = t.path("flows.jsonl")
            cap = t.capture(a, "--engine", "afpacket", "-i", "vA", "--proc", "-q",
                            f"--flows={flows}", "-w", t.path("x.pcap"), name="cap", wrapper=CGROUP2)
            peers = self.exchange(t, a, b)
            cap.stop(settle=0.5)
            self.assertEqual(cap.rc, 0, cap.stderr())
            fl = read_jsonl(flows)
            for port, peer in peers.items():
                got = [f for f in fl if port in (f["sport"], f["dport"])]
                self.assertEqual(len(got), 2, got)  # one each way
                for f in got:
                    self.assertEqual((f["pid"], f["comm"]), (peer.pid, peer.name), f)


    def test_kernel_flow_mode_and_ipfix_carry_the_process(self):
        """tc flow mode (flows counted in the kernel: the process looked up at export) and
        AF_PACKET, to a flow file and over IPFIX: tshark decodes the enterprise elements
        (PEN 32473) as the process's pid, uid, cgroup id and command name."""
        for engine in ("tc", "afpacket"):
            with self.subTest(engine=engine), Topology() as t:
                a, b = topology(t)
                flows = t.path("flows.jsonl")
                nfcapd = collectors.Nfcapd(t, a)
                wire = collectors.Wire(t, a, IPFIX_PORT)
                cap = t.capture(a, "--engine", engine, "-i", "vA", "--proc", "-q", f"--flows={flows}",
                                "--ipfix", f"127.0.0.1:{IPFIX_PORT}", name="cap", wrapper=CGROUP2,
                                wait_ready=False)
                cap.wait_line("listening on ")
                peers = self.exchange(t, a, b)
                cap.stop(settle=0.5)
                self.assertEqual(cap.rc, 0, cap.stderr())
                fl = read_jsonl(flows)
                exported = wire.flows()
                # nfcapd keeps the records (the elements it does not know skipped).
                nf, seq_failures = nfcapd.flows()
                self.assertEqual(seq_failures, 0)
                for port, peer in peers.items():
                    got = [f for f in fl if port in (f["sport"], f["dport"])]
                    self.assertEqual(len(got), 2, got)  # one each way
                    cg = cgroup_id(got[0]["cgroup"])
                    for f in got:
                        self.assertEqual((f["pid"], f["comm"], f["uid"]), (peer.pid, peer.name, os.getuid()), f)
                    ipfix = [f for f in exported if port in (f["sport"], f["dport"])]
                    self.assertEqual(len(ipfix), 2, ipfix)
                    for f in ipfix:
                        self.assertEqual(f["private"], [
                            peer.pid.to_bytes(4, "big"), os.getuid().to_bytes(4, "big"),
                            cg.to_bytes(8, "big"), peer.name.encode().ljust(16, b"\0")], f)
                    self.assertEqual(len([f for f in nf if port in (f["sport"], f["dport"])]), 2, nf)


class Forwarded(PeerTest):
    def test_forwarded_packets_have_no_process(self):
        """A router R between A and B with forwarding on and a UDP socket bound to the wildcard
        address on the port the forwarded traffic goes to: the forwarded packets are not its."""
        for engine in ("tc", "afpacket", "xdp"):
            with self.subTest(engine=engine), Topology() as t:
                a, r, b = t.netns("a"), t.netns("r"), t.netns("b")
                t.veth(a, "vA", "198.18.1.1/24", r, "rA", "198.18.1.2/24")
                t.veth(r, "rB", "198.18.2.2/24", b, "vB", "198.18.2.1/24")
                sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=r)
                sh("ip", "route", "add", "default", "via", "198.18.1.2", ns=a)
                sh("ip", "route", "add", "default", "via", "198.18.2.2", ns=b)
                trap = Peer(r, "hd-trap", "udp-wait", 7001, 1, stdin=True)
                trap.wait_line("ready")
                srv = Peer(b, "hd-bu", "udp-server", 7001, N)
                srv.wait_line("ready")
                cap = t.capture(r, "--engine", engine, "-i", "rA", "--proc", "-q", "-o", "jsonl", "udp",
                                wait_ready=False, wrapper=CGROUP2).wait_line("listening on ")
                Peer(a, "hd-cli", "udp-client", "198.18.2.1", 7001, N).wait()
                srv.wait()
                rs = rows(cap)
                trap.proc.kill()
                # XDP: the requests coming in only.
                self.assertEqual(len(port_rows(rs, 7001)), (1 if engine == "xdp" else 2) * N, rs)
                for x in rs:
                    self.assertIsNone(x["pid"], x)


class Root(PeerTest):
    """The cgroup v2 root a run reads its cgroups from and attaches at."""

    def test_one_cgroup2_mount_a_run(self):
        """Plain `ip netns exec` (no cgroup2 in mountinfo): --cgroup's check, the programs and
        the paths share one root, so one fsopen/fsmount a run (two before: the check's own)."""
        with Topology() as t:
            a, _ = topology(t)
            log = t.path("strace.log")
            cap = start(t, a, "tc", "--cgroup", "/", wrapper=netns.strace_wrapper(log, ("fsopen", "fsmount")))
            cap.stop()
            self.assertEqual(cap.rc, 0, cap.stderr())
            for call in ("fsopen", "fsmount"):
                self.assertEqual(len(netns.strace_calls(log, cap.proc.pid, call)), 1, open(log).read())


    def test_cgroup_paths_after_dropping_root(self):
        """-Z nobody: the cgroup paths are read after root is gone, through the root's
        descriptor (under plain `ip netns exec` a /proc/self/fd/N path, which a process that
        changed its uid may no longer open): the server's packets carry its exact cgroup,
        where the hierarchy is mounted and where it is not."""
        for engine, wrapper in (("tc", CGROUP2), ("tc", ()), ("afpacket", ())):
            with self.subTest(engine=engine, mounted=bool(wrapper)), Topology() as t:
                a, b = topology(t)
                cg = f"/hookdump-test-{os.getpid()}"
                mount = cgroup2_mount()
                os.makedirs(mount + cg, exist_ok=True)
                srv = None
                try:
                    srv = Peer(a, "hd-usrv", "udp-server", 7001, N, cgroup=mount + cg)
                    srv.wait_line("ready")
                    cap = start(t, a, engine, "-Z", "nobody", "udp", wrapper=wrapper)
                    Peer(b, "hd-bcu", "udp-client", A_IP, 7001, N).wait()
                    srv.wait()
                    got = port_rows(rows(cap), 7001)
                    self.assertEqual(len(got), 2 * N, got)
                    for r in got:
                        self.assertEqual((r["pid"], r["comm"], r["cgroup"]), (srv.pid, "hd-usrv", cg), r)
                finally:
                    if srv and srv.proc.poll() is None:
                        srv.proc.kill()
                        srv.proc.wait()
                    os.rmdir(mount + cg)


class Errors(unittest.TestCase):
    def test_user_errors_before_anything_is_attached(self):
        for args, msg in (
                (["--comm", "a-name-longer-than-15"], "--comm: 'a-name-longer-than-15' is longer than 15 bytes"),
                (["--cgroup", "/no/such/cgroup/here"], "--cgroup: no cgroup '/no/such/cgroup/here' under "),
                (["--engine", "drop"], "--proc does not apply to --engine drop"),
                (["--engine", "nflog"], "--proc does not apply to --engine nflog"),
                (["--engine", "nflog", "--pid", "1"], "--proc does not apply to --engine nflog")):
            with self.subTest(args=args):
                r = netns.run_hookdump(None, "capture", "-i", "lo", "--proc", *args)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertTrue(r.stderr.startswith("hookdump: " + msg), r.stderr)
                self.assertEqual(cgroup_progs(), [])


# -- the cgroup programs ---------------------------------------------------------------------

def cgroup_id(path):
    """The cgroup v2 id of PATH (the inode of its directory)."""
    return os.stat(cgroup2_mount() + path).st_ino


def cgroup2_mount():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, post = line.split(" - ", 1)
            if post.split()[0] == "cgroup2" and pre.split()[3] == "/":
                return pre.split()[4]
    raise AssertionError("no cgroup2 mount")


PROC_PROGS = ("hd_sock_create", "hd_post_bind4", "hd_sock_release", "hd_skb_egress", "hd_sockops")


def cgroup_progs():
    """Our programs attached at the cgroup2 root (bpftool cgroup show)."""
    r = sh("bpftool", "-j", "cgroup", "show", cgroup2_mount())
    import json
    return [p["name"] for p in json.loads(r.stdout.strip() or "[]") if p.get("name") in PROC_PROGS]


def hookdump_pid(cap):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with open(f"/proc/{cap.proc.pid}/comm") as f:
            if f.read().strip() == "hookdump":
                return cap.proc.pid
        time.sleep(0.01)
    raise AssertionError("capture is not hookdump")


def attached_progs(_pid):
    return cgroup_progs()


if __name__ == "__main__":
    netns.run_tests(__name__, tools=("ip", "bpftool", "strace"))

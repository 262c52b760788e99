#!/usr/bin/env python3
"""hookdump@.service run as systemd would run it, without systemd as PID 1.

The unit's [Service] section is read from packaging/systemd/hookdump@.service: ExecStart with
%i and $VARIABLES expanded from its Environment=, in an environment of only those, PATH and
NOTIFY_SOCKET (a datagram socket this test listens on), through setpriv with the unit's
CapabilityBoundingSet and NoNewPrivileges, inside a test namespace. /usr/bin/hookdump is the
build's binary, /etc/hookdump/ and the LogsDirectory /var/log/hookdump/ are directories of the
test's own, and the configuration is an example of packaging/examples/ with its interface,
collector and paths made the test's.

Checked: READY=1 comes from the capture's own pid once it is attached (its packets are
captured from then on); SIGHUP (the unit's ExecReload) finishes the file and starts a new one
(logrotate: at the same path; the ring example: the next file), both read whole by capinfos
and tcpdump, their packets adding up to those sent; SIGTERM exits 0 with the ledger on stderr.
`systemd-analyze verify` passes on the unit (Verify).
"""

import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from netns import Topology, tool_packet_count  # noqa: E402
import test_metrics  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNIT = os.path.join(REPO, "packaging", "systemd", "hookdump@.service")
EXAMPLES = os.path.join(REPO, "packaging", "examples")
INSTALLED_BIN = "/usr/bin/hookdump"
A_IP, B_IP = "198.18.0.1", "198.18.0.2"


def unit_section(path, section):
    """[(key, value)] of one section, in order (comments and continuation lines as systemd reads
    them)."""
    out, current, pending = [], None, ""
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if pending:
                line = pending + line.lstrip()
                pending = ""
            stripped = line.strip()
            if not stripped or stripped[0] in "#;":
                continue
            if stripped.endswith("\\"):
                pending = stripped[:-1] + " "
                continue
            if stripped.startswith("["):
                current = stripped.strip("[]")
                continue
            if current == section:
                key, _, value = stripped.partition("=")
                out.append((key.strip(), value.strip()))
    return out


def unit_values(path, key, section="Service"):
    return [v for k, v in unit_section(path, section) if k == key]


def unit_environment(path):
    env = {}
    for value in unit_values(path, "Environment"):
        for assignment in shlex.split(value):
            name, _, v = assignment.partition("=")
            env[name] = v
    return env


def expand_exec(line, instance, env):
    """ExecStart= as systemd expands it (systemd.service(5), "Command lines"): %i the instance,
    a word that is $NAME alone becomes the variable's words (none when it is empty), ${NAME}
    within a word its value."""
    words = []
    for w in shlex.split(line.replace("%i", instance)):
        m = re.fullmatch(r"\$(\w+)", w)
        if m:
            words += env.get(m.group(1), "").split()
            continue
        words.append(re.sub(r"\$\{(\w+)\}", lambda m: env.get(m.group(1), ""), w))
    return words


class NotifySocket:
    """NOTIFY_SOCKET: what the service sends, with the sender's pid (SCM_CREDENTIALS)."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(path)

    def receive(self, timeout):
        """(message, sender pid), or (None, None) after `timeout` seconds."""
        self.sock.settimeout(timeout)
        try:
            msg, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return None, None
        pid = None
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", data[:12])[0]
        return msg.decode(), pid

    def close(self):
        self.sock.close()


class Service:
    """One instance of hookdump@.service: NAME.conf written from `config`, ExecStart run."""

    def __init__(self, topo, ns, instance, config):
        self.topo = topo
        self.instance = instance
        etc = topo.path("etc/hookdump")
        os.makedirs(etc, exist_ok=True)
        self.logs = topo.path("log/hookdump/" + instance)  # LogsDirectory=hookdump/%i
        os.makedirs(self.logs, exist_ok=True)
        with open(os.path.join(etc, instance + ".conf"), "w") as f:
            f.write(config)
        env = unit_environment(UNIT)
        [exec_start] = unit_values(UNIT, "ExecStart")
        argv = expand_exec(exec_start, instance, env)
        assert argv[0] == INSTALLED_BIN, argv
        argv = [a.replace("/etc/hookdump/", etc + "/") for a in argv[1:]]
        self.notify = NotifySocket(topo.path("notify.sock"))
        caps = unit_values(UNIT, "CapabilityBoundingSet")[0].split()
        setpriv = ["setpriv", "--bounding-set",
                   ",".join(["-all"] + ["+" + c.lower().removeprefix("cap_") for c in caps])]
        if unit_values(UNIT, "NoNewPrivileges") == ["yes"]:
            setpriv.append("--no-new-privs")
        environment = dict(env, PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                           NOTIFY_SOCKET=self.notify.path)
        wrapper = ["env", "-i"] + [f"{k}={v}" for k, v in environment.items()] + setpriv + ["--"]
        self.cap = topo.capture(ns, *argv[1:], name=instance, wait_ready=False, command=argv[0],
                                wrapper=wrapper)

    def wait_ready(self, attached, timeout=10):
        """Waits for READY=1; `attached()` must hold when it comes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg, pid = self.notify.receive(0.2)
            if msg is None:
                if self.cap.proc.poll() is not None:
                    raise AssertionError(f"exited before READY=1 ({self.cap.proc.returncode}): "
                                         f"{self.cap.stderr()}")
                continue
            fields = dict(l.partition("=")[::2] for l in msg.splitlines())
            if fields.get("READY") != "1":
                continue
            if pid != self.cap.proc.pid:
                raise AssertionError(f"READY=1 from pid {pid}, the service is {self.cap.proc.pid}")
            if not attached():
                raise AssertionError("READY=1 before the capture was attached")
            return fields
        raise AssertionError(f"no READY=1 within {timeout}s: {self.cap.stderr()}")

    def reload(self):
        # ExecReload=/bin/kill -HUP $MAINPID
        [reload] = unit_values(UNIT, "ExecReload")
        assert reload == "/bin/kill -HUP $MAINPID", reload
        self.cap.send_signal(signal.SIGHUP)

    def stop(self):
        # systemctl stop: KillSignal= (SIGTERM, the default)
        assert unit_values(UNIT, "KillSignal") in ([], ["SIGTERM"])
        return self.cap.stop(signal.SIGTERM, settle=0.3)


def example(name, replace):
    with open(os.path.join(EXAMPLES, name)) as f:
        text = f.read()
    for old, new in replace:
        if old not in text:
            raise AssertionError(f"{name}: '{old}' is not in the example")
        text = text.replace(old, new)
    return text


def wait_for(pred, what, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"{what} within {timeout}s")


def two_namespaces(t):
    a, b = t.netns("a"), t.netns("b")
    t.veth(a, "vA", A_IP + "/24", b, "vB", B_IP + "/24")
    return a, b


class Ring(unittest.TestCase):
    """packaging/examples/pcap-ring.conf: SIGHUP starts the ring's next file."""

    def test_ring(self):
        with Topology() as t:
            a, b = two_namespaces(t)
            logs = t.path("log/hookdump/ring")
            svc = Service(t, a, "ring", example("pcap-ring.conf", [
                ('interface = "eth0"', 'interface = "vA"'),
                ("/var/log/hookdump/pcap-ring/", logs + "/")]))
            svc.wait_ready(svc.cap._ready)
            first, second = os.path.join(logs, "ring-00000.pcapng"), os.path.join(logs, "ring-00001.pcapng")
            t.send(b, "vB", count=50, src=B_IP, dst=A_IP)
            time.sleep(0.5)  # a ring block is handed over after 50 ms
            self.assertFalse(os.path.exists(second))
            svc.reload()
            wait_for(lambda: os.path.exists(second), f"{second} created after SIGHUP")
            t.send(b, "vB", count=30, src=B_IP, dst=A_IP)
            self.assertEqual(svc.stop(), 0, svc.cap.stderr())
            self.assertEqual(svc.cap.ledger(), (80, 80, 0))
            self.assertEqual(tool_packet_count(first), 50)
            self.assertEqual(tool_packet_count(second), 30)
            self.assertEqual(sorted(os.listdir(logs)), ["ring-00000.pcapng", "ring-00001.pcapng"])


class Logrotate(unittest.TestCase):
    """A plain -w file, moved away as logrotate does: SIGHUP creates a new one at its path."""

    def test_logrotate(self):
        with Topology() as t:
            a, b = two_namespaces(t)
            logs = t.path("log/hookdump/live")
            live = os.path.join(logs, "live.pcap")
            svc = Service(t, a, "live", example("pcap-ring.conf", [
                ('interface = "eth0"', 'interface = "vA"'),
                ('"/var/log/hookdump/pcap-ring/ring.pcapng"', f'"{live}"'),
                ("rotate-size = 100\n", ""), ("rotate-files = 10\n", "")]))
            svc.wait_ready(svc.cap._ready)
            t.send(b, "vB", count=40, src=B_IP, dst=A_IP)
            time.sleep(0.5)
            os.rename(live, live + ".1")
            svc.reload()
            wait_for(lambda: os.path.exists(live), f"{live} created again after SIGHUP")
            t.send(b, "vB", count=25, src=B_IP, dst=A_IP)
            self.assertEqual(svc.stop(), 0, svc.cap.stderr())
            self.assertEqual(svc.cap.ledger(), (65, 65, 0))
            self.assertEqual(tool_packet_count(live + ".1"), 40)
            self.assertEqual(tool_packet_count(live), 25)


class FlowsIpfix(unittest.TestCase):
    """packaging/examples/flows-ipfix.conf: tc's flow mode exporting to nfcapd."""

    def test_flows_ipfix(self):
        import collectors
        with Topology() as t:
            a, b = two_namespaces(t)
            nfcapd = collectors.Nfcapd(t, a)
            svc = Service(t, a, "flows", example("flows-ipfix.conf", [
                ('interface = "eth0"', 'interface = "vA"'),
                ('"192.0.2.10:4739"', f'"127.0.0.1:{collectors.NFCAPD_PORT}"')]))

            def attached():
                # tcx links (6.6+) are the process's bpf_link fds; older kernels' tc filters
                # are on the interface.
                pid = svc.cap.proc.pid
                links = 0
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    try:
                        links += os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:bpf_link"
                    except OSError:
                        pass
                r = netns.sh("tc", "filter", "show", "dev", "vA", "ingress", ns=a)
                return links >= 2 or " bpf " in r.stdout
            svc.wait_ready(attached)
            t.send(b, "vB", count=120, flows=6, src=B_IP, dst=A_IP, sport=40000, dport=5001)
            # The example's metrics key: its scrape (promtool-checked) has the kernel's count of
            # the packets at once; tc's flows reach the table when they end (here, at exit).
            _, s = test_metrics.wait_scrape(
                self, a, lambda s: test_metrics.value(
                    s, "hookdump_packets_received_by_filter_total", engine="tc", interface="vA") == 120,
                "120 packets received by filter in the scrape", port=9751)
            self.assertEqual(test_metrics.value(s, "hookdump_ipfix_records_failed_total",
                                                collector=f"127.0.0.1:{collectors.NFCAPD_PORT}"), 0)
            self.assertEqual(svc.stop(), 0, svc.cap.stderr())
            captured, received, dropped = svc.cap.ledger()
            self.assertEqual(captured, 120)
            for metric, total in (("hookdump_packets_received_by_filter_total", received),
                                  ("hookdump_packets_dropped_by_kernel_total", dropped)):
                self.assertEqual(sum(v for k, v in s.items() if k[0] == metric), total, metric)
            flows, seq_failures = nfcapd.flows()
            self.assertEqual(seq_failures, 0)
            self.assertEqual(len(flows), 6, flows)
            self.assertEqual(sum(f["packets"] for f in flows), 120)


class BadConfig(unittest.TestCase):
    """A configuration the service cannot run: one line, exit 2 (RestartPreventExitStatus=2),
    nothing attached."""

    def test_unknown_key(self):
        with Topology() as t:
            a, _ = two_namespaces(t)
            svc = Service(t, a, "bad", 'engine = "afpacket"\ninterface = "vA"\nwrite-file = "x"\n')
            self.assertEqual(svc.cap.wait(), 2)
            self.assertEqual(svc.cap.stderr(), "hookdump: --config: 'write-file' is not an option of capture\n")
            self.assertEqual(unit_values(UNIT, "RestartPreventExitStatus"), ["2"])


class Verify(unittest.TestCase):
    """systemd-analyze verify on the unit (an instance of it), with the binary at ExecStart's
    path replaced by the build's (the man page is the package's: --man=no)."""

    def test_verify(self):
        with Topology() as t:
            units = t.path("units")
            os.makedirs(units)
            with open(UNIT) as f:
                text = f.read()
            with open(os.path.join(units, "hookdump@.service"), "w") as f:
                f.write(text.replace(INSTALLED_BIN, netns.HOOKDUMP))
            r = subprocess.run(["systemd-analyze", "verify", "--man=no",
                                os.path.join(units, "hookdump@test.service")],
                               capture_output=True, text=True, cwd=units, timeout=60)
            self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))
            # And it fails where the unit is wrong (the check can fail).
            with open(os.path.join(units, "hookdump@.service"), "w") as f:
                f.write(text.replace(INSTALLED_BIN, t.path("no-such-binary")))
            r = subprocess.run(["systemd-analyze", "verify", "--man=no",
                                os.path.join(units, "hookdump@test.service")],
                               capture_output=True, text=True, cwd=units, timeout=60)
            self.assertNotEqual(r.returncode, 0)


if __name__ == "__main__":
    netns.run_tests(__name__, tools=("ip", "capinfos", "tcpdump", "setpriv", "systemd-analyze", "nfcapd",
                                     "nfdump", "tc", "promtool"))

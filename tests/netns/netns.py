"""Test bed for hookdump's live capture: network namespaces joined by veth pairs, the
project's own sender (hookdump-send), hookdump capture runs, and readers for what they write.

Every namespace this module creates is named hdt-<pid>-<n>-<role>; it is removed when the
Topology's `with` block ends (success, failure, exception), when the test process gets
SIGINT/SIGTERM/SIGHUP (turned into an exception, so the `with` blocks unwind), and at exit.
A run that was killed outright (SIGKILL, a ctest timeout) leaves namespaces whose pid is gone:
the next run removes them at start (`remove_stale()`), leaving live runs' namespaces alone.

Addresses are only 198.18.0.0/15 (IPv4) and 2001:db8::/32 (IPv6, in frames only: IPv6 is
disabled on every interface so that router solicitations, MLD reports and DAD do not add
packets to exact counts).
"""

import atexit
import csv
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import unittest

HOOKDUMP = os.environ.get("HOOKDUMP_BIN", "")
SENDER = os.environ.get("HOOKDUMP_SEND", "")
PREFIX = "hdt-"
# Frames the tests send go to this MAC, which no interface has: the receiving kernel sees
# them as PACKET_OTHERHOST and drops them after the capture tap, without answering (no ICMP
# port unreachable, no RST), so counts stay exact without a filter.
OTHER_MAC = "02:48:44:ff:00:01"

IN_CI = os.environ.get("CI", "") == "true"  # exactly "true": docs/ARCHITECTURE.md, Tests
SKIP = 77


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Prerequisites: fail under CI, skip loudly (exit 77) elsewhere.

def require(tools=("ip", "capinfos", "tcpdump", "ping")):
    missing = []
    if os.geteuid() != 0:
        missing.append("root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN for namespaces)")
    for t in tools:
        if not shutil.which(t):
            missing.append(f"the '{t}' command")
    for name, path in (("HOOKDUMP_BIN", HOOKDUMP), ("HOOKDUMP_SEND", SENDER)):
        if not path or not os.access(path, os.X_OK):
            missing.append(f"{name} (an executable; got '{path}')")
    if not missing:
        probe = f"{PREFIX}{os.getpid()}-probe"
        r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
        if r.returncode != 0:
            missing.append(f"network namespaces ('ip netns add' failed: {r.stderr.strip()})")
        else:
            subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    if missing:
        bar = "*" * 78
        msg = "\n".join([bar, "netns tests cannot run: missing " + "; ".join(missing), bar])
        log(msg)
        if IN_CI:
            log("CI=true: failing instead of skipping")
            sys.exit(1)
        log("SKIPPED (exit 77)")
        sys.exit(SKIP)


def missing_kernel_feature(what):
    """The running kernel lacks something a test needs. Installing packages cannot fix that:
    the test is skipped loudly (a run that skipped every test exits 77), and under CI=true it
    fails instead (raises AssertionError: a CI host must have what the suite tests). Returns
    the reason for TestCase.skipTest()."""
    bar = "*" * 78
    if IN_CI:
        raise AssertionError(f"this kernel has no {what} (CI=true: failing instead of skipping)")
    log("\n".join(["", bar, f"SKIPPED: this kernel has no {what}", bar]))
    return f"kernel has no {what}"


# ---------------------------------------------------------------------------------------------
# Cleanup on signals and at exit.

_cleanups = []  # callables run at exit if their owner did not run them


def _on_signal(signum, _frame):
    # Unwind the stack so that every `with Topology()` removes what it made.
    raise SystemExit(128 + signum)


def install_signal_handlers():
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _on_signal)


@atexit.register
def _run_cleanups():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as e:  # keep cleaning
            log(f"cleanup: {e}")


def sh(*args, check=True, ns=None, capture=True, timeout=30):
    cmd = list(args)
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    r = subprocess.run(cmd, capture_output=capture, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_namespaces():
    r = sh("ip", "netns", "list", check=False)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def remove_stale():
    """Removes namespaces and temporary folders left by a previous run that was killed (its
    pid is gone), and ends the captures that run left in them (normally they die with it:
    PR_SET_PDEATHSIG)."""
    for name in list_namespaces():
        m = re.match(re.escape(PREFIX) + r"(\d+)-", name)
        if m and not _pid_alive(int(m.group(1))):
            log(f"removing stale namespace {name} (its test run, pid {m.group(1)}, is gone)")
            pids = sh("ip", "netns", "pids", name, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            sh("ip", "netns", "del", name, check=False)
    tmp = tempfile.gettempdir()
    for name in os.listdir(tmp):
        m = re.match(re.escape(PREFIX) + r"(\d+)-\d+-", name)
        if m and not _pid_alive(int(m.group(1))) and os.path.isdir(os.path.join(tmp, name)):
            shutil.rmtree(os.path.join(tmp, name), ignore_errors=True)
    remove_stale_tmpfs()


# ---------------------------------------------------------------------------------------------
# A small file system, for a disk that fills up

TMPFS_PREFIX = "tmpfs-"


def remove_stale_tmpfs():
    """Unmounts and removes the SmallTmpfs mounts of a run that was killed (its pid is gone)."""
    tmp = tempfile.gettempdir()
    pattern = re.compile(re.escape(os.path.join(tmp, PREFIX)) + r"(\d+)-" + TMPFS_PREFIX)
    with open("/proc/self/mounts") as f:
        points = [line.split()[1] for line in f]
    for point in points:
        m = pattern.match(point)
        if m and not _pid_alive(int(m.group(1))):
            log(f"unmounting stale tmpfs {point} (its test run, pid {m.group(1)}, is gone)")
            sh("umount", "-l", point, check=False)
    for name in os.listdir(tmp):
        m = re.match(re.escape(PREFIX) + r"(\d+)-" + TMPFS_PREFIX, name)
        path = os.path.join(tmp, name)
        if m and not _pid_alive(int(m.group(1))) and not os.path.ismount(path):
            shutil.rmtree(path, ignore_errors=True)


class _CleanedAtExit:
    """A `with` block owner whose close() also runs at exit (and on the signals above) if the
    block did not end normally."""

    def __enter__(self):
        _cleanups.append(self.close)
        return self

    def __exit__(self, *exc):
        self.close()
        if self.close in _cleanups:
            _cleanups.remove(self.close)
        return False


class SmallTmpfs(_CleanedAtExit):
    """A tmpfs of `size` bytes mounted on a fresh temporary folder, unmounted (and the folder
    removed) when the `with` block ends, at SIGINT/SIGTERM/SIGHUP and at exit; a killed run's
    mounts are removed by the next run (remove_stale_tmpfs, at start and here).

        with SmallTmpfs(1 << 20) as fs:
            path = fs.path("x.pcap")
    """

    def __init__(self, size=1 << 20):
        remove_stale_tmpfs()
        self.size = size
        self.dir = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-{TMPFS_PREFIX}")
        self._mounted = False

    def __enter__(self):
        super().__enter__()
        sh("mount", "-t", "tmpfs", "-o", f"size={self.size},mode=0755", "hookdump-test", self.dir)
        self._mounted = True
        return self

    def path(self, name):
        return os.path.join(self.dir, name)

    def fill(self, leave=0):
        """Writes a file that takes all the space but `leave` bytes (rounded to pages)."""
        st = os.statvfs(self.dir)
        free = st.f_bavail * st.f_frsize
        with open(self.path("filler"), "wb") as f:
            f.write(b"\0" * max(0, free - leave))

    def close(self):
        if self._mounted:
            sh("umount", self.dir, check=False)
            self._mounted = False
        if not os.path.ismount(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL when the test process dies (even by SIGKILL), so
    no capture outlives its test; survives the exec of `ip netns exec` and of hookdump."""
    import ctypes
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


# ---------------------------------------------------------------------------------------------
# Topology

_serial = 0


class Topology(_CleanedAtExit):
    """Namespaces and veth pairs. Use as a context manager:

        with Topology() as t:
            a = t.netns("a"); b = t.netns("b")
            t.veth(a, "vA", "198.18.0.1/24", b, "vB", "198.18.0.2/24")
    """

    def __init__(self):
        global _serial
        _serial += 1
        self.tag = f"{PREFIX}{os.getpid()}-{_serial}"
        self.namespaces = []
        self.procs = []
        self.macs = {}
        self._macs_made = 0
        self.dir = tempfile.mkdtemp(prefix=self.tag + "-")
        self._closed = False

    def path(self, name):
        return os.path.join(self.dir, name)

    def netns(self, role):
        name = f"{self.tag}-{role}"
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        # IPv6 off before any interface exists (and on those that do): no RS/MLD/DAD noise.
        sh("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1",
           ns=name, check=False)
        sh("ip", "link", "set", "lo", "up", ns=name)
        return name

    def veth(self, ns1, if1, addr1, ns2, if2, addr2, up=True):
        """A veth pair between two namespaces (created in place: nothing touches the host's)."""
        mac1, mac2 = self._mac(), self._mac()
        sh("ip", "link", "add", if1, "netns", ns1, "address", mac1, "type", "veth",
           "peer", "name", if2, "netns", ns2, "address", mac2)
        self.macs[(ns1, if1)] = mac1
        self.macs[(ns2, if2)] = mac2
        for ns, ifname, addr in ((ns1, if1, addr1), (ns2, if2, addr2)):
            if addr:
                _check_addr(addr)
                sh("ip", "addr", "add", addr, "dev", ifname, ns=ns)
            if up:
                sh("ip", "link", "set", ifname, "up", ns=ns)
        return mac1, mac2

    def _mac(self):
        self._macs_made += 1
        n = self._macs_made
        return "02:48:44:%02x:%02x:%02x" % ((os.getpid() >> 8) & 0xFF, os.getpid() & 0xFF, n)

    def ifindex(self, ns, ifname):
        r = sh("cat", f"/sys/class/net/{ifname}/ifindex", ns=ns)
        return int(r.stdout.strip())

    def netns_id(self, ns):
        """The namespace's cookie (SO_NETNS_COOKIE of a socket made in it): what every engine
        reports as netns."""
        r = sh("python3", "-c", "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
               "print(int.from_bytes(s.getsockopt(socket.SOL_SOCKET, 71, 8), 'little'))", ns=ns)
        return int(r.stdout.strip())

    # -- processes --

    def send(self, ns, iface, *args, count=1, kind="udp", dst_mac=OTHER_MAC, **kw):
        """Runs hookdump-send; returns its summary line. Raises on a non-zero exit."""
        cmd = [SENDER, "-i", iface, "--kind", kind, "-n", str(count)]
        if dst_mac:
            cmd += ["--dst-mac", dst_mac]
        for k, v in kw.items():
            cmd += ["--" + k.replace("_", "-"), str(v)]
        cmd += list(args)
        r = sh(*cmd, ns=ns, check=False, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"hookdump-send failed ({r.returncode}): {r.stderr.strip()}")
        return r.stdout.strip()

    def capture(self, ns, *args, name="cap", workers=1, wait_ready=True, command="capture", wrapper=()):
        """Starts `hookdump COMMAND ARGS` in `ns` (through `wrapper`, a command that execs the
        rest, e.g. setpriv); waits until its AF_PACKET sockets are bound unless told not to."""
        c = Capture(self, ns, list(args), name, workers, command, wrapper)
        self.procs.append(c)
        if wait_ready:
            c.wait_ready()
        return c

    def close(self):
        if self._closed:
            return
        self._closed = True
        for p in self.procs:
            p.kill()
        for ns in reversed(self.namespaces):
            sh("ip", "netns", "del", ns, check=False)
        if os.environ.get("HOOKDUMP_NETNS_KEEP"):
            log(f"keeping {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def _check_addr(addr):
    """Only 198.18.0.0/15 and 2001:db8::/32 are allowed in these tests."""
    a = addr.split("/")[0]
    if ":" in a:
        ok = a.lower().startswith("2001:db8:") or a.lower().startswith("fd")
    else:
        o = [int(x) for x in a.split(".")]
        ok = o[0] == 198 and o[1] in (18, 19)
    if not ok:
        raise ValueError(f"address {addr} is outside 198.18.0.0/15 and 2001:db8::/32")


# ---------------------------------------------------------------------------------------------
# hookdump capture

SIGINT_BIT = 1 << (signal.SIGINT - 1)
SIGTERM_BIT = 1 << (signal.SIGTERM - 1)

LEDGER_RE = re.compile(r"^(\d+) packets captured, (\d+) received by filter, (\d+) dropped by kernel$", re.M)


class Capture:
    def __init__(self, topo, ns, args, name, workers, command="capture", wrapper=()):
        self.topo = topo
        self.ns = ns
        self.args = args
        self.workers = workers
        self.out_path = topo.path(name + ".stdout")
        self.err_path = topo.path(name + ".stderr")
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        cmd = ["ip", "netns", "exec", ns] + list(wrapper) + [HOOKDUMP, command] + args
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL,
                                     preexec_fn=_die_with_parent)
        self.rc = None

    def _ready(self):
        pid = self.proc.pid
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() != "hookdump":
                    return False  # still `ip netns exec`
            # hookdump installs its SIGINT/SIGTERM handlers right after the rings are bound:
            # from then on every packet reaches a ring and a signal stops it cleanly.
            if not self._signals_caught():
                return False
            inodes = set()
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                m = re.match(r"socket:\[(\d+)\]", link)
                if m:
                    inodes.add(int(m.group(1)))
            bound = 0
            with open(f"/proc/{pid}/net/packet") as f:
                next(f)
                for line in f:
                    cols = line.split()
                    # sk RefCnt Type Proto Iface R Rmem User Inode
                    if int(cols[8]) in inodes and int(cols[3], 16) != 0:
                        bound += 1
            return bound >= self.workers
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            return False

    def wait_ready(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"capture exited early ({self.proc.returncode}): {self.stderr()}")
            if self._ready():
                return
            time.sleep(0.01)
        raise AssertionError(f"capture not ready after {timeout}s: {' '.join(self.cmd)}")

    def wait_line(self, pattern, timeout=15):
        """Waits until a line of stderr matches `pattern` (a regular expression, searched from the
        line's start) and the capture has caught SIGINT and SIGTERM (every engine installs its
        handlers once it is attached, around its readiness line). Returns self."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{' '.join(self.args[:2])}... exited early ({self.proc.returncode}): "
                                     f"{self.stderr()}")
            if any(regex.match(line) for line in self.stderr().splitlines()) and self._signals_caught():
                return self
            time.sleep(0.02)
        raise AssertionError(f"no line matching {pattern!r} on stderr after {timeout}s: {' '.join(self.cmd)}\n"
                             f"{self.stderr()}")

    def _signals_caught(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                m = re.search(r"^SigCgt:\s*([0-9a-f]+)", f.read(), re.M)
        except FileNotFoundError:
            return False
        caught = int(m.group(1), 16) if m else 0
        return caught & SIGINT_BIT and caught & SIGTERM_BIT

    def send_signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGINT, settle=0.2, timeout=15):
        """Lets the packets already sent reach the ring, signals, waits for the exit status."""
        time.sleep(settle)
        self.send_signal(sig)
        return self.wait(timeout)

    def wait(self, timeout=15):
        try:
            self.rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"capture did not exit within {timeout}s: {' '.join(self.cmd)}\n{self.stderr()}")
        self._out.close()
        self._err.close()
        return self.rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self._out, self._err):
            if not f.closed:
                f.close()

    def stdout(self):
        with open(self.out_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stderr(self):
        with open(self.err_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def messages(self):
        """stderr's lines after the 'listening on IFACE, link-type ...' line (which must be
        the first line, once)."""
        lines = self.stderr().splitlines()
        if not lines or not lines[0].startswith("listening on ") or \
                sum(l.startswith("listening on ") for l in lines) != 1:
            raise AssertionError(f"expected one 'listening on' line first on stderr, got: {self.stderr()!r}")
        return lines[1:]

    def ledger(self):
        """(captured, received by filter, dropped by kernel) from stderr."""
        m = LEDGER_RE.findall(self.stderr())
        if len(m) != 1:
            raise AssertionError(f"expected one ledger line on stderr, got: {self.stderr()!r}")
        return tuple(int(x) for x in m[0])


def run_hookdump(ns, *args, timeout=20):
    cmd = ["ip", "netns", "exec", ns, HOOKDUMP] + list(args) if ns else [HOOKDUMP] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def strace_wrapper(path, calls):
    """A Topology.capture wrapper logging the system calls `calls` of hookdump and its threads
    to PATH. -D: strace runs as a detached grandchild and the traced command keeps the pid, so
    Capture's readiness checks and signals reach hookdump. LeakSanitizer cannot run under
    ptrace and aborts the run at exit (the ASan build): leaks are checked there by every other
    test, so the traced one runs without."""
    asan = ":".join(o for o in (os.environ.get("ASAN_OPTIONS", ""), "detect_leaks=0") if o)
    return ("env", f"ASAN_OPTIONS={asan}", "strace", "-D", "-f", "--seccomp-bpf", "-o", path,
            "-e", "trace=" + ",".join(calls))


def strace_calls(path, pid, call, timeout=10):
    """The successful calls `call` in the log PATH of strace_wrapper, once it has logged the
    exit of PID (the traced command: the detached strace may still be writing after it). strace
    pads the pid column to 5 places: one or more spaces after the pid."""
    deadline = time.monotonic() + timeout
    while True:
        text = open(path).read() if os.path.exists(path) else ""
        if re.search(rf"(?m)^{pid} +\+\+\+ exited", text):
            # A call another thread's interrupted is logged "<... CALL resumed>) = N".
            done = re.compile(rf"\d+ +(?:{call}\(|<\.\.\. {call} resumed>).*\) = \d+$")
            return [l for l in text.splitlines() if done.match(l)]
        if time.monotonic() > deadline:
            raise AssertionError(f"strace logged no exit of {pid} in {timeout}s: {text}")
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# Running a test file

def run_tests(module_name, tools=("ip", "capinfos", "tcpdump", "ping")):
    """main() of every test file: prerequisites (or a loud skip), clean-up on signals, what a
    killed run left removed, then the unittest groups named on the command line (all if none).
    Exits 0, 1 on a failure, or 77 when every test was skipped for a missing kernel feature."""
    require(tools)
    install_signal_handlers()
    remove_stale()
    module = sys.modules[module_name]
    loader = unittest.defaultTestLoader
    names = sys.argv[1:]
    suite = loader.loadTestsFromNames(names, module) if names else loader.loadTestsFromModule(module)
    t0 = time.monotonic()
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    log(f"{os.path.basename(module.__file__)}: {result.testsRun} tests in {time.monotonic() - t0:.1f}s")
    if not result.wasSuccessful():
        sys.exit(1)
    if result.skipped and len(result.skipped) == result.testsRun:
        sys.exit(SKIP)  # only for a kernel that lacks a feature: see missing_kernel_feature
    sys.exit(0)


# ---------------------------------------------------------------------------------------------
# Readers

def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_jsonl(path):
    with open(path) as f:
        # parse_float=str: ts has nanoseconds, more digits than a double holds.
        return [json.loads(line, parse_float=str) for line in f if line.strip()]


def ts_key(ts):
    """'1700000000.000001000' -> (1700000000, 1000) for exact comparison."""
    s, _, frac = str(ts).partition(".")
    return int(s), int((frac + "000000000")[:9])


def read_pcap(path):
    """Classic pcap: returns (linktype, [(ts_ns, orig_len, bytes)])."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        e = "<"
    else:
        e = ">"
        magic = struct.unpack(">I", data[:4])[0]
    if magic not in (0xA1B2C3D4, 0xA1B23C4D):
        raise ValueError(f"{path}: not a pcap file")
    nano = magic == 0xA1B23C4D
    linktype = struct.unpack(e + "I", data[20:24])[0] & 0x0FFFFFFF
    off, pkts = 24, []
    while off < len(data):
        if off + 16 > len(data):
            raise ValueError(f"{path}: truncated record header at {off}")
        sec, frac, caplen, length = struct.unpack(e + "IIII", data[off:off + 16])
        off += 16
        if off + caplen > len(data):
            raise ValueError(f"{path}: truncated record at {off}")
        pkts.append((sec * 10**9 + (frac if nano else frac * 1000), length, data[off:off + caplen]))
        off += caplen
    return linktype, pkts


def read_pcapng(path):
    """pcapng: returns (interfaces, packets, stats). interfaces: [{linktype, name}];
    packets: [{if, ts, len, data, flags, comment}]; stats: [{if, options}]."""
    with open(path, "rb") as f:
        data = f.read()
    off, e = 0, "<"
    ifaces, pkts, stats = [], [], []
    while off < len(data):
        if off + 12 > len(data):
            raise ValueError(f"{path}: truncated block at {off}")
        btype = struct.unpack(e + "I", data[off:off + 4])[0]
        if btype == 0x0A0D0D0A:
            bom = data[off + 8:off + 12]
            e = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
        blen = struct.unpack(e + "I", data[off + 4:off + 8])[0]
        if blen < 12 or blen % 4 or off + blen > len(data):
            raise ValueError(f"{path}: bad block length {blen} at {off}")
        if struct.unpack(e + "I", data[off + blen - 4:off + blen])[0] != blen:
            raise ValueError(f"{path}: trailing length mismatch at {off}")
        body = data[off + 8:off + blen - 4]
        if btype == 1:
            lt = struct.unpack(e + "H", body[:2])[0]
            opts = _options(body[8:], e)
            ifaces.append({"linktype": lt, "name": opts.get(2, [b""])[0].decode()})
        elif btype == 6:
            ifid, hi, lo, caplen, length = struct.unpack(e + "IIIII", body[:20])
            pad = (caplen + 3) // 4 * 4
            opts = _options(body[20 + pad:], e)
            flags = struct.unpack(e + "I", opts[2][0])[0] if 2 in opts else None
            comment = opts[1][0].decode() if 1 in opts else None
            pkts.append({"if": ifid, "ts": (hi << 32) | lo, "len": length, "data": body[20:20 + caplen],
                         "flags": flags, "comment": comment})
        elif btype == 5:
            stats.append({"if": struct.unpack(e + "I", body[:4])[0], "options": _options(body[12:], e)})
        off += blen
    return ifaces, pkts, stats


def _options(buf, e):
    opts, off = {}, 0
    while off + 4 <= len(buf):
        code, n = struct.unpack(e + "HH", buf[off:off + 4])
        if code == 0:
            break
        opts.setdefault(code, []).append(buf[off + 4:off + 4 + n])
        off += 4 + (n + 3) // 4 * 4
    return opts


def tool_packet_count(path):
    """Reads a capture with Wireshark's reader (capinfos, the wiretap library tshark uses) and
    with libpcap (tcpdump); both must read it to the end without an error. Returns the packet
    count they agree on."""
    r = subprocess.run(["capinfos", "-c", "-M", path], capture_output=True, text=True, timeout=60)
    m = re.search(r"^Number of packets:\s+(\d+)$", r.stdout, re.M)
    if r.returncode != 0 or r.stderr.strip() or not m:
        raise AssertionError(f"capinfos cannot read {path} ({r.returncode}): {r.stderr.strip()}")
    n_wiretap = int(m.group(1))
    r = subprocess.run(["tcpdump", "-n", "-r", path], capture_output=True, text=True, timeout=60)
    err = "\n".join(l for l in r.stderr.splitlines() if not l.startswith("reading from file")
                     and "interface names might be incorrect" not in l)  # tcpdump on multi-IDB pcapng
    if r.returncode != 0 or err.strip():
        raise AssertionError(f"tcpdump cannot read {path} ({r.returncode}): {err}")
    n_libpcap = len([l for l in r.stdout.splitlines() if l.strip()])
    if n_wiretap != n_libpcap:
        raise AssertionError(f"{path}: capinfos reads {n_wiretap} packets, tcpdump {n_libpcap}")
    return n_wiretap


# ---------------------------------------------------------------------------------------------
# Frames

def payload_id(frame, linktype=1):
    """The packet id hookdump-send puts first in every payload (UDP/TCP/ICMP, v4/v6, VLAN)."""
    off = 0
    if linktype == 1:
        off = 12
        etype = struct.unpack(">H", frame[off:off + 2])[0]
        off += 2
    elif linktype == 276:  # LINUX_SLL2
        etype = struct.unpack(">H", frame[0:2])[0]
        off = 20
    else:
        raise ValueError(f"linktype {linktype}")
    while etype in (0x8100, 0x88A8):
        etype = struct.unpack(">H", frame[off + 2:off + 4])[0]
        off += 4
    if etype == 0x0800:
        ihl = (frame[off] & 0x0F) * 4
        proto = frame[off + 9]
        fo = struct.unpack(">H", frame[off + 6:off + 8])[0] & 0x1FFF
        off += ihl
        if fo:
            return None
    elif etype == 0x86DD:
        proto = frame[off + 6]
        off += 40
    else:
        return None
    hl = {17: 8, 1: 8, 58: 8}.get(proto)
    if proto == 6:
        hl = (frame[off + 12] >> 4) * 4
    if hl is None:
        return None
    return struct.unpack(">I", frame[off + hl:off + hl + 4])[0]

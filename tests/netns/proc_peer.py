#!/usr/bin/env python3
"""A client or server with a known pid and command name, for test_proc.py.

  proc_peer.py NAME MODE ARGS...

Sets its command name to NAME (prctl PR_SET_NAME), prints 'pid PID' and, for servers, 'ready'
once bound, then:
  udp-server PORT N          N datagrams received with recvfrom, each answered with sendto
  udp-client HOST PORT N     N datagrams sent with sendto, each answer received
  tcp-server PORT N          one connection accepted, N messages echoed
  tcp-client HOST PORT N     connect, N messages sent and their echo read
  udp-fork HOST PORT N NAME2 a socket made here, inherited by a child named NAME2 that sends N
                             datagrams on it (prints 'child PID')
  udp-wait PORT N            as udp-server, but waits for 'go' on stdin before receiving
"""

import ctypes
import os
import socket
import sys

PR_SET_NAME = 15
# Every wait's bound: a failure's, never met on a loaded host (the 10 s it was were, at load 13-20:
# a server's wait began when it was ready, while the other peers' interpreters still started).
TIMEOUT = 120


def set_name(name):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl")


def say(line):
    print(line, flush=True)


def main():
    name, mode, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    set_name(name)
    say(f"pid {os.getpid()}")
    payload = b"x" * 32
    if mode in ("udp-server", "udp-wait"):
        port, n = int(args[0]), int(args[1])
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", port))
        say("ready")
        if mode == "udp-wait":
            sys.stdin.readline()
        s.settimeout(TIMEOUT)
        for _ in range(n):
            data, peer = s.recvfrom(2048)
            s.sendto(data, peer)
    elif mode == "udp-client":
        host, port, n = args[0], int(args[1]), int(args[2])
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(TIMEOUT)
        for _ in range(n):
            s.sendto(payload, (host, port))
            s.recvfrom(2048)
    elif mode == "tcp-server":
        port, n = int(args[0]), int(args[1])
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.listen(1)
        say("ready")
        s.settimeout(TIMEOUT)
        c, _ = s.accept()
        c.settimeout(TIMEOUT)
        for _ in range(n):
            data = c.recv(32, socket.MSG_WAITALL)
            c.sendall(data)
        c.recv(1)  # the client's close
        c.close()
    elif mode == "tcp-client":
        host, port, n = args[0], int(args[1]), int(args[2])
        s = socket.create_connection((host, port), timeout=TIMEOUT)
        for _ in range(n):
            s.sendall(payload)
            s.recv(32, socket.MSG_WAITALL)
        s.close()
    elif mode == "udp-fork":
        host, port, n, child_name = args[0], int(args[1]), int(args[2]), args[3]
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(TIMEOUT)
        pid = os.fork()
        if pid == 0:
            set_name(child_name)
            for _ in range(n):
                s.sendto(payload, (host, port))
                s.recvfrom(2048)
            os._exit(0)
        say(f"child {pid}")
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()

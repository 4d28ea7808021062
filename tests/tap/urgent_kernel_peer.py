#!/usr/bin/env python3
"""The Linux kernel's side of tests/tap/test_urgent_kernel.sh (run inside the
test's own network namespace, 10.0.0.0/24 only).

  urgent_kernel_peer.py IP PORT

Listens on IP:PORT for one connection from tests/tap/urgent_peer (tapir):
  1. tapir sends "abc", "d" with MSG_OOB, "ef": wait for POLLPRI, read up to
     the mark, check SIOCATMARK, take the urgent byte with MSG_OOB, read "ef";
  2. send "ghi", "j" with MSG_OOB, "kl";
  3. read "ok", close.
Prints each step; exit status 0 on success.
"""
import fcntl
import select
import socket
import struct
import sys

SIOCATMARK = 0x8905
TIMEOUT = 15


def atmark(s):
    return struct.unpack("i", fcntl.ioctl(s, SIOCATMARK, b"\0" * 4))[0]


def read_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise RuntimeError("early EOF after %r" % data)
        data += chunk
    return data


def expect(what, got, want):
    print("%s %r" % (what, got), flush=True)
    if got != want:
        print("FAIL: %s: got %r, want %r" % (what, got, want), flush=True)
        sys.exit(1)


def main():
    ip, port = sys.argv[1], int(sys.argv[2])
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((ip, port))
    lsock.listen(1)
    lsock.settimeout(TIMEOUT)
    print("listening", flush=True)
    conn, _ = lsock.accept()
    conn.settimeout(TIMEOUT)

    # 1. Urgent data from tapir.
    p = select.poll()
    p.register(conn, select.POLLPRI)
    ev = p.poll(TIMEOUT * 1000)
    if not ev or not ev[0][1] & select.POLLPRI:
        print("FAIL: no POLLPRI from tapir's urgent data", flush=True)
        sys.exit(1)
    expect("read", conn.recv(100), b"abc")          # Linux stops at the mark
    expect("atmark", atmark(conn), 1)
    expect("oob", conn.recv(1, socket.MSG_OOB), b"d")
    expect("read", read_exact(conn, 2), b"ef")

    # 2. Urgent data to tapir.
    conn.sendall(b"ghi")
    conn.send(b"j", socket.MSG_OOB)
    conn.sendall(b"kl")

    # 3. tapir's "ok", then close.
    expect("read", read_exact(conn, 2), b"ok")
    conn.close()
    lsock.close()
    print("peer PASS", flush=True)


if __name__ == "__main__":
    main()

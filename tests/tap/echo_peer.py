#!/usr/bin/env python3
"""The Linux kernel's side of the echo interoperation tests (run inside the
test's own network namespace, 10.0.0.0/24 only).

  echo_peer.py clients HOST PORT COUNT SIZE   COUNT concurrent clients, each
                                              echoes SIZE random bytes, checked
                                              byte for byte
  echo_peer.py big HOST PORT SIZE             one client streams SIZE bytes and
                                              compares sha256 of sent/received
  echo_peer.py server IP PORT MODE            a kernel server until killed:
      echo        echo each connection until EOF, then close
      close       accept and close at once
      die:N       read N bytes of the first connection, then exit abruptly
                  (the kernel answers what follows with RST)
      close-when:PATH  hold each connection open until PATH exists, then
                  close it (the test decides when the kernel's FIN goes)
Prints one result line; exit status 0 on success.
"""
import hashlib
import os
import socket
import sys
import threading
import time

TIMEOUT = 60


def echo_one(host, port, size, barrier, results, idx):
    data = os.urandom(size)
    try:
        barrier.wait(TIMEOUT)
        s = socket.create_connection((host, port), timeout=TIMEOUT)
        got = bytearray()

        def reader():
            while True:
                b = s.recv(65536)
                if not b:
                    break
                got.extend(b)

        t = threading.Thread(target=reader)
        t.start()
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        t.join(TIMEOUT)
        s.close()
        results[idx] = bytes(got) == data or "client %d: %d of %d bytes, %s" % (
            idx, len(got), size, "differ" if len(got) == size else "short")
    except Exception as e:  # noqa: BLE001 - reported as the result
        results[idx] = "client %d: %s" % (idx, e)


def clients(host, port, count, size):
    barrier = threading.Barrier(count)
    results = [None] * count
    threads = [threading.Thread(target=echo_one, args=(host, port, size, barrier, results, i))
               for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 2)
    bad = [r for r in results if r is not True]
    if bad:
        print("FAIL %d of %d clients: %s" % (len(bad), count, "; ".join(map(str, bad[:5]))))
        return 1
    print("ok %d clients x %d bytes echoed byte for byte" % (count, size))
    return 0


def big(host, port, size):
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    sent_hash = hashlib.sha256()
    recv_hash = hashlib.sha256()
    received = [0]

    def reader():
        while True:
            b = s.recv(1 << 16)
            if not b:
                break
            recv_hash.update(b)
            received[0] += len(b)

    t = threading.Thread(target=reader)
    t.start()
    chunk = os.urandom(1 << 16)
    left = size
    i = 0
    while left > 0:
        # vary the bytes so that a misplaced chunk changes the hash
        piece = bytes([i & 0xff]) + chunk[1:min(len(chunk), left)]
        s.sendall(piece)
        sent_hash.update(piece)
        left -= len(piece)
        i += 1
    s.shutdown(socket.SHUT_WR)
    t.join(TIMEOUT * 3)
    s.close()
    a, b = sent_hash.hexdigest(), recv_hash.hexdigest()
    print("sent %d sha256 %s" % (size, a))
    print("recv %d sha256 %s" % (received[0], b))
    return 0 if a == b and received[0] == size else 1


def serve_echo(conn):
    try:
        while True:
            b = conn.recv(65536)
            if not b:
                break
            conn.sendall(b)
    except OSError:
        pass
    conn.close()


def server(ip, port, mode):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((ip, port))
    ls.listen(128)
    print("listening", flush=True)
    while True:
        conn, _ = ls.accept()
        if mode == "echo":
            threading.Thread(target=serve_echo, args=(conn,), daemon=True).start()
        elif mode == "close":
            conn.close()
        elif mode.startswith("close-when:"):
            path = mode[len("close-when:"):]
            for _ in range(TIMEOUT * 100):
                if os.path.exists(path):
                    break
                time.sleep(0.01)
            conn.close()
            print("closed", flush=True)
        elif mode.startswith("die:"):
            want = int(mode[4:])
            got = 0
            while got < want:
                b = conn.recv(65536)
                if not b:
                    break
                got += len(b)
            print("dying after %d bytes" % got, flush=True)
            os._exit(3)


def main(argv):
    if len(argv) >= 5 and argv[0] == "clients":
        return clients(argv[1], int(argv[2]), int(argv[3]), int(argv[4]))
    if len(argv) >= 4 and argv[0] == "big":
        return big(argv[1], int(argv[2]), int(argv[3]))
    if len(argv) >= 4 and argv[0] == "server":
        return server(argv[1], int(argv[2]), argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

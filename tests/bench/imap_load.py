#!/usr/bin/python3
"""imap_load.py: the scripted IMAP load of tests/bench/imap.sh, the same
for every server. Subcommands:

  fill PORT USERS MESSAGES      APPEND MESSAGES 4 KB messages to each
                                user's INBOX (bench1..benchN@example.test)
  load PORT USERS CLIENTS ITER  CLIENTS threads, each ITER rounds of
                                LOGIN, SELECT, FETCH 1:* FLAGS, FETCH one
                                BODY[], STORE +FLAGS \\Seen, APPEND, STORE
                                \\Deleted, EXPUNGE, LOGOUT; prints
                                "ops seconds ops_per_s p50_ms p99_ms"
  idle PORT USERS CONNS PIDFILE hold CONNS connections in IDLE (SELECT
                                INBOX first), write "ready" to PIDFILE's
                                sibling .ready file, wait for SIGTERM
"""

import imaplib
import os
import random
import signal
import socket
import sys
import threading
import time

PASSWORD = "benchpassword"
BODY = ("X" * 76 + "\r\n") * 50


def user(i):
    return "bench%d@example.test" % i


def message(i):
    return ("From: load@example.org\r\nTo: bench@example.test\r\n"
            "Subject: load %d\r\nMessage-ID: <%d.%f@example.org>\r\n\r\n%s" %
            (i, i, time.time(), BODY)).encode()


def fill(port, users, messages):
    for u in range(1, users + 1):
        c = imaplib.IMAP4("127.0.0.1", port)
        c.login(user(u), PASSWORD)
        for m in range(messages):
            c.append("INBOX", None, None, message(m))
        c.logout()


def load(port, users, clients, iterations):
    lat = []
    lock = threading.Lock()
    errors = []

    def timed(local, fn, *args):
        t = time.perf_counter()
        typ, data = fn(*args)
        local.append(time.perf_counter() - t)
        if typ != "OK" and not (typ == "BYE" and fn.__name__ == "logout"):
            raise RuntimeError("%s: %s %s" % (fn.__name__, typ, data))
        return data

    def worker(n):
        local = []
        rnd = random.Random(n)
        try:
            for it in range(iterations):
                u = user(rnd.randint(1, users))
                t = time.perf_counter()
                c = imaplib.IMAP4("127.0.0.1", port)
                timed(local, c.login, u, PASSWORD)
                data = timed(local, c.select, "INBOX")
                count = int(data[0])
                timed(local, c.fetch, "1:*", "(FLAGS)")
                k = str(rnd.randint(1, max(count, 1)))
                timed(local, c.fetch, k, "(BODY.PEEK[])")
                timed(local, c.store, k, "+FLAGS", "(\\Seen)")
                timed(local, c.append, "INBOX", None, None, message(it))
                timed(local, c.store, str(count + 1), "+FLAGS",
                      "(\\Deleted)")
                timed(local, c.expunge)
                timed(local, c.logout)
        except Exception as e:  # reported, counted
            errors.append(repr(e))
        with lock:
            lat.extend(local)

    threads = [threading.Thread(target=worker, args=(i,))
               for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    lat.sort()
    ops = len(lat)
    p50 = lat[ops // 2] * 1000 if ops else 0
    p99 = lat[min(ops - 1, int(ops * 0.99))] * 1000 if ops else 0
    if errors:
        print("errors: %d (%s)" % (len(errors), errors[0]), file=sys.stderr)
    print("%d %.2f %.0f %.2f %.2f" % (ops, elapsed, ops / elapsed, p50, p99))


def idle(port, users, conns, ready_path):
    socks = []

    def reply(s, tag):
        buf = b""
        while not buf.endswith(b"\r\n") or (tag + b" ") not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise EOFError(buf)
            buf += chunk
        return buf

    for i in range(conns):
        s = socket.create_connection(("127.0.0.1", port))
        s.recv(4096)
        s.sendall(b"a LOGIN %s %s\r\n" % (user(i % users + 1).encode(),
                                          PASSWORD.encode()))
        reply(s, b"a")
        s.sendall(b"b SELECT INBOX\r\n")
        reply(s, b"b")
        s.sendall(b"c IDLE\r\n")
        buf = b""
        while b"+ " not in buf:
            buf += s.recv(4096)
        socks.append(s)
    with open(ready_path, "w") as f:
        f.write("ready\n")
    signal.sigwait([signal.SIGTERM, signal.SIGINT])


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "fill":
        fill(int(args[0]), int(args[1]), int(args[2]))
    elif cmd == "load":
        load(int(args[0]), int(args[1]), int(args[2]), int(args[3]))
    elif cmd == "idle":
        signal.pthread_sigmask(signal.SIG_BLOCK,
                               [signal.SIGTERM, signal.SIGINT])
        idle(int(args[0]), int(args[1]), int(args[2]), args[3])

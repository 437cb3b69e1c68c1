#!/usr/bin/python3
"""imap_load: the load driver of tests/bench/imap.sh.

A small asyncio IMAP client (raw sockets, literals handled, no imaplib: the
driver shares the 2 cores with the server under test and must stay cheap)
with three modes, each run the same way against Moat and against Dovecot:

  setup  PORT  append --messages messages to the INBOX of each user
  load   PORT  --clients concurrent clients doing --rounds rounds of
               LOGIN, SELECT, FETCH (flags list, header list, one body),
               STORE (+\\Seen, +\\Deleted), EXPUNGE, APPEND, LOGOUT; prints
               one JSON line: commands, seconds, ops/s, p50/p99 latency
  idle   PORT  opens --conns connections, each LOGIN + SELECT + IDLE, runs
               --rss-cmd (a shell command printing "RSS_KB PSS_KB") before
               the first and after the last is idling, prints one JSON line

Users are user0@example.test ... userN-1@example.test, password
benchpassword. Messages are generated deterministically (seeded), 2-6 KB,
plain and multipart, so both servers store exactly the same bytes.
"""

import argparse
import asyncio
import json
import random
import re
import subprocess
import sys
import time

PASSWORD = "benchpassword"
EXISTS_RE = re.compile(rb"^\* (\d+) EXISTS", re.M)
LITERAL_RE = re.compile(rb"\{(\d+)\+?\}\r\n$")


def user_name(i):
    return "user%d@example.test" % i


def make_message(rng, n):
    words = ("gateway", "invoice", "meeting", "report", "quarterly", "the",
             "project", "schedule", "please", "review", "attached", "server",
             "release", "budget", "weekly", "update", "notes", "draft")
    body_lines = []
    size = rng.randint(2000, 6000)
    total = 0
    while total < size:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(6, 12)))
        body_lines.append(line)
        total += len(line) + 2
    body = "\r\n".join(body_lines)
    subject = " ".join(rng.choice(words) for _ in range(4))
    head = ("From: Sender %d <sender%d@bench.example>\r\n"
            "To: Reader <reader@example.test>\r\n"
            "Subject: %s %d\r\n"
            "Date: Tue, 01 Dec 2026 10:%02d:%02d +0000\r\n"
            "Message-ID: <bench.%d.%d@bench.example>\r\n"
            "MIME-Version: 1.0\r\n" % (n % 37, n % 37, subject, n,
                                       n % 60, (n * 7) % 60, n,
                                       rng.randint(0, 1 << 30)))
    if n % 3 == 0:
        boundary = "=_bench_%d" % n
        msg = (head + "Content-Type: multipart/alternative; boundary=\"%s\"\r\n"
               "\r\n--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
               "%s\r\n--%s\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
               "<html><body><p>%s</p></body></html>\r\n--%s--\r\n"
               % (boundary, boundary, body, boundary,
                  body.replace("\r\n", "</p><p>"), boundary))
    else:
        msg = (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" +
               body + "\r\n")
    return msg.encode()


class Conn:
    """One IMAP connection: tagged commands, responses read to the tag."""

    def __init__(self):
        self.reader = None
        self.writer = None
        self.seq = 0

    async def open(self, port):
        self.reader, self.writer = await asyncio.open_connection(
            "127.0.0.1", port, limit=1 << 22)
        greeting = await self.reader.readline()
        if not greeting.startswith(b"* OK"):
            raise RuntimeError("greeting: %r" % greeting[:80])

    async def _read_to(self, tag):
        out = []
        while True:
            line = await self.reader.readline()
            if not line:
                raise RuntimeError("connection closed")
            out.append(line)
            m = LITERAL_RE.search(line)
            while m:
                out.append(await self.reader.readexactly(int(m.group(1))))
                line = await self.reader.readline()
                out.append(line)
                m = LITERAL_RE.search(line)
            if line.startswith(tag + b" "):
                status = line[len(tag) + 1:].split(b" ", 1)[0]
                return status, b"".join(out)

    async def cmd(self, text, literal=None):
        self.seq += 1
        tag = b"a%d" % self.seq
        if literal is None:
            self.writer.write(tag + b" " + text.encode() + b"\r\n")
        else:
            self.writer.write(tag + b" " + text.encode() +
                              b" {%d}\r\n" % len(literal))
            await self.writer.drain()
            cont = await self.reader.readline()
            if not cont.startswith(b"+"):
                raise RuntimeError("%s: no continuation: %r" % (text, cont))
            self.writer.write(literal + b"\r\n")
        await self.writer.drain()
        status, data = await self._read_to(tag)
        if status != b"OK":
            raise RuntimeError("%s: %r" % (text.split(" ")[0], data[-200:]))
        return data

    def close(self):
        if self.writer is not None:
            self.writer.close()


async def setup(args):
    queue = asyncio.Queue()
    for u in range(args.users):
        queue.put_nowait(u)

    async def worker():
        while not queue.empty():
            u = queue.get_nowait()
            rng = random.Random(u)
            c = Conn()
            await c.open(args.port)
            await c.cmd("LOGIN %s %s" % (user_name(u), PASSWORD))
            for n in range(args.messages):
                await c.cmd("APPEND INBOX", make_message(rng, u * 1000 + n))
            await c.cmd("LOGOUT")
            c.close()

    t0 = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(args.clients)))
    print(json.dumps({"appended": args.users * args.messages,
                      "seconds": round(time.monotonic() - t0, 2)}))


async def load(args):
    users = asyncio.Queue()
    for u in range(args.users):
        users.put_nowait(u)
    lat = {}
    rounds_left = [args.rounds]

    def timed(name, coro):
        async def run():
            t = time.monotonic()
            data = await coro
            lat.setdefault(name, []).append(time.monotonic() - t)
            return data
        return run()

    async def client(k):
        rng = random.Random(1000 + k)
        while rounds_left[0] > 0:
            rounds_left[0] -= 1
            u = await users.get()
            c = Conn()
            t = time.monotonic()
            await c.open(args.port)
            lat.setdefault("CONNECT", []).append(time.monotonic() - t)
            await timed("LOGIN", c.cmd("LOGIN %s %s" % (user_name(u),
                                                         PASSWORD)))
            data = await timed("SELECT", c.cmd("SELECT INBOX"))
            m = EXISTS_RE.search(data)
            n = int(m.group(1)) if m else 0
            if n >= 2:
                await timed("FETCH", c.cmd("FETCH 1:* (UID FLAGS)"))
                await timed("FETCH", c.cmd(
                    "FETCH %d:%d (UID RFC822.SIZE FLAGS ENVELOPE)"
                    % (max(1, n - 9), n)))
                await timed("FETCH", c.cmd("FETCH %d BODY.PEEK[]"
                                           % rng.randint(1, n)))
                await timed("STORE", c.cmd("STORE %d +FLAGS (\\Seen)"
                                           % rng.randint(1, n)))
                await timed("STORE", c.cmd("STORE %d +FLAGS (\\Deleted)"
                                           % rng.randint(1, n)))
                await timed("EXPUNGE", c.cmd("EXPUNGE"))
            msg = make_message(rng, rng.randint(0, 1 << 30))
            await timed("APPEND", c.cmd("APPEND INBOX (\\Seen)", msg))
            await timed("LOGOUT", c.cmd("LOGOUT"))
            c.close()
            users.put_nowait(u)

    t0 = time.monotonic()
    await asyncio.gather(*(client(k) for k in range(args.clients)))
    seconds = time.monotonic() - t0
    every = sorted(x for name, v in lat.items() if name != "CONNECT"
                   for x in v)

    def pct(v, p):
        return v[min(len(v) - 1, int(len(v) * p))] * 1000 if v else 0

    per = {name: round(pct(sorted(v), 0.99), 2) for name, v in lat.items()}
    per50 = {name: round(pct(sorted(v), 0.50), 2) for name, v in lat.items()}
    print(json.dumps({"ops": len(every), "seconds": round(seconds, 3),
                      "ops_per_s": round(len(every) / seconds, 1),
                      "p50_ms": round(pct(every, 0.50), 2),
                      "p99_ms": round(pct(every, 0.99), 2),
                      "p50_by_command_ms": per50,
                      "p99_by_command_ms": per}))


def rss(cmd):
    out = subprocess.run(cmd, shell=True, check=True, capture_output=True,
                         text=True).stdout.split()
    return int(out[0]), int(out[1])


async def idle(args):
    await asyncio.sleep(1)
    rss0, pss0 = rss(args.rss_cmd)
    conns = []
    sem = asyncio.Semaphore(50)

    async def one(i):
        async with sem:
            c = Conn()
            await c.open(args.port)
            await c.cmd("LOGIN %s %s" % (user_name(i % args.users), PASSWORD))
            await c.cmd("SELECT INBOX")
            c.seq += 1
            c.writer.write(b"a%d IDLE\r\n" % c.seq)
            await c.writer.drain()
            while True:
                line = await c.reader.readline()
                if not line:
                    raise RuntimeError("closed before idling")
                if line.startswith(b"+"):
                    break
            conns.append(c)

    t0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(args.conns)))
    setup_s = time.monotonic() - t0
    await asyncio.sleep(args.settle)
    rss1, pss1 = rss(args.rss_cmd)
    for c in conns:
        c.writer.write(b"DONE\r\n")
    ok = 0
    for c in conns:
        try:
            await asyncio.wait_for(c._read_to(b"a%d" % c.seq), 10)
            ok += 1
        except Exception:  # noqa: BLE001 - counted, not fatal
            pass
        c.close()
    n = args.conns
    print(json.dumps({"conns": n, "idling_answered_done": ok,
                      "open_seconds": round(setup_s, 2),
                      "rss_before_kb": rss0, "rss_after_kb": rss1,
                      "pss_before_kb": pss0, "pss_after_kb": pss1,
                      "rss_per_conn_kb": round((rss1 - rss0) / n, 2),
                      "pss_per_conn_kb": round((pss1 - pss0) / n, 2)}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=("setup", "load", "idle"))
    ap.add_argument("port", type=int)
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--messages", type=int, default=50)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=1000)
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--rss-cmd", default="echo 0 0")
    args = ap.parse_args()
    fn = {"setup": setup, "load": load, "idle": idle}[args.mode]
    try:
        asyncio.run(fn(args))
    except RuntimeError as e:
        print("imap_load: %s" % e, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

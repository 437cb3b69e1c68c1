"""Test harness: starts the real moatd on ephemeral loopback ports with a
temporary data directory, and gives tests the helpers they share (moatctl,
reading the store's index, waiting for delivery, raw SMTP dialogues)."""

import os
import pwd
import shutil
import signal
import smtplib
import socket
import sqlite3
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("MOAT_BUILD_DIR", os.path.join(REPO, "build"))
if not os.path.isabs(BUILD):
    BUILD = os.path.join(REPO, BUILD)
MOATD = os.path.join(BUILD, "gateway", "moatd")
MOATCTL = os.path.join(BUILD, "gateway", "moatctl")

PASSWORD = "correct horse"


_HANDED_OUT = set()


def free_port(host="127.0.0.1"):
    """A port free now, below the kernel's ephemeral range (32768 and up
    on Linux), so that no outgoing connection of a concurrent test can
    take it as its source port before moatd binds it. Never the same port
    twice in one test run: one daemon's several ports must differ even
    though none is bound until it starts."""
    import random
    for _ in range(200):
        port = random.randrange(10000, 32000)
        if port in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            _HANDED_OUT.add(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def run_user():
    """The user moatd's services run as: 'moat' for root (created if
    missing), else ourselves."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    try:
        pwd.getpwnam("moat")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home",
                        "--home-dir", "/nonexistent", "--shell",
                        "/usr/sbin/nologin", "moat"], check=True)
    return "moat"


def open_db(path):
    """A read-only SQLite connection to one of moatd's databases. Reading
    a WAL database creates its -wal and -shm files when the daemon is not
    running; created by root they would lock the daemon (user moat) out
    ("attempt to write a readonly database"), so they are handed to the
    run user."""
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    try:
        db.execute("PRAGMA schema_version").fetchone()
    except sqlite3.Error:
        pass
    if os.geteuid() == 0:
        pw = pwd.getpwnam(run_user())
        for suffix in ("-wal", "-shm"):
            try:
                if os.stat(path + suffix).st_uid == 0:
                    os.chown(path + suffix, pw.pw_uid, pw.pw_gid)
            except FileNotFoundError:
                pass
    return db


class Moat:
    """One moatd instance with its own data dir and ports."""

    def __init__(self, settings=None):
        self.top = tempfile.mkdtemp(prefix="moat-test-")
        os.chmod(self.top, 0o755)  # the run user must reach data_dir
        self.data = os.path.join(self.top, "data")
        self.conf = os.path.join(self.top, "moat.conf")
        self.log_path = os.path.join(self.top, "moatd.log")
        self.smtp_port = free_port()
        self.submission_port = free_port()
        self.smtps_port = free_port()
        self.proc = None
        self.env = dict(os.environ, MOAT_TEST_FAST_HASH="1")
        self.env.pop("MOAT_CONFIG", None)
        lines = {
            "data_dir": self.data,
            "hostname": "mx.moat.test",
            "user": run_user(),
            "log_level": "debug",
            "smtp.listen": "127.0.0.1:%d" % self.smtp_port,
            "submission.listen": "127.0.0.1:%d" % self.submission_port,
            "smtps.listen": "127.0.0.1:%d" % self.smtps_port,
            "imap.listen": "",
            "imaps.listen": "",
            "pop3.listen": "",
            "pop3s.listen": "",
            "web.listen": "",
            "queue.scan_interval": "5s",
        }
        lines.update(settings or {})
        # IMAP (imapd): off unless a test asks for it with a value naming
        # "{imap_port}" / "{imaps_port}", e.g. "127.0.0.1:{imap_port}".
        self.imap_port = free_port()
        self.imaps_port = free_port()
        for k, v in lines.items():
            if isinstance(v, str) and "_port}" in v:
                lines[k] = v.format(imap_port=self.imap_port,
                                    imaps_port=self.imaps_port)
        with open(self.conf, "w") as f:
            for k, v in lines.items():
                f.write("%s = %s\n" % (k, v))

    # --- lifecycle -------------------------------------------------------
    def start(self, timeout=15):
        starts = self.log().count("event=started version=")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([MOATD, "-c", self.conf, "-f"],
                                     stdout=log, stderr=log, env=self.env)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("moatd exited with %s:\n%s" %
                                   (self.proc.returncode, self.log()))
            # The master binds every listener before it forks and logs
            # "event=started" after; a connect alone would succeed as
            # soon as the SMTP socket is bound, before the IMAP/POP3 ones.
            if self.log().count("event=started version=") <= starts:
                time.sleep(0.02)
                continue
            try:
                socket.create_connection(("127.0.0.1", self.smtp_port),
                                         timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("moatd did not start:\n" + self.log())

    def stop(self, timeout=30):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def set_setting(self, key, value):
        """Rewrites "key = value" in moat.conf (appended when absent);
        takes effect at the next start()."""
        with open(self.conf) as f:
            lines = f.read().splitlines()
        lines = [l for l in lines if l.split("=", 1)[0].strip() != key]
        lines.append("%s = %s" % (key, value))
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        # Children die with the master (PR_SET_PDEATHSIG); wait for them to
        # release the listeners.
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.smtp_port),
                                         timeout=0.5).close()
                time.sleep(0.05)
            except OSError:
                return

    def cleanup(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.top, ignore_errors=True)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # --- administration --------------------------------------------------
    def ctl(self, *args, input=None, check=True):
        r = subprocess.run([MOATCTL, "-c", self.conf] + list(args),
                           capture_output=True, text=True, input=input,
                           env=self.env, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError("moatctl %s failed (%d): %s%s" %
                                 (" ".join(args), r.returncode, r.stdout,
                                  r.stderr))
        return r

    def add_user(self, address, password=PASSWORD):
        domain = address.split("@", 1)[1]
        if domain not in self.ctl("domain", "list").stdout.split():
            self.ctl("domain", "add", domain)
        self.ctl("user", "add", address, password)

    # --- the store ---------------------------------------------------------
    def index(self):
        return open_db(os.path.join(self.data, "mail", "index.db"))

    def messages(self, user, mailbox="INBOX"):
        """Bytes of every message in a mailbox, in UID order."""
        local, domain = user.split("@", 1)
        try:
            db = self.index()
            rows = db.execute(
                "SELECT b.id, m.file FROM messages m JOIN mailboxes b ON "
                "m.mailbox_id = b.id WHERE b.user = ? AND b.name = ? "
                "ORDER BY m.uid", (user, mailbox)).fetchall()
            db.close()
        except sqlite3.OperationalError:
            return []
        out = []
        for mbox_id, name in rows:
            path = os.path.join(self.data, "mail", domain.lower(), local,
                                str(mbox_id), name)
            with open(path, "rb") as f:
                out.append(f.read())
        return out

    def wait_messages(self, user, count, timeout=15):
        deadline = time.time() + timeout
        while True:
            msgs = self.messages(user)
            if len(msgs) >= count or time.time() > deadline:
                return msgs
            time.sleep(0.05)

    def queue_files(self):
        qdir = os.path.join(self.data, "queue")
        return sorted(n for n in os.listdir(qdir)
                      if len(n) == 20 and n.isalnum())

    def wait_queue_empty(self, timeout=30):
        deadline = time.time() + timeout
        while self.queue_files() and time.time() < deadline:
            time.sleep(0.1)
        return self.queue_files()


def smtp_session(port, ip=None, helo="client.example"):
    """An smtplib session with moatd on port, greeted with EHLO helo; ip
    presents another client address with XCLIENT (the moatd must trust
    127.0.0.1: smtp.xclient_trusted) and greets again."""
    c = smtplib.SMTP("127.0.0.1", port, timeout=30)
    c.ehlo(helo)
    if ip is not None:
        code, text = c.docmd("XCLIENT", "ADDR=%s" % ip)
        assert code == 220, text
        c.ehlo_resp = None
        c.ehlo(helo)
    return c


def strip_trace(message):
    """The message as the client sent it: without the Return-Path and
    Received headers Moat adds (Received is folded over three lines)."""
    assert message.startswith(b"Return-Path: <"), message[:80]
    rest = message.split(b"\r\n", 1)[1]
    assert rest.startswith(b"Received: "), rest[:80]
    lines = rest.split(b"\r\n")
    i = 1
    while lines[i].startswith(b"\t") or lines[i].startswith(b" "):
        i += 1
    return b"\r\n".join(lines[i:])


class RawSMTP:
    """A plain socket SMTP client for what smtplib will not send."""

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        self.buf = b""
        self.greeting = self.reply()

    def send(self, data):
        self.sock.sendall(data)

    def reply(self):
        """Reads one (possibly multi-line) reply; returns (code, text)."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return (None, b"\n".join(lines))
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                return (int(line[:3]), b"\n".join(lines))

    def cmd(self, line):
        self.send(line + b"\r\n")
        return self.reply()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

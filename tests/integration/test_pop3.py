"""POP3 and POP3S (pop3d) with Python's poplib, raw sockets and fetchmail:
every command, STLS and implicit TLS, DELE applied only at QUIT, the
maildrop lock, UIDL stable and equal to the IMAP UID and UIDVALIDITY, bad
input and a client that never reads."""

import base64
import os
import poplib
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from moat_harness import PASSWORD, free_port, strip_trace

USER = "demo@example.test"


def insecure():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.fixture
def pop3_factory(moat_factory):
    def make(extra=None, **kw):
        p3, p3s = free_port(), free_port()
        settings = {"pop3.listen": "127.0.0.1:%d" % p3,
                    "pop3s.listen": "127.0.0.1:%d" % p3s}
        settings.update(extra or {})
        m = moat_factory(settings, **kw)
        m.pop3_port, m.pop3s_port = p3, p3s
        # pop3d answers once it has opened the store: from then on the
        # index's WAL files exist and belong to the daemon's user, so the
        # harness (maybe root) reading the index cannot create them.
        with socket.create_connection(("127.0.0.1", p3), timeout=20) as c:
            assert c.recv(100).startswith(b"+OK")
        return m
    return make


@pytest.fixture
def moat3(pop3_factory):
    return pop3_factory()


def deliver(moat, bodies, user=USER):
    """Sends each body by SMTP to user, one at a time so that UIDs follow
    the order of bodies, and returns every stored message."""
    count = len(moat.messages(user))
    with smtplib.SMTP("127.0.0.1", moat.smtp_port) as c:
        for body in bodies:
            c.sendmail("sender@remote.example", [user], body)
            count += 1
            msgs = moat.wait_messages(user, count)
            assert len(msgs) == count
    return msgs


def login_ssl(moat, user=USER, password=PASSWORD):
    p = poplib.POP3_SSL("127.0.0.1", moat.pop3s_port, context=insecure(),
                        timeout=20)
    p.user(user)
    p.pass_(password)
    return p


def index_uids(moat, user=USER):
    db = moat.index()
    uidvalidity = db.execute(
        "SELECT uidvalidity FROM mailboxes WHERE user = ? AND name = "
        "'INBOX'", (user,)).fetchone()[0]
    uids = [r[0] for r in db.execute(
        "SELECT m.uid FROM messages m JOIN mailboxes b ON m.mailbox_id = "
        "b.id WHERE b.user = ? AND b.name = 'INBOX' ORDER BY m.uid",
        (user,))]
    db.close()
    return uidvalidity, uids


MSG1 = b"Subject: one\r\n\r\nfirst body\r\n"
MSG2 = (b"Subject: two\r\nX-Test: dots\r\n\r\n.leading dot\r\n..two dots\r\n"
        b"line 3\r\nline 4\r\n")
MSG3 = b"Subject: three\r\n\r\n" + b"".join(
    b"line %05d of a longer message\r\n" % i for i in range(20000))


class RawPOP3:
    """A socket POP3 client for what poplib will not send."""

    def __init__(self, port, tls=False, timeout=20):
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls:
            sock = insecure().wrap_socket(sock)
        self.sock = sock
        self.buf = b""
        self.greeting = self.line()

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def cmd(self, text):
        self.send(text + b"\r\n")
        return self.line()

    def multi(self):
        lines = []
        while True:
            line = self.line()
            if line is None or line == b".":
                return lines
            lines.append(line)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------
# the protocol, command by command


def test_every_command_over_pop3s(moat3):
    stored = deliver(moat3, [MSG1, MSG2, MSG3])
    p = login_ssl(moat3)
    count, size = p.stat()
    assert count == 3
    assert size == sum(len(m) for m in stored)

    resp, listing, _ = p.list()
    assert resp.startswith(b"+OK 3 messages")
    assert listing == [b"%d %d" % (i + 1, len(m))
                       for i, m in enumerate(stored)]
    assert p.list(2) == b"+OK 2 %d" % len(stored[1])

    # RETR: the stored bytes, dot-stuffing undone by the client
    for i, m in enumerate(stored):
        resp, lines, octets = p.retr(i + 1)
        assert resp == b"+OK %d octets" % len(m)
        assert b"\r\n".join(lines) + b"\r\n" == m
    assert strip_trace(b"\r\n".join(p.retr(2)[1]) + b"\r\n") == MSG2

    # TOP: headers, the empty line, n body lines
    resp, lines, _ = p.top(2, 0)
    assert lines[-1] == b"" and b"X-Test: dots" in lines
    resp, lines, _ = p.top(2, 2)
    assert lines[-3:] == [b"", b".leading dot", b"..two dots"]
    resp, lines, _ = p.top(3, 100000)
    assert b"\r\n".join(lines) + b"\r\n" == stored[2]

    # UIDL: IMAP UID and UIDVALIDITY, Dovecot's %08Xu%08Xv
    uidvalidity, uids = index_uids(moat3)
    resp, listing, _ = p.uidl()
    want = [b"%d %08X%08X" % (i + 1, uid, uidvalidity)
            for i, uid in enumerate(uids)]
    assert listing == want
    assert p.uidl(3) == b"+OK " + want[2]

    assert p.noop() == b"+OK"
    assert p.dele(1).startswith(b"+OK")
    assert p.stat() == (2, len(stored[1]) + len(stored[2]))
    with pytest.raises(poplib.error_proto, match="already deleted"):
        p.dele(1)
    with pytest.raises(poplib.error_proto):
        p.retr(1)
    with pytest.raises(poplib.error_proto):
        p.list(1)
    assert b"1 " not in b" ".join(p.list()[1][:1])
    assert [l.split()[0] for l in p.uidl()[1]] == [b"2", b"3"]
    assert p.rset().startswith(b"+OK 3 messages")
    assert p.stat()[0] == 3
    with pytest.raises(poplib.error_proto, match="No such message"):
        p.retr(4)
    with pytest.raises(poplib.error_proto):
        p._shortcmd("LAST")
    p.dele(2)
    assert p.quit().startswith(b"+OK")

    # UPDATE removed message 2 only; the others keep their UIDL
    assert [strip_trace(m) for m in moat3.messages(USER)] == [MSG1, MSG3]
    p = login_ssl(moat3)
    assert p.uidl()[1] == [b"1 " + want[0].split()[1],
                           b"2 " + want[2].split()[1]]
    p.quit()


def test_dele_applied_only_at_quit(moat3):
    stored = deliver(moat3, [MSG1, MSG2])
    p = login_ssl(moat3)
    p.dele(1)
    p.dele(2)
    p.close()  # connection dropped without QUIT: nothing is deleted
    time.sleep(0.2)
    p = login_ssl(moat3)  # the lock went with the connection
    assert p.stat()[0] == 2
    p.dele(1)
    assert len(moat3.messages(USER)) == 2  # not before QUIT
    p.quit()
    assert moat3.messages(USER) == stored[1:]


def test_stls_then_user_pass(moat3):
    deliver(moat3, [MSG1])
    p = poplib.POP3("127.0.0.1", moat3.pop3_port, timeout=20)
    caps = p.capa()
    assert "STLS" in caps and "USER" not in caps and "SASL" not in caps
    assert "UIDL" in caps and "TOP" in caps and "RESP-CODES" in caps
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        p.user(USER)
    p.stls(insecure())
    caps = p.capa()
    assert "STLS" not in caps and "USER" in caps
    assert caps["SASL"] == ["PLAIN", "LOGIN"]
    p.user(USER)
    assert p.pass_(PASSWORD).startswith(b"+OK Logged in, 1 messages")
    assert p.stat()[0] == 1
    p.quit()


def test_stls_discards_pipelined_cleartext(moat3):
    r = RawPOP3(moat3.pop3_port)
    r.send(b"STLS\r\nUSER injected\r\n")
    assert r.line().startswith(b"+OK")
    tls = insecure().wrap_socket(r.sock)
    tls.sendall(b"PASS x\r\n")
    assert tls.recv(1000).startswith(b"-ERR USER first")
    tls.close()
    assert "event=stls_injection" in moat3.log()


def test_plaintext_on_loopback_when_allowed(pop3_factory):
    m = pop3_factory({"pop3.allow_plaintext_loopback": "yes"})
    deliver(m, [MSG1])
    p = poplib.POP3("127.0.0.1", m.pop3_port, timeout=20)
    assert "USER" in p.capa()
    p.user(USER)
    p.pass_(PASSWORD)
    assert p.stat()[0] == 1
    p.quit()


@pytest.mark.parametrize("mech", ["PLAIN", "PLAIN-continuation", "LOGIN",
                                  "LOGIN-initial"])
def test_auth_mechanisms(moat3, mech):
    r = RawPOP3(moat3.pop3s_port, tls=True)
    plain = base64.b64encode(b"\0" + USER.encode() + b"\0" +
                             PASSWORD.encode())
    user64 = base64.b64encode(USER.encode())
    pass64 = base64.b64encode(PASSWORD.encode())
    if mech == "PLAIN":
        resp = r.cmd(b"AUTH PLAIN " + plain)
    elif mech == "PLAIN-continuation":
        assert r.cmd(b"AUTH PLAIN") == b"+ "
        resp = r.cmd(plain)
    elif mech == "LOGIN":
        assert r.cmd(b"AUTH LOGIN") == b"+ VXNlcm5hbWU6"
        assert r.cmd(user64) == b"+ UGFzc3dvcmQ6"
        resp = r.cmd(pass64)
    else:
        assert r.cmd(b"AUTH LOGIN " + user64) == b"+ UGFzc3dvcmQ6"
        resp = r.cmd(pass64)
    assert resp.startswith(b"+OK Logged in")
    assert r.cmd(b"STAT") == b"+OK 0 0"
    assert r.cmd(b"QUIT").startswith(b"+OK")
    r.close()


def test_auth_abort_and_unknown_mechanism(moat3):
    r = RawPOP3(moat3.pop3s_port, tls=True)
    assert r.cmd(b"AUTH PLAIN") == b"+ "
    assert r.cmd(b"*").startswith(b"-ERR")
    assert r.cmd(b"AUTH CRAM-MD5").startswith(b"-ERR")
    assert r.cmd(b"AUTH PLAIN !!!!").startswith(b"-ERR")
    assert r.cmd(b"AUTH") == b"+OK"
    assert r.multi() == [b"PLAIN", b"LOGIN"]
    assert r.cmd(b"CAPA").startswith(b"+OK")
    assert b"SASL PLAIN LOGIN" in r.multi()
    r.close()


def test_in_use_for_a_second_session(moat3):
    deliver(moat3, [MSG1])
    first = login_ssl(moat3)
    second = poplib.POP3_SSL("127.0.0.1", moat3.pop3s_port,
                             context=insecure(), timeout=20)
    second.user(USER)
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        second.pass_(PASSWORD)
    # the second session may retry once the first is gone
    first.dele(1)
    first.quit()
    second.user(USER)
    assert second.pass_(PASSWORD).startswith(b"+OK Logged in, 0 messages")
    second.quit()


def test_wrong_password(moat3):
    p = poplib.POP3_SSL("127.0.0.1", moat3.pop3s_port, context=insecure(),
                        timeout=20)
    p.user(USER)
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        p.pass_("wrong horse")
    p.user("nobody@example.test")
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        p.pass_(PASSWORD)
    # PASS must follow USER again after a failure
    with pytest.raises(poplib.error_proto, match="USER first"):
        p.pass_(PASSWORD)
    p.user(USER)
    assert p.pass_(PASSWORD).startswith(b"+OK")
    p.quit()
    log = moat3.log()
    assert "wrong horse" not in log and PASSWORD not in log
    assert "event=auth result=fail method=user" in log
    assert "delay_ms=1000" in log


def test_commands_before_auth(moat3):
    deliver(moat3, [MSG1])
    r = RawPOP3(moat3.pop3s_port, tls=True)
    for cmd in (b"STAT", b"LIST", b"RETR 1", b"DELE 1", b"TOP 1 1",
                b"UIDL", b"RSET", b"NOOP"):
        assert r.cmd(cmd) == b"-ERR Not logged in", cmd
    assert r.cmd(b"PASS x") == b"-ERR USER first"
    assert r.cmd(b"QUIT") == b"+OK Bye"
    r.close()
    assert len(moat3.messages(USER)) == 1


def test_bad_input(moat3):
    r = RawPOP3(moat3.pop3s_port, tls=True)
    assert r.cmd(b"USER " + b"a" * 300) == b"-ERR Line too long"
    # far past any limit, then the line ends: one error, the session goes on
    r.send(b"X" * 100000)
    r.send(b"\r\n")
    assert r.line() == b"-ERR Line too long"
    assert r.cmd(b"HELO") == b"-ERR Unknown command"
    assert r.cmd(b"RETR x") .startswith(b"-ERR")
    assert r.cmd(b"USER a\x00b").startswith(b"-ERR")
    assert r.cmd(b"CAPA").startswith(b"+OK")
    r.multi()
    # after enough errors the server closes
    for _ in range(10):
        line = r.cmd(b"BOGUS")
        if line is None or b"Too many errors" in line:
            break
    assert r.line() is None
    r.close()


def test_client_that_does_not_read_is_dropped(pop3_factory):
    m = pop3_factory({"pop3.idle_timeout": "2s"})
    deliver(m, [MSG3])
    r = RawPOP3(m.pop3s_port, tls=True)
    r.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    assert r.cmd(b"USER " + USER.encode()) == b"+OK"
    assert r.cmd(b"PASS " + PASSWORD.encode()).startswith(b"+OK")
    # pipeline far more than any buffer holds, and read nothing
    r.sock.setblocking(False)
    pending = b"RETR 1\r\nLIST\r\nUIDL\r\n" * 2000
    deadline = time.time() + 30
    while pending and time.time() < deadline:
        try:
            n = r.sock.send(pending)
            pending = pending[n:]
        except (BlockingIOError, ssl.SSLWantWriteError):
            time.sleep(0.05)
        except OSError:
            break
        if "event=timeout" in m.log():
            break
    while "event=timeout" not in m.log() and time.time() < deadline:
        time.sleep(0.1)
    assert "event=timeout" in m.log()
    r.close()
    # the lock went with it, and nothing was deleted
    p = login_ssl(m)
    assert p.stat()[0] == 1
    p.quit()


# ---------------------------------------------------------------------------
# fetchmail over POP3S and over STLS


@pytest.mark.parametrize("mode", ["pop3s", "stls"])
def test_fetchmail(moat3, tmp_path, mode):
    deliver(moat3, [MSG1, MSG2])
    mbox = tmp_path / "mbox"
    rc = tmp_path / "fetchmailrc"
    port = moat3.pop3s_port if mode == "pop3s" else moat3.pop3_port
    if mode == "pop3s":
        # pin the self-signed certificate, as the admin guide says
        fp = subprocess.run(
            ["openssl", "x509", "-in", os.path.join(moat3.data, "tls",
                                                    "cert.pem"),
             "-noout", "-md5", "-fingerprint"],
            capture_output=True, text=True, check=True).stdout
        tls = "ssl sslfingerprint '%s' no sslcertck" % (
            fp.strip().split("=", 1)[1])
    else:
        tls = "sslproto tls1.2+ no sslcertck"
    rc.write_text(
        "set no bouncemail\n"
        "poll 127.0.0.1 with proto POP3 service %d uidl\n"
        "  user '%s' there with password '%s' is '%s' here\n"
        "  %s\n"
        "  mda \"/bin/sh -c 'cat >> %s'\"\n"
        % (port, USER, PASSWORD, os.environ.get("USER", "root"), tls,
           mbox))
    rc.chmod(0o600)
    env = dict(os.environ, HOME=str(tmp_path), FETCHMAILHOME=str(tmp_path))
    r = subprocess.run(["fetchmail", "-f", str(rc), "--nodetach",
                        "--nosyslog", "-v"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    got = mbox.read_bytes().replace(b"\r\n", b"\n")
    assert b"Subject: one" in got and b"Subject: two" in got
    assert b"\n.leading dot\n..two dots\n" in got
    assert "STLS" in r.stdout + r.stderr if mode == "stls" else True
    # fetchmail deletes what it fetched: at its QUIT
    assert moat3.messages(USER) == []


# ---------------------------------------------------------------------------
# POP3 and IMAP over the same store


def test_uidl_matches_imap_and_quit_expunges_for_imap(pop3_factory):
    import imaplib
    m = pop3_factory({"imap.listen": "127.0.0.1:{imap_port}",
                      "imap.allow_plaintext_loopback": "yes"})
    deliver(m, [MSG1, MSG2, MSG3])
    imap = imaplib.IMAP4("127.0.0.1", m.imap_port, timeout=20)
    imap.login(USER, PASSWORD)
    typ, data = imap.status("INBOX", "(UIDVALIDITY)")
    uidvalidity = int(data[0].split(b"UIDVALIDITY ")[1].rstrip(b")"))
    imap.select("INBOX")
    typ, data = imap.uid("SEARCH", "ALL")
    uids = [int(u) for u in data[0].split()]
    assert len(uids) == 3

    p = login_ssl(m)
    assert p.uidl()[1] == [b"%d %08X%08X" % (i + 1, uid, uidvalidity)
                           for i, uid in enumerate(uids)]
    p.dele(2)
    p.quit()

    # the IMAP session learns of the expunge; UIDs of the rest are kept
    imap.noop()
    typ, data = imap.uid("SEARCH", "ALL")
    assert [int(u) for u in data[0].split()] == [uids[0], uids[2]]
    imap.logout()

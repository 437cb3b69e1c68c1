"""IMAP (imapd) against the real daemon with Python's imaplib and raw
sockets: plain + STARTTLS + implicit TLS, LOGIN/AUTHENTICATE, every command
family, two concurrent sessions, IDLE woken by an SMTP delivery, and bad
input that must get BAD/NO without changing the store."""

import imaplib
import re
import smtplib
import socket
import ssl
import time

import pytest

from moat_harness import PASSWORD

USER = "demo@example.test"

IMAP = {
    "imap.listen": "127.0.0.1:{imap_port}",
    "imaps.listen": "127.0.0.1:{imaps_port}",
    "imap.allow_plaintext_loopback": "yes",
}


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def send(moat, subject="hello", body="hello world", to=USER, extra=""):
    msg = ("From: sender@example.org\r\nTo: %s\r\nSubject: %s\r\n"
           "Message-ID: <%s@example.org>\r\n%s\r\n%s\r\n" %
           (to, subject, subject.replace(" ", "."), extra, body))
    with smtplib.SMTP("127.0.0.1", moat.smtp_port, timeout=10) as s:
        s.sendmail("sender@example.org", [to], msg)


def login(moat, tls=False):
    if tls:
        c = imaplib.IMAP4_SSL("127.0.0.1", moat.imaps_port,
                              ssl_context=tls_context(), timeout=10)
    else:
        c = imaplib.IMAP4("127.0.0.1", moat.imap_port, timeout=10)
    c.login(USER, PASSWORD)
    return c


def untagged(c, name):
    return c.untagged_responses.pop(name, [])


@pytest.fixture
def imap_moat(moat_factory):
    return moat_factory(IMAP)


class Raw:
    """A raw IMAP connection for what imaplib will not send."""

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        self.buf = b""
        self.greeting = self.line()

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def cmd(self, data, tag=b"t1"):
        """Sends data (tag prepended, CRLF appended); returns the lines up
        to and including the tagged reply."""
        self.sock.sendall(tag + b" " + data + b"\r\n")
        return self.until(tag)

    def until(self, tag):
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    def close(self):
        self.sock.close()


# --- connection, TLS, authentication ----------------------------------

def test_logindisabled_without_tls_then_starttls(moat_factory):
    moat = moat_factory({"imap.listen": "127.0.0.1:{imap_port}"})
    c = imaplib.IMAP4("127.0.0.1", moat.imap_port, timeout=10)
    assert "LOGINDISABLED" in c.capabilities
    assert "STARTTLS" in c.capabilities
    with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED"):
        c.login(USER, PASSWORD)
    c.starttls(ssl_context=tls_context())
    assert "LOGINDISABLED" not in c.capabilities
    assert "AUTH=PLAIN" in c.capabilities
    typ, data = c.login(USER, PASSWORD)
    assert typ == "OK" and b"IDLE" in data[0]
    c.logout()


def test_starttls_command_injection_dropped(moat_factory):
    """A LOGIN pipelined behind STARTTLS in plaintext is dropped, never run
    inside the TLS session (CVE-2011-0411 style injection)."""
    import socket
    moat = moat_factory({"imap.listen": "127.0.0.1:{imap_port}"})
    s = socket.create_connection(("127.0.0.1", moat.imap_port), timeout=10)
    f = s.makefile("rb")
    assert f.readline().startswith(b"* OK")
    s.sendall(b"a STARTTLS\r\nb LOGIN %s \"%s\"\r\n" %
              (USER.encode(), PASSWORD.encode()))
    assert f.readline().startswith(b"a OK")
    tls = tls_context().wrap_socket(s)
    tls.sendall(b"c SELECT INBOX\r\n")
    # the injected LOGIN never ran: still not authenticated
    reply = tls.recv(1000)
    assert reply.startswith(b"c BAD") or reply.startswith(b"c NO"), reply
    tls.close()
    assert "event=starttls_injection" in moat.log()


def test_imaps_and_authenticate(imap_moat):
    c = imaplib.IMAP4_SSL("127.0.0.1", imap_moat.imaps_port,
                          ssl_context=tls_context(), timeout=10)
    typ, _ = c.authenticate(
        "PLAIN", lambda _: ("\0%s\0%s" % (USER, PASSWORD)).encode())
    assert typ == "OK"
    assert c.select("INBOX")[0] == "OK"
    c.logout()
    # AUTHENTICATE LOGIN over STARTTLS
    c = imaplib.IMAP4("127.0.0.1", imap_moat.imap_port, timeout=10)
    c.starttls(ssl_context=tls_context())
    answers = iter([USER.encode(), PASSWORD.encode()])
    assert c.authenticate("LOGIN", lambda _: next(answers))[0] == "OK"
    c.logout()


def test_failed_login_is_refused_and_counted(imap_moat):
    c = imaplib.IMAP4("127.0.0.1", imap_moat.imap_port, timeout=10)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        c.login(USER, "wrong password")
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        c.login("nobody@example.test", "wrong password")
    assert "event=auth result=fail" in imap_moat.log()
    assert "wrong password" not in imap_moat.log()


# --- messages -----------------------------------------------------------

def test_fetch_items_and_sections(imap_moat):
    send(imap_moat, subject="first", body="hello world")
    stored = imap_moat.wait_messages(USER, 1)[0]
    c = login(imap_moat)
    typ, data = c.select("INBOX")
    assert typ == "OK" and data == [b"1"]
    typ, data = c.fetch("1", "(BODY.PEEK[])")
    assert data[0][1] == stored
    typ, data = c.fetch("1", "(UID FLAGS RFC822.SIZE INTERNALDATE MODSEQ "
                             "SAVEDATE ENVELOPE BODYSTRUCTURE)")
    head = data[0] if isinstance(data[0], bytes) else data[0][0]
    assert b"RFC822.SIZE %d" % len(stored) in head
    assert b'"first"' in head and b"MODSEQ (" in head
    assert b'("text" "plain"' in head.lower() or b'"TEXT" "PLAIN"' in head
    typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert data[0][1] == b"Subject: first\r\n\r\n"
    typ, data = c.fetch("1", "(BODY.PEEK[TEXT]<0.5>)")
    assert data[0][0].endswith(b"BODY[TEXT]<0> {5}") and data[0][1] == \
        b"hello"
    typ, data = c.fetch("1", "(BINARY.PEEK[1] BINARY.SIZE[1])")
    assert typ == "OK"
    # not peeking sets \Seen
    c.fetch("1", "(BODY[TEXT])")
    typ, data = c.fetch("1", "(FLAGS)")
    assert b"\\Seen" in data[0]
    # RFC822 forms
    typ, data = c.fetch("1", "(RFC822.HEADER)")
    assert data[0][1].endswith(b"\r\n\r\n")
    c.logout()


def test_store_copy_move_expunge_uidplus_condstore(imap_moat):
    for i in range(3):
        send(imap_moat, subject="m%d" % i)
        imap_moat.wait_messages(USER, i + 1)
    c = login(imap_moat)
    c.select("INBOX")
    typ, data = c.store("1:2", "+FLAGS", "(\\Flagged $Label1)")
    assert typ == "OK" and len(data) == 2 and b"$Label1" in data[0]
    typ, data = c.store("2", "-FLAGS.SILENT", "($Label1)")
    assert typ == "OK"
    # CONDSTORE: UNCHANGEDSINCE below the message's modseq fails
    typ, data = c.fetch("1", "(MODSEQ)")
    modseq = int(re.search(rb"MODSEQ \((\d+)\)", data[0]).group(1))
    typ, data = c.uid("STORE", "1", "(UNCHANGEDSINCE %d)" % (modseq - 1),
                      "+FLAGS", "(\\Answered)")
    assert typ == "OK" and c.untagged_responses.pop("MODIFIED") == [b"1"]
    # COPY with COPYUID
    typ, data = c.copy("1:2", "Archive")
    assert typ == "OK" and b"[COPYUID " in data[0]
    # MOVE with COPYUID and EXPUNGE responses
    typ, data = c._simple_command("MOVE", "3", "Trash")
    assert typ == "OK"
    assert c.untagged_responses.pop("EXPUNGE", None) == [b"3"]
    # EXPUNGE only \Deleted
    c.store("1", "+FLAGS", "(\\Deleted)")
    typ, data = c.expunge()
    assert data == [b"1"]
    assert c.status("Archive", "(MESSAGES)")[1][0].endswith(b"(MESSAGES 2)")
    assert c.status("Trash", "(MESSAGES)")[1][0].endswith(b"(MESSAGES 1)")
    typ, data = c.fetch("1:*", "(UID FLAGS)")
    assert len(data) == 1 and b"UID 2 " in data[0]
    # UID EXPUNGE expunges only the named UIDs
    c.store("1", "+FLAGS", "(\\Deleted)")
    typ, data = c.uid("EXPUNGE", "99")
    assert typ == "OK"
    assert c.select("INBOX")[1] == [b"1"]
    c.logout()
    # UIDs are never reused
    send(imap_moat, subject="later")
    imap_moat.wait_messages(USER, 2)
    c = login(imap_moat)
    c.select("INBOX")
    typ, data = c.uid("SEARCH", "ALL")
    assert data[0].split()[-1] == b"4"
    c.logout()


def test_condstore_qresync(imap_moat):
    send(imap_moat, subject="a")
    imap_moat.wait_messages(USER, 1)
    send(imap_moat, subject="b")
    imap_moat.wait_messages(USER, 2)
    r = Raw(imap_moat.imap_port)
    r.cmd(b"LOGIN %s \"%s\"" % (USER.encode(), PASSWORD.encode()))
    assert r.cmd(b"ENABLE QRESYNC")[-1].startswith(b"t1 OK")
    lines = r.cmd(b"SELECT INBOX")
    validity = re.search(rb"UIDVALIDITY (\d+)", b"\n".join(lines)).group(1)
    hms = int(re.search(rb"HIGHESTMODSEQ (\d+)", b"\n".join(lines)).group(1))
    lines = r.cmd(b"STORE 1 (UNCHANGEDSINCE %d) +FLAGS (\\Seen)" % hms)
    assert any(b"MODSEQ" in l for l in lines)
    lines = r.cmd(b"STORE 1 (UNCHANGEDSINCE 1) +FLAGS (\\Draft)")
    assert b"[MODIFIED 1]" in lines[-1]
    r.cmd(b"STORE 2 +FLAGS.SILENT (\\Deleted)")
    lines = r.cmd(b"EXPUNGE")
    assert b"* VANISHED 2" in lines
    lines = r.cmd(b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
    assert b"* VANISHED (EARLIER) 2" in lines
    r.cmd(b"UNSELECT")
    lines = r.cmd(b"SELECT INBOX (QRESYNC (%s %d 1:2))" % (validity, hms))
    assert b"* VANISHED (EARLIER) 2" in lines
    assert any(b"FETCH (UID 1 FLAGS (\\Seen)" in l for l in lines)
    r.close()


def test_search_keys(imap_moat):
    # one at a time: the queue may deliver a batch in any order
    send(imap_moat, subject="alpha report", body="the quick brown fox")
    imap_moat.wait_messages(USER, 1)
    send(imap_moat, subject="beta", body="lazy dog\r\n" + ("x" * 70 +
                                                          "\r\n") * 30)
    imap_moat.wait_messages(USER, 2)
    send(imap_moat, subject="gamma", body="=48=65llo encoded",
         extra="Content-Transfer-Encoding: quoted-printable\r\n")
    imap_moat.wait_messages(USER, 3)
    c = login(imap_moat)
    c.select("INBOX")
    c.store("2", "+FLAGS", "(\\Flagged)")

    def search(*keys):
        typ, data = c.search(None, *keys)
        assert typ == "OK", data
        return data[0].split()

    assert search("ALL") == [b"1", b"2", b"3"]
    assert search("SUBJECT", "alpha") == [b"1"]
    assert search("FROM", "sender@example.org") == [b"1", b"2", b"3"]
    assert search("BODY", "QUICK") == [b"1"]
    assert search("TEXT", "beta") == [b"2"]
    assert search("BODY", "hello") == [b"3"]  # decoded quoted-printable
    assert search("FLAGGED") == [b"2"]
    assert search("NOT", "FLAGGED") == [b"1", b"3"]
    assert search("OR", "SUBJECT", "alpha", "SUBJECT", "gamma") == \
        [b"1", b"3"]
    assert search("LARGER", "1500") == [b"2"]
    assert search("SMALLER", "1500") == [b"1", b"3"]
    assert search("UNSEEN") == [b"1", b"2", b"3"]
    assert search("HEADER", "Message-ID", "beta") == [b"2"]
    assert search("SINCE", "1-Jan-2000") == [b"1", b"2", b"3"]
    assert search("BEFORE", "1-Jan-2000") == []
    assert search("SENTSINCE", "1-Jan-2000") == []  # no Date: header
    assert search("SAVEDSINCE", "1-Jan-2000") == [b"1", b"2", b"3"]
    assert search("2:*", "UNFLAGGED") == [b"3"]
    assert search("UID", "1,3") == [b"1", b"3"]
    assert search("CHARSET", "UTF-8", "SUBJECT", "beta") == [b"2"]
    assert search("MODSEQ", "1")
    typ, data = c.search("KOI8-R", "ALL")
    assert typ == "NO"
    # ESEARCH and SEARCHRES
    typ, data = c._simple_command("SEARCH", "RETURN", "(MIN MAX COUNT)",
                                  "ALL")
    es = c.untagged_responses.pop("ESEARCH")[0]
    assert b"MIN 1" in es and b"MAX 3" in es and b"COUNT 3" in es
    typ, data = c._simple_command("SEARCH", "RETURN", "(SAVE)", "FLAGGED")
    assert typ == "OK"
    typ, data = c.fetch("$", "(UID)")
    assert data == [b"2 (UID 2)"]
    with pytest.raises(imaplib.IMAP4.error):
        c.search(None, "NOSUCHKEY")
    # encoded words are decoded, matching is case-insensitive in UTF-8
    send(imap_moat, subject="=?UTF-8?B?w6l0w6kgcmVwb3J0?=")
    imap_moat.wait_messages(USER, 4)
    c.noop()
    c.literal = "\u00c9T\u00c9".encode()
    typ, data = c.search("UTF-8", "SUBJECT")
    assert data == [b"4"]
    c.logout()


# --- mailboxes ------------------------------------------------------------

def test_mailbox_commands(imap_moat):
    c = login(imap_moat)
    typ, data = c.list()
    names = [d.decode() for d in data]
    assert any("\\Sent" in n and '"Sent"' in n for n in names)
    assert any('"INBOX"' in n for n in names)
    assert c.create("Projects/Moat")[0] == "OK"
    assert c.create("Projects/Moat")[0] == "NO"
    typ, data = c.list('""', "Projects/%")
    assert data == [b'(\\HasNoChildren) "/" "Projects/Moat"']
    typ, data = c.list('""', "%")
    assert any(b'(\\HasChildren) "/" "Projects"' == d for d in data)
    assert not any(b"Projects/Moat" in d for d in data)
    assert c.rename("Projects", "Work")[0] == "OK"
    typ, data = c.list('""', "Work*")
    assert sorted(data) == [b'(\\HasChildren) "/" "Work"',
                            b'(\\HasNoChildren) "/" "Work/Moat"']
    assert c.unsubscribe("Work/Moat")[0] == "OK"
    typ, data = c.lsub('""', "Work*")
    assert data == [b'(\\HasChildren) "/" "Work"']
    assert c.delete("Work/Moat")[0] == "OK"
    assert c.delete("Work/Moat")[0] == "NO"
    assert c.delete("INBOX")[0] == "NO"
    # modified UTF-7 for rev1 clients
    assert c.create("Gr&APwA3w-e")[0] == "OK"
    typ, data = c.list('""', "Gr*")
    assert data == [b'(\\HasNoChildren) "/" "Gr&APwA3w-e"']
    assert c.status("Gr&APwA3w-e", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN "
                    "DELETED SIZE HIGHESTMODSEQ)")[0] == "OK"
    # LIST-EXTENDED, LIST-STATUS, SPECIAL-USE
    typ, data = c._simple_command("LIST", "(SPECIAL-USE)", '""', "*",
                                  "RETURN", "(STATUS (MESSAGES))")
    listed = c.untagged_responses.pop("LIST")
    assert len(listed) == 5 and all(b"\\" in x for x in listed)
    assert len(c.untagged_responses.pop("STATUS")) == 5
    typ, data = c._simple_command("CREATE", "Later", "(USE (\\Archive))")
    assert typ == "OK"
    typ, data = c.namespace()
    assert data == [b'(("" "/")) NIL NIL']
    typ, data = c.getquotaroot("INBOX")
    assert typ == "OK"
    c.logout()


def test_append_flags_date_quota(moat_factory):
    moat = moat_factory(dict(IMAP, **{"mailstore.quota": "2k"}))
    c = login(moat)
    msg = b"Subject: appended\r\n\r\n" + b"y" * 600 + b"\r\n"
    typ, data = c.append("Drafts", "(\\Draft \\Seen)",
                         '"01-Feb-2024 10:00:00 +0100"', msg)
    assert typ == "OK" and re.match(rb"\[APPENDUID \d+ 1\]", data[0])
    c.select("Drafts")
    typ, data = c.fetch("1", "(FLAGS INTERNALDATE BODY.PEEK[])")
    assert b'"01-Feb-2024 09:00:00 +0000"' in data[0][0]
    assert b"\\Draft" in data[0][0] and data[0][1] == msg
    typ, data = c.append("Nowhere", None, None, msg)
    assert typ == "NO" and b"TRYCREATE" in data[0]
    c.append("INBOX", None, None, msg)
    c.append("INBOX", None, None, msg)
    typ, data = c.append("INBOX", None, None, msg)
    assert typ == "NO" and b"OVERQUOTA" in data[0]
    typ, data = c.getquotaroot("INBOX")
    assert typ == "OK" and data[1] == [b'"" (STORAGE 2 2)']
    c.logout()
    # delivery over quota is not stored (the recipient stays queued)
    send(moat, subject="too much", body="w" * 500)
    time.sleep(1)
    assert len(moat.messages(USER)) == 2
    assert "mailbox full (quota)" in moat.log()


# --- concurrency ------------------------------------------------------

def test_two_sessions_see_each_other(imap_moat):
    send(imap_moat, subject="one")
    imap_moat.wait_messages(USER, 1)
    send(imap_moat, subject="two")
    imap_moat.wait_messages(USER, 2)
    a = login(imap_moat)
    b = login(imap_moat)
    a.select("INBOX")
    b.select("INBOX")
    untagged(b, "EXISTS")
    a.store("1", "+FLAGS", "(\\Flagged)")
    b.noop()
    fetches = untagged(b, "FETCH")
    assert any(b"\\Flagged" in f for f in fetches), fetches
    a.store("2", "+FLAGS", "(\\Deleted)")
    a.expunge()
    b.noop()
    assert untagged(b, "EXPUNGE") == [b"2"]
    send(imap_moat, subject="three")
    imap_moat.wait_messages(USER, 2)
    deadline = time.time() + 10
    while time.time() < deadline:
        b.noop()
        exists = untagged(b, "EXISTS")
        if exists:
            break
        time.sleep(0.1)
    assert exists == [b"2"]
    a.logout()
    b.logout()


def test_idle_wakes_on_smtp_delivery(imap_moat):
    r = Raw(imap_moat.imap_port)
    r.cmd(b"LOGIN %s \"%s\"" % (USER.encode(), PASSWORD.encode()))
    r.cmd(b"SELECT INBOX")
    r.sock.sendall(b"i1 IDLE\r\n")
    assert r.line().startswith(b"+ ")
    send(imap_moat, subject="wake up")
    r.sock.settimeout(15)
    assert r.line() == b"* 1 EXISTS"
    r.sock.sendall(b"DONE\r\n")
    assert r.until(b"i1")[-1].startswith(b"i1 OK")
    r.close()


# --- bad input ----------------------------------------------------------

def store_state(moat):
    db = moat.index()
    rows = db.execute("SELECT name FROM mailboxes ORDER BY name").fetchall()
    msgs = db.execute("SELECT COUNT(*) FROM messages").fetchone()
    db.close()
    return rows, msgs


def test_bad_input(imap_moat):
    send(imap_moat, subject="keep")
    imap_moat.wait_messages(USER, 1)
    r = Raw(imap_moat.imap_port)
    # commands before authentication
    assert r.cmd(b"SELECT INBOX")[-1].startswith(b"t1 BAD")
    assert r.cmd(b"FETCH 1 FLAGS")[-1].startswith(b"t1 BAD")
    r.cmd(b"LOGIN %s \"%s\"" % (USER.encode(), PASSWORD.encode()))
    before = store_state(imap_moat)
    # a huge literal is refused before it is sent
    assert b"TOOBIG" in r.cmd(b"LOGIN {999999999}")[-1]
    assert b"TOOBIG" in r.cmd(b"APPEND INBOX {99999999999}")[-1]
    # unbalanced parentheses, 8-bit atoms, control characters
    assert r.cmd(b"STATUS INBOX (MESSAGES")[-1].startswith(b"t1 BAD")
    assert r.cmd(b"STATUS INBOX MESSAGES)")[-1].startswith(b"t1 BAD")
    assert r.cmd(b"CREATE Gr\xc3\xbc\xc3\x9fe")[-1].startswith(b"t1 BAD")
    assert r.cmd(b"CREATE a\x01b")[-1].startswith(b"t1 BAD")
    # mailbox names with .. or control characters (quoted)
    for name in (b'"../escape"', b'"a/../b"', b'".."', b'"a\tb"',
                 b'"/abs"', b'"a//b"'):
        reply = r.cmd(b"CREATE " + name)[-1]
        assert reply.startswith(b"t1 NO") or reply.startswith(b"t1 BAD"), \
            (name, reply)
    assert r.cmd(b"SELECT INBOX")[-1].startswith(b"t1 OK")
    # huge and invalid sequence sets
    big = b",".join(b"%d" % i for i in range(1, 8000))
    assert r.cmd(b"FETCH " + big + b" FLAGS")[-1].startswith(b"t1 BAD")
    assert r.cmd(b"UID FETCH 1:4294967295 FLAGS")[-1].startswith(b"t1 BAD")
    assert r.cmd(b"UID FETCH 1:4294967294 FLAGS")[-1].startswith(b"t1 OK")
    assert r.cmd(b"FETCH 0 FLAGS")[-1].startswith(b"t1 BAD")
    assert r.cmd(b"FETCH 5 FLAGS")[-1].startswith(b"t1 BAD")
    assert r.cmd(b"UID STORE 1:* FLAGS (\\Bogus)")[-1].startswith(b"t1 BAD")
    # too long a line
    assert r.cmd(b"NOOP " + b"x" * 70000)[-1] == b"t1 BAD Line too long"
    assert r.cmd(b"NOOP")[-1].startswith(b"t1 OK")
    assert store_state(imap_moat) == before
    r.close()


def test_non_reading_client_is_dropped(moat_factory):
    moat = moat_factory(dict(IMAP, **{"imap.write_timeout": "2s"}))
    send(moat, subject="big", body=("z" * 76 + "\r\n") * 4000)
    moat.wait_messages(USER, 1)
    r = Raw(moat.imap_port)
    r.cmd(b"LOGIN %s \"%s\"" % (USER.encode(), PASSWORD.encode()))
    r.cmd(b"SELECT INBOX")
    r.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    # Pipeline FETCHes without reading a byte.
    r.sock.settimeout(5)
    try:
        for i in range(200):
            r.sock.sendall(b"f%d FETCH 1 BODY.PEEK[]\r\n" % i)
    except (socket.timeout, OSError):
        pass
    deadline = time.time() + 20
    while time.time() < deadline and "what=write" not in moat.log() and \
            "output_buffer" not in moat.log():
        time.sleep(0.2)
    r.close()
    assert "what=write" in moat.log() or "output_buffer" in moat.log()


def test_sort_and_thread(imap_moat):
    send(imap_moat, subject="zebra", body="a")
    imap_moat.wait_messages(USER, 1)
    send(imap_moat, subject="Re: apple", body="b",
         extra="In-Reply-To: <apple@example.org>\r\n"
               "References: <apple@example.org>\r\n")
    imap_moat.wait_messages(USER, 2)
    send(imap_moat, subject="apple", body="c" * 300)
    imap_moat.wait_messages(USER, 3)
    c = login(imap_moat)
    c.select("INBOX")
    typ, data = c.sort("(SUBJECT)", "UTF-8", "ALL")
    assert data == [b"2 3 1"]
    typ, data = c.sort("(REVERSE SIZE)", "UTF-8", "ALL")
    assert data[0].split()[0] == b"3"
    typ, data = c.uid("SORT", "(SUBJECT)", "UTF-8", "NOT", "SUBJECT",
                      "zebra")
    assert data == [b"2 3"]
    typ, data = c.thread("ORDEREDSUBJECT", "UTF-8", "ALL")
    assert data == [b"(1)(2 3)"]
    typ, data = c.thread("REFERENCES", "UTF-8", "ALL")
    assert typ == "OK" and b"(1)" in data[0]
    with pytest.raises(imaplib.IMAP4.error):
        c.sort("(NOSUCHKEY)", "UTF-8", "ALL")
    typ, data = c.sort("(DATE)", "KOI8-R", "ALL")
    assert typ == "NO"
    c.logout()


MULTIPART = (
    b"From: a@example.org\r\nTo: demo@example.test\r\n"
    b"Subject: =?UTF-8?Q?caf=C3=A9?=\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
    b"preamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    b"first part\r\n--b1\r\nContent-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8gYmluYXJ5\r\n"
    b"--b1--\r\n")


def test_fetch_mime_parts_and_binary(imap_moat):
    c = login(imap_moat)
    assert c.append("INBOX", None, None, MULTIPART)[0] == "OK"
    c.select("INBOX")
    typ, data = c.fetch("1", "(BODYSTRUCTURE ENVELOPE)")
    head = data[0] if isinstance(data[0], bytes) else data[0][0]
    assert b'"mixed"' in head.lower() and b'"octet-stream"' in head.lower()
    assert b"=?UTF-8?Q?caf=C3=A9?=" in head
    typ, data = c.fetch("1", "(BODY.PEEK[1])")
    assert data[0][1] == b"first part"
    typ, data = c.fetch("1", "(BODY.PEEK[2.MIME])")
    assert data[0][1].startswith(b"Content-Type: application/octet-stream")
    typ, data = c.fetch("1", "(BINARY.PEEK[2] BINARY.SIZE[2])")
    flat = b"".join(x if isinstance(x, bytes) else b"".join(x)
                    for x in data)
    assert b"hello binary" in flat and b"BINARY.SIZE[2] 12" in flat
    typ, data = c.fetch("1", "(BODY.PEEK[3])")
    assert data[0][1] == b""
    c.logout()


def test_multiappend_and_unknown_cte(imap_moat):
    r = Raw(imap_moat.imap_port)
    r.cmd(b"LOGIN %s \"%s\"" % (USER.encode(), PASSWORD.encode()))
    one = b"Subject: one\r\n\r\nfirst\r\n"
    two = (b"Subject: two\r\nContent-Transfer-Encoding: x-unknown\r\n\r\n"
           b"second\r\n")
    lines = r.cmd(b"APPEND INBOX (\\Seen) {%d+}\r\n%s {%d+}\r\n%s" %
                  (len(one), one, len(two), two))
    assert re.match(rb"t1 OK \[APPENDUID \d+ 1:2\]", lines[-1]), lines
    # a bad second message: the command fails, nothing is stored
    lines = r.cmd(b"APPEND INBOX {%d+}\r\n%s (\\Bogus) {%d+}\r\n%s" %
                  (len(one), one, len(two), two))
    assert lines[-1].startswith(b"t1 BAD")
    lines = r.cmd(b"SELECT INBOX")
    assert b"* 2 EXISTS" in lines
    lines = r.cmd(b"FETCH 2 BINARY.PEEK[1]")
    assert b"UNKNOWN-CTE" in lines[-1]
    lines = r.cmd(b"FETCH 1 BINARY.PEEK[1]")
    assert lines[-1].startswith(b"t1 OK")
    r.close()

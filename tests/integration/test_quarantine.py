"""The quarantine store against the real daemon: mail a filter quarantines
(ClamAV with filter.clamav.action = quarantine, the spam score) is
acknowledged, then kept by the queue in DATA_DIR/quarantine instead of the
INBOX; `moatctl quarantine list|show|release|delete` manage it, a release
delivers it (read back with imaplib) and, for spam, teaches Bayes ham
through the users' training spool; expired entries are pruned; a restart
in between loses nothing."""

import email
import email.policy
import imaplib
import json
import os
import re
import shutil
import smtplib
import tempfile
import time

import pytest

from moat_harness import PASSWORD
from relay_peers import Sink
from test_content import EICAR, make_db

USER = "demo@example.test"
BOB = "bob@example.test"


@pytest.fixture
def shared_dir():
    """A directory the daemon's run user can read."""
    top = tempfile.mkdtemp(prefix="moat-qtest-")
    os.chmod(top, 0o755)
    yield top
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def avdb(shared_dir):
    d = os.path.join(shared_dir, "avdb")
    make_db(d, testfiles=False)
    return d


@pytest.fixture
def spam_rules(shared_dir):
    path = os.path.join(shared_dir, "moat-test.cf")
    with open(path, "w") as f:
        f.write(SPAM_RULES)
    os.chmod(path, 0o644)
    return path


def settings(avdb, extra=None):
    s = {
        "imap.listen": "127.0.0.1:{imap_port}",
        "imap.allow_plaintext_loopback": "yes",
        "filters": "mime clamav",
        "filter.clamav.database_dir": avdb,
        "filter.clamav.action": "quarantine",
        # EICAR is the handy way to quarantine: let users see ClamAV's
        # entries here (by default only the admin does, see below)
        "quarantine.user_filters": "spam,dmarc,policy,clamav",
    }
    s.update(extra or {})
    return s


def eicar_mail(subject, rcpts=(USER,)):
    return ("From: Sender <sender@remote.example>\r\nTo: %s\r\n"
            "Subject: %s\r\nMessage-ID: <%s@remote.example>\r\n"
            "Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n\r\nhello\r\n"
            % (", ".join(rcpts), subject, subject.replace(" ", "-"))
            ).encode() + EICAR + b"\r\n"


def send(moat, data, rcpts=(USER,), sender="sender@remote.example"):
    with smtplib.SMTP("127.0.0.1", moat.smtp_port, timeout=30) as c:
        c.ehlo("client.example")
        c.mail(sender)
        for r in rcpts:
            c.rcpt(r)
        code, text = c.data(data)
    assert code == 250, text
    return text.decode().split()[-1]  # the queue id


def entries(moat, rcpt=None):
    args = ["quarantine", "list", "--json"]
    if rcpt:
        args += ["--rcpt", rcpt]
    return json.loads(moat.ctl(*args).stdout)


def wait_entries(moat, count, timeout=20):
    deadline = time.time() + timeout
    while True:
        e = entries(moat)
        if len(e) == count or time.time() > deadline:
            return e
        time.sleep(0.05)


def imap_messages(moat, user=USER, mailbox="INBOX"):
    c = imaplib.IMAP4("127.0.0.1", moat.imap_port, timeout=10)
    c.login(user, PASSWORD)
    typ, count = c.select(mailbox, readonly=True)
    assert typ == "OK"
    if int(count[0]) == 0:
        c.logout()
        return []
    typ, data = c.fetch("1:*", "(BODY.PEEK[])")
    c.logout()
    if typ != "OK" or data in ([None], [b""]):
        return []
    return [email.message_from_bytes(d[1], policy=email.policy.default)
            for d in data if isinstance(d, tuple)]


def wait_inbox(moat, count, user=USER, timeout=20):
    deadline = time.time() + timeout
    while True:
        msgs = imap_messages(moat, user)
        if len(msgs) >= count or time.time() > deadline:
            return msgs
        time.sleep(0.05)


# What `moatctl spam stats` says once a release has taught one ham.
ONE_HAM_LEARNED = r"user training \(on\): 0 spam, 1 ham learned"


def wait_spam_stats(moat, pattern, timeout=20):
    """`moatctl spam stats` once it matches pattern (or at the timeout)."""
    deadline = time.time() + timeout
    while True:
        stats = moat.ctl("spam", "stats").stdout
        if re.search(pattern, stats) or time.time() > deadline:
            return stats
        time.sleep(0.1)


def qfiles(moat):
    try:
        return sorted(os.listdir(os.path.join(moat.data, "quarantine",
                                              "msg")))
    except FileNotFoundError:
        return []


def test_eicar_quarantined_released_and_deleted(moat_factory, avdb):
    moat = moat_factory(settings(avdb))
    q1 = send(moat, eicar_mail("first virus"))
    q2 = send(moat, eicar_mail("second virus"))
    got = wait_entries(moat, 2)
    assert [e["id"] for e in got] == [q1, q2]
    assert moat.wait_queue_empty() == []
    assert imap_messages(moat) == []  # nothing in the INBOX
    for e, subject in zip(got, ("first virus", "second virus")):
        assert e["rcpt"] == USER
        assert e["by"] == "clamav"
        assert e["mail_from"] == "sender@remote.example"
        assert e["from"] == "Sender <sender@remote.example>"
        assert e["subject"] == subject
        assert "Virus found" in e["reason"]
        assert "CLAMAV_VIRUS" in e["symbols"]
        assert e["expires"] - e["received"] == 30 * 86400
    assert qfiles(moat) == sorted([q1, q2])
    text = moat.ctl("quarantine", "list").stdout
    assert q1 in text and "clamav" in text and "first virus" in text
    show = moat.ctl("quarantine", "show", q1).stdout
    assert "subject: first virus" in show
    assert "recipient: %d <%s>" % (got[0]["entry"], USER) in show
    assert "Subject: first virus" in show and "hello" not in show
    assert "status=quarantined by=clamav" in moat.log()

    # A restart loses nothing.
    moat.stop()
    moat.start()
    assert [e["id"] for e in entries(moat)] == [q1, q2]

    out = moat.ctl("quarantine", "release", q1).stdout
    assert "released to <%s>" % USER in out
    msgs = wait_inbox(moat, 1)
    assert len(msgs) == 1
    assert msgs[0]["Subject"] == "first virus"
    released = msgs[0]["X-Moat-Released"]
    assert released and ("quarantine %s" % q1) in released
    assert "via moatctl" in released
    assert EICAR in msgs[0].as_bytes()
    assert [e["id"] for e in entries(moat)] == [q2]
    assert qfiles(moat) == [q2]

    assert "deleted" in moat.ctl("quarantine", "delete", q2).stdout
    assert entries(moat) == []
    assert qfiles(moat) == []
    # Unknown ids fail cleanly.
    r = moat.ctl("quarantine", "release", q2, check=False)
    assert r.returncode == 1 and "no such message" in r.stderr
    r = moat.ctl("quarantine", "show", "../../etc/passwd", check=False)
    assert r.returncode == 1
    assert moat.ctl("quarantine", "bogus", check=False).returncode == 2
    assert len(imap_messages(moat)) == 1


def test_entries_per_recipient_release_one(moat_factory, avdb):
    moat = moat_factory(settings(avdb), users=(USER, BOB))
    qid = send(moat, eicar_mail("for two", (USER, BOB)), rcpts=(USER, BOB))
    got = wait_entries(moat, 2)
    assert sorted(e["rcpt"] for e in got) == [BOB, USER]
    assert {e["id"] for e in got} == {qid}
    assert len({e["entry"] for e in got}) == 2
    assert qfiles(moat) == [qid]  # stored once
    assert [e["rcpt"] for e in entries(moat, BOB)] == [BOB]

    moat.ctl("quarantine", "release", qid, "--rcpt", BOB)
    assert len(wait_inbox(moat, 1, BOB)) == 1
    assert [e["rcpt"] for e in entries(moat)] == [USER]
    assert qfiles(moat) == [qid]  # USER's entry still uses it
    assert imap_messages(moat, USER) == []
    moat.ctl("quarantine", "delete", qid, "--rcpt", USER)
    assert entries(moat) == [] and qfiles(moat) == []


def test_relay_domain_recipient_quarantined_then_relayed(moat_factory,
                                                        avdb):
    """A relay-domain recipient (corp.test routed to an internal host)
    gets an entry of its own address; the release relays it there."""
    sink = Sink().start()
    try:
        moat = moat_factory(settings(avdb, {
            "relay.routes": "corp.test=[127.0.0.1]:%d" % sink.port}))
        rcpts = (USER, "boss@corp.test")
        qid = send(moat, eicar_mail("to corp", rcpts), rcpts=rcpts)
        got = wait_entries(moat, 2)
        assert sorted(e["rcpt"] for e in got) == ["boss@corp.test", USER]
        assert moat.wait_queue_empty() == []
        # nothing waits for relaying while quarantined
        assert os.listdir(os.path.join(moat.data, "queue", "deferred")) \
            == []
        assert sink.messages == []
        moat.ctl("quarantine", "release", qid, "--rcpt", "boss@corp.test")
        msgs = sink.wait(1)
        assert len(msgs) == 1 and msgs[0]["to"] == ["boss@corp.test"]
        assert msgs[0]["from"] == "sender@remote.example"
        assert b"X-Moat-Released: " in msgs[0]["data"]
        assert EICAR in msgs[0]["data"]
        assert [e["rcpt"] for e in entries(moat)] == [USER]
    finally:
        sink.stop()


def test_expired_entries_are_pruned(moat_factory, avdb):
    moat = moat_factory(settings(avdb, {"quarantine.retention": "2s",
                                        "quarantine.prune_interval": "1s"}))
    send(moat, eicar_mail("short lived"))
    deadline = time.time() + 20
    while time.time() < deadline:
        # stored (logged after the commit), then pruned
        if "status=quarantined" in moat.log() and not entries(moat):
            break
        time.sleep(0.1)
    assert "status=quarantined" in moat.log()
    assert entries(moat) == []
    assert qfiles(moat) == []
    assert re.search(r"event=quarantine_prune removed=1", moat.log())
    assert imap_messages(moat) == []


SPAM_RULES = """
body MOAT_TEST_QUARANTINE /quarantine-me-please/
score MOAT_TEST_QUARANTINE 8.0
"""


def test_spam_release_trains_ham(moat_factory, spam_rules):
    rules = spam_rules
    moat = moat_factory({
        "imap.listen": "127.0.0.1:{imap_port}",
        "imap.allow_plaintext_loopback": "yes",
        "filters": "spam",
        "filter.spam.default_rules": "no",
        "filter.spam.rules_paths": rules,
        "filter.spam.autolearn": "no",
        "filter.spam.quarantine_score": "6",
        "filter.spam.reject_score": "20",
    })
    msg = (b"From: promo@remote.example\r\nTo: demo@example.test\r\n"
           b"Subject: offer\r\nMessage-ID: <offer-1@remote.example>\r\n"
           b"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n\r\n"
           b"quarantine-me-please\r\n")
    qid = send(moat, msg)
    got = wait_entries(moat, 1)
    assert got[0]["by"] == "spam"
    assert got[0]["score"] >= 8.0
    assert "MOAT_TEST_QUARANTINE" in got[0]["symbols"]
    assert got[0]["reason"].startswith("spam score")
    out = moat.ctl("quarantine", "release", qid).stdout
    assert "learning as ham" in out
    assert len(wait_inbox(moat, 1)) == 1
    stats = wait_spam_stats(moat, ONE_HAM_LEARNED)
    assert re.search(ONE_HAM_LEARNED, stats), stats
    assert re.search(r"bayes: 0 spam, 1 ham learned", stats), stats
    assert "class=ham reason=release" in moat.log()


def test_learn_on_release_off(moat_factory, spam_rules):
    rules = spam_rules
    moat = moat_factory({
        "filters": "spam",
        "filter.spam.default_rules": "no",
        "filter.spam.rules_paths": rules,
        "filter.spam.quarantine_score": "6",
        "quarantine.learn_on_release": "no",
    })
    qid = send(moat, b"Subject: x\r\n\r\nquarantine-me-please\r\n")
    wait_entries(moat, 1)
    out = moat.ctl("quarantine", "release", qid).stdout
    assert "learning" not in out
    assert len(moat.wait_messages(USER, 1)) == 1
    spool = os.path.join(moat.data, "spam", "training")
    assert not os.path.isdir(spool) or os.listdir(spool) == []


# --- the IMAP Quarantine mailbox ------------------------------------------

def imap_login(moat, user=USER):
    c = imaplib.IMAP4("127.0.0.1", moat.imap_port, timeout=10)
    c.login(user, PASSWORD)
    return c


def select_quarantine(c):
    """SELECT Quarantine (imaplib refuses a read-only SELECT); EXISTS."""
    typ, data = c._simple_command("SELECT", "Quarantine")
    assert typ == "OK" and b"[READ-ONLY]" in data[-1], data
    c.state = "SELECTED"
    c.is_readonly = True
    return int(c.untagged_responses["EXISTS"][-1])


def test_imap_quarantine_mailbox(moat_factory, avdb):
    moat = moat_factory(settings(avdb), users=(USER, BOB))
    q_demo = send(moat, eicar_mail("for demo"))
    q_bob = send(moat, eicar_mail("for bob", (BOB,)), rcpts=(BOB,))
    q_both = send(moat, eicar_mail("for both", (USER, BOB)),
                  rcpts=(USER, BOB))
    got = wait_entries(moat, 4)
    ids = {(e["id"], e["rcpt"]): e["entry"] for e in got}

    c = imap_login(moat)
    typ, data = c.list()
    assert typ == "OK"
    assert any(b'"Quarantine"' in line or line.endswith(b" Quarantine")
               for line in data), data
    typ, data = c.status("Quarantine", "(MESSAGES UIDNEXT UIDVALIDITY)")
    assert typ == "OK" and b"MESSAGES 2" in data[0], data
    assert select_quarantine(c) == 2
    typ, data = c.uid("SEARCH", None, "ALL")
    uids = [int(x) for x in data[0].split()]
    assert uids == sorted([ids[(q_demo, USER)], ids[(q_both, USER)]])
    # only demo's own entries: subjects, envelope, body
    typ, data = c.uid("FETCH", "1:*",
                      "(UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)] "
                      "ENVELOPE)")
    text = b" ".join(d[1] if isinstance(d, tuple) else d for d in data)
    assert b"for demo" in text and b"for both" in text
    assert b"for bob" not in text
    typ, data = c.uid("FETCH", str(uids[0]), "(BODY.PEEK[])")
    assert EICAR in data[0][1]
    typ, data = c.uid("SEARCH", None, "SUBJECT", "both")
    assert [int(x) for x in data[0].split()] == [ids[(q_both, USER)]]
    # a UID of someone else's entry is simply not there
    typ, data = c.uid("FETCH", str(ids[(q_bob, BOB)]), "(BODY.PEEK[])")
    assert typ == "OK" and EICAR not in b"".join(
        d[1] if isinstance(d, tuple) else (d or b"") for d in data)

    # read-only: no flags, no expunge, nothing in
    typ, data = c.uid("STORE", str(uids[0]), "+FLAGS", "(\\Seen)")
    assert typ == "NO" and b"READ-ONLY" in data[0]
    assert c.expunge()[0] == "NO"
    c2 = imap_login(moat)
    typ, data = c2.append("Quarantine", None, None,
                          b"Subject: sneak\r\n\r\nx\r\n")
    assert typ == "NO" and b"CANNOT" in data[0]
    c2.select("INBOX")
    assert c2.create("Quarantine")[0] == "NO"
    assert c2.delete("Quarantine")[0] == "NO"
    assert c2.rename("Quarantine", "Q2")[0] == "NO"
    c2.logout()

    # MOVE out releases demo's entry of the shared message only
    typ, data = c.uid("MOVE", str(ids[(q_both, USER)]), "INBOX")
    assert typ == "OK", data
    left = entries(moat)
    assert sorted((e["id"], e["rcpt"]) for e in left) == sorted(
        [(q_demo, USER), (q_bob, BOB), (q_both, BOB)])
    assert q_both in qfiles(moat)  # bob's entry still uses the file
    inbox = imap_messages(moat)
    assert [m["Subject"] for m in inbox] == ["for both"]
    assert "by %s via IMAP (quarantine %s)" % (USER, q_both) in \
        inbox[0]["X-Moat-Released"]
    assert inbox[0]["Return-Path"] == "<sender@remote.example>"
    assert EICAR in inbox[0].as_bytes()
    typ, data = c.uid("SEARCH", None, "ALL")
    assert [int(x) for x in data[0].split()] == [ids[(q_demo, USER)]]
    # COPY out releases too (into another mailbox)
    typ, data = c._simple_command("UID", "COPY", str(ids[(q_demo, USER)]),
                                  "Archive")
    assert typ == "OK" and b"COPYUID" in data[0], data
    c.noop()
    typ, data = c.uid("SEARCH", None, "ALL")
    assert data == [b""]
    c.logout()
    assert [m["Subject"] for m in imap_messages(moat, USER, "Archive")] == \
        ["for demo"]
    assert q_demo not in qfiles(moat)

    # bob's view, after a restart: his two entries, same UIDVALIDITY
    c = imap_login(moat, BOB)
    v1 = c.status("Quarantine", "(UIDVALIDITY)")[1][0]
    c.logout()
    moat.stop()
    moat.start()
    c = imap_login(moat, BOB)
    assert c.status("Quarantine", "(UIDVALIDITY)")[1][0] == v1
    c.select("Quarantine", readonly=True)
    typ, data = c.uid("SEARCH", None, "ALL")
    assert [int(x) for x in data[0].split()] == sorted(
        [ids[(q_bob, BOB)], ids[(q_both, BOB)]])
    c.logout()


def test_imap_release_of_spam_trains_ham(moat_factory, spam_rules):
    moat = moat_factory({
        "imap.listen": "127.0.0.1:{imap_port}",
        "imap.allow_plaintext_loopback": "yes",
        "filters": "spam",
        "filter.spam.default_rules": "no",
        "filter.spam.rules_paths": spam_rules,
        "filter.spam.autolearn": "no",
        "filter.spam.quarantine_score": "6",
    })
    send(moat, b"From: promo@remote.example\r\nSubject: offer\r\n"
         b"Message-ID: <offer-2@remote.example>\r\n\r\n"
         b"quarantine-me-please\r\n")
    wait_entries(moat, 1)
    c = imap_login(moat)
    assert select_quarantine(c) == 1
    typ, data = c._simple_command("MOVE", "1", "INBOX")
    assert typ == "OK", data
    c.logout()
    assert entries(moat) == []
    stats = wait_spam_stats(moat, ONE_HAM_LEARNED)
    assert re.search(ONE_HAM_LEARNED, stats), stats + "\n".join(
        l for l in moat.log().splitlines() if "spamlearn" in l)
    assert 'reason=release mailbox="Quarantine"' in moat.log()


def test_imap_idle_sees_new_and_released_entries(moat_factory, avdb):
    moat = moat_factory(settings(avdb))
    c = imap_login(moat)
    assert select_quarantine(c) == 0
    c.sock.settimeout(20)
    c.send(b"i1 IDLE\r\n")
    assert c.readline().startswith(b"+ ")
    qid = send(moat, eicar_mail("while idling"))
    assert c.readline().strip() == b"* 1 EXISTS"  # told by the queue
    moat.ctl("quarantine", "delete", qid)
    assert c.readline().strip() == b"* 1 EXPUNGE"  # told by moatctl
    c.send(b"DONE\r\n")
    assert c.readline().startswith(b"i1 OK")
    c.logout()


def test_kill9_after_250_loses_nothing(moat_factory, avdb):
    moat = moat_factory(settings(avdb))
    qids = [send(moat, eicar_mail("crash %d" % i)) for i in range(3)]
    moat.kill9()  # wherever the queue was: before, during or after
    moat.start()
    got = wait_entries(moat, 3)
    assert sorted(e["id"] for e in got) == sorted(qids)
    assert moat.wait_queue_empty() == []
    assert sorted(qfiles(moat)) == sorted(qids)
    assert imap_messages(moat) == []


def test_imap_condstore_qresync(moat_factory, avdb):
    moat = moat_factory(settings(avdb))
    c = imap_login(moat)

    def status():
        typ, data = c.status("Quarantine", "(HIGHESTMODSEQ UIDVALIDITY)")
        m = re.search(rb"HIGHESTMODSEQ (\d+) UIDVALIDITY (\d+)", data[0])
        return int(m.group(1)), int(m.group(2))

    h0, validity = status()
    qid = send(moat, eicar_mail("modseq"))
    uid = wait_entries(moat, 1)[0]["entry"]
    h1, _ = status()
    assert h1 > h0  # an arrival is a change
    moat.ctl("quarantine", "delete", qid)
    h2, _ = status()
    assert h2 > h1  # so is a removal
    assert c._simple_command("ENABLE", "QRESYNC")[0] == "OK"
    typ, data = c._simple_command(
        "SELECT", "Quarantine (QRESYNC (%d %d))" % (validity, h1))
    assert typ == "OK", data
    vanished = c.untagged_responses.get("VANISHED", [])
    assert vanished == [b"(EARLIER) %d" % uid], vanished
    c.state, c.is_readonly = "SELECTED", True
    c.logout()


def test_release_keeps_the_dsn_parameters(moat_factory, avdb):
    """RET, ENVID, NOTIFY and ORCPT given at SMTP time survive the
    quarantine: `show` lists them, and the released copy's local delivery
    sends the success DSN the sender asked for (relayed to a sink standing
    in for the sender's domain)."""
    sink = Sink().start()
    try:
        moat = moat_factory(settings(avdb, {
            "relay.routes": "remote.example=[127.0.0.1]:%d" % sink.port}))
        with smtplib.SMTP("127.0.0.1", moat.smtp_port, timeout=30) as c:
            c.ehlo("client.example")
            c.mail("sender@remote.example", ["RET=HDRS", "ENVID=env-42"])
            c.rcpt(USER, ["NOTIFY=SUCCESS,FAILURE",
                          "ORCPT=rfc822;alias@example.test"])
            code, text = c.data(eicar_mail("dsn params"))
        assert code == 250, text
        qid = text.decode().split()[-1]
        wait_entries(moat, 1)
        show = moat.ctl("quarantine", "show", qid).stdout
        assert "dsn: ret=HDRS envid=env-42" in show
        assert "notify=SUCCESS,FAILURE orcpt=rfc822;alias@example.test" \
            in show
        moat.ctl("quarantine", "release", qid)
        assert len(wait_inbox(moat, 1)) == 1
        dsn = sink.wait(1)
        assert len(dsn) == 1 and dsn[0]["to"] == ["sender@remote.example"]
        data = dsn[0]["data"]
        assert b"Original-Envelope-Id: env-42" in data
        assert b"Action: delivered" in data
        assert b"Original-Recipient: rfc822;alias@example.test" in data
        # RET=HDRS: the headers come back, not the virus
        assert EICAR not in data
    finally:
        sink.stop()


def test_users_do_not_see_malware_by_default(moat_factory, avdb,
                                             spam_rules):
    """quarantine.user_filters' default: a user's IMAP Quarantine shows
    what the spam filter kept, not what ClamAV kept (it cannot be fetched,
    copied or moved out either); the admin sees and releases both."""
    s = settings(avdb, {"filters": "mime clamav spam",
                        "filter.spam.rules_paths": spam_rules,
                        "filter.spam.default_rules": "no",
                        "filter.spam.quarantine_score": "6",
                        "filter.spam.reject_score": "20"})
    del s["quarantine.user_filters"]
    moat = moat_factory(s)
    virus_qid = send(moat, eicar_mail("a virus"))
    send(moat, b"From: promo@remote.example\r\nTo: demo@example.test\r\n"
         b"Subject: offer\r\n\r\nquarantine-me-please\r\n")
    got = wait_entries(moat, 2)
    by = {e["by"]: e["entry"] for e in got}
    assert set(by) == {"clamav", "spam"}
    c = imaplib.IMAP4("127.0.0.1", moat.imap_port, timeout=10)
    c.login(USER, PASSWORD)
    c.select("Quarantine", readonly=True)
    uids = c.uid("SEARCH", "ALL")[1][0].split()
    assert uids == [str(by["spam"]).encode()]
    typ, data = c.uid("FETCH", str(by["clamav"]), "(BODY.PEEK[])")
    assert typ == "OK" and data == [None]
    typ, _ = c.uid("MOVE", str(by["clamav"]), "INBOX")
    assert imap_messages(moat, USER) == []
    c.logout()
    moat.ctl("quarantine", "release", virus_qid)
    assert len(wait_inbox(moat, 1)) == 1


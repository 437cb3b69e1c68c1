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
    deadline = time.time() + 20
    while time.time() < deadline:
        stats = moat.ctl("spam", "stats").stdout
        if re.search(r"user training \(on\): 0 spam, 1 ham learned", stats):
            break
        time.sleep(0.1)
    assert re.search(r"user training \(on\): 0 spam, 1 ham learned",
                     stats), stats
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
    assert not os.listdir(os.path.join(moat.data, "spam", "training")) \
        if os.path.isdir(os.path.join(moat.data, "spam", "training")) \
        else True

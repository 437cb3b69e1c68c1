"""Mail arrives over SMTP and lands byte for byte in the right mailbox:
plain users, aliases, +detail, several recipients, 8-bit bodies."""

import smtplib

from moat_harness import strip_trace

BODY = (b"From: Sender <sender@remote.example>\r\n"
        b"To: demo@example.test\r\n"
        b"Subject: byte for byte\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n"
        b"Gr\xc3\xbc\xc3\x9fe aus M\xc3\xbcnchen\r\n"
        b".leading dot survives unstuffing\r\n"
        b"  trailing spaces   \r\n"
        b"\r\n"
        b"last line\r\n")


def send(port, sender, rcpts, body, **kw):
    with smtplib.SMTP("127.0.0.1", port) as c:
        c.ehlo("client.example")
        return c.sendmail(sender, rcpts, body, **kw)


def test_message_stored_byte_for_byte(moat):
    assert send(moat.smtp_port, "sender@remote.example",
                ["demo@example.test"], BODY,
                mail_options=["BODY=8BITMIME"]) == {}
    msgs = moat.wait_messages("demo@example.test", 1)
    assert len(msgs) == 1
    assert msgs[0].startswith(b"Return-Path: <sender@remote.example>\r\n")
    assert b"\r\nReceived: from client.example ([127.0.0.1])\r\n\tby " \
           b"mx.moat.test (Moat) with ESMTP id " in msgs[0]
    assert strip_trace(msgs[0]) == BODY
    assert moat.wait_queue_empty() == []


def test_queue_id_in_reply(moat):
    with smtplib.SMTP("127.0.0.1", moat.smtp_port) as c:
        c.ehlo("client.example")
        c.mail("a@remote.example")
        c.rcpt("demo@example.test")
        code, text = c.data(b"Subject: x\r\n\r\nx\r\n")
    assert code == 250
    assert text.startswith(b"2.0.0 Ok: queued as ")
    qid = text.split()[-1]
    assert len(qid) == 20 and qid.isalnum()
    msg = moat.wait_messages("demo@example.test", 1)[0]
    assert b"id " + qid in msg


def test_alias_and_detail_and_two_recipients(moat):
    moat.add_user("other@example.test")
    moat.ctl("alias", "add", "info@example.test", "other@example.test")
    moat.ctl("alias", "add", "team@example.test", "info@example.test")
    moat.ctl("alias", "add", "team@example.test", "demo@example.test")
    assert send(moat.smtp_port, "a@remote.example",
                ["demo+news@example.test"], b"Subject: detail\r\n\r\n1\r\n") == {}
    assert send(moat.smtp_port, "a@remote.example", ["info@example.test"],
                b"Subject: alias\r\n\r\n2\r\n") == {}
    assert send(moat.smtp_port, "a@remote.example", ["team@example.test"],
                b"Subject: nested\r\n\r\n3\r\n") == {}
    assert send(moat.smtp_port, "a@remote.example",
                ["demo@example.test", "other@example.test"],
                b"Subject: both\r\n\r\n4\r\n") == {}
    demo = moat.wait_messages("demo@example.test", 3)
    other = moat.wait_messages("other@example.test", 3)
    subjects = lambda ms: sorted(m.split(b"Subject: ")[1].split(b"\r\n")[0]
                                 for m in ms)
    assert subjects(demo) == [b"both", b"detail", b"nested"]
    assert subjects(other) == [b"alias", b"both", b"nested"]


def test_uids_increase_and_index_is_ready_for_imap(moat):
    for i in range(5):
        send(moat.smtp_port, "a@remote.example", ["demo@example.test"],
             b"Subject: n%d\r\n\r\nbody\r\n" % i)
    assert len(moat.wait_messages("demo@example.test", 5)) == 5
    db = moat.index()
    uids = [r[0] for r in db.execute(
        "SELECT m.uid FROM messages m JOIN mailboxes b ON m.mailbox_id = b.id "
        "WHERE b.user = 'demo@example.test' AND b.name = 'INBOX' ORDER BY m.uid")]
    names = sorted(r[0] for r in db.execute(
        "SELECT name FROM mailboxes WHERE user = 'demo@example.test'"))
    uidnext, validity = db.execute(
        "SELECT uidnext, uidvalidity FROM mailboxes WHERE "
        "user = 'demo@example.test' AND name = 'INBOX'").fetchone()
    db.close()
    assert uids == [1, 2, 3, 4, 5]
    assert uidnext == 6 and validity > 0
    assert names == ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]


def test_bare_postmaster_reaches_the_postmaster(moat):
    moat.ctl("alias", "add", "postmaster@example.test", "demo@example.test")
    with smtplib.SMTP("127.0.0.1", moat.smtp_port) as c:
        c.ehlo("client.example")
        c.mail("a@remote.example")
        code, _ = c.rcpt("postmaster")
        assert code == 250
        code, _ = c.data(b"Subject: to the postmaster\r\n\r\nhello\r\n")
        assert code == 250
    msgs = moat.wait_messages("demo@example.test", 1)
    assert len(msgs) == 1 and b"to the postmaster" in msgs[0]

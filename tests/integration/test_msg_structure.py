"""A message delivered over SMTP has its MIME structure computed once by
the store and kept in the index (messages.structure, a msg_structure
blob), covering the file as stored (Return-Path and Received included),
so IMAP FETCH ENVELOPE/BODYSTRUCTURE never re-parse it."""

import smtplib

BODY = (b"From: Sender <sender@remote.example>\r\n"
        b"To: demo@example.test\r\n"
        b"Subject: structure\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=\"b\"\r\n"
        b"\r\n"
        b"--b\r\n"
        b"Content-Type: multipart/alternative; boundary=\"a\"\r\n"
        b"\r\n"
        b"--a\r\n"
        b"\r\n"
        b"text\r\n"
        b"--a\r\n"
        b"Content-Type: text/html\r\n"
        b"\r\n"
        b"<p>html</p>\r\n"
        b"--a--\r\n"
        b"--b\r\n"
        b"Content-Type: message/rfc822\r\n"
        b"\r\n"
        b"Subject: inner\r\n"
        b"\r\n"
        b"inner\r\n"
        b"--b--\r\n")


def varint(blob, pos):
    value, shift = 0, 0
    while True:
        byte = blob[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def test_structure_cached_at_delivery(moat):
    with smtplib.SMTP("127.0.0.1", moat.smtp_port) as c:
        c.ehlo("client.example")
        assert c.sendmail("sender@remote.example", ["demo@example.test"],
                          BODY) == {}
    msgs = moat.wait_messages("demo@example.test", 1)
    assert len(msgs) == 1
    db = moat.index()
    (blob,) = db.execute("SELECT structure FROM messages").fetchone()
    db.close()
    assert blob is not None and blob[:4] == b"MSB2"
    size, pos = varint(blob, 4)
    parts, pos = varint(blob, pos)
    # the structure covers the file as stored, trace headers included
    assert size == len(msgs[0])
    # mixed, alternative, text, html, message/rfc822, its body
    assert parts == 6
    assert b"alternative" in blob and b"structure" in blob

"""An 8-bit message for a next hop without 8BITMIME (Postfix's smtp-sink
-8): Moat converts its 8-bit body parts to quoted-printable or base64
(RFC 6152 section 3) and relays it; the text reads the same after
decoding. Raw 8-bit bytes in a header field cannot be converted: that
message is returned to the sender with 5.6.3."""

import email
import email.policy
import glob
import os
import shutil
import smtplib
import ssl
import tempfile
import time

import pytest

from moat_harness import PASSWORD, free_port
from relay_peers import SmtpSink

FAST = {"relay.retry_min": "1s", "relay.retry_max": "2s",
        "queue.scan_interval": "1s"}
TEXT = "Grüße aus Zürich — naïve café, 東京\n" * 3


@pytest.fixture
def sink7():
    dump = tempfile.mkdtemp(prefix="moat-sink7-")
    os.chmod(dump, 0o777)
    port = free_port()
    sink = SmtpSink(port=port, extra=("-8", "-d", dump + "/%M."))
    yield port, dump
    sink.stop()
    shutil.rmtree(dump, ignore_errors=True)


def submit(moat, rcpt, body):
    with smtplib.SMTP("127.0.0.1", moat.submission_port) as c:
        c.starttls(context=ssl._create_unverified_context())
        c.login("demo@example.test", PASSWORD)
        c.sendmail("demo@example.test", [rcpt], body,
                   mail_options=["BODY=8BITMIME"])


def dumped(dump, count, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        files = sorted(glob.glob(os.path.join(dump, "*")))
        if len(files) >= count:
            time.sleep(0.2)  # smtp-sink writes, then the name is final
            return [open(f, "rb").read() for f in files]
        time.sleep(0.05)
    raise AssertionError("smtp-sink received %d messages" % len(files))


def test_8bit_body_is_converted_for_a_7bit_next_hop(moat_factory, sink7):
    port, dump = sink7
    moat = moat_factory(dict(FAST, **{
        "relay.routes": "corp.test=[127.0.0.1]:%d" % port}))
    body = ("From: <demo@example.test>\r\nTo: <staff@corp.test>\r\n"
            "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=b1\r\n\r\n"
            "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n" +
            TEXT.replace("\n", "\r\n") +
            "--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
            "plain ascii part\r\n--b1--\r\n").encode("utf-8")
    submit(moat, "staff@corp.test", body)
    raw = dumped(dump, 1)[0]
    assert all(b < 0x80 for b in raw), "8-bit bytes reached the sink"
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    parts = [p for p in msg.walk() if p.get_content_maintype() == "text"]
    assert parts[0]["Content-Transfer-Encoding"] in ("quoted-printable",
                                                     "base64")
    # (the CRLF before a boundary belongs to the boundary)
    assert parts[0].get_content().replace("\r\n", "\n") == TEXT[:-1]
    assert parts[1].get_content().strip() == "plain ascii part"
    assert str(msg["Subject"]) == "Grüße"
    assert "event=downgrade_7bit" in moat.log()
    assert "status=sent" in moat.log()


def test_8bit_header_is_returned_with_5_6_3(moat_factory, sink7):
    port, dump = sink7
    moat = moat_factory(dict(FAST, **{
        "relay.routes": "corp.test=[127.0.0.1]:%d" % port}))
    body = ("From: <demo@example.test>\r\nTo: <staff@corp.test>\r\n"
            "Subject: Grüße raw in the header\r\n\r\n" +
            TEXT.replace("\n", "\r\n")
            ).encode("utf-8")
    submit(moat, "staff@corp.test", body)
    msgs = moat.wait_messages("demo@example.test", 1)
    dsn = email.message_from_bytes(msgs[0], policy=email.policy.default)
    statuses = [str(s["Status"]) for p in dsn.walk()
                if p.get_content_type() == "message/delivery-status"
                for s in p.get_payload()[1:]]
    assert statuses == ["5.6.3"]
    assert glob.glob(os.path.join(dump, "*")) == []

"""No open relay, ever: unauthenticated mail to foreign domains is refused
on every port; authenticated users may send anywhere."""

import smtplib
import ssl

from moat_harness import PASSWORD, RawSMTP
from relay_peers import DNS, Sink


def test_open_relay_refused_on_mx_port(moat):
    for rcpt in ["victim@foreign.example", "victim@example.test@foreign.example",
                 "@example.test:victim@foreign.example",
                 "victim%foreign.example@example.test",
                 "victim@FOREIGN.example", "victim@[192.0.2.1]"]:
        s = RawSMTP(moat.smtp_port)
        s.cmd(b"EHLO client.example")
        assert s.cmd(b"MAIL FROM:<spammer@remote.example>")[0] == 250
        code, text = s.cmd(b"RCPT TO:<" + rcpt.encode() + b">")
        assert code in (550, 554, 501, 553), (rcpt, code, text)
        code, _ = s.cmd(b"DATA")
        assert code in (503, 554), rcpt
        s.cmd(b"QUIT")
        s.close()
    s = RawSMTP(moat.smtp_port)
    s.cmd(b"EHLO client.example")
    s.cmd(b"MAIL FROM:<spammer@remote.example>")
    code, text = s.cmd(b"RCPT TO:<victim@foreign.example>")
    assert code == 554 and b"5.7.1" in text and b"Relay access denied" in text
    s.close()
    assert moat.queue_files() == []


def test_unauthenticated_submission_cannot_relay(moat):
    ctx = ssl._create_unverified_context()
    with smtplib.SMTP("127.0.0.1", moat.submission_port) as c:
        c.ehlo("x")
        c.starttls(context=ctx)
        c.ehlo("x")
        code, _ = c.mail("demo@example.test")
        assert code == 530
        code, _ = c.rcpt("victim@foreign.example")
        assert code >= 500
    assert moat.queue_files() == []


def test_authenticated_user_may_send_anywhere(moat_factory):
    # foreign.example's MX is a real SMTP server (aiosmtpd) on loopback.
    dns = DNS("foreign.example. 60 IN MX 10 mx.foreign.example.\n"
              "mx.foreign.example. 60 IN A 127.0.0.1\n")
    sink = Sink().start()
    try:
        moat = moat_factory({"dns.servers": dns.setting,
                             "relay.remote_port": str(sink.port)})
        ctx = ssl._create_unverified_context()
        with smtplib.SMTP_SSL("127.0.0.1", moat.smtps_port,
                              context=ctx) as c:
            c.login("demo@example.test", PASSWORD)
            assert c.sendmail("demo@example.test", ["friend@foreign.example"],
                              b"Subject: out\r\n\r\nhello\r\n") == {}
        msgs = sink.wait(1)
        assert len(msgs) == 1 and msgs[0]["to"] == ["friend@foreign.example"]
    finally:
        sink.stop()
        dns.stop()


def test_unknown_local_user(moat):
    with smtplib.SMTP("127.0.0.1", moat.smtp_port) as c:
        c.ehlo("x")
        c.mail("a@remote.example")
        code, text = c.rcpt("nobody@example.test")
        assert code == 550 and b"5.1.1" in text
        code, _ = c.rcpt("demo@example.test")
        assert code == 250


def test_alias_to_foreign_address_is_delivered_both_ways(moat_factory):
    dns = DNS("foreign.example. 60 IN MX 10 mx.foreign.example.\n"
              "mx.foreign.example. 60 IN A 127.0.0.1\n")
    sink = Sink().start()
    try:
        moat = moat_factory({"dns.servers": dns.setting,
                             "relay.remote_port": str(sink.port)})
        moat.ctl("alias", "add", "fwd@example.test", "friend@foreign.example")
        moat.ctl("alias", "add", "fwd@example.test", "demo@example.test")
        with smtplib.SMTP("127.0.0.1", moat.smtp_port) as c:
            assert c.sendmail("a@remote.example", ["fwd@example.test"],
                              b"Subject: fwd\r\n\r\nforward me\r\n") == {}
        assert len(moat.wait_messages("demo@example.test", 1)) == 1
        msgs = sink.wait(1)
        assert len(msgs) == 1
        assert msgs[0]["to"] == ["friend@foreign.example"]
        assert msgs[0]["from"] == "a@remote.example"
        assert b"forward me" in msgs[0]["data"]
    finally:
        sink.stop()
        dns.stop()

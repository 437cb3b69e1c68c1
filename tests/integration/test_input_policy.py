"""Bad input gets a clear reply and loses nothing: SIZE, bare LF and CR,
NUL bytes, over-long lines, SMTP smuggling, pipelining, BDAT, clients that
vanish mid-DATA, and the per-session limits."""

import smtplib
import time

import pytest

from moat_harness import RawSMTP, strip_trace


def open_transaction(port, rcpts=(b"demo@example.test",)):
    s = RawSMTP(port)
    assert s.cmd(b"EHLO client.example")[0] == 250
    assert s.cmd(b"MAIL FROM:<a@remote.example>")[0] == 250
    for r in rcpts:
        assert s.cmd(b"RCPT TO:<" + r + b">")[0] == 250
    return s


def test_size_declared_too_big(moat_factory):
    moat = moat_factory({"smtp.max_message_size": "20k"})
    with smtplib.SMTP("127.0.0.1", moat.smtp_port) as c:
        c.ehlo("x")
        assert c.esmtp_features["size"] == str(20 * 1024)
        code, text = c.mail("a@remote.example", ["SIZE=30000"])
        assert code == 552 and b"5.3.4" in text


def test_size_enforced_while_streaming(moat_factory):
    moat = moat_factory({"smtp.max_message_size": "20k"})
    s = open_transaction(moat.smtp_port)
    assert s.cmd(b"DATA")[0] == 354
    s.send(b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 1000 + b".\r\n")
    code, text = s.reply()
    assert code == 552 and b"5.3.4" in text
    # The session goes on: a small message still works.
    assert s.cmd(b"RSET")[0] == 250
    assert s.cmd(b"MAIL FROM:<a@remote.example>")[0] == 250
    assert s.cmd(b"RCPT TO:<demo@example.test>")[0] == 250
    assert s.cmd(b"DATA")[0] == 354
    code, _ = s.cmd(b"Subject: small\r\n\r\nok\r\n.")
    assert code == 250
    s.close()
    msgs = moat.wait_messages("demo@example.test", 1)
    time.sleep(0.5)
    assert len(moat.messages("demo@example.test")) == 1
    assert b"Subject: small" in msgs[0]


@pytest.mark.parametrize("body,reply", [
    (b"Subject: lf\r\n\r\nbare\nline feed\r\n", b"554 5.6.0"),
    (b"Subject: cr\r\n\r\nbare\rcarriage return\r\n", b"554 5.6.0"),
    (b"Subject: nul\r\n\r\nnul\x00byte\r\n", b"554 5.6.0"),
    (b"Subject: long\r\n\r\n" + b"y" * 1200 + b"\r\n", b"552 5.3.4"),
])
def test_bad_data_rejected_and_nothing_stored(moat, body, reply):
    s = open_transaction(moat.smtp_port)
    assert s.cmd(b"DATA")[0] == 354
    s.send(body + b".\r\n")
    code, text = s.reply()
    assert text.startswith(reply), text
    assert s.cmd(b"NOOP")[0] == 250
    s.close()
    time.sleep(0.3)
    assert moat.queue_files() == []
    assert moat.messages("demo@example.test") == []


def test_smtp_smuggling_does_not_create_a_second_message(moat):
    s = open_transaction(moat.smtp_port)
    assert s.cmd(b"DATA")[0] == 354
    s.send(b"Subject: outer\r\n\r\nhello\n.\nMAIL FROM:<evil@remote.example>"
           b"\r\nRCPT TO:<demo@example.test>\r\nDATA\r\nSubject: smuggled"
           b"\r\n\r\nevil\r\n.\r\n")
    code, text = s.reply()
    assert code == 554, text
    assert s.cmd(b"QUIT")[0] == 221
    s.close()
    time.sleep(0.5)
    assert moat.messages("demo@example.test") == []
    s = open_transaction(moat.smtp_port)
    assert s.cmd(b"DATA")[0] == 354
    s.send(b"Subject: outer2\r\n\r\nhello\r\n.\rMAIL FROM:<e@r.example>\r\n"
           b".\r\n")
    code, _ = s.reply()
    assert code == 554
    s.close()


def test_pipelined_transaction_in_one_write(moat):
    s = RawSMTP(moat.smtp_port)
    s.send(b"EHLO client.example\r\nMAIL FROM:<a@remote.example>\r\n"
           b"RCPT TO:<demo@example.test>\r\nRCPT TO:<nobody@example.test>\r\n"
           b"DATA\r\n")
    codes = [s.reply()[0] for _ in range(5)]
    assert codes == [250, 250, 250, 550, 354]
    code, _ = s.cmd(b"Subject: piped\r\n\r\nbody\r\n.")
    assert code == 250
    s.close()
    assert len(moat.wait_messages("demo@example.test", 1)) == 1


def test_bdat_chunks_byte_for_byte(moat):
    part1 = b"Subject: chunked\r\n\r\nfirst part, "
    part2 = b"second part\r\n.not stuffed in BDAT\r\n"
    s = open_transaction(moat.smtp_port)
    s.send(b"BDAT %d\r\n" % len(part1) + part1)
    code, _ = s.reply()
    assert code == 250
    s.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
    code, text = s.reply()
    assert code == 250 and b"queued as" in text
    s.close()
    msg = moat.wait_messages("demo@example.test", 1)[0]
    assert strip_trace(msg) == part1 + part2


def test_disconnect_mid_data_leaves_nothing(moat):
    s = open_transaction(moat.smtp_port)
    assert s.cmd(b"DATA")[0] == 354
    s.send(b"Subject: cut\r\n\r\n" + b"partial line\r\n" * 500)
    time.sleep(0.3)
    s.close()
    time.sleep(1)
    assert moat.queue_files() == []
    assert moat.messages("demo@example.test") == []


def test_too_many_recipients(moat_factory):
    moat = moat_factory({"smtp.max_recipients": "3"})
    s = open_transaction(moat.smtp_port, rcpts=[b"demo@example.test"] * 3)
    code, text = s.cmd(b"RCPT TO:<demo@example.test>")
    assert code == 452 and b"4.5.3" in text
    s.close()


def test_too_many_errors(moat_factory):
    moat = moat_factory({"smtp.max_errors": "3"})
    s = RawSMTP(moat.smtp_port)
    codes = [s.cmd(b"BOGUS")[0] for _ in range(4)]
    assert codes[-1] == 421 or s.reply()[0] in (421, None)
    s.close()
    assert "error" in moat.log().lower()


def test_command_timeout(moat_factory):
    moat = moat_factory({"smtp.command_timeout": "2s"})
    s = RawSMTP(moat.smtp_port)
    s.cmd(b"EHLO client.example")
    time.sleep(3)
    code, text = s.reply()
    assert code == 421 and b"4.4.2" in text
    s.close()


def test_overlong_and_nul_commands(moat):
    s = RawSMTP(moat.smtp_port)
    code, text = s.cmd(b"NOOP " + b"a" * 600)
    assert code == 500 and b"5.5.2" in text
    code, text = s.cmd(b"NOOP a\x00b")
    assert code == 500
    assert s.cmd(b"NOOP")[0] == 250
    s.close()

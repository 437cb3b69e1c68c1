"""The filter chain and SPF over SMTP: a real moatd, smtplib as the client,
a dnslib server on loopback for the SPF records, and XCLIENT (allowed from
127.0.0.1 by smtp.xclient_trusted) to present documentation addresses,
since loopback clients are not judged by SPF.

Covers: Authentication-Results on the stored message (and removal of a
spoofed one claiming Moat's authserv-id), SPF fail rejected by the policy
step, on_error=tempfail and on_error=accept when a filter times out, the
CVE-2023-42118 guard on an exploit-shaped record, the message log, XCLIENT
refused to untrusted peers, and --check-config errors with file:line."""

import os
import smtplib
import subprocess
import time

import pytest

from moat_harness import MOATD, open_db

dnslib = pytest.importorskip("dnslib")
from dnslib import server as dns_server  # noqa: E402
from dns_harness import LoopbackDNS  # noqa: E402

USER = "demo@example.test"
ZONE = {
    "example.org": 'v=spf1 ip4:192.0.2.0/24 -all',
    "soft.example.org": 'v=spf1 ip4:192.0.2.0/24 ~all',
    # Exploit-shaped: macro digit and transformer abuse (CVE-2023-42118).
    "evil.example.org": 'v=spf1 a:%{d2147483648r+-.}.%{l1r+}.evil '
                        'exists:%{i99999999999999}.x -all',
    "helo.example.org": 'v=spf1 ip4:192.0.2.0/24 -all',
}
SLOW = "slow.example.org"


class SpfZone(dns_server.BaseResolver):
    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        if name == SLOW:
            time.sleep(3)  # longer than filter.spf.timeout
        if request.q.qtype == dnslib.QTYPE.TXT and name in ZONE:
            reply.add_answer(dnslib.RR(request.q.qname, dnslib.QTYPE.TXT,
                                       rdata=dnslib.TXT(ZONE[name]),
                                       ttl=60))
        elif name not in ZONE:
            reply.header.rcode = dnslib.RCODE.NXDOMAIN
        return reply


@pytest.fixture(scope="module")
def dns_port():
    dns = LoopbackDNS(SpfZone())
    yield dns.port
    dns.stop()


def settings(dns_port, **extra):
    s = {"dns.servers": "127.0.0.1@%d" % dns_port,
         "smtp.xclient_trusted": "127.0.0.1",
         "filters": "spf"}
    s.update(extra)
    return s


def send_at(moat, sender, body, ip="192.0.2.10", helo="helo.example.org"):
    """Sends one message as if from ip; returns (command, code, reply) of
    the first command refused (MAIL, RCPT), else of DATA."""
    c = smtplib.SMTP("127.0.0.1", moat.smtp_port, timeout=30)
    try:
        c.ehlo("client.test")
        assert "xclient" in c.esmtp_features
        code, msg = c.docmd("XCLIENT", "ADDR=%s" % ip)
        assert code == 220, msg
        c.ehlo_resp = None
        c.ehlo(helo)
        code, msg = c.mail(sender)
        if code >= 400:
            return "MAIL", code, msg
        code, msg = c.rcpt(USER)
        if code >= 400:
            return "RCPT", code, msg
        return ("DATA",) + tuple(c.data(body))
    finally:
        c.close()


def send(moat, sender, body, ip="192.0.2.10", helo="helo.example.org"):
    """send_at() without the command."""
    return send_at(moat, sender, body, ip, helo)[1:]


MESSAGE = (b"From: a@example.org\r\nTo: demo@example.test\r\n"
           b"Authentication-Results: mx.moat.test; spf=pass "
           b"smtp.mailfrom=forged@example.org\r\n"
           b"Authentication-Results: other.example; spf=fail\r\n"
           b"Subject: hello\r\n\r\nbody\r\n")


def header_block(message):
    return message.split(b"\r\n\r\n", 1)[0]


def test_authentication_results_added_and_spoof_removed(moat_factory,
                                                        dns_port):
    moat = moat_factory(settings(dns_port))
    code, msg = send(moat, "a@example.org", MESSAGE)
    assert code == 250, msg
    stored = moat.wait_messages(USER, 1)[0]
    head = header_block(stored)
    assert (b"Authentication-Results: mx.moat.test;\r\n"
            b"\tspf=pass smtp.mailfrom=a@example.org;\r\n"
            b"\tspf=pass smtp.helo=helo.example.org\r\n") in head
    # The forged one is gone, the foreign one stays, the body is intact.
    assert b"forged@example.org" not in head
    assert b"Authentication-Results: other.example; spf=fail" in head
    assert head.count(b"Authentication-Results: mx.moat.test") == 1
    assert stored.endswith(b"\r\n\r\nbody\r\n")
    # Moat's own header sits right below its Received line.
    lines = head.split(b"\r\n")
    first_ar = next(i for i, l in enumerate(lines)
                    if l.startswith(b"Authentication-Results: mx.moat"))
    assert lines[first_ar - 1].startswith(b"\t") or \
        lines[first_ar - 1].startswith(b"Received")


def test_spf_fail_tagged_without_policy(moat_factory, dns_port):
    moat = moat_factory(settings(dns_port))
    code, _ = send(moat, "a@example.org", MESSAGE, ip="198.51.100.7")
    assert code == 250
    head = header_block(moat.wait_messages(USER, 1)[0])
    assert b"\tspf=fail smtp.mailfrom=a@example.org" in head


def test_spf_fail_rejected_by_policy(moat_factory, dns_port):
    """SPF runs at MAIL; with smtp.delay_reject (the default) its reject
    is the answer to RCPT, as Postfix does, and nothing is queued."""
    moat = moat_factory(settings(dns_port,
                                 **{"policy.reject_symbols": "SPF_FAIL"}))
    cmd, code, msg = send_at(moat, "a@example.org", MESSAGE,
                             ip="198.51.100.7")
    assert (cmd, code) == ("RCPT", 550) and msg.startswith(b"5.7.23"), \
        (cmd, code, msg)
    assert not moat.queue_files()
    # softfail is not in the list: accepted.
    code, _ = send(moat, "b@soft.example.org", MESSAGE, ip="198.51.100.7")
    assert code == 250
    log = moat.log()
    assert "event=filter_refusal stage=mail action=reject by=symbol" in log
    # Refused before DATA: still one summary line, without a qid.
    assert "qid=- event=filters verdict=reject" in log


def test_spf_fail_rejected_at_mail_without_delay(moat_factory, dns_port):
    moat = moat_factory(settings(dns_port, **{
        "policy.reject_symbols": "SPF_FAIL", "smtp.delay_reject": "no"}))
    cmd, code, msg = send_at(moat, "a@example.org", MESSAGE,
                             ip="198.51.100.7")
    assert (cmd, code) == ("MAIL", 550) and msg.startswith(b"5.7.23"), \
        (cmd, code, msg)
    assert not moat.queue_files()


def test_timeout_on_error_tempfail(moat_factory, dns_port):
    moat = moat_factory(settings(dns_port, **{"filter.spf.timeout": "1s"}))
    cmd, code, msg = send_at(moat, "a@" + SLOW, MESSAGE)
    # SPF runs at MAIL; its tempfail is answered at RCPT (delay_reject).
    assert (cmd, code) == ("RCPT", 451) and msg.startswith(b"4.7.1"), \
        (cmd, code, msg)
    assert "event=filter_error filter=spf phase=mail" in moat.log()
    assert not moat.queue_files()


def test_timeout_on_error_accept(moat_factory, dns_port):
    moat = moat_factory(settings(dns_port, **{
        "filter.spf.timeout": "1s", "filter.spf.on_error": "accept"}))
    code, msg = send(moat, "a@" + SLOW, MESSAGE)
    assert code == 250, msg
    head = header_block(moat.wait_messages(USER, 1)[0])
    # The failed filter's results are dropped: no SPF entry of ours, and
    # the spoofed header is still removed.
    assert b"spf=pass smtp.mailfrom=a@" not in head
    assert b"forged@example.org" not in head


def test_exploit_shaped_record_is_permerror(moat_factory, dns_port):
    moat = moat_factory(settings(dns_port))
    code, msg = send(moat, "x@evil.example.org", MESSAGE)
    assert code == 250, msg
    head = header_block(moat.wait_messages(USER, 1)[0])
    assert b"\tspf=permerror reason=\"unsafe record: " in head
    log = moat.log()
    assert "SPF_UNSAFE_RECORD" in log


def test_message_log(moat_factory, dns_port):
    moat = moat_factory(settings(dns_port))
    code, msg = send(moat, "a@example.org", MESSAGE)
    assert code == 250
    qid = msg.decode().rsplit(" ", 1)[1]
    db = open_db(os.path.join(moat.data, "messagelog.db"))
    deadline = time.time() + 10
    rows = []
    while not rows and time.time() < deadline:
        rows = db.execute(
            "SELECT m.verdict, f.filter, f.status, s.name FROM messages m "
            "JOIN message_filters f ON f.message_id = m.id "
            "JOIN message_symbols s ON s.message_id = m.id "
            "WHERE m.qid = ? ORDER BY s.rowid", (qid,)).fetchall()
        time.sleep(0.05)
    db.close()
    assert rows[0][:3] == ("continue", "spf", "ok")
    assert [r[3] for r in rows] == ["SPF_PASS", "SPF_HELO_PASS"]
    line = [l for l in moat.log().splitlines()
            if "event=filters" in l and qid in l]
    assert line and "symbols=SPF_PASS(-0.50),SPF_HELO_PASS(-0.25)" in \
        line[0]


def test_xclient_refused_when_untrusted(moat_factory, dns_port):
    moat = moat_factory({"dns.servers": "127.0.0.1@%d" % dns_port})
    c = smtplib.SMTP("127.0.0.1", moat.smtp_port, timeout=10)
    c.ehlo("client.test")
    assert "xclient" not in c.esmtp_features
    code, _ = c.docmd("XCLIENT", "ADDR=192.0.2.1")
    assert code == 550
    c.quit()


@pytest.mark.parametrize("line,want", [
    ("filters = spf nope", "moat.conf:2: filters: unknown filter 'nope'"),
    ("filter.spf.colour = red",
     "moat.conf:2: filter.spf.colour: unknown setting"),
    ("filter.spf.timeout = 0s",
     "moat.conf:2: filter.spf.timeout: expected a duration"),
    ("filter.spf.helo = maybe", "moat.conf:2: filter.spf.helo: invalid"),
    ("filter.nope.x = 1", "moat.conf:2: filter.nope.x: unknown filter"),
])
def test_check_config_filter_errors(tmp_path, line, want):
    conf = tmp_path / "moat.conf"
    conf.write_text("data_dir = %s\n%s\n" % (tmp_path, line))
    r = subprocess.run([MOATD, "-c", str(conf), "--check-config"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert r.stderr.startswith(want.replace("moat.conf", str(conf))), \
        r.stderr

"""The filter chain's phases over SMTP: each phase runs when the session
reaches it (DNSBL at connect, SPF at MAIL, greylisting with min_score 0 at
RCPT) and its verdict answers that command through the policy step. A real
moatd, smtplib or a raw socket as the client, a dnslib server on loopback
serving the zones (some answers deliberately slow), XCLIENT from
smtp.xclient_trusted to present documentation addresses.

Covers: a DNSBL-listed client refused at RCPT (smtp.delay_reject, the
default) and in the greeting without it, nothing queued, the listing kept
across RSET; an SPF -all fail refused at RCPT, then RSET and a good
transaction accepted without the earlier results; greylisting one recipient
while the other is accepted; clients that disconnect while a slow filter
runs at connect and at MAIL, after which the daemon goes on serving; an
authenticated submission session not checked against the DNSBL."""

import os
import smtplib
import ssl
import time

import pytest

from moat_harness import PASSWORD, RawSMTP, open_db

dnslib = pytest.importorskip("dnslib")
from dnslib import server as dns_server  # noqa: E402
from dns_harness import LoopbackDNS  # noqa: E402

USER = "demo@example.test"
OTHER = "other@example.test"
LISTED = "192.0.2.99"
SLOW_IP = "192.0.2.77"
CLEAN = "192.0.2.98"
A_RECORDS = {"99.2.0.192.bl.test": "127.0.0.2"}
TXT = {
    "example.org": "v=spf1 ip4:192.0.2.0/24 -all",
    "helo.example.org": "v=spf1 ip4:192.0.2.0/24 -all",
}
SLOW_NAMES = {"77.2.0.192.bl.test", "slow.example.org"}

MESSAGE = (b"From: a@example.org\r\nTo: demo@example.test\r\n"
           b"Subject: phases\r\n\r\nbody\r\n")


class Zone(dns_server.BaseResolver):
    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        qtype = request.q.qtype
        if name in SLOW_NAMES:
            time.sleep(2)  # a slow filter: the client goes meanwhile
        if qtype == dnslib.QTYPE.A and name in A_RECORDS:
            reply.add_answer(dnslib.RR(request.q.qname, dnslib.QTYPE.A,
                                       rdata=dnslib.A(A_RECORDS[name]),
                                       ttl=60))
        elif qtype == dnslib.QTYPE.TXT and name in TXT:
            reply.add_answer(dnslib.RR(request.q.qname, dnslib.QTYPE.TXT,
                                       rdata=dnslib.TXT(TXT[name]), ttl=60))
        elif name not in A_RECORDS and name not in TXT:
            reply.header.rcode = dnslib.RCODE.NXDOMAIN
        return reply


@pytest.fixture(scope="module")
def dns_port():
    dns = LoopbackDNS(Zone())
    yield dns.port
    dns.stop()


def settings(dns_port, **extra):
    s = {"dns.servers": "127.0.0.1@%d" % dns_port,
         "smtp.xclient_trusted": "127.0.0.1",
         "filters": "dnsbl",
         "filter.dnsbl.zones": "bl.test/127.0.0.2=RBL_TEST:5",
         "policy.reject_symbols": "RBL_TEST"}
    s.update(extra)
    return s


def session(moat, ip, helo="helo.example.org"):
    """A raw session presenting ip: XCLIENT's answer is the greeting the
    connect phase decided; then EHLO."""
    c = RawSMTP(moat.smtp_port, timeout=30)
    assert c.greeting[0] == 220, c.greeting
    assert c.cmd(b"EHLO client.test")[0] == 250
    greeting = c.cmd(b"XCLIENT ADDR=" + ip.encode())
    return c, greeting


def wait_log(moat, text, count=1, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if moat.log().count(text) >= count:
            return
        time.sleep(0.05)
    raise AssertionError("not in the log %d times: %s" % (count, text))


def test_dnsbl_listed_client_refused_at_rcpt(moat_factory, dns_port):
    moat = moat_factory(settings(dns_port))
    c, greeting = session(moat, LISTED)
    try:
        assert greeting[0] == 220, greeting
        assert c.cmd(b"EHLO helo.example.org")[0] == 250
        assert c.cmd(b"MAIL FROM:<a@remote.example>")[0] == 250
        code, text = c.cmd(b"RCPT TO:<demo@example.test>")
        assert code == 554 and b"5.7.1" in text, text
        assert b"RBL_TEST" in text
        assert c.cmd(b"DATA")[0] == 554  # no valid recipients
        # The listing belongs to the connection: it survives RSET.
        assert c.cmd(b"RSET")[0] == 250
        assert c.cmd(b"MAIL FROM:<b@remote.example>")[0] == 250
        assert c.cmd(b"RCPT TO:<demo@example.test>")[0] == 554
        assert c.cmd(b"QUIT")[0] == 221
    finally:
        c.close()
    assert not moat.queue_files()
    # An address that is not listed passes in the same daemon.
    c, greeting = session(moat, CLEAN)
    try:
        assert greeting[0] == 220
        assert c.cmd(b"EHLO helo.example.org")[0] == 250
        assert c.cmd(b"MAIL FROM:<a@remote.example>")[0] == 250
        assert c.cmd(b"RCPT TO:<demo@example.test>")[0] == 250
        assert c.cmd(b"DATA")[0] == 354
        c.send(MESSAGE + b".\r\n")
        assert c.reply()[0] == 250
    finally:
        c.close()
    assert len(moat.wait_messages(USER, 1)) == 1
    wait_log(moat, "event=disconnect", 2)
    log = moat.log()
    assert "event=filter_refusal stage=connect action=reject" in log
    assert "reason=filter stage=connect by=symbol" in log
    # Each refused transaction has its summary line, without a qid.
    assert log.count("qid=- event=filters verdict=reject") == 2
    # ... and its message-log row, with the connection's symbols.
    db = open_db(os.path.join(moat.data, "messagelog.db"))
    deadline = time.time() + 10
    rows = []
    while len(rows) < 2 and time.time() < deadline:
        rows = db.execute(
            "SELECT m.verdict, m.client_ip, s.name FROM messages m "
            "JOIN message_symbols s ON s.message_id = m.id "
            "WHERE m.qid = '' ORDER BY m.id").fetchall()
        time.sleep(0.05)
    db.close()
    assert rows == [("reject", LISTED, "RBL_TEST")] * 2, rows


def test_dnsbl_refused_in_greeting_without_delay(moat_factory, dns_port):
    moat = moat_factory(settings(dns_port, **{"smtp.delay_reject": "no"}))
    c, greeting = session(moat, LISTED)
    try:
        assert greeting[0] == 554 and b"RBL_TEST" in greeting[1], greeting
        assert c.cmd(b"EHLO helo.example.org")[0] == 554
        assert c.cmd(b"MAIL FROM:<a@remote.example>")[0] == 554
        assert c.cmd(b"QUIT")[0] == 221
    finally:
        c.close()
    assert not moat.queue_files()


def test_spf_fail_then_rset_then_good_transaction(moat_factory, dns_port):
    moat = moat_factory(settings(dns_port, **{
        "filters": "spf", "policy.reject_symbols": "SPF_FAIL"}))
    c = smtplib.SMTP("127.0.0.1", moat.smtp_port, timeout=30)
    try:
        c.ehlo("client.test")
        assert c.docmd("XCLIENT", "ADDR=198.51.100.7")[0] == 220
        c.ehlo_resp = None
        c.ehlo("client.test")
        # SPF runs at MAIL: -all fails; policy refuses it at RCPT.
        assert c.mail("a@example.org")[0] == 250
        code, text = c.rcpt(USER)
        assert code == 550 and text.startswith(b"5.7.23"), text
        c.rset()
        # A sender without SPF: the fail of the last transaction is gone.
        assert c.mail("b@nospf.example.net")[0] == 250
        assert c.rcpt(USER)[0] == 250
        code, text = c.data(MESSAGE)
        assert code == 250, text
        qid = text.decode().rsplit(" ", 1)[1]
    finally:
        c.close()
    stored = moat.wait_messages(USER, 1)[0]
    head = stored.split(b"\r\n\r\n", 1)[0]
    assert b"spf=none smtp.mailfrom=b@nospf.example.net" in head
    assert b"spf=fail" not in head
    line = next(l for l in moat.log().splitlines()
                if "qid=%s event=filters" % qid in l)
    assert "SPF_NONE" in line and "SPF_FAIL" not in line, line


def test_greylist_one_recipient_other_accepted(moat_factory, dns_port):
    moat = moat_factory(settings(dns_port, **{
        "filters": "greylist", "policy.reject_symbols": "",
        "filter.greylist.min_score": "0",
        "filter.greylist.delay": "1s"}), users=(USER, OTHER))
    c, greeting = session(moat, "192.0.2.10")
    try:
        assert c.cmd(b"EHLO helo.example.org")[0] == 250
        assert c.cmd(b"MAIL FROM:<s@remote.example>")[0] == 250
        code, text = c.cmd(b"RCPT TO:<other@example.test>")
        assert code == 451 and b"4.7.1" in text, text
    finally:
        c.close()
    time.sleep(1.2)  # the greylisting delay, not a timing assertion
    c, greeting = session(moat, "192.0.2.10")
    try:
        assert c.cmd(b"EHLO helo.example.org")[0] == 250
        assert c.cmd(b"MAIL FROM:<s@remote.example>")[0] == 250
        # A new triplet is deferred, the retried one is accepted.
        code, text = c.cmd(b"RCPT TO:<demo@example.test>")
        assert code == 451 and b"Greylisted" in text, text
        assert c.cmd(b"RCPT TO:<other@example.test>")[0] == 250
        assert c.cmd(b"DATA")[0] == 354
        c.send(MESSAGE + b".\r\n")
        assert c.reply()[0] == 250
    finally:
        c.close()
    assert len(moat.wait_messages(OTHER, 1)) == 1
    assert moat.messages(USER) == []
    assert ("event=rcpt result=tempfail to=<demo@example.test> "
            "reason=filter stage=rcpt by=greylist") in moat.log()


def test_disconnect_while_slow_filter_runs(moat_factory, dns_port):
    moat = moat_factory(settings(dns_port, **{
        "filters": "dnsbl spf", "filter.dnsbl.timeout": "5s",
        "filter.spf.timeout": "5s"}))
    # Gone during the connect phase (the DNSBL answer takes 2 s).
    c = RawSMTP(moat.smtp_port, timeout=30)
    assert c.cmd(b"EHLO client.test")[0] == 250
    c.send(b"XCLIENT ADDR=" + SLOW_IP.encode() + b"\r\n")
    c.close()
    # Gone during the MAIL phase (the SPF record takes 2 s), with QUIT.
    c, greeting = session(moat, CLEAN)
    assert greeting[0] == 220
    assert c.cmd(b"EHLO helo.example.org")[0] == 250
    c.send(b"MAIL FROM:<a@slow.example.org>\r\nQUIT\r\n")
    c.close()
    wait_log(moat, "event=disconnect", 2)
    # The daemon goes on serving, with the same smtpd process.
    c, greeting = session(moat, CLEAN)
    try:
        assert greeting[0] == 220
        assert c.cmd(b"EHLO helo.example.org")[0] == 250
        assert c.cmd(b"MAIL FROM:<a@example.org>")[0] == 250
        assert c.cmd(b"RCPT TO:<demo@example.test>")[0] == 250
        assert c.cmd(b"DATA")[0] == 354
        c.send(MESSAGE + b".\r\n")
        assert c.reply()[0] == 250
    finally:
        c.close()
    assert len(moat.wait_messages(USER, 1)) == 1
    log = moat.log()
    assert "service_exit service=smtpd" not in log
    assert "event=filter_watchdog" not in log


def insecure():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def test_authenticated_submission_not_checked_by_dnsbl(moat_factory,
                                                       dns_port):
    """Submission: every sender must authenticate, so the client address
    is not looked up in the DNSBL (Postfix's permit_sasl_authenticated
    before reject_rbl_client)."""
    moat = moat_factory(settings(dns_port))
    with smtplib.SMTP("127.0.0.1", moat.submission_port, timeout=30) as c:
        c.ehlo("client.test")
        assert c.docmd("XCLIENT", "ADDR=" + LISTED)[0] == 220
        c.ehlo_resp = None
        c.ehlo("client.test")
        c.starttls(context=insecure())
        c.ehlo("client.test")
        c.login(USER, PASSWORD)
        c.sendmail(USER, [USER], MESSAGE)
    assert len(moat.wait_messages(USER, 1)) == 1
    assert "event=filter_refusal" not in moat.log()


def test_command_timeout_while_filter_runs(moat_factory, dns_port):
    """The session's idle timeout does not run while the session waits for
    its filters (the client is waiting for us; the filter timeouts and the
    watchdog bound that wait): a connect phase slower than
    smtp.command_timeout still ends in the greeting, and the idle timeout
    applies again afterwards."""
    moat = moat_factory(settings(dns_port, **{
        "smtp.command_timeout": "1s", "filter.dnsbl.timeout": "5s"}))
    c = RawSMTP(moat.smtp_port, timeout=30)
    try:
        assert c.cmd(b"EHLO client.test")[0] == 250
        code, text = c.cmd(b"XCLIENT ADDR=" + SLOW_IP.encode())
        assert code == 220, (code, text)
        # Idle now: the timeout closes the session.
        code, text = c.reply()
        assert code == 421 and b"Timeout" in text, (code, text)
    finally:
        c.close()
    wait_log(moat, "event=disconnect")
    c, greeting = session(moat, CLEAN)
    try:
        assert greeting[0] == 220
        assert c.cmd(b"QUIT")[0] == 221
    finally:
        c.close()
    assert "service_exit service=smtpd" not in moat.log()

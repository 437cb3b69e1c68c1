"""The sender_domain filter with the real daemon and a DNS server on
loopback (dnslib): an envelope sender whose domain does not exist, has
no MX and no address, or publishes a null MX (RFC 7505) is refused at
RCPT (550 5.1.8 / 5.7.27, smtp.delay_reject) and nothing is stored; a
domain with an MX or only an address, the null sender, authenticated
and internal clients pass; with action = score the mail is taken with
the symbol; a failed lookup accepts, or defers with defer_on_dns_error.
The client is 127.0.0.1, presented as a public address with XCLIENT."""

import email
import email.policy

import pytest

dnslib = pytest.importorskip("dnslib")
from dns_harness import LoopbackDNS, ZoneResolver  # noqa: E402
from moat_harness import smtp_session  # noqa: E402

ZONE = """
good.test.          300 IN MX 10 mail.good.test.
mail.good.test.     300 IN A 192.0.2.25
aonly.test.         300 IN A 192.0.2.26
nullmx.test.        300 IN MX 0 .
nodata.test.        300 IN TXT "v=spf1 -all"
"""

PUBLIC_CLIENT = "198.51.100.9"


class FailingZone(ZoneResolver):
    """The zone, but SERVFAIL for any name under broken.test."""

    def resolve(self, request, handler):
        if str(request.q.qname).endswith("broken.test."):
            reply = request.reply()
            reply.header.rcode = dnslib.RCODE.SERVFAIL
            return reply
        return super().resolve(request, handler)


@pytest.fixture
def dns_port():
    dns = LoopbackDNS(FailingZone(ZONE))
    yield dns.port
    dns.stop()


def settings(dns_port, extra=None):
    s = {"dns.servers": "127.0.0.1@%d" % dns_port,
         "filters": "sender_domain spam",
         "smtp.xclient_trusted": "127.0.0.1"}
    s.update(extra or {})
    return s


def body(sender):
    return ("From: %s\r\nTo: demo@example.test\r\nSubject: from %s\r\n"
            "Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
            "Message-Id: <%s.1@test>\r\n\r\nhello\r\n"
            % (sender or "mailer-daemon@good.test", sender or "<>",
               abs(hash(sender)))).encode()


def send(port, sender, ip=PUBLIC_CLIENT):
    """(code, text) of RCPT when it refused, else of DATA."""
    with smtp_session(port, ip) as c:
        c.mail(sender)
        code, text = c.rcpt("demo@example.test")
        if code >= 400:
            return code, text.decode()
        code, text = c.data(body(sender))
        return code, text.decode()


def header(msg, name):
    parsed = email.message_from_bytes(msg, policy=email.policy.compat32)
    return [" ".join(v.split()) for v in parsed.get_all(name, [])]


def test_senders_that_cannot_take_mail_are_refused(moat_factory, dns_port):
    moat = moat_factory(settings(dns_port))
    for sender in ("alice@good.test", "bob@AOnly.test", ""):
        code, text = send(moat.smtp_port, sender)
        assert code == 250, (sender, code, text)
    refused = {"x@missing.test": "5.1.8", "x@nodata.test": "5.1.8",
               "x@nullmx.test": "5.7.27"}
    for sender, enhanced in refused.items():
        code, text = send(moat.smtp_port, sender)
        assert code == 550 and text.startswith(enhanced), (sender, text)
        assert sender.split("@")[1] in text, text
    assert len(moat.wait_messages("demo@example.test", 3)) == 3
    # an internal client is not checked (skip_internal)
    assert send(moat.smtp_port, "x@missing.test", ip=None)[0] == 250
    assert len(moat.wait_messages("demo@example.test", 4)) == 4


def test_score_mode_takes_the_mail_with_the_symbol(moat_factory, dns_port):
    moat = moat_factory(settings(dns_port, {
        "filter.sender_domain.action": "score"}))
    assert send(moat.smtp_port, "x@missing.test")[0] == 250
    msg = moat.wait_messages("demo@example.test", 1)[0]
    symbols = header(msg, "X-Spam-Symbols")[0]
    assert "SENDER_DOMAIN_UNKNOWN(4.00)" in symbols, symbols


def test_dns_failure_accepts_or_defers(moat_factory, dns_port):
    moat = moat_factory(settings(dns_port))
    assert send(moat.smtp_port, "x@broken.test")[0] == 250
    moat.stop()
    moat = moat_factory(settings(dns_port, {
        "filter.sender_domain.defer_on_dns_error": "yes"}))
    code, text = send(moat.smtp_port, "x@broken.test")
    assert code == 451 and text.startswith("4.4.3"), text

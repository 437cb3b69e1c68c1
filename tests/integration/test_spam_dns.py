"""DNS blocklists and greylisting over SMTP with the real daemon and a real
DNS server on loopback (dnslib) serving test zones: a listed client address
(DNSBL) and a listed URL domain (URIBL) add their configured symbols and
scores; a suspicious first-time triplet gets 451 4.7.1 and passes when
retried after the delay (at DATA; with min_score 0 at RCPT); mail below
the greylisting score is not delayed.
The client is 127.0.0.1, so the DNSBL test turns filter.dnsbl.skip_private
off instead of presenting another address."""

import email
import email.policy
import time

import pytest

dnslib = pytest.importorskip("dnslib")
from dns_harness import LoopbackDNS  # noqa: E402
from moat_harness import smtp_session  # noqa: E402

ZONE = """
1.0.0.127.bl.test.              300 IN A 127.0.0.2
99.2.0.192.bl.test.             300 IN A 127.0.0.2
bad-domain.test.uribl.test.     300 IN A 127.0.0.2
xn--bcher-kva.test.uribl.test.  300 IN A 127.0.0.2
spammer.test.dbl.test.          300 IN A 127.0.1.2
"""

HAM = (b"From: Alice <alice@remote.example>\r\n"
       b"To: demo@example.test\r\n"
       b"Subject: minutes of the project meeting\r\n"
       b"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
       b"Message-Id: <ham@remote.example>\r\n"
       b"\r\n"
       b"Hello, the minutes are at https://docs.good.test/minutes and\r\n"
       b"the agenda is at http://www.bad-domain.test/agenda\r\n")


@pytest.fixture
def dns_port():
    dns = LoopbackDNS(ZONE)
    yield dns.port
    dns.stop()


def send(port, body, sender="sender@remote.example", ip=None,
         helo="client.example"):
    """RCPT's reply when it refused (greylisting with min_score 0 defers
    each recipient at RCPT), else DATA's; ip presents another client
    address (XCLIENT)."""
    with smtp_session(port, ip, helo) as c:
        c.mail(sender)
        code, text = c.rcpt("demo@example.test")
        if code >= 400:
            return code, text
        return c.data(body)


def header(msg, name):
    parsed = email.message_from_bytes(msg, policy=email.policy.compat32)
    return [" ".join(v.split()) for v in parsed.get_all(name, [])]


def dnsbl_settings(dns_port, extra=None):
    s = {"dns.servers": "127.0.0.1@%d" % dns_port,
         "filters": "dnsbl spam",
         "filter.dnsbl.zones": "bl.test/127.0.0.2=RBL_TEST_LISTED:6",
         "filter.dnsbl.uribl_zones": "uribl.test=URIBL_TEST_LISTED:2.5",
         "filter.dnsbl.skip_private": "no",
         "smtp.xclient_trusted": "127.0.0.1"}
    s.update(extra or {})
    return s


def test_dnsbl_and_uribl_score(moat_factory, dns_port):
    moat = moat_factory(dnsbl_settings(dns_port))
    code, _ = send(moat.smtp_port, HAM)
    assert code == 250
    msg = moat.wait_messages("demo@example.test", 1)[0]
    symbols = header(msg, "X-Spam-Symbols")[0]
    assert "RBL_TEST_LISTED(6.00)" in symbols, symbols
    assert "URIBL_TEST_LISTED(2.50)" in symbols, symbols
    assert header(msg, "X-Spam-Status")[0].startswith("Yes, score=8.50")


# Links a browser follows to the listed domain, written as a spammer
# writes them to pass a URL check that reads them more strictly.
EVASIVE_LINKS = [
    '<a href="http:\\\\www.bad-domain.test\\offer">x</a>',
    '<a href="https:///bad-domain.test/">x</a>',
    '<a href="http:bad-domain.test/">x</a>',
    '<a href="http://paypal.com@login@bad-domain.test/">x</a>',
    '<a href="http://bad%2Ddomain%2Etest/">x</a>',
    '<a href="http://bad-domain\u3002test/">x</a>',
    '<a href="http://\uff42\uff41\uff44-domain.test/">x</a>',
    '<a href="http://b\u00fccher.test/">x</a>',
    '<meta http-equiv="refresh" content="0; URL=\'http://bad-domain.test/\'">',
    '<form><button formaction="https://bad-domain.test/login">x</button>',
    '<a href="https://www.google.test/url?q=https://bad-domain.test/&sa=D">x'
    '</a>',
    '<a href="http://click.example/c?u=https%3A%2F%2Fbad-domain.test%2F">x'
    '</a>',
    # padded past 2,048 characters (browsers drop the line breaks)
    '<a href="http://bad-domain.test/?%s">x</a>' % (("A" * 500 + "\r\n") * 6),
]


def test_uribl_reads_links_as_browsers_do(moat_factory, dns_port):
    moat = moat_factory(dnsbl_settings(dns_port, {"filter.dnsbl.zones": ""}))
    for i, link in enumerate(EVASIVE_LINKS):
        body = ("From: Alice <alice@remote.example>\r\n"
                "To: demo@example.test\r\n"
                "Subject: offer %d\r\n"
                "Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
                "Message-Id: <evasive%d@remote.example>\r\n"
                "MIME-Version: 1.0\r\n"
                "Content-Type: text/html; charset=utf-8\r\n"
                "Content-Transfer-Encoding: 8bit\r\n"
                "\r\n"
                "<html><body>%s</body></html>\r\n" % (i, i, link))
        code, _ = send(moat.smtp_port, body.encode("utf-8"))
        assert code == 250
    msgs = moat.wait_messages("demo@example.test", len(EVASIVE_LINKS))
    assert len(msgs) == len(EVASIVE_LINKS)
    for msg in msgs:
        link = EVASIVE_LINKS[int(header(msg, "Subject")[0].split()[-1])]
        symbols = header(msg, "X-Spam-Symbols")[0]
        assert "URIBL_TEST_LISTED(2.50)" in symbols, (link, symbols)


def test_uribl_padding_with_big_sites_does_not_hide_a_link(moat_factory,
                                                          dns_port):
    """Links to big sites no list names (filter.dnsbl.skip_domains) are not
    looked up and do not count toward max_uri_domains: links to 25 of them
    before the listed link leave it looked up."""
    moat = moat_factory(dnsbl_settings(dns_port, {"filter.dnsbl.zones": ""}))
    sites = ("google.com gmail.com youtube.com gstatic.com googleapis.com "
             "microsoft.com outlook.com hotmail.com live.com msn.com "
             "office.com yahoo.com aol.com apple.com icloud.com amazon.com "
             "facebook.com instagram.com linkedin.com twitter.com "
             "wikipedia.org w3.org mozilla.org github.com adobe.com").split()
    assert len(sites) == 25
    padding = "".join('<a href="https://www.%s/">x</a>\r\n' % site
                      for site in sites)
    body = ("From: Alice <alice@remote.example>\r\n"
            "To: demo@example.test\r\n"
            "Subject: padded\r\n"
            "Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
            "Message-Id: <padded@remote.example>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/html; charset=utf-8\r\n"
            "\r\n"
            "<html><body>%s<a href=\"http://bad-domain.test/\">x</a>"
            "</body></html>\r\n" % padding)
    assert send(moat.smtp_port, body.encode())[0] == 250
    # with no skip list they fill max_uri_domains (20) before it
    moat2 = moat_factory(dnsbl_settings(dns_port, {
        "filter.dnsbl.zones": "", "filter.dnsbl.skip_domains": ""}))
    assert send(moat2.smtp_port, body.encode())[0] == 250
    symbols = header(moat.wait_messages("demo@example.test", 1)[0],
                     "X-Spam-Symbols")[0]
    assert "URIBL_TEST_LISTED(2.50)" in symbols, symbols
    symbols = header(moat2.wait_messages("demo@example.test", 1)[0],
                     "X-Spam-Symbols")[0]
    assert "URIBL_TEST_LISTED" not in symbols, symbols


def test_sender_domains_looked_up(moat_factory, dns_port):
    """A domain blocklist (Spamhaus DBL's form) for the sender's domains:
    the envelope sender, From, Reply-To and HELO name are each looked up,
    as registrable domains; a clean message gets no symbol."""
    moat = moat_factory(dnsbl_settings(dns_port, {
        "filter.dnsbl.zones": "", "filter.dnsbl.uribl_zones": "",
        "filter.dnsbl.sender_zones": "dbl.test/127.0.1.2=DBL_TEST_SENDER:3"}))
    cases = {
        "envelope": dict(sender="bounce@mail.spammer.test"),
        "from": dict(header="From: Shop <news@SPAMMER.test>"),
        "replyto": dict(header="Reply-To: <orders@spammer.test.>"),
        "helo": dict(helo="smtp.spammer.test"),
        "clean": dict(),
    }
    for name, c in cases.items():
        head = c.get("header", "From: Alice <alice@remote.example>")
        if not head.startswith("From:"):
            head = "From: Alice <alice@remote.example>\r\n" + head
        body = ("%s\r\nTo: demo@example.test\r\nSubject: %s\r\n"
                "Message-Id: <%s@remote.example>\r\n\r\nhello\r\n"
                % (head, name, name)).encode()
        code, _ = send(moat.smtp_port, body,
                       sender=c.get("sender", "sender@remote.example"),
                       helo=c.get("helo", "client.example"))
        assert code == 250
    msgs = moat.wait_messages("demo@example.test", len(cases))
    assert len(msgs) == len(cases)
    for msg in msgs:
        name = header(msg, "Subject")[0]
        symbols = header(msg, "X-Spam-Symbols")[0]
        assert ("DBL_TEST_SENDER(3.00)" in symbols) == (name != "clean"), (
            name, symbols)


def test_uribl_lookups_run_side_by_side(moat_factory):
    """Thirty URL domains against a list server that takes 0.2 s an
    answer, within a 3 s filter timeout: one after another they would
    take 6 s and the listed domain, the last, would never be asked."""
    from dns_harness import ZoneResolver

    class Slow(ZoneResolver):
        def resolve(self, request, handler):
            if str(request.q.qname).endswith("uribl.test."):
                time.sleep(0.2)
            return super().resolve(request, handler)

    dns = LoopbackDNS(Slow(ZONE))
    try:
        moat = moat_factory(dnsbl_settings(dns.port, {
            "filter.dnsbl.zones": "", "filter.dnsbl.timeout": "3s",
            "filter.dnsbl.max_uri_domains": "30"}))
        links = "".join("http://www.site%d.test/\r\n" % i
                        for i in range(29))
        body = ("From: Alice <alice@remote.example>\r\n"
                "To: demo@example.test\r\nSubject: many links\r\n"
                "Message-Id: <many@remote.example>\r\n\r\n%s"
                "http://www.bad-domain.test/\r\n" % links).encode()
        code, _ = send(moat.smtp_port, body)
        assert code == 250
        msg = moat.wait_messages("demo@example.test", 1)[0]
        symbols = header(msg, "X-Spam-Symbols")[0]
        assert "URIBL_TEST_LISTED(2.50)" in symbols, symbols
    finally:
        dns.stop()


def test_dnsbl_listed_remote_client(moat_factory, dns_port):
    moat = moat_factory(dnsbl_settings(dns_port, {
        "filter.dnsbl.skip_private": "yes",
        "filter.dnsbl.uribl_zones": ""}))
    code, _ = send(moat.smtp_port, HAM, ip="192.0.2.99")
    assert code == 250
    code, _ = send(moat.smtp_port, HAM, ip="192.0.2.98")
    assert code == 250
    msgs = moat.wait_messages("demo@example.test", 2)
    assert "RBL_TEST_LISTED(6.00)" in header(msgs[0], "X-Spam-Symbols")[0]
    assert "RBL_TEST_LISTED" not in header(msgs[1], "X-Spam-Symbols")[0]


def test_dnsbl_private_address_skipped(moat_factory, dns_port):
    moat = moat_factory(dnsbl_settings(dns_port, {
        "filter.dnsbl.skip_private": "yes",
        "filter.dnsbl.uribl_zones": ""}))
    code, _ = send(moat.smtp_port, HAM)
    assert code == 250
    msg = moat.wait_messages("demo@example.test", 1)[0]
    assert "RBL_TEST_LISTED" not in header(msg, "X-Spam-Symbols")[0]


def test_greylist_then_pass_after_delay(moat_factory, dns_port):
    moat = moat_factory(dnsbl_settings(dns_port, {
        "filters": "dnsbl spam greylist",
        "filter.dnsbl.zones": "bl.test=RBL_TEST_LISTED:3",
        "filter.dnsbl.uribl_zones": "",
        "filter.spam.tag_score": "5",
        "filter.greylist.min_score": "2",
        "filter.greylist.delay": "1s",
        "filter.greylist.retry_window": "1h"}))
    code, text = send(moat.smtp_port, HAM)
    assert code == 451 and text.startswith(b"4.7.1"), text
    code, text = send(moat.smtp_port, HAM)
    assert code == 451, "a retry before the delay is still deferred"
    time.sleep(1.2)
    code, _ = send(moat.smtp_port, HAM)
    assert code == 250
    assert len(moat.wait_messages("demo@example.test", 1)) == 1
    # Known now: passes at once, also for a new message.
    code, _ = send(moat.smtp_port, HAM.replace(b"<ham@", b"<ham2@"))
    assert code == 250
    # Another sender is a new triplet.
    code, _ = send(moat.smtp_port, HAM, sender="other@remote.example")
    assert code == 451


def test_greylist_keys_on_the_network(moat_factory, dns_port):
    moat = moat_factory(dnsbl_settings(dns_port, {
        "filters": "dnsbl spam greylist",
        "filter.dnsbl.zones": "",
        "filter.dnsbl.uribl_zones": "",
        "filter.greylist.min_score": "0",
        "filter.greylist.delay": "1s"}))
    code, _ = send(moat.smtp_port, HAM, ip="192.0.2.10")
    assert code == 451
    time.sleep(1.2)
    # The retry comes from another host of the same /24: it passes.
    code, _ = send(moat.smtp_port, HAM, ip="192.0.2.200")
    assert code == 250
    # Another /24 is a new triplet.
    code, _ = send(moat.smtp_port, HAM, ip="198.51.100.10")
    assert code == 451


def test_greylist_not_below_score(moat_factory, dns_port):
    moat = moat_factory(dnsbl_settings(dns_port, {
        "filters": "dnsbl spam greylist",
        "filter.dnsbl.zones": "",
        "filter.dnsbl.uribl_zones": "",
        "filter.greylist.min_score": "2",
        "filter.greylist.delay": "1h"}))
    code, _ = send(moat.smtp_port, HAM)
    assert code == 250

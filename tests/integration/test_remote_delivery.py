"""Mail leaving the gateway: relay domains to an internal host, the
internet by MX records, against real SMTP servers on loopback (aiosmtpd,
Postfix's smtp-sink) and a loopback DNS server. moatd's relay.remote_port
points "port 25" of every remote host at the peers' port; the hosts differ
by loopback address (127.0.0.1, 127.0.0.2, ...)."""

import email
import email.policy
import os
import smtplib
import ssl

import pytest

from moat_harness import PASSWORD, RawSMTP
from relay_peers import DNS, Handler, Sink, SmtpSink, free_port, wait_for

FAST = {"relay.retry_min": "1s", "relay.retry_max": "2s",
        "queue.scan_interval": "1s"}


def zone(extra=""):
    return """
remote.test.       60 IN MX 10 mx1.remote.test.
remote.test.       60 IN MX 20 mx2.remote.test.
mx1.remote.test.   60 IN A 127.0.0.3
mx2.remote.test.   60 IN A 127.0.0.1
down.test.         60 IN MX 10 dead.down.test.
down.test.         60 IN MX 20 alive.down.test.
dead.down.test.    60 IN A 127.0.0.2
alive.down.test.   60 IN A 127.0.0.1
nomx.test.         60 IN A 127.0.0.1
nullmx.test.       60 IN MX 0 .
""" + extra


@pytest.fixture
def dns():
    d = DNS(zone())
    yield d
    d.stop()


@pytest.fixture
def peers():
    started = []

    def make(*args, **kwargs):
        s = Sink(*args, **kwargs).start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


def submit(moat, rcpts, body=None, sender="demo@example.test",
           mail_options=(), rcpt_options=()):
    """Authenticated submission on the submission port (STARTTLS)."""
    body = body or (b"From: <%s>\r\nTo: <%s>\r\nSubject: test\r\n\r\n"
                    b"hello\r\n" % (sender.encode(), rcpts[0].encode()))
    ctx = ssl._create_unverified_context()
    with smtplib.SMTP("127.0.0.1", moat.submission_port) as c:
        c.starttls(context=ctx)
        c.login("demo@example.test", PASSWORD)
        c.ehlo("client.test")
        code, _ = c.mail(sender, list(mail_options))
        assert code == 250
        for r in rcpts:
            code, text = c.rcpt(r, list(rcpt_options))
            assert code == 250, text
        code, text = c.data(body)
        assert code == 250, text


def send_mx(moat, rcpt, sender="someone@outside.test", body=None):
    body = body or b"Subject: inbound\r\n\r\nfor the internal host\r\n"
    with smtplib.SMTP("127.0.0.1", moat.smtp_port) as c:
        c.ehlo("outside.test")
        c.mail(sender)
        code, text = c.rcpt(rcpt)
        if code != 250:
            return code, text
        code, text = c.data(body)
        assert code == 250, text
        return code, text


def deferred(moat):
    d = os.path.join(moat.data, "queue", "deferred")
    return sorted(n for n in os.listdir(d) if len(n) == 20 and n.isalnum())


def test_relay_domain_reaches_the_internal_host(moat_factory, peers):
    inside = peers()
    moat = moat_factory({"relay.routes": "corp.test=[127.0.0.1]:%d" %
                         inside.port})
    assert send_mx(moat, "alice@corp.test")[0] == 250
    msgs = inside.wait(1)
    assert len(msgs) == 1
    assert msgs[0]["from"] == "someone@outside.test"
    assert msgs[0]["to"] == ["alice@corp.test"]
    assert b"for the internal host" in msgs[0]["data"]
    assert b"Received: from outside.test" in msgs[0]["data"]
    # Other foreign domains are still refused: no open relay.
    code, text = send_mx(moat, "victim@elsewhere.test")
    assert code == 554 and b"5.7.1" in text
    assert wait_for(lambda: not deferred(moat))
    log = moat.log()
    assert "to=<alice@corp.test> relay=127.0.0.1[127.0.0.1]:%d tls=" % \
        inside.port in log
    assert "status=sent" in log


def test_route_added_at_run_time(moat_factory, peers):
    inside = peers()
    moat = moat_factory()
    code, _ = send_mx(moat, "bob@runtime.test")
    assert code == 554
    moat.ctl("route", "add", "runtime.test", "[127.0.0.1]:%d" % inside.port)
    assert "runtime.test [127.0.0.1]:%d (database)" % inside.port in \
        moat.ctl("route", "list").stdout
    assert send_mx(moat, "bob@runtime.test")[0] == 250
    assert len(inside.wait(1)) == 1
    moat.ctl("route", "del", "runtime.test")
    assert send_mx(moat, "bob@runtime.test")[0] == 554
    r = moat.ctl("route", "add", "bad.test", "[nohost", check=False)
    assert r.returncode == 1


def test_route_failover_to_second_next_hop(moat_factory, peers):
    inside = peers()
    dead = free_port()
    moat = moat_factory({"relay.routes":
                         "corp.test=[127.0.0.1]:%d|[127.0.0.1]:%d" %
                         (dead, inside.port)})
    assert send_mx(moat, "carol@corp.test")[0] == 250
    assert len(inside.wait(1)) == 1
    assert ":%d tls=none status=deferred" % dead in moat.log()


def test_mx_preference_order(moat_factory, peers, dns):
    port = free_port()
    best = peers(host="127.0.0.3", port=port)
    second = peers(host="127.0.0.1", port=port)
    moat = moat_factory({"dns.servers": dns.setting,
                         "relay.remote_port": str(port)})
    submit(moat, ["friend@remote.test"])
    assert len(best.wait(1)) == 1
    assert second.messages == []
    assert "relay=mx1.remote.test[127.0.0.3]:%d" % port in moat.log()


def test_mx_failover_when_first_refuses(moat_factory, peers, dns):
    port = free_port()
    alive = peers(host="127.0.0.1", port=port)
    moat = moat_factory({"dns.servers": dns.setting,
                         "relay.remote_port": str(port)})
    submit(moat, ["friend@down.test"])
    msgs = alive.wait(1)
    assert len(msgs) == 1 and msgs[0]["to"] == ["friend@down.test"]
    log = moat.log()
    assert "relay=dead.down.test[127.0.0.2]:%d tls=none status=deferred" \
        % port in log
    assert "relay=alive.down.test[127.0.0.1]:%d" % port in log


def test_submission_to_mx_host_and_implicit_mx(moat_factory, peers, dns):
    port = free_port()
    remote = peers(host="127.0.0.1", port=port)
    moat = moat_factory({"dns.servers": dns.setting,
                         "relay.remote_port": str(port)})
    submit(moat, ["someone@nomx.test"])
    msgs = remote.wait(1)
    assert len(msgs) == 1
    assert msgs[0]["from"] == "demo@example.test"
    assert b"hello" in msgs[0]["data"]
    assert wait_for(lambda: not deferred(moat))

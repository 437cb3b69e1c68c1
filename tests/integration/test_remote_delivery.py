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
    body = b"Subject: inbound\r\n\r\nfor the internal host\r\n.\r\n" \
        b"..two dots\r\n.one dot\r\nend"
    assert send_mx(moat, "alice@corp.test", body=body)[0] == 250
    msgs = inside.wait(1)
    assert len(msgs) == 1
    assert msgs[0]["from"] == "someone@outside.test"
    assert msgs[0]["to"] == ["alice@corp.test"]
    # Dot-stuffing both ways: the body arrives as it was sent.
    assert msgs[0]["data"].endswith(
        b"\r\n\r\nfor the internal host\r\n.\r\n..two dots\r\n"
        b".one dot\r\nend\r\n")
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


def mailbox_dsns(moat, user="demo@example.test", count=1, timeout=20):
    msgs = moat.wait_messages(user, count, timeout=timeout)
    return [email.message_from_bytes(m, policy=email.policy.default)
            for m in msgs]


def delivery_status(dsn):
    """The message/delivery-status part as a list of field blocks."""
    for part in dsn.walk():
        if part.get_content_type() == "message/delivery-status":
            blocks = []
            for sub in part.get_payload():
                blocks.append({k.lower(): str(v) for k, v in sub.items()})
            return blocks
    raise AssertionError("no delivery-status part")


def test_tempfail_then_success_after_retry(moat_factory, peers):
    inside = peers(handler=Handler(data_replies=["451 4.3.0 try later"]))
    moat = moat_factory(dict(FAST, **{
        "relay.routes": "corp.test=[127.0.0.1]:%d" % inside.port}))
    assert send_mx(moat, "dave@corp.test")[0] == 250
    msgs = inside.wait(1)
    assert len(msgs) == 1 and msgs[0]["to"] == ["dave@corp.test"]
    log = moat.log()
    assert "to=<dave@corp.test> relay=127.0.0.1[127.0.0.1]:%d tls=none " \
        "status=deferred reply=\"451 4.3.0 try later\"" % inside.port in log
    assert "status=deferred failures=1" in log
    assert wait_for(lambda: not deferred(moat))
    # No bounce went to the sender's (local) mailbox either.
    assert moat.messages("demo@example.test") == []


def test_permanent_failure_bounces_once(moat_factory, peers, dns):
    port = free_port()
    remote = peers(host="127.0.0.1", port=port, handler=Handler(
        rcpt_replies={"nobody@nomx.test": "550 5.1.1 no such user here"}))
    moat = moat_factory(dict(FAST, **{"dns.servers": dns.setting,
                                      "relay.remote_port": str(port)}))
    body = (b"From: Demo <demo@example.test>\r\nTo: nobody@nomx.test\r\n"
            b"Subject: doomed\r\nMessage-ID: <doomed@example.test>\r\n\r\n"
            b"never arrives\r\n")
    submit(moat, ["nobody@nomx.test", "friend@nomx.test"], body=body)
    assert len(remote.wait(1)) == 1
    assert remote.messages[0]["to"] == ["friend@nomx.test"]
    dsns = mailbox_dsns(moat)
    assert len(dsns) == 1
    dsn = dsns[0]
    assert dsn.get_content_type() == "multipart/report"
    assert dsn.get_param("report-type") == "delivery-status"
    assert dsn["Auto-Submitted"] == "auto-replied"
    assert "MAILER-DAEMON@mx.moat.test" in dsn["From"]
    blocks = delivery_status(dsn)
    assert blocks[0]["reporting-mta"] == "dns; mx.moat.test"
    assert len(blocks) == 2
    rcpt = blocks[1]
    assert rcpt["final-recipient"] == "rfc822; nobody@nomx.test"
    assert rcpt["action"] == "failed"
    assert rcpt["status"] == "5.1.1"
    assert rcpt["remote-mta"] == "dns; nomx.test"
    assert "550 5.1.1 no such user here" in rcpt["diagnostic-code"]
    parts = [p.get_content_type() for p in dsn.walk()]
    assert parts[-1] == "text/rfc822-headers"
    assert b"Message-ID: <doomed@example.test>" in \
        dsn.get_payload()[-1].get_payload(decode=True) or \
        "doomed@example.test" in str(dsn.get_payload()[-1])
    # The DSN itself came from <> and the original is gone.
    raw = moat.messages("demo@example.test")[0]
    assert raw.startswith(b"Return-Path: <>\r\n")
    assert wait_for(lambda: not deferred(moat))
    # Exactly one: nothing more arrives.
    import time
    time.sleep(1.5)
    assert len(moat.messages("demo@example.test")) == 1


def test_starttls_used_when_offered(moat_factory, peers):
    inside = peers(tls=True)
    moat = moat_factory({"relay.routes": "corp.test=[127.0.0.1]:%d" %
                         inside.port})
    assert send_mx(moat, "erin@corp.test")[0] == 250
    msgs = inside.wait(1)
    assert len(msgs) == 1 and msgs[0]["tls"] is True
    assert "to=<erin@corp.test> relay=127.0.0.1[127.0.0.1]:%d tls=TLSv1.3 "\
        "status=sent" % inside.port in moat.log()


def test_tls_required_but_not_offered_defers(moat_factory, peers):
    inside = peers()
    moat = moat_factory({"relay.routes": "corp.test=[127.0.0.1]:%d|"
                         "tls=encrypt" % inside.port})
    assert send_mx(moat, "frank@corp.test")[0] == 250
    assert wait_for(lambda: "status=deferred failures=1" in moat.log())
    assert inside.messages == []
    assert "4.7.5 TLS is required" in moat.log()
    assert deferred(moat)


def test_message_larger_than_peer_size_bounces(moat_factory, peers):
    inside = peers(size=2000)
    moat = moat_factory({"relay.routes": "corp.test=[127.0.0.1]:%d" %
                         inside.port})
    body = b"Subject: big\r\n\r\n" + b"x" * 70 + b"\r\n"
    submit(moat, ["gina@corp.test"], body=body * 60)
    dsns = mailbox_dsns(moat)
    assert len(dsns) == 1
    rcpt = delivery_status(dsns[0])[1]
    assert rcpt["status"] == "5.3.4"
    assert rcpt["action"] == "failed"
    assert "exceeds the limit of 2000" in rcpt["diagnostic-code"]
    assert inside.messages == []


def test_null_mx_and_unknown_domain_bounce(moat_factory, dns):
    moat = moat_factory({"dns.servers": dns.setting})
    submit(moat, ["a@nullmx.test"])
    dsn = mailbox_dsns(moat)[0]
    assert delivery_status(dsn)[1]["status"] == "5.1.10"
    submit(moat, ["b@nosuchdomain.test"])
    dsns = mailbox_dsns(moat, count=2)
    statuses = sorted(delivery_status(d)[1]["status"] for d in dsns)
    assert statuses == ["5.1.10", "5.1.2"]


def test_restart_keeps_deferred_and_delivers_later(moat_factory, peers):
    port = free_port()
    moat = moat_factory(dict(FAST, **{
        "relay.routes": "corp.test=[127.0.0.1]:%d" % port,
        "relay.retry_min": "1h", "relay.retry_max": "2h"}))
    assert send_mx(moat, "hank@corp.test")[0] == 250
    assert wait_for(lambda: "status=deferred failures=1" in moat.log())
    qids = deferred(moat)
    assert len(qids) == 1
    moat.stop()
    state = open(os.path.join(moat.data, "queue", "deferred",
                              qids[0] + ".state")).read()
    assert "failures 1\n" in state and "error 0 421 4.4.1" in state
    inside = peers(port=port)
    moat.start()
    # The schedule survived: an hour to wait, so ask for the retry now.
    out = moat.ctl("queue", "list").stdout
    assert qids[0] in out and "attempts=1" in out
    # (the queue process may still be starting: its socket comes first)
    assert wait_for(lambda: moat.ctl("queue", "retry", qids[0],
                                     check=False).returncode == 0)
    msgs = inside.wait(1)
    assert len(msgs) == 1 and msgs[0]["to"] == ["hank@corp.test"]
    assert wait_for(lambda: not deferred(moat))


def test_queue_commands(moat_factory):
    port = free_port()
    moat = moat_factory(dict(FAST, **{
        "relay.routes": "corp.test=[127.0.0.1]:%d" % port,
        "relay.retry_min": "1h", "relay.retry_max": "2h"}))
    assert send_mx(moat, "ivy@corp.test")[0] == 250
    assert send_mx(moat, "jay@corp.test")[0] == 250
    assert wait_for(lambda: moat.log().count("status=deferred failures=1")
                    == 2)
    first, second = deferred(moat)
    show = moat.ctl("queue", "show", first).stdout
    assert "sender:    <someone@outside.test>" in show
    assert "last error: 421 4.4.1" in show and "Subject: inbound" in show
    assert "held" in moat.ctl("queue", "hold", first).stdout
    assert first + "  held" in moat.ctl("queue", "list").stdout
    status = moat.ctl("status").stdout
    assert "remote waiting=1 held=1" in status
    assert moat.ctl("queue", "retry", first, check=False).returncode == 1
    moat.ctl("queue", "release", first)
    moat.ctl("queue", "delete", second)
    assert deferred(moat) == [first]
    assert "status=deleted" in moat.log()
    moat.ctl("queue", "flush")
    assert wait_for(lambda: "status=deferred failures=2" in moat.log())
    assert moat.ctl("queue", "show", "0000000000000000000X",
                    check=False).returncode == 1
    # Without the daemon, hold and delete still work on the files.
    moat.stop()
    moat.ctl("queue", "delete", first)
    assert deferred(moat) == []


def test_connection_reuse_to_smtp_sink(moat_factory):
    """Five messages wait for a next hop that is down; when it comes up
    (Postfix's smtp-sink) and the queue is flushed, one connection (the
    per-destination limit) carries all of them, pipelined."""
    port = free_port()
    moat = moat_factory(dict(FAST, **{
        "relay.routes": "corp.test=[127.0.0.1]:%d" % port,
        "relay.retry_min": "1h", "relay.retry_max": "2h",
        "relay.max_connections_per_destination": "1"}))
    for i in range(5):
        assert send_mx(moat, "k%d@corp.test" % i)[0] == 250
    assert wait_for(lambda: moat.log().count("status=deferred failures=1")
                    == 5)
    sink = SmtpSink(port=port)
    try:
        moat.ctl("queue", "flush")
        assert wait_for(lambda: not deferred(moat))
        log = moat.log()
        assert log.count("status=sent") == 5
        sessions = [l for l in log.splitlines() if "event=session" in l]
        assert len(sessions) == 1 and "pipelining=1" in sessions[0]
    finally:
        sink.stop()


def test_relay_to_another_moat_uses_chunking(moat_factory):
    """BDAT against a server that offers CHUNKING (a second moatd)."""
    inner = moat_factory(users=("staff@corp.test",))
    outer = moat_factory({"relay.routes": "corp.test=[127.0.0.1]:%d" %
                          inner.smtp_port})
    body = b"Subject: chunked\r\n\r\n" + b".leading dot\r\n" * 2000
    assert send_mx(outer, "staff@corp.test", body=body)[0] == 250
    msgs = inner.wait_messages("staff@corp.test", 1)
    assert len(msgs) == 1
    assert msgs[0].endswith(b".leading dot\r\n" * 2000)
    assert "chunking=1" in outer.log()


def test_bounce_of_a_bounce_is_held(moat_factory, peers):
    inside = peers(handler=Handler(
        rcpt_replies={"lost@corp.test": "550 5.1.1 unknown"}))
    moat = moat_factory({"relay.routes": "corp.test=[127.0.0.1]:%d" %
                         inside.port})
    assert send_mx(moat, "lost@corp.test", sender="")[0] == 250
    assert wait_for(lambda: "undeliverable message from <> kept" in
                    moat.log())
    qids = deferred(moat)
    assert len(qids) == 1
    # (the log line comes just before the state file is written)
    assert wait_for(lambda: qids[0] + "  held" in
                    moat.ctl("queue", "list").stdout)
    assert "event=dsn" not in moat.log()


def test_delay_notice_when_asked(moat_factory, peers):
    port = free_port()
    moat = moat_factory(dict(FAST, **{
        "relay.routes": "corp.test=[127.0.0.1]:%d" % port,
        "relay.delay_warning": "1s"}))
    submit(moat, ["late@corp.test"], rcpt_options=["NOTIFY=DELAY,FAILURE"])
    dsn = mailbox_dsns(moat)[0]
    assert "Delayed Mail" in dsn["Subject"]
    rcpt = delivery_status(dsn)[1]
    assert rcpt["action"] == "delayed" and rcpt["status"].startswith("4.")
    assert "will-retry-until" in rcpt
    assert deferred(moat)


def test_rcpt_probe_to_the_internal_host(moat_factory, peers):
    inside = peers(handler=Handler(
        rcpt_replies={"ghost@corp.test": "550 5.1.1 mailbox unknown"}))
    moat = moat_factory({"relay.routes": "corp.test=[127.0.0.1]:%d" %
                         inside.port, "relay.verify_recipients": "yes"})
    code, text = send_mx(moat, "ghost@corp.test")
    assert code == 550 and b"mailbox unknown" in text
    code, text = send_mx(moat, "ghost@corp.test")
    assert code == 550
    assert send_mx(moat, "real@corp.test")[0] == 250
    assert len(inside.wait(1)) == 1
    # The second ghost came from the cache: one probe only.
    probes = [c for c in inside.handler.rcpt_checks
              if c[1] == "ghost@corp.test"]
    assert len(probes) == 1 and probes[0][0] in ("", "<>")


def test_tls_verify_refuses_an_unverifiable_certificate(moat_factory, peers):
    inside = peers(tls=True)
    moat = moat_factory({"relay.routes": "corp.test=[127.0.0.1]:%d|"
                         "tls=verify" % inside.port})
    assert send_mx(moat, "lena@corp.test")[0] == 250
    assert wait_for(lambda: "status=deferred failures=1" in moat.log())
    assert "certificate verification failed" in moat.log()
    assert inside.messages == []


def test_auth_to_a_smarthost(moat_factory, peers):
    smarthost = peers(tls=True, auth=("relayuser", "s3cret pass"))
    probe = moat_factory(start=False)  # for its directory, readable by
    auth = os.path.join(probe.top, "relay.auth")  # the daemon's user
    with open(auth, "w") as f:
        f.write("relayuser\ns3cret pass\n")
    os.chmod(auth, 0o644)
    moat = moat_factory({"relay.default_route": "[127.0.0.1]:%d|auth=%s" %
                         (smarthost.port, auth)})
    submit(moat, ["someone@anywhere.test"])
    msgs = smarthost.wait(1)
    assert len(msgs) == 1 and msgs[0]["tls"] is True
    assert smarthost.handler.auth_attempts == [("PLAIN", True)]
    log = moat.log()
    assert "s3cret" not in log
    assert "* [127.0.0.1]:%d|auth=%s (relay.default_route)" % \
        (smarthost.port, auth) in moat.ctl("route", "list").stdout


def test_opportunistic_tls_falls_back_to_plain_text(moat_factory, peers):
    inside = peers(tls=True, broken_tls=True)
    moat = moat_factory({"relay.routes": "corp.test=[127.0.0.1]:%d" %
                         inside.port})
    assert send_mx(moat, "mona@corp.test")[0] == 250
    msgs = inside.wait(1)
    assert len(msgs) == 1 and msgs[0]["tls"] is False
    log = moat.log()
    assert "status=deferred reply=\"454 4.7.5 TLS with 127.0.0.1" in log
    assert "to=<mona@corp.test> relay=127.0.0.1[127.0.0.1]:%d tls=none " \
        "status=sent" % inside.port in log


def test_notify_success_to_a_host_without_dsn_is_reported_relayed(
        moat_factory, peers):
    inside = peers()  # aiosmtpd: no DSN extension
    moat = moat_factory({"relay.routes": "corp.test=[127.0.0.1]:%d" %
                         inside.port})
    submit(moat, ["nora@corp.test"], rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
    assert len(inside.wait(1)) == 1
    # Not passed on: the peer does not offer DSN.
    assert inside.messages[0]["rcpt_options"] == []
    dsn = mailbox_dsns(moat)[0]
    assert dsn["Subject"] == "Successful Mail Delivery Report"
    rcpt = delivery_status(dsn)[1]
    assert rcpt["action"] == "relayed" and rcpt["status"] == "2.0.0"
    assert rcpt["final-recipient"] == "rfc822; nora@corp.test"

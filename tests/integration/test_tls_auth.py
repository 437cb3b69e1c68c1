"""STARTTLS, implicit TLS and AUTH on the submission ports, with Python's
smtplib and swaks as clients."""

import smtplib
import ssl
import subprocess

import pytest

from moat_harness import PASSWORD


def insecure():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def swaks(*args):
    return subprocess.run(["swaks", "--timeout", "20"] + list(args),
                          capture_output=True, text=True, timeout=60)


def test_starttls_on_mx_port(moat):
    with smtplib.SMTP("127.0.0.1", moat.smtp_port) as c:
        c.ehlo("client.example")
        assert c.has_extn("starttls")
        assert not c.has_extn("auth")
        c.starttls(context=insecure())
        c.ehlo("client.example")
        assert not c.has_extn("starttls")
        c.sendmail("a@remote.example", ["demo@example.test"],
                   b"Subject: tls\r\n\r\nover tls\r\n")
    msg = moat.wait_messages("demo@example.test", 1)[0]
    assert b"with ESMTPS id" in msg


def test_submission_requires_tls_then_auth(moat):
    with smtplib.SMTP("127.0.0.1", moat.submission_port) as c:
        c.ehlo("client.example")
        assert not c.has_extn("auth"), "AUTH must not be offered before TLS"
        code, _ = c.mail("demo@example.test")
        assert code == 530
        c.rset()
        c.starttls(context=insecure())
        c.ehlo("client.example")
        assert "PLAIN" in c.esmtp_features["auth"]
        assert "LOGIN" in c.esmtp_features["auth"]
        c.login("demo@example.test", PASSWORD)
        c.sendmail("demo@example.test", ["demo@example.test"],
                   b"Subject: sub\r\n\r\nsubmitted\r\n")
    msg = moat.wait_messages("demo@example.test", 1)[0]
    assert b"with ESMTPSA id" in msg


def test_implicit_tls_port(moat):
    with smtplib.SMTP_SSL("127.0.0.1", moat.smtps_port,
                          context=insecure()) as c:
        c.ehlo("client.example")
        c.login("demo@example.test", PASSWORD)
        c.sendmail("demo@example.test", ["demo@example.test"],
                   b"Subject: smtps\r\n\r\nimplicit\r\n")
    assert len(moat.wait_messages("demo@example.test", 1)) == 1


def test_wrong_password_refused(moat):
    with smtplib.SMTP_SSL("127.0.0.1", moat.smtps_port,
                          context=insecure()) as c:
        c.ehlo("client.example")
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            c.login("demo@example.test", "wrong password")
        assert e.value.smtp_code == 535
        assert b"5.7.8" in e.value.smtp_error
        with pytest.raises(smtplib.SMTPAuthenticationError):
            c.login("nobody@example.test", PASSWORD)
    assert "correct horse" not in moat.log()
    assert "wrong password" not in moat.log()
    # the per-IP throttle: the second failure from 127.0.0.1 waits longer
    assert "delay_ms=1000" in moat.log()
    assert "delay_ms=2000" in moat.log()


def test_sender_must_belong_to_user(moat):
    moat.add_user("other@example.test")
    with smtplib.SMTP_SSL("127.0.0.1", moat.smtps_port,
                          context=insecure()) as c:
        c.ehlo("client.example")
        c.login("demo@example.test", PASSWORD)
        code, text = c.mail("other@example.test")
        assert code == 553 and b"5.7.1" in text
        c.rset()
        code, _ = c.mail("demo+tag@example.test")
        assert code == 250


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_swaks_tls_auth(moat, mech):
    r = swaks("--server", "127.0.0.1:%d" % moat.submission_port, "--tls",
              "--auth", mech, "--auth-user", "demo@example.test",
              "--auth-password", PASSWORD, "--from", "demo@example.test",
              "--to", "demo@example.test")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "235 2.7.0" in r.stdout
    r = swaks("--server", "127.0.0.1:%d" % moat.smtps_port, "--tlsc",
              "--auth", mech, "--auth-user", "demo@example.test",
              "--auth-password", "nope-nope", "--from", "demo@example.test",
              "--to", "demo@example.test")
    assert r.returncode != 0
    assert "535 5.7.8" in r.stdout
    assert len(moat.wait_messages("demo@example.test", 1)) == 1


def test_swaks_pipelining(moat):
    r = swaks("--server", "127.0.0.1:%d" % moat.smtp_port, "--pipeline",
              "--from", "a@remote.example", "--to", "demo@example.test")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "queued as" in r.stdout
    assert len(moat.wait_messages("demo@example.test", 1)) == 1


def test_starttls_command_injection_dropped(moat):
    """Commands pipelined behind STARTTLS in plaintext (CVE-2011-0411
    style) are dropped, never run inside the TLS session."""
    import socket
    s = socket.create_connection(("127.0.0.1", moat.smtp_port), timeout=20)
    f = s.makefile("rb")
    assert f.readline().startswith(b"220")
    s.sendall(b"EHLO client.example\r\n")
    while True:
        line = f.readline()
        if line[3:4] == b" ":
            break
    s.sendall(b"STARTTLS\r\nMAIL FROM:<evil@remote.example>\r\n")
    assert f.readline().startswith(b"220")
    tls = insecure().wrap_socket(s, server_hostname="mx.moat.test")
    tls.sendall(b"RCPT TO:<demo@example.test>\r\n")
    # the injected MAIL never ran: RCPT has no transaction to join
    assert tls.recv(1000).startswith(b"503")
    tls.close()
    assert "event=starttls_injection" in moat.log()

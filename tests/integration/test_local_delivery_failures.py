"""Local delivery that cannot finish at once: a mailbox over quota is
retried locally (never handed to a remote host) and bounced with 5.2.2
after the relay lifetime; a user deleted before a retry bounces with
5.1.1. One DSN per failure, to the envelope sender."""

import email
import email.policy
import smtplib

from moat_harness import PASSWORD

FAST = {"relay.retry_min": "1s", "relay.retry_max": "2s",
        "queue.scan_interval": "1s", "mailstore.quota": "4k"}
FULL = "full@example.test"
SENDER = "demo@example.test"


def submit(moat, rcpt, size=6000):
    body = (b"From: <%s>\r\nTo: <%s>\r\nSubject: big\r\n\r\n" %
            (SENDER.encode(), rcpt.encode())) + (b"x" * 70 + b"\r\n") * (size // 72)
    with smtplib.SMTP("127.0.0.1", moat.submission_port) as c:
        c.starttls()
        c.login(SENDER, PASSWORD)
        c.sendmail(SENDER, [rcpt], body)


def dsn_statuses(msg):
    out = []
    for part in msg.walk():
        if part.get_content_type() == "message/delivery-status":
            for sub in part.get_payload():
                if sub.get("Status"):
                    out.append(str(sub["Status"]))
    return out


def wait_log(moat, text, timeout=20):
    import time
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in moat.log():
            return
        time.sleep(0.1)
    raise AssertionError("not in log: " + text)


def test_over_quota_is_retried_locally_then_delivered(moat_factory):
    moat = moat_factory(FAST, users=(SENDER, FULL))
    submit(moat, FULL)
    wait_log(moat, "dsn=4.2.2")
    wait_log(moat, "status=deferred failures=")
    assert moat.messages(FULL) == []
    # raise the quota: the next retry stores it locally
    moat.stop()
    moat.set_setting("mailstore.quota", "1m")
    moat.start()
    assert len(moat.wait_messages(FULL, 1, timeout=20)) == 1
    moat.wait_queue_empty()
    log = moat.log()
    assert "relay=" not in log and "event=route" not in log
    assert "event=dsn" not in log


def test_over_quota_expires_with_one_5_2_2_dsn(moat_factory):
    moat = moat_factory(dict(FAST, **{"relay.max_lifetime": "3s"}),
                        users=(SENDER, FULL))
    submit(moat, FULL)
    msgs = moat.wait_messages(SENDER, 1, timeout=30)
    moat.wait_queue_empty()
    msgs = moat.messages(SENDER)
    assert len(msgs) == 1
    dsn = email.message_from_bytes(msgs[0], policy=email.policy.default)
    assert dsn.get_content_type() == "multipart/report"
    assert dsn_statuses(dsn) == ["5.2.2"]
    assert moat.log().count("event=dsn kind=failure") == 1
    assert "mailbox full" in msgs[0].decode("utf-8", "replace")
    assert moat.messages(FULL) == []
    assert "relay=" not in moat.log()


def test_user_deleted_before_retry_gets_one_5_1_1_dsn(moat_factory):
    # Over quota first, so the message deterministically waits for a
    # retry; the user is deleted meanwhile.
    moat = moat_factory(dict(FAST, **{"relay.retry_min": "2s",
                                      "relay.retry_max": "3s"}),
                        users=(SENDER, FULL))
    submit(moat, FULL)
    wait_log(moat, "dsn=4.2.2")
    moat.ctl("user", "del", FULL)
    moat.wait_messages(SENDER, 1, timeout=30)
    moat.wait_queue_empty()
    msgs = moat.messages(SENDER)
    assert len(msgs) == 1
    dsn = email.message_from_bytes(msgs[0], policy=email.policy.default)
    assert dsn_statuses(dsn) == ["5.1.1"]
    assert moat.log().count("event=dsn kind=failure") == 1
    assert "relay=" not in moat.log()

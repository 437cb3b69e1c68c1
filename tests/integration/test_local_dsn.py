"""RFC 3461 NOTIFY=SUCCESS for local recipients: once the message is in
the recipient's mailbox the sender gets one "delivered" DSN (Action:
delivered, Status: 2.0.0), whether the first delivery stored it or the
retry engine did after a full mailbox; without NOTIFY=SUCCESS, none."""

import email
import email.policy
import smtplib

from moat_harness import PASSWORD

SENDER = "demo@example.test"
RCPT = "rcpt@example.test"
OTHER = "other@example.test"


def submit(moat, rcpts, rcpt_options=(), size=300):
    body = (b"From: <%s>\r\nTo: <%s>\r\nSubject: dsn\r\n"
            b"Message-ID: <local-dsn@example.test>\r\n\r\n" %
            (SENDER.encode(), rcpts[0].encode()))
    body += (b"x" * 70 + b"\r\n") * (size // 72)
    with smtplib.SMTP("127.0.0.1", moat.submission_port) as c:
        c.starttls()
        c.login(SENDER, PASSWORD)
        c.sendmail(SENDER, rcpts, body, mail_options=["ENVID=env-42"],
                   rcpt_options=list(rcpt_options))


def recipients_of(dsn):
    out = []
    for part in dsn.walk():
        if part.get_content_type() == "message/delivery-status":
            blocks = part.get_payload()
            assert blocks[0]["Original-Envelope-Id"] == "env-42"
            for sub in blocks[1:]:
                out.append((str(sub["Final-Recipient"]),
                            str(sub["Action"]), str(sub["Status"])))
    return out


def test_notify_success_local_gets_one_delivered_dsn(moat_factory):
    moat = moat_factory(users=(SENDER, RCPT, OTHER))
    submit(moat, [RCPT, OTHER], rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
    assert len(moat.wait_messages(RCPT, 1)) == 1
    msgs = moat.wait_messages(SENDER, 1)
    moat.wait_queue_empty()
    assert len(moat.messages(SENDER)) == 1
    dsn = email.message_from_bytes(msgs[0], policy=email.policy.default)
    assert dsn.get_content_type() == "multipart/report"
    assert dsn["Subject"] == "Successful Mail Delivery Report"
    assert sorted(recipients_of(dsn)) == [
        ("rfc822; " + OTHER, "delivered", "2.0.0"),
        ("rfc822; " + RCPT, "delivered", "2.0.0")]
    # headers only are returned with a success report
    assert b"text/rfc822-headers" in msgs[0]
    assert moat.log().count("event=dsn kind=delivered") == 1


def test_no_notify_success_no_dsn(moat_factory):
    moat = moat_factory(users=(SENDER, RCPT))
    submit(moat, [RCPT], rcpt_options=["NOTIFY=FAILURE"])
    moat.wait_messages(RCPT, 1)
    moat.wait_queue_empty()
    assert moat.messages(SENDER) == []
    assert "event=dsn" not in moat.log()


def test_delivered_dsn_after_a_full_mailbox_is_retried(moat_factory):
    fast = {"relay.retry_min": "1s", "relay.retry_max": "2s",
            "queue.scan_interval": "1s", "mailstore.quota": "4k"}
    moat = moat_factory(fast, users=(SENDER, RCPT))
    submit(moat, [RCPT], rcpt_options=["NOTIFY=SUCCESS"], size=6000)
    deadline_text = "dsn=4.2.2"
    import time
    deadline = time.time() + 20
    while deadline_text not in moat.log() and time.time() < deadline:
        time.sleep(0.1)
    assert deadline_text in moat.log()
    moat.stop()
    moat.set_setting("mailstore.quota", "1m")
    moat.start()
    moat.wait_messages(RCPT, 1, timeout=20)
    msgs = moat.wait_messages(SENDER, 1, timeout=20)
    moat.wait_queue_empty()
    dsn = email.message_from_bytes(msgs[0], policy=email.policy.default)
    assert recipients_of(dsn) == [("rfc822; " + RCPT, "delivered", "2.0.0")]
    assert moat.log().count("event=dsn kind=delivered") == 1

"""kill -9 during a burst: every message that got a 250 is in the store
exactly once after a restart, and nothing is delivered twice."""

import smtplib
import threading
import time
from email.utils import make_msgid

TOTAL = 500
THREADS = 8


def test_kill9_loses_no_acknowledged_message(moat):
    acked = {}
    lock = threading.Lock()
    counter = iter(range(TOTAL))

    def sender():
        c = None
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                break
            mid = "<crash-%d-%s" % (n, make_msgid()[1:])
            body = ("Message-ID: %s\r\nSubject: crash %d\r\n\r\nbody %d\r\n"
                    % (mid, n, n)).encode()
            try:
                if c is None:
                    c = smtplib.SMTP("127.0.0.1", moat.smtp_port, timeout=10)
                    c.ehlo("burst.example")
                c.mail("a@remote.example")
                c.rcpt("demo@example.test")
                code, text = c.data(body)
                if code == 250:
                    with lock:
                        acked[mid] = text.split()[-1].decode()
            except (OSError, smtplib.SMTPException):
                c = None
                time.sleep(0.05)
        if c is not None:
            try:
                c.close()
            except OSError:
                pass

    threads = [threading.Thread(target=sender) for _ in range(THREADS)]
    for t in threads:
        t.start()
    deadline = time.time() + 60
    while len(acked) < 150 and time.time() < deadline:
        time.sleep(0.01)
    assert len(acked) >= 150, "the burst was too slow to reach 150 messages"
    moat.kill9()
    killed_at = len(acked)
    for t in threads:
        t.join(120)
    # The senders failed while the daemon was down; restart on the same data.
    acked_before_restart = dict(acked)
    moat.start()
    assert moat.wait_queue_empty(60) == []
    stored = moat.wait_messages("demo@example.test", len(acked_before_restart),
                                timeout=30)
    ids = []
    for m in stored:
        for line in m.split(b"\r\n"):
            if line.startswith(b"Message-ID: "):
                ids.append(line[12:].decode())
                break
    assert len(ids) == len(set(ids)), "a message was delivered twice"
    missing = [mid for mid in acked_before_restart if mid not in set(ids)]
    assert missing == [], "%d acknowledged messages lost (of %d, killed at " \
        "%d)" % (len(missing), len(acked_before_restart), killed_at)

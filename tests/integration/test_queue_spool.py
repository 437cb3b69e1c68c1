"""The spool's ready mark (gateway/queue_file.h): the queue delivers
messages whose notification datagram was dropped without waiting for the
periodic rescan, smtpd removes the unacknowledged files a crash left, and
a spool from before the mark is delivered, not removed."""

import os
import pwd
import re
import signal
import smtplib
import threading
import time

from moat_harness import run_user

USER = "demo@example.test"
NO_PERIODIC_SCAN = {"queue.scan_interval": "86400s"}


def queue_file(qid, body):
    """A complete queue file in the format of gateway/queue_file.c."""
    msg = ("Subject: %s\r\nMessage-ID: <%s@spool.test>\r\n\r\n%s\r\n"
           % (body, qid, body)).encode()
    env = ("MOATQ 1\nqid %s\nfrom sender@remote.example\nip 127.0.0.1\n"
           "helo spool.test\narrival %d\nrcpt %s - -\n\n"
           % (qid, int(time.time()), USER)).encode()
    return env + msg + ("\nMOATEND %016x\n" % len(msg)).encode()


def put(moat, qid, body, mode):
    path = os.path.join(moat.data, "queue", qid)
    with open(path, "wb") as f:
        f.write(queue_file(qid, body))
    os.chmod(path, mode)
    if os.geteuid() == 0:
        pw = pwd.getpwnam(run_user())
        os.chown(path, pw.pw_uid, pw.pw_gid)
    return path


def service_pid(moat, name):
    return int(re.findall(r"service_started service=%s pid=(\d+)" % name,
                          moat.log())[-1])


def test_dropped_notifications_are_delivered(moat_factory):
    """With the queue process stopped, smtpd acknowledges more messages
    than the notification socket holds; after it resumes, every one is
    delivered, though the periodic rescan is a day away."""
    moat = moat_factory(NO_PERIODIC_SCAN)
    total, threads = 800, 4
    acked = []
    lock = threading.Lock()
    queue_pid = service_pid(moat, "queue")

    def sender(k):
        c = smtplib.SMTP("127.0.0.1", moat.smtp_port, timeout=30)
        c.ehlo("burst.example")
        for n in range(k, total, threads):
            c.mail("a@remote.example")
            c.rcpt(USER)
            code, _ = c.data(b"Subject: burst %d\r\n\r\nbody\r\n" % n)
            if code == 250:
                with lock:
                    acked.append(n)
        c.quit()

    os.kill(queue_pid, signal.SIGSTOP)
    try:
        workers = [threading.Thread(target=sender, args=(k,))
                   for k in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join(300)
    finally:
        os.kill(queue_pid, signal.SIGCONT)
    assert len(acked) == total
    assert len(moat.wait_messages(USER, total, timeout=120)) == total
    assert moat.wait_queue_empty(30) == []
    # The socket held fewer datagrams than messages: a scan found the rest.
    assert re.search(r"event=scan found=\d+", moat.log()), \
        "no notification was dropped: the test proved nothing"


def test_crash_leftovers_are_removed_not_delivered(moat_factory):
    """An unready file is one smtpd never acknowledged: the next smtpd
    removes it. A ready one is delivered."""
    moat = moat_factory(NO_PERIODIC_SCAN)
    moat.stop()
    assert os.path.exists(os.path.join(moat.data, "queue", ".ready-mark"))
    left = put(moat, "00000000000000000LFT", "left behind", 0o600)
    ready = put(moat, "00000000000000000RDY", "committed", 0o700)
    moat.start()
    msgs = moat.wait_messages(USER, 1)
    assert moat.wait_queue_empty(30) == []
    assert not os.path.exists(left) and not os.path.exists(ready)
    time.sleep(0.5)
    msgs = moat.messages(USER)
    assert len(msgs) == 1 and b"Subject: committed" in msgs[0]
    assert "qid=00000000000000000LFT event=incomplete_removed" in moat.log()


def test_spool_from_before_the_ready_mark_is_delivered(moat_factory):
    """Without the marker every file is taken as complete, once."""
    moat = moat_factory(NO_PERIODIC_SCAN)
    moat.stop()
    marker = os.path.join(moat.data, "queue", ".ready-mark")
    os.unlink(marker)
    put(moat, "00000000000000000OLD", "old spool", 0o600)
    moat.start()
    msgs = moat.wait_messages(USER, 1)
    assert len(msgs) == 1 and b"Subject: old spool" in msgs[0]
    assert moat.wait_queue_empty(30) == []
    assert os.path.exists(marker)
    assert "event=spool_recover converted=1" in moat.log()

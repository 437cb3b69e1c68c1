"""A full disk (the data directory on a small tmpfs): MAIL is refused with
452 4.3.1 while less than queue.min_free is free, a disk that fills during
DATA ends the message with 452 4.3.1 and leaves no queue file, the
messages acknowledged before the disk filled stay queued until the
mailstore has room again, then are delivered, and IMAP APPEND says NO
[OVERQUOTA]. Needs root (mount); skipped
without it."""

import imaplib
import os
import re
import signal
import smtplib
import subprocess
import time

import pytest

from moat_harness import PASSWORD

USER = "demo@example.test"
MB = 1024 * 1024


@pytest.fixture
def small_disk(moat_factory):
    """A factory: a moatd whose data directory is a tmpfs of size_mb."""
    mounts = []

    def make(size_mb, settings):
        moat = moat_factory(settings, users=(), start=False)
        os.makedirs(moat.data)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o",
                            "size=%dm,mode=0755" % size_mb, "tmpfs",
                            moat.data], capture_output=True)
        if r.returncode != 0:
            pytest.skip("cannot mount a tmpfs: %s" % r.stderr.decode())
        mounts.append(moat.data)
        moat.add_user(USER)
        moat.start()
        return moat

    yield make
    for m in mounts:
        # moatd still runs (the factory stops it after us): detach lazily.
        subprocess.run(["umount", "-l", m])


def free_bytes(moat):
    st = os.statvfs(moat.data)
    return st.f_bavail * st.f_frsize


def fill(moat, name, leave):
    """Writes a filler file until only `leave` bytes are free (0: until
    the file system says ENOSPC)."""
    path = os.path.join(moat.data, name)
    chunk = b"\0" * 65536
    with open(path, "ab") as f:
        try:
            while free_bytes(moat) > leave + len(chunk) or leave == 0:
                f.write(chunk)
                f.flush()
        except OSError:
            pass
    return path


def send(moat, subject, size=0, declare=False):
    """One message; returns the (code, text) of MAIL, or of DATA."""
    c = smtplib.SMTP("127.0.0.1", moat.smtp_port, timeout=30)
    try:
        c.ehlo("disk.example")
        body = b"Subject: %s\r\n\r\n" % subject.encode()
        body += (b"x" * 76 + b"\r\n") * (size // 78)
        opts = ["SIZE=%d" % len(body)] if declare else []
        code, text = c.mail("a@remote.example", opts)
        if code != 250:
            return code, text
        c.rcpt(USER)
        return c.data(body)
    finally:
        try:
            c.quit()
        except (OSError, smtplib.SMTPException):
            pass


def queue_pid(moat):
    return int(re.findall(r"service_started service=queue pid=(\d+)",
                          moat.log())[-1])


def wait_log(moat, pattern, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if re.search(pattern, moat.log()):
            return True
        time.sleep(0.1)
    return False


def test_full_disk_refuses_mail_and_keeps_what_it_acknowledged(small_disk):
    moat = small_disk(64, {"queue.min_free": "24M"})
    assert send(moat, "first")[0] == 250
    assert len(moat.wait_messages(USER, 1)) == 1

    # Queued while the queue process is stopped: acknowledged, on disk.
    pid = queue_pid(moat)
    os.kill(pid, signal.SIGSTOP)
    try:
        assert send(moat, "second")[0] == 250
        assert send(moat, "third")[0] == 250
        queued = moat.queue_files()
        assert len(queued) == 2

        # Under queue.min_free: refused at MAIL, before any data.
        low = fill(moat, "filler1", 8 * MB)
        code, text = send(moat, "refused")
        assert (code, text) == (452, b"4.3.1 Insufficient system storage")
        assert "event=reject reason=disk_full" in moat.log()
        # A declared SIZE larger than what is left: the same.
        os.unlink(low)
        code, text = send(moat, "big", size=45 * MB, declare=True)
        assert code == 452

        # Completely full: the store cannot take the two messages.
        full = fill(moat, "filler2", 0)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert wait_log(moat, r"event=delivery status=deferred"), \
        "the queue did not try to deliver on the full disk"
    assert moat.queue_files() == queued
    assert len(moat.messages(USER)) == 1

    # Room again: both are delivered on a retry, nothing was lost.
    os.unlink(full)
    msgs = moat.wait_messages(USER, 3, timeout=90)
    subjects = sorted(m.split(b"Subject: ")[1].split(b"\r\n")[0]
                      for m in msgs)
    assert subjects == [b"first", b"second", b"third"]
    assert moat.wait_queue_empty(30) == []


def test_disk_filling_during_data(small_disk):
    moat = small_disk(48, {"queue.min_free": "0"})
    filler = fill(moat, "filler", 256 * 1024)
    code, text = send(moat, "too big for the disk", size=2 * MB)
    assert (code, text) == (452, b"4.3.1 Insufficient system storage")
    assert moat.queue_files() == []
    assert re.search(r"event=write_error", moat.log())
    os.unlink(filler)
    assert send(moat, "fits now", size=2 * MB)[0] == 250
    msgs = moat.wait_messages(USER, 1)
    assert len(msgs) == 1 and b"Subject: fits now" in msgs[0]


def test_imap_append_on_a_full_disk(small_disk):
    """APPEND says NO [OVERQUOTA] (as Dovecot does) and logs why; after
    room is made the same APPEND works."""
    moat = small_disk(48, {"imap.listen": "127.0.0.1:{imap_port}",
                           "imap.allow_plaintext_loopback": "yes"})
    c = imaplib.IMAP4("127.0.0.1", moat.imap_port, timeout=10)
    c.login(USER, PASSWORD)
    msg = b"Subject: appended\r\n\r\n" + (b"y" * 76 + b"\r\n") * 2000
    full = fill(moat, "filler", 0)
    typ, data = c.append("INBOX", None, None, msg)
    assert typ == "NO" and data[0].startswith(b"[OVERQUOTA]"), data
    assert "event=store_error reason=disk_full" in moat.log()
    os.unlink(full)
    typ, data = c.append("INBOX", None, None, msg)
    assert typ == "OK", data
    c.select("INBOX")
    assert c.search(None, "ALL")[1][0] == b"1"
    c.logout()

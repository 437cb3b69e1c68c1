"""IMAP with real clients: mutt (under a pseudo-terminal, driven by push
commands) reading and flagging a message over IMAPS, and mbsync (isync)
syncing a mailbox both ways over IMAPS. The self-signed certificate Moat
made at start-up is given to each client as the trusted one."""

import imaplib
import os
import shutil
import subprocess
import time

import pytest

from moat_harness import PASSWORD
from test_imap import IMAP, USER, login, send

pytestmark = pytest.mark.skipif(
    shutil.which("mutt") is None or shutil.which("mbsync") is None or
    shutil.which("script") is None,
    reason="mutt, mbsync or script not installed")


def cert_path(moat):
    return os.path.join(moat.data, "tls", "cert.pem")


def flags_of(moat, mailbox="INBOX"):
    c = login(moat)
    c.select(mailbox, readonly=True)
    typ, data = c.fetch("1:*", "(FLAGS)")
    c.logout()
    return [d for d in data if d]


def test_mutt_reads_and_flags_over_imaps(moat_factory, tmp_path):
    moat = moat_factory(IMAP)
    send(moat, subject="for mutt", body="read me with mutt")
    moat.wait_messages(USER, 1)
    rc = tmp_path / "muttrc"
    rc.write_text(
        'set folder="imaps://127.0.0.1:%d/"\n'
        'set spoolfile="+INBOX"\n'
        'set imap_user="%s"\nset imap_pass="%s"\n'
        'set certificate_file="%s"\nset ssl_verify_host=no\n'
        'set ssl_starttls=no\nset quit=yes\nset move=no\n'
        'set header_cache=""\nset message_cachedir=""\n'
        'set timeout=5\nset mail_check=60\nset sleep_time=0\n'
        'set wait_key=no\n' % (moat.imaps_port, USER, PASSWORD,
                               cert_path(moat)))
    env = dict(os.environ, TERM="xterm", HOME=str(tmp_path),
               COLUMNS="80", LINES="24")
    cmd = ("mutt -n -F %s -e 'push <display-message><exit>"
           "<flag-message><sync-mailbox><quit>'" % rc)
    subprocess.run(["script", "-qec", cmd, "/dev/null"], env=env,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)
    flags = flags_of(moat)
    assert len(flags) == 1
    assert b"\\Seen" in flags[0] and b"\\Flagged" in flags[0], flags


def test_mbsync_syncs_both_ways(moat_factory, tmp_path):
    moat = moat_factory(IMAP)
    send(moat, subject="from the server", body="pulled by mbsync")
    moat.wait_messages(USER, 1)
    maildir = tmp_path / "mail"
    maildir.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(
        "IMAPAccount moat\nHost 127.0.0.1\nPort %d\nUser %s\nPass \"%s\"\n"
        "SSLType IMAPS\nCertificateFile %s\n\n"
        "IMAPStore remote\nAccount moat\n\n"
        "MaildirStore local\nPath %s/\nInbox %s/INBOX\nSubFolders Verbatim\n\n"
        "Channel moat\nFar :remote:\nNear :local:\nPatterns INBOX Archive\n"
        "Create Both\nSync All\nExpunge Both\nSyncState *\n" %
        (moat.imaps_port, USER, PASSWORD, cert_path(moat), maildir,
         maildir))
    env = dict(os.environ, HOME=str(tmp_path))

    def mbsync():
        r = subprocess.run(["mbsync", "-c", str(rc), "-a"], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr

    mbsync()
    pulled = list((maildir / "INBOX" / "new").iterdir()) + \
        list((maildir / "INBOX" / "cur").iterdir())
    assert len(pulled) == 1
    assert b"pulled by mbsync" in pulled[0].read_bytes()
    # A local message goes up; a local flag change goes up too.
    (maildir / "INBOX" / "new" / "1700000000.local.host").write_bytes(
        b"From: me@example.test\nSubject: pushed\n\npushed by mbsync\n")
    cur = maildir / "INBOX" / "cur"
    cur.mkdir(exist_ok=True)
    src = pulled[0]
    base = src.name.split(":2,")[0]
    src.rename(cur / (base + ":2,FS"))
    mbsync()
    c = login(moat)
    c.select("INBOX", readonly=True)
    typ, data = c.search(None, "SUBJECT", "pushed")
    assert data[0] != b""
    typ, data = c.search(None, "FLAGGED")
    assert data[0] != b""
    c.logout()
    # A server-side deletion reaches the maildir.
    c = login(moat)
    c.select("INBOX")
    c.store("1", "+FLAGS", "(\\Deleted)")
    c.expunge()
    c.logout()
    mbsync()
    left = list((maildir / "INBOX" / "new").iterdir()) + \
        list((maildir / "INBOX" / "cur").iterdir())
    assert len(left) == 1

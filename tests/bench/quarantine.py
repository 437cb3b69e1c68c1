#!/usr/bin/python3
"""quarantine.py: what the quarantine store costs. Not part of the suite.

Starts moatd (tests/integration/moat_harness.py) with ClamAV quarantining
(an EICAR-only test database), pauses the queue process (SIGSTOP), sends
BENCH_MESSAGES (default 200: smtpd's notifications of more would
overflow the paused queue's socket and wait for a rescan) infected messages of about 4 KB over one SMTP
connection, resumes the queue and reports:
  - the queue's quarantine rate: first to last `status=quarantined` log
    line (per batch of queue.delivery_batch messages: the files written
    and fdatasync'd, one directory fsync, one SQLite commit), as
    messages/s and ms per message;
  - the disk used per message under DATA_DIR/quarantine;
  - `moatctl quarantine list` time for all entries;
  - release time: `moatctl quarantine release` (a whole moatctl run: new
    queue file fsync'd, entries removed) and from its start until the
    message is in the INBOX, median of BENCH_RELEASES (default 20);
  - an IMAP UID MOVE out of Quarantine (release into INBOX), median.
BENCH_BATCH sets queue.delivery_batch (1: one commit per message).
Usage: /usr/bin/python3 tests/bench/quarantine.py
"""

import imaplib
import os
import re
import signal
import shutil
import smtplib
import statistics
import sys
import tempfile
import time
from datetime import datetime

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "integration"))
from moat_harness import Moat, PASSWORD  # noqa: E402
from test_content import EICAR, make_db  # noqa: E402

USER = "demo@example.test"
N = int(os.environ.get("BENCH_MESSAGES", "200"))
R = int(os.environ.get("BENCH_RELEASES", "20"))


def stamp(line):
    return datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ")


def main():
    top = tempfile.mkdtemp(prefix="moat-qbench-")
    os.chmod(top, 0o755)
    avdb = os.path.join(top, "db")
    make_db(avdb, testfiles=False)
    moat = Moat({"imap.listen": "127.0.0.1:{imap_port}",
                 "imap.allow_plaintext_loopback": "yes",
                 "log_level": "info",
                 "filters": "mime clamav",
                 "filter.clamav.database_dir": avdb,
                 "filter.clamav.action": "quarantine",
                 "queue.delivery_batch":
                     os.environ.get("BENCH_BATCH", "64")})
    try:
        moat.add_user(USER)
        moat.start()
        filler = ("x" * 76 + "\r\n") * 50
        queue_pid = int(re.search(r"moat/queue\[(\d+)\]",
                                  moat.log()).group(1))
        os.kill(queue_pid, signal.SIGSTOP)
        with smtplib.SMTP("127.0.0.1", moat.smtp_port) as s:
            for i in range(N):
                s.sendmail("s@remote.example", [USER],
                           ("Subject: infected %d\r\n\r\n%s" %
                            (i, filler)).encode() + EICAR + b"\r\n")
        os.kill(queue_pid, signal.SIGCONT)
        deadline = time.time() + 300
        while time.time() < deadline:
            lines = [l for l in moat.log().splitlines()
                     if "status=quarantined" in l]
            if len(lines) >= N:
                break
            time.sleep(0.2)
        span = (stamp(lines[-1]) - stamp(lines[0])).total_seconds()
        print("quarantined %d messages: %.0f/s, %.2f ms per message "
              "(queue, first to last)" %
              (len(lines), (len(lines) - 1) / span,
               1000 * span / (len(lines) - 1)))
        qdir = os.path.join(moat.data, "quarantine")
        used = 0
        for root, _, files in os.walk(qdir):
            for f in files:
                used += os.stat(os.path.join(root, f)).st_blocks * 512
        print("disk: %.1f KB per message (files + index)" % (used / N /
                                                             1024))
        t = time.time()
        out = moat.ctl("quarantine", "list").stdout.splitlines()
        print("moatctl quarantine list: %d entries in %.0f ms" %
              (len(out), 1000 * (time.time() - t)))
        ids = [l.split()[0] for l in out]
        runs, ends = [], []
        for k in range(R):
            t = time.time()
            moat.ctl("quarantine", "release", ids[k])
            runs.append(time.time() - t)
            while len(moat.messages(USER)) < k + 1:
                time.sleep(0.002)
            ends.append(time.time() - t)
        print("moatctl release: median %.1f ms (whole run), %.1f ms until "
              "in the INBOX" % (1000 * statistics.median(runs),
                                1000 * statistics.median(ends)))
        c = imaplib.IMAP4("127.0.0.1", moat.imap_port)
        c.login(USER, PASSWORD)
        c._simple_command("SELECT", "Quarantine")
        c.state, c.is_readonly = "SELECTED", True
        uids = c.uid("SEARCH", None, "ALL")[1][0].split()
        moves = []
        for u in uids[:R]:
            t = time.time()
            typ, _ = c._simple_command("UID", "MOVE", u, "INBOX")
            moves.append(time.time() - t)
            assert typ == "OK"
        c.logout()
        print("IMAP UID MOVE out of Quarantine: median %.1f ms" %
              (1000 * statistics.median(moves)))
    finally:
        moat.cleanup()
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()

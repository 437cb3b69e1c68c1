#!/usr/bin/python3
"""spam_training.py: how fast users' Junk-folder training is applied, and
what it costs in the spool. Not part of the suite.

Starts moatd (tests/integration/moat_harness.py) with the spam filter,
delivers BENCH_MESSAGES (default 500) distinct messages over SMTP, pauses
the spamlearn service (SIGSTOP), moves them all into Junk in one IMAP
MOVE, measures the spool (request bytes per message, staged files and
the disk blocks they add), resumes the service and reports the rate at
which it learned them (first to last `event=spam_user_train` log line),
then the same for moving them back out (relearning as ham, which moves
every token). Usage: /usr/bin/python3 tests/bench/spam_training.py
"""

import imaplib
import os
import re
import signal
import smtplib
import sys
import time
from datetime import datetime

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "integration"))
from moat_harness import Moat, PASSWORD  # noqa: E402

USER = "demo@example.test"
N = int(os.environ.get("BENCH_MESSAGES", "500"))

WORDS = ("offer discount meeting report budget invoice watches travel "
         "project schedule lottery winner account password review draft "
         "shipment delivery coffee weekend").split()


def body(i):
    words = [WORDS[(i * 7 + k * 3) % len(WORDS)] + str(k % 13)
             for k in range(200)]
    return "\r\n".join(" ".join(words[k:k + 10])
                        for k in range(0, len(words), 10))


def stamps(log, cls):
    out = []
    for line in log.splitlines():
        if "event=spam_user_train " in line and "class=%s" % cls in line:
            out.append(datetime.strptime(line.split()[0][:23],
                                         "%Y-%m-%dT%H:%M:%S.%f"))
    return out


def wait_pending(moat, cls, n):
    deadline = time.time() + 300
    while len(stamps(moat.log(), cls)) < n and time.time() < deadline:
        time.sleep(0.2)


def learner_pid(moat):
    pids = re.findall(r"service_started service=spamlearn pid=(\d+)",
                      moat.log())
    return int(pids[-1])


def spool(moat):
    d = os.path.join(moat.data, "spam", "training")
    req = msg = blocks = 0
    for name in os.listdir(d):
        st = os.lstat(os.path.join(d, name))
        if name.endswith(".req"):
            req += st.st_size
            blocks += st.st_blocks * 512
        elif name.endswith(".msg"):
            msg += 1
    return req, msg, blocks


def main():
    moat = Moat({"imap.listen": "127.0.0.1:{imap_port}",
                 "imap.allow_plaintext_loopback": "yes",
                 "filters": "spam", "filter.spam.autolearn": "no",
                 "log_level": "info"})
    try:
        moat.add_user(USER)
        moat.start()
        with smtplib.SMTP("127.0.0.1", moat.smtp_port) as s:
            for i in range(N):
                s.sendmail("s%d@remote.example" % i, [USER],
                           "From: s%d@remote.example\r\nTo: %s\r\n"
                           "Subject: message %d\r\nMessage-ID: <b%d@x>\r\n"
                           "\r\n%s\r\n" % (i, USER, i, i, body(i)))
        moat.wait_messages(USER, N, timeout=120)
        sizes = [len(m) for m in moat.messages(USER)]
        pid = learner_pid(moat)
        c = imaplib.IMAP4("127.0.0.1", moat.imap_port)
        c.login(USER, PASSWORD)
        c.select("INBOX")
        for cls, src, dst in (("spam", "INBOX", "Junk"),
                              ("ham", "Junk", "Archive")):
            c.select(src)
            os.kill(pid, signal.SIGSTOP)
            t0 = time.time()
            typ, _ = c._simple_command("MOVE", "1:*", dst)
            cmd_ms = (time.time() - t0) * 1000
            assert typ == "OK"
            req, msg, blocks = spool(moat)
            os.kill(pid, signal.SIGCONT)
            wait_pending(moat, cls, N)
            st = stamps(moat.log(), cls)
            secs = (st[-1] - st[0]).total_seconds()
            print("%s: MOVE of %d messages %.0f ms; spool %d request bytes "
                  "(%.1f per message), %d staged links, %d bytes of disk "
                  "blocks (message bytes not copied: %d)" %
                  (cls, N, cmd_ms, req, req / N, msg, blocks, sum(sizes)))
            print("%s: %d learned in %.2f s: %.0f messages/s" %
                  (cls, len(st), secs, (len(st) - 1) / secs if secs else 0))
        c.select("Archive")
        t0 = time.time()
        assert c._simple_command("MOVE", "1:*", "INBOX")[0] == "OK"
        print("no training: MOVE of %d messages %.0f ms" %
              (N, (time.time() - t0) * 1000))
        c.logout()
        print(moat.ctl("spam", "stats").stdout.strip().splitlines()[-1])
    finally:
        moat.cleanup()


if __name__ == "__main__":
    main()

"""Users train the spam filter from their Junk folder, against the real
daemon: mail delivered over SMTP, moved, copied, appended and flagged with
imaplib; imapd writes training requests to DATA_DIR/spam/training and the
spamlearn service applies them to Bayes, which `moatctl spam stats` shows
and which later changes how similar mail is classified."""

import email
import email.policy
import imaplib
import os
import re
import smtplib
import time

from moat_harness import PASSWORD

USER = "demo@example.test"


def settings(extra=None):
    s = {
        "imap.listen": "127.0.0.1:{imap_port}",
        "imap.allow_plaintext_loopback": "yes",
        "filters": "spam",
        "filter.spam.autolearn": "no",
    }
    s.update(extra or {})
    return s


def send(moat, subject, body, msgid, sender="sender@remote.example"):
    msg = ("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\n"
           "Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n\r\n%s\r\n" %
           (sender, USER, subject, msgid, body))
    with smtplib.SMTP("127.0.0.1", moat.smtp_port, timeout=10) as s:
        s.sendmail(sender, [USER], msg)


def login(moat, mailbox="INBOX"):
    c = imaplib.IMAP4("127.0.0.1", moat.imap_port, timeout=10)
    c.login(USER, PASSWORD)
    typ, _ = c.select(mailbox)
    assert typ == "OK"
    return c


def stats(moat):
    """(bayes spam, bayes ham, user-training dict) from moatctl."""
    out = moat.ctl("spam", "stats").stdout
    b = re.search(r"bayes: (\d+) spam, (\d+) ham learned", out)
    u = re.search(r"user training \((on|off)\): (\d+) spam, (\d+) ham "
                  r"learned, (\d+) already known, (\d+) missing, (\d+) "
                  r"bad; (\d+) pending", out)
    assert b and u, out
    keys = ("state", "spam", "ham", "known", "missing", "bad", "pending")
    ut = dict(zip(keys, [u.group(1)] + [int(x) for x in u.groups()[1:]]))
    return int(b.group(1)), int(b.group(2)), ut


def wait_applied(moat, processed, timeout=20):
    """Waits until the spool is empty and the service has accounted for
    `processed` messages in all; returns stats()."""
    deadline = time.time() + timeout
    while True:
        s = stats(moat)
        ut = s[2]
        done = ut["spam"] + ut["ham"] + ut["known"] + ut["missing"]
        if (ut["pending"] == 0 and not spool_requests(moat)
                and done >= processed) or time.time() > deadline:
            return s
        time.sleep(0.05)


def spool_requests(moat):
    d = os.path.join(moat.data, "spam", "training")
    try:
        return sorted(n for n in os.listdir(d) if n.endswith(".req"))
    except FileNotFoundError:
        return []


def deliver(moat, n, kind="plain"):
    for i in range(n):
        send(moat, "note %d about %s" % (i, kind),
             "an ordinary message number %d" % i,
             "%s%d@remote.example" % (kind, i))
    assert len(moat.wait_messages(USER, n)) >= n


def train_lines(moat):
    return [l for l in moat.log().splitlines()
            if "event=spam_user_train " in l]


def test_move_into_junk_learns_spam_and_back_learns_ham(moat_factory):
    moat = moat_factory(settings())
    deliver(moat, 2)
    assert stats(moat)[2]["state"] == "on"
    c = login(moat)
    typ, _ = c.uid("MOVE", "1", "Junk")
    assert typ == "OK"
    nspam, nham, ut = wait_applied(moat, 1)
    assert (nspam, nham) == (1, 0)
    assert (ut["spam"], ut["ham"], ut["known"]) == (1, 0, 0)
    # Out of Junk into INBOX: "not spam", its tokens move to ham.
    c.select("Junk")
    typ, _ = c._simple_command("MOVE", "1", "INBOX")
    assert typ == "OK"
    nspam, nham, ut = wait_applied(moat, 2)
    assert (nspam, nham) == (0, 1)
    assert (ut["spam"], ut["ham"]) == (1, 1)
    c.logout()
    lines = train_lines(moat)
    assert len(lines) == 2, lines
    assert "class=spam reason=move" in lines[0]
    assert 'mailbox="INBOX" uid=1 result=learned' in lines[0]
    assert "class=ham reason=move" in lines[1]
    assert 'mailbox="Junk"' in lines[1]
    # One line per message, and no message content in it.
    assert all("ordinary message" not in l and "note 0" not in l
               for l in lines)
    # The files left the spool with the request.
    assert os.listdir(os.path.join(moat.data, "spam", "training")) == []


def test_junk_keywords_train(moat_factory):
    moat = moat_factory(settings())
    deliver(moat, 2)
    c = login(moat)
    typ, _ = c.store("1", "+FLAGS", "($Junk)")
    assert typ == "OK"
    nspam, nham, ut = wait_applied(moat, 1)
    assert (nspam, nham, ut["spam"]) == (1, 0, 1)
    # Setting it again changes nothing: no request at all.
    c.store("1", "+FLAGS", "($Junk)")
    assert spool_requests(moat) == []
    # $NotJunk corrects it; a STORE that sets both teaches nothing.
    c.store("1", "FLAGS", "($NotJunk)")
    nspam, nham, ut = wait_applied(moat, 2)
    assert (nspam, nham, ut["ham"]) == (0, 1, 1)
    c.store("2", "+FLAGS", "($Junk $NotJunk)")
    assert spool_requests(moat) == []
    # Removing a keyword teaches nothing either.
    c.store("1", "-FLAGS", "($NotJunk)")
    assert spool_requests(moat) == []
    c.logout()
    assert any("reason=flag" in l for l in train_lines(moat))


def test_copy_twice_learns_once(moat_factory):
    moat = moat_factory(settings())
    deliver(moat, 1)
    c = login(moat)
    assert c.copy("1", "Junk")[0] == "OK"
    assert c.copy("1", "Junk")[0] == "OK"
    nspam, nham, ut = wait_applied(moat, 2)
    assert (nspam, nham) == (1, 0)
    assert (ut["spam"], ut["known"]) == (1, 1)
    c.logout()


def test_append_into_junk_learns_spam(moat_factory):
    moat = moat_factory(settings())
    c = imaplib.IMAP4("127.0.0.1", moat.imap_port, timeout=10)
    c.login(USER, PASSWORD)
    msg = (b"From: promo@offers.example\r\nTo: demo@example.test\r\n"
           b"Subject: cheap watches\r\nMessage-ID: <app1@offers.example>"
           b"\r\n\r\nbuy cheap replica watches\r\n")
    typ, _ = c.append("Junk", None, None, msg)
    assert typ == "OK"
    # APPEND elsewhere teaches nothing.
    typ, _ = c.append("Archive", None, None,
                      msg.replace(b"app1@", b"app2@"))
    assert typ == "OK"
    nspam, nham, ut = wait_applied(moat, 1)
    assert (nspam, nham, ut["spam"]) == (1, 0, 1)
    assert "reason=append" in train_lines(moat)[0]
    c.logout()


def test_junk_to_trash_and_other_moves_teach_nothing(moat_factory):
    moat = moat_factory(settings())
    deliver(moat, 2)
    c = login(moat)
    assert c.copy("1", "Archive")[0] == "OK"
    assert c._simple_command("MOVE", "2", "Trash")[0] == "OK"
    assert spool_requests(moat) == []
    c.select("Trash")
    # Trash -> Junk is spam; Junk -> Trash is a deletion, not "not spam".
    assert c._simple_command("MOVE", "1", "Junk")[0] == "OK"
    wait_applied(moat, 1)
    c.select("Junk")
    assert c._simple_command("MOVE", "1", "Trash")[0] == "OK"
    assert spool_requests(moat) == []
    nspam, nham, ut = stats(moat)
    assert (nspam, nham, ut["spam"], ut["ham"]) == (1, 0, 1, 0)
    c.logout()


def test_training_disabled_learns_nothing(moat_factory):
    moat = moat_factory(settings({"spam.user_training": "no"}))
    deliver(moat, 1)
    c = login(moat)
    assert c._simple_command("MOVE", "1", "Junk")[0] == "OK"
    c.select("Junk")
    assert c.store("1", "+FLAGS", "($Junk)")[0] == "OK"
    c.logout()
    assert spool_requests(moat) == []
    nspam, nham, ut = stats(moat)
    assert (nspam, nham) == (0, 0)
    assert ut["state"] == "off" and ut["spam"] == 0
    assert "event=spam_training status=off" in moat.log()


def test_spool_is_bounded(moat_factory):
    moat = moat_factory(settings({"spam.user_training_max_pending": "2"}))
    deliver(moat, 5)
    c = login(moat)
    assert c._simple_command("MOVE", "1:5", "Junk")[0] == "OK"
    c.logout()
    nspam, nham, ut = wait_applied(moat, 2)
    assert ut["spam"] == 2 and nspam == 2
    assert "event=spam_training_dropped" in moat.log()
    assert "messages=3" in [l for l in moat.log().splitlines()
                            if "spam_training_dropped" in l][0]


def test_relearns_autolearned_ham(moat_factory):
    """Mail auto-learned as ham at delivery and then moved to Junk moves
    from ham to spam: same message key, tokens moved, not added."""
    moat = moat_factory(settings({"filter.spam.autolearn": "yes"}))
    deliver(moat, 1)
    before = stats(moat)
    assert before[:2] == (0, 1), before
    c = login(moat)
    assert c._simple_command("MOVE", "1", "Junk")[0] == "OK"
    c.logout()
    nspam, nham, ut = wait_applied(moat, 1)
    assert (nspam, nham, ut["spam"]) == (1, 0, 1)


def symbols(msg):
    parsed = email.message_from_bytes(msg, policy=email.policy.compat32)
    return " ".join(parsed.get("X-Spam-Symbols", "").split())


def test_user_training_changes_classification(moat_factory):
    moat = moat_factory(settings({"filter.spam.bayes_min_learns": "3"}))
    for i in range(4):
        send(moat, "cheap rolex replica watches %d" % i,
             "Buy cheap rolex replica watches, luxury discount store, "
             "order today number %d" % i, "s%d@offers.example" % i,
             sender="deals%d@offers.example" % i)
    for i in range(4):
        send(moat, "quarterly report draft %d" % i,
             "Please review the quarterly report draft and the budget "
             "spreadsheet before Thursday %d" % i, "h%d@work.example" % i,
             sender="colleague@work.example")
    msgs = moat.wait_messages(USER, 8)
    assert len(msgs) == 8
    # Too little learned yet: no BAYES_* symbol.
    assert "BAYES_" not in symbols(msgs[0])
    c = login(moat)
    # The spam goes to Junk; the ham is marked "not junk".
    spam = c.uid("SEARCH", "SUBJECT", "rolex")[1][0].decode().split()
    ham = c.uid("SEARCH", "SUBJECT", "quarterly")[1][0].decode().split()
    assert len(spam) == 4 and len(ham) == 4
    assert c.uid("MOVE", ",".join(spam), "Junk")[0] == "OK"
    assert c.uid("STORE", ",".join(ham), "+FLAGS", "($NotJunk)")[0] == "OK"
    c.logout()
    nspam, nham, ut = wait_applied(moat, 8)
    assert (nspam, nham) == (4, 4), (nspam, nham, ut)
    send(moat, "replica watches", "cheap rolex replica watches at the "
         "luxury discount store", "new-s@offers.example",
         sender="deals9@offers.example")
    msg = moat.wait_messages(USER, 5)[4]
    assert re.search(r"BAYES_(8|9)\d*\(", symbols(msg)), symbols(msg)
    send(moat, "report", "the quarterly report draft and budget "
         "spreadsheet", "new-h@work.example",
         sender="colleague@work.example")
    msg = moat.wait_messages(USER, 6)[5]
    assert re.search(r"BAYES_0\d*\(", symbols(msg)), symbols(msg)



def test_requests_survive_a_crash(moat_factory):
    """A request written before the service applied it is applied after
    moatd is killed and started again; the staged link keeps the message
    even though the user expunged it meanwhile."""
    import re as _re
    import signal
    moat = moat_factory(settings())
    deliver(moat, 1)
    pid = int(_re.findall(r"service_started service=spamlearn pid=(\d+)",
                          moat.log())[-1])
    os.kill(pid, signal.SIGSTOP)
    try:
        c = login(moat)
        assert c._simple_command("MOVE", "1", "Junk")[0] == "OK"
        c.select("Junk")
        c.store("1", "+FLAGS", "(\\Deleted)")
        c.expunge()
        c.logout()
        assert len(spool_requests(moat)) == 1
        moat.kill9()
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    moat.start()
    nspam, nham, ut = wait_applied(moat, 1)
    assert (nspam, ut["spam"], ut["missing"]) == (1, 1, 0)


def test_only_own_mail_is_staged(moat_factory):
    """A user's commands stage only that user's messages, under that
    user's name: another user's UIDs name nothing in their mailbox."""
    moat = moat_factory(settings(), users=(USER, "eve@example.test"))
    deliver(moat, 1)
    c = imaplib.IMAP4("127.0.0.1", moat.imap_port, timeout=10)
    c.login("eve@example.test", PASSWORD)
    c.select("INBOX")
    typ, _ = c.uid("COPY", "1:*", "Junk")
    assert typ == "OK"
    c.logout()
    assert spool_requests(moat) == []
    c = login(moat)
    assert c.uid("COPY", "1", "Junk")[0] == "OK"
    c.logout()
    wait_applied(moat, 1)
    lines = train_lines(moat)
    assert len(lines) == 1 and "user=demo@example.test" in lines[0]

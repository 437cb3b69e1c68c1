"""Spam scoring over SMTP with the real daemon: GTUBE is refused in the
session, ordinary mail is delivered with X-Spam-Score / X-Spam-Status /
X-Spam-Symbols headers, spammy mail is tagged, forged incoming X-Spam-*
fields are removed, and `moatctl spam train` feeds Bayes so BAYES_* symbols
appear on later mail."""

import base64
import email
import email.policy
import os
import re
import smtplib
import sqlite3
import time

import subprocess

from moat_harness import MOATD

GTUBE = (b"XJS*C4JDBQADN1.NSBN3*2IDNEN*"
         b"GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X")

HAM = (b"From: Alice <alice@remote.example>\r\n"
       b"To: demo@example.test\r\n"
       b"Subject: minutes of the project meeting\r\n"
       b"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
       b"Message-Id: <ham1@remote.example>\r\n"
       b"X-Spam-Status: No, forged by the sender\r\n"
       b"\r\n"
       b"Hello, here are the minutes of today's meeting.\r\n")

SPAMMY = (b"From: Winner Dept <12345678@lottery.example>\r\n"
          b"To: undisclosed-recipients:;\r\n"
          b"Subject: YOU HAVE WON $1,000,000 FREE!!!\r\n"
          b"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
          b"Message-Id: <spam1@lottery.example>\r\n"
          b"\r\n"
          b"Dear friend, you have won the lottery winner notification!!!\r\n"
          b"Claim your prize now, act now, click here: "
          b"http://192.0.2.7/claim.php?id=1\r\n"
          b"100% guaranteed, no cost, risk free. Earn extra cash working "
          b"from home.\r\n"
          b"To unsubscribe click below.\r\n")


def settings(extra=None):
    s = {"filters": "spam"}
    s.update(extra or {})
    return s


def send(port, body, rcpt="demo@example.test"):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as c:
        c.ehlo("client.example")
        c.mail("sender@remote.example")
        c.rcpt(rcpt)
        return c.data(body)


def header(msg, name):
    """Every value of the header field name, unfolded."""
    parsed = email.message_from_bytes(msg, policy=email.policy.compat32)
    return [" ".join(v.split()) for v in parsed.get_all(name, [])]


def bayes_moat(moat_factory, extra):
    """A stopped moat whose spam filter learns into DATA/spam/bayes.db (the
    data dir is only known once the factory made it): returns it and the
    database path."""
    moat = moat_factory(settings(dict({"filter.spam.bayes_db": "/BAYES",
                                       "filter.spam.autolearn": "no"},
                                      **extra)),
                        users=(), start=False)
    db = os.path.join(moat.data, "spam", "bayes.db")
    with open(moat.conf) as f:
        conf = f.read().replace("/BAYES", db)
    with open(moat.conf, "w") as f:
        f.write(conf)
    return moat, db


def message_dir(moat, name, messages):
    """A directory moat.top/name of messages (bytes), N.eml each, readable
    by moatctl (which runs as the daemon's user)."""
    path = os.path.join(moat.top, name)
    os.mkdir(path)
    for i, data in enumerate(messages):
        with open(os.path.join(path, "%d.eml" % i), "wb") as f:
            f.write(data)
    os.chmod(path, 0o755)
    return path


def test_gtube_rejected(moat_factory):
    moat = moat_factory(settings())
    body = (b"From: a@remote.example\r\nTo: demo@example.test\r\n"
            b"Subject: test\r\n\r\n" + GTUBE + b"\r\n")
    code, text = send(moat.smtp_port, body)
    assert code == 550
    assert b"5.7.1" in text and b"spam" in text.lower()
    assert moat.messages("demo@example.test") == []


def test_gtube_in_base64_part_rejected(moat_factory):
    moat = moat_factory(settings())
    enc = base64.b64encode(b"hello\r\n" + GTUBE + b"\r\n")
    body = (b"From: a@remote.example\r\nTo: demo@example.test\r\n"
            b"Subject: test\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=b1\r\n\r\n"
            b"--b1\r\nContent-Type: text/plain\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + enc +
            b"\r\n--b1--\r\n")
    code, _ = send(moat.smtp_port, body)
    assert code == 550


def test_gtube_where_a_reader_sees_it(moat_factory):
    """SpamAssassin's own string, in the forms a reader sees it as one:
    split by HTML tags, in UTF-16, in an attached message."""
    moat = moat_factory(settings())
    head = (b"From: a@remote.example\r\nTo: demo@example.test\r\n"
            b"Subject: test\r\nMIME-Version: 1.0\r\n")
    utf16 = base64.b64encode(GTUBE.decode().encode("utf-16"))
    bodies = [
        b"Content-Type: text/html\r\n\r\n<p>" + GTUBE[:28] + b"<b></b>" +
        GTUBE[28:] + b"</p>\r\n",
        b"Content-Type: text/plain; charset=utf-16\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + utf16 + b"\r\n",
        b"Content-Type: multipart/mixed; boundary=b1\r\n\r\n"
        b"--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--b1\r\nContent-Type: message/rfc822\r\n\r\n"
        b"Subject: inner\r\n\r\n" + GTUBE + b"\r\n--b1--\r\n",
    ]
    for body in bodies:
        code, _ = send(moat.smtp_port, head + body)
        assert code == 550, body
    assert moat.messages("demo@example.test") == []


def test_ham_delivered_with_headers(moat_factory):
    moat = moat_factory(settings())
    code, _ = send(moat.smtp_port, HAM)
    assert code == 250
    msg = moat.wait_messages("demo@example.test", 1)[0]
    score = header(msg, "X-Spam-Score")
    status = header(msg, "X-Spam-Status")
    assert len(score) == 1 and float(score[0]) < 5
    assert len(status) == 1 and status[0].startswith("No, score=")
    assert "forged" not in msg.decode("utf-8", "replace")
    assert len(header(msg, "X-Spam-Symbols")) == 1
    assert header(msg, "X-Spam-Flag") == []


def test_spammy_mail_tagged_with_symbols(moat_factory):
    moat = moat_factory(settings())
    code, _ = send(moat.smtp_port, SPAMMY)
    assert code == 250
    msg = moat.wait_messages("demo@example.test", 1)[0]
    status = header(msg, "X-Spam-Status")[0]
    assert status.startswith("Yes, score="), status
    assert header(msg, "X-Spam-Flag") == ["YES"]
    symbols = header(msg, "X-Spam-Symbols")[0]
    for sym in ("URI_NUMERIC_IP", "BODY_LOTTERY", "SUBJ_ALL_CAPS"):
        assert sym + "(" in symbols, symbols


def test_display_name_spoof_scored(moat_factory):
    """A From whose name shows another organisation's address scores
    FROM_NAME_SPOOF; a name showing the sender's own organisation (a
    subdomain, by the Public Suffix List) does not."""
    moat = moat_factory(settings())
    for name, addr in (("ceo@bank.example", "x@mailer.example"),
                       ("help@shop.example", "noreply@mail.shop.example")):
        body = HAM.replace(b"From: ", b'From: "%s" <%s>\r\nX-Old-From: '
                           % (name.encode(), addr.encode()), 1)
        assert send(moat.smtp_port, body)[0] == 250
    msgs = moat.wait_messages("demo@example.test", 2)
    symbols = [header(m, "X-Spam-Symbols")[0] for m in msgs]
    assert sum("FROM_NAME_SPOOF(" in s for s in symbols) == 1, symbols
    spoofed = [m for m in msgs if b"ceo@bank.example" in m][0]
    assert "FROM_NAME_SPOOF(" in header(spoofed, "X-Spam-Symbols")[0]


def test_reject_threshold_from_config(moat_factory):
    moat = moat_factory(settings({"filter.spam.tag_score": "2",
                                  "filter.spam.reject_score": "4"}))
    code, text = send(moat.smtp_port, SPAMMY)
    assert code == 550 and b"5.7.1" in text


def test_admin_rule_file(moat_factory):
    moat = moat_factory(settings(), start=False)
    cf = os.path.join(moat.top, "local.cf")
    with open(cf, "w") as f:
        f.write("body LOCAL_WIDGET /purple widgets?/i\n"
                "score LOCAL_WIDGET 20\n"
                "describe LOCAL_WIDGET Talks about purple widgets\n")
    os.chmod(cf, 0o644)
    with open(moat.conf, "a") as f:
        f.write("filter.spam.rules_paths = %s\n" % cf)
    moat.start()
    body = (b"From: a@remote.example\r\nTo: demo@example.test\r\n"
            b"Subject: hi\r\n\r\nBuy Purple Widgets today\r\n")
    code, _ = send(moat.smtp_port, body)
    assert code == 550
    assert "event=spam_rules" in moat.log()


def symbols_by_subject(moat, texts, content_type="text/plain"):
    """Sends one message per Subject: body text of texts (UTF-8, 8bit)
    and returns each one's X-Spam-Symbols by its Subject."""
    for subject, text in texts.items():
        body = ("From: a@remote.example\r\nTo: demo@example.test\r\n"
                "Subject: %s\r\nMIME-Version: 1.0\r\n"
                "Content-Type: %s; charset=utf-8\r\n"
                "Content-Transfer-Encoding: 8bit\r\n\r\n%s\r\n"
                % (subject, content_type, text))
        assert send(moat.smtp_port, body.encode())[0] == 250
    msgs = moat.wait_messages("demo@example.test", len(texts))
    assert len(msgs) == len(texts)
    return {header(m, "Subject")[0]: header(m, "X-Spam-Symbols")[0]
            for m in msgs}


def moat_with_local_rules(moat_factory, rules):
    """A started moatd loading the rule file text rules on top."""
    moat = moat_factory(settings(), start=False)
    cf = os.path.join(moat.top, "local.cf")
    with open(cf, "w") as f:
        f.write(rules)
    os.chmod(cf, 0o644)
    with open(moat.conf, "a") as f:
        f.write("filter.spam.rules_paths = %s\n" % cf)
    moat.start()
    return moat


def test_obfuscated_words_read_as_the_reader_reads_them(moat_factory):
    """Zero-width characters inside a word and mathematical letters hide
    it from word rules; rules read what the reader reads, and the hiding
    scores TEXT_OBFUSCATED. Soft hyphens and full-width letters do not
    score it."""
    moat = moat_with_local_rules(moat_factory,
                                 "body LOCAL_WIDGET /\\bpurple widgets\\b/i\n"
                                 "score LOCAL_WIDGET 0.1\n")
    hidden = {
        "zw": "p\u200bu\u200br\u200bp\u200bl\u200be widgets",
        "math": "\U0001d40f\U0001d42e\U0001d42b\U0001d429\U0001d425"
                "\U0001d41e widgets",
        "shy": "pur\u00adple wid\u00adgets",
        "fullwidth": "\uff50\uff55\uff52\uff50\uff4c\uff45 widgets",
        "lookalike": "pur\u0440le widgets",  # a Cyrillic "р"
        "bidi": "pu\u202er\u2066ple wid\U000e0067gets",  # override, tag
    }
    for name, text in hidden.items():
        body = ("From: a@remote.example\r\nTo: demo@example.test\r\n"
                "Subject: %s\r\nMIME-Version: 1.0\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n"
                "Content-Transfer-Encoding: 8bit\r\n\r\n"
                "Buy %s today\r\n" % (name, text))
        assert send(moat.smtp_port, body.encode())[0] == 250
    # the Subject is read the same way (an encoded word)
    subject = "=?utf-8?b?%s?=" % base64.b64encode(
        ("Buy " + hidden["zw"]).encode()).decode()
    body = ("From: a@remote.example\r\nTo: demo@example.test\r\n"
            "Subject: %s\r\n\r\nsubject\r\n" % subject)
    assert send(moat.smtp_port, body.encode())[0] == 250
    hidden["subject"] = ""
    msgs = moat.wait_messages("demo@example.test", len(hidden))
    assert len(msgs) == len(hidden)
    for msg in msgs:
        name = header(msg, "Subject")[0]
        if name.startswith("=?"):
            name = "subject"
        symbols = header(msg, "X-Spam-Symbols")[0]
        assert "LOCAL_WIDGET" in symbols, (name, symbols)
        assert ("TEXT_OBFUSCATED(2.50)" in symbols) == (
            name in ("zw", "math", "subject", "bidi")), (name, symbols)


def test_hidden_html_text_is_not_read_as_seen(moat_factory):
    """Text in HTML elements the reader never sees (display:none, the
    hidden attribute, a zero font size, white on white, a style sheet's
    class or id rule that hides or colours) is not what body rules read;
    the text around it is. A sheet's rule that hides on some screens only
    hides nothing, nor does white on a background the sheet darkens."""
    moat = moat_with_local_rules(moat_factory,
                                 "body LOCAL_SEEN /\\bpurple widgets\\b/i\n"
                                 "score LOCAL_SEEN 0.1\n"
                                 "body LOCAL_UNSEEN /\\bgrandma recipe\\b/i\n"
                                 "score LOCAL_UNSEEN 0.1\n")
    hiding = ['<div style="display: none;">grandma recipe</div>',
              '<span hidden>grandma recipe</span>',
              '<p style="font-size:0px">grandma recipe<p>',
              '<td style="max-height:0;overflow:hidden">grandma recipe</td>',
              '<font color="#FFFFFF">grandma recipe</font>',
              '<style>.pre{display:none}</style>'
              '<span class="x pre">grandma recipe</span>',
              '<style type="text/css">#f { font-size: 0 }</style>'
              '<div id="f">grandma recipe</div>',
              '<style>.w{color:#ffffff}</style>'
              '<span class="w">grandma recipe</span>']
    showing = ['<style>@media (max-width:480px){.m{display:none}}</style>'
               '<span class="m">grandma recipe</span>',
               '<style>.h{display:none}</style>'
               '<span class="h" style="display:inline">grandma recipe</span>',
               '<style>.dark{background:#000}</style><div class="dark">'
               '<font color="#ffffff">grandma recipe</font></div>']
    pages = {"hidden %d" % i: hidden for i, hidden in enumerate(hiding)}
    pages.update({"shown %d" % i: shown for i, shown in enumerate(showing)})
    got = symbols_by_subject(moat, {
        name: "<html><body>Buy %s purple widgets</body></html>" % html
        for name, html in pages.items()}, "text/html")
    assert len(got) == len(pages)
    for name, symbols in got.items():
        assert "LOCAL_SEEN" in symbols, (name, symbols)
        assert ("LOCAL_UNSEEN" in symbols) == name.startswith("shown"), (
            name, symbols)


def test_link_text_showing_another_host_scored(moat_factory):
    """A link whose text shows one address and goes to another
    organisation's host scores URI_TEXT_MISMATCH, also behind a
    redirector; the same organisation, a click tracker of
    filter.spam.link_trackers and the sender's own domain do not."""
    moat = moat_factory(settings())
    pages = {
        "phish": '<a href="http://login.evil.example/x">'
                 'https://www.bank.example/signin</a>',
        "redirected": '<a href="https://r.other.example/c?u=https%3A%2F%2F'
                      'evil.example%2F">www.bank.example</a>',
        "same org": '<a href="https://links.bank.example/t/1">'
                    'www.bank.example</a>',
        "tracker": '<a href="https://shop.us1.list-manage.com/track/click'
                   '?u=1">www.shop.example</a>',
        "own": '<a href="http://clicks.remote.example/c?q=1">'
               'www.shop.example</a>',
        "words": '<a href="http://evil.example/">Sign in to your bank</a>',
    }
    got = symbols_by_subject(moat, {
        name: "<html><body><p>Dear customer, %s</p></body></html>" % html
        for name, html in pages.items()}, "text/html")
    assert len(got) == len(pages)
    for name, symbols in got.items():
        assert ("URI_TEXT_MISMATCH" in symbols) == (
            name in ("phish", "redirected")), (name, symbols)


def test_look_alike_letters_in_words_scored(moat_factory):
    """Latin words with Cyrillic letters that look Latin planted in them
    score TEXT_OBFUSCATED; Russian and English side by side do not."""
    moat = moat_factory(settings())
    texts = {
        "mixed": "Your p\u0430yp\u0430l \u0430ccount needs \u0430ction",
        "honest": "\u041c\u043e\u0441\u043a\u0432\u0430 is Moscow, "
                  "\u043f\u0440\u0438\u0432\u0435\u0442 is hello",
    }
    for name, symbols in symbols_by_subject(moat, texts).items():
        assert ("TEXT_OBFUSCATED" in symbols) == (name == "mixed"), (
            name, symbols)


def test_homographs_scored(moat_factory):
    """A From domain or a link host in look-alike letters (punycode or
    UTF-8) scores FROM_HOMOGRAPH / URI_HOMOGRAPH; plain and honest IDN
    names do not."""
    moat = moat_factory(settings())
    spoof = HAM.replace(b"alice@remote.example", b"alice@xn--pypal-4ve.com")
    link = HAM.replace(b"Hello,", "Hello, see https://\u0430\u0440\u0440"
                       "\u04cf\u0435.com/login".encode(), 1)
    honest = HAM.replace(b"Hello,", b"Hello, see http://xn--mnchen-3ya.de/"
                         b" and http://xn--j1aim.xn--p1ai/", 1)
    for body in (spoof, link, honest):
        assert send(moat.smtp_port, body)[0] == 250
    msgs = moat.wait_messages("demo@example.test", 3)

    def symbols(needle):
        m = [m for m in msgs if needle in m][0]
        return header(m, "X-Spam-Symbols")[0]
    assert "FROM_HOMOGRAPH(" in symbols(b"xn--pypal-4ve")
    assert "URI_HOMOGRAPH(" in symbols("\u0430\u0440".encode())
    assert "HOMOGRAPH" not in symbols(b"mnchen"), symbols(b"mnchen")


def test_subject_tag(moat_factory):
    """filter.spam.subject_tag puts its text, score filled in, in front of
    a tagged message's Subject (once: mail already tagged keeps its
    Subject); ham keeps its Subject."""
    moat = moat_factory(settings({"filter.spam.subject_tag":
                                  "[SPAM _SCORE_/_REQD_]"}))
    assert send(moat.smtp_port, SPAMMY)[0] == 250
    msg = moat.wait_messages("demo@example.test", 1)[0]
    score = float(header(msg, "X-Spam-Score")[0])
    assert header(msg, "Subject") == [
        "[SPAM %.1f/5.0] YOU HAVE WON $1,000,000 FREE!!!" % score]
    assert send(moat.smtp_port, msg)[0] == 250
    assert send(moat.smtp_port, HAM)[0] == 250
    msgs = moat.wait_messages("demo@example.test", 3)
    subjects = sorted(header(m, "Subject")[0] for m in msgs)
    assert subjects[0] == "[SPAM %.1f/5.0] YOU HAVE WON $1,000,000 FREE!!!" \
        % score and subjects[1].startswith("[SPAM ") and \
        subjects[1].count("[SPAM") == 1, subjects
    assert subjects[2] == "minutes of the project meeting"


def test_subject_tag_from_rule_file(moat_factory):
    """SpamAssassin's rewrite_header Subject, from an admin's local.cf."""
    moat = moat_factory(settings(), start=False)
    cf = os.path.join(moat.top, "local.cf")
    with open(cf, "w") as f:
        f.write("rewrite_header Subject *****SPAM*****\n")
    os.chmod(cf, 0o644)
    with open(moat.conf, "a") as f:
        f.write("filter.spam.rules_paths = %s\n" % cf)
    moat.start()
    assert send(moat.smtp_port, SPAMMY)[0] == 250
    msg = moat.wait_messages("demo@example.test", 1)[0]
    assert header(msg, "Subject") == [
        "*****SPAM***** YOU HAVE WON $1,000,000 FREE!!!"]


def test_bad_threshold_refused(moat_factory):
    moat = moat_factory(settings({"filter.spam.tag_score": "lots"}),
                        users=(), start=False)
    r = subprocess.run([MOATD, "-c", moat.conf, "--check-config"],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert "filter.spam" in r.stderr


def test_bayes_trained_by_moatctl(moat_factory):
    moat, db = bayes_moat(moat_factory,
                          {"filter.spam.bayes_min_learns": "3"})
    moat.add_user("demo@example.test")
    mbox = os.path.join(moat.top, "spam.mbox")
    with open(mbox, "wb") as f:
        for i in range(4):
            f.write(b"From spammer@example.invalid Tue Dec  1 10:00:00 2026\n"
                    b"From: deals%d@offers.example\nSubject: cheap rolex "
                    b"replica watches %d\nMessage-Id: <s%d@offers.example>\n"
                    b"\nBuy cheap rolex replica watches, luxury discount "
                    b"store, order today number %d\n>From the store\n\n"
                    % (i, i, i, i))
    hamdir = message_dir(moat, "ham", [
        b"From: colleague@work.example\nSubject: quarterly report draft "
        b"%d\nMessage-Id: <h%d@work.example>\n\nPlease review the "
        b"quarterly report draft and the budget spreadsheet before "
        b"Thursday %d\n" % (i, i, i) for i in range(4)])
    out = moat.ctl("spam", "train", "--spam", mbox).stdout
    assert "learned 4 spam messages" in out
    out = moat.ctl("spam", "train", "--ham", hamdir).stdout
    assert "learned 4 ham messages" in out
    # Learning the same messages again counts nothing.
    assert "learned 0 ham messages (4 already known)" in \
        moat.ctl("spam", "train", "--ham", hamdir).stdout
    assert "bayes: 4 spam, 4 ham learned" in moat.ctl("spam", "stats").stdout
    moat.start()
    body = (b"From: x@remote.example\r\nTo: demo@example.test\r\n"
            b"Subject: replica watches\r\n\r\n"
            b"cheap rolex replica watches at the luxury discount store\r\n")
    code, _ = send(moat.smtp_port, body)
    assert code == 250
    msg = moat.wait_messages("demo@example.test", 1)[0]
    symbols = header(msg, "X-Spam-Symbols")[0]
    assert "BAYES_99" in symbols or "BAYES_999" in symbols, symbols
    body = (b"From: y@work.example\r\nTo: demo@example.test\r\n"
            b"Subject: report\r\n\r\n"
            b"the quarterly report draft and budget spreadsheet\r\n")
    code, _ = send(moat.smtp_port, body)
    msg = moat.wait_messages("demo@example.test", 2)[1]
    symbols = header(msg, "X-Spam-Symbols")[0]
    # Four ham learned: clearly hammy, if not yet certain.
    assert "BAYES_00" in symbols or "BAYES_05" in symbols, symbols


def partner_mail(n, relay_ip, spam_words=False):
    """Mail from a correspondent as a front relay (the test client, on
    loopback: trusted) hands it to Moat, naming where it came from."""
    text = (b"WIN cheap rolex replica watches, luxury discount store!!!\r\n"
            if spam_words else b"Here is the agenda for Thursday.\r\n")
    return (b"Received: from mail.partner.example (mail.partner.example "
            b"[%s]) by mx.front.example (Postfix) with ESMTP id F%d; "
            b"Tue, 01 Dec 2026 10:00:00 +0000\r\n"
            b"From: Pat Partner <Pat@Partner.example>\r\n"
            b"To: demo@example.test\r\n"
            b"Subject: agenda %d\r\n"
            b"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n"
            b"Message-Id: <agenda%d@partner.example>\r\n\r\n%s"
            % (relay_ip, n, n, n, text))


def test_sender_learned_as_ham(moat_factory):
    """A correspondent's mail learned as ham marks later mail from the
    same address and relay network SENDER_LEARNED_HAM (-2); the same From
    through another network, or once also learned as spam, does not."""
    moat, db = bayes_moat(moat_factory, {
        "filter.spam.trusted_relays": "198.51.100.0/24",
        "smtp.xclient_trusted": "127.0.0.1"})
    moat.add_user("demo@example.test")
    # As Moat stored them: its own Received on top naming the front
    # relay (198.51.100.7, configured as trusted), the relay's below.
    hamdir = message_dir(moat, "ham", [
        b"Received: from mx.front.example ([198.51.100.7]) by "
        b"moat.example.test (Moat) with ESMTP id Q%d; "
        b"Tue, 01 Dec 2026 10:00:00 +0000\r\n" % i
        + partner_mail(i, b"203.0.113.25") for i in range(2)])
    assert "learned 2 ham messages" in \
        moat.ctl("spam", "train", "--ham", hamdir).stdout
    moat.start()

    def symbols(n, relay_ip, spam_words=False):
        code, _ = send(moat.smtp_port,
                       partner_mail(10 + n, relay_ip, spam_words))
        assert code == 250
        msg = moat.wait_messages("demo@example.test", n + 1)[n]
        return header(msg, "X-Spam-Symbols")[0]

    # same address, same /16 (another host of the partner's)
    assert "SENDER_LEARNED_HAM(-2.00)" in symbols(0, b"203.0.200.9")
    # the same From from another network: a forgery has no history
    assert "SENDER_LEARNED_HAM" not in symbols(1, b"192.0.2.66")

    def direct(n, client_ip, body):
        """Straight from client_ip on the Internet (XCLIENT): Moat's own
        Received field names it."""
        with smtplib.SMTP("127.0.0.1", moat.smtp_port, timeout=30) as c:
            c.ehlo("client.example")
            code, msg = c.docmd("XCLIENT", "ADDR=%s" % client_ip)
            assert code == 220, msg
            c.ehlo_resp = None
            c.ehlo("[127.0.0.1]")  # a HELO is the client's word only
            c.mail("pat@partner.example")
            c.rcpt("demo@example.test")
            assert c.data(body)[0] == 250
        msg = moat.wait_messages("demo@example.test", n + 1)[n]
        return header(msg, "X-Spam-Symbols")[0]

    body = partner_mail(20, b"203.0.113.25")
    no_relay = body[body.index(b"From:"):]
    assert "SENDER_LEARNED_HAM(-2.00)" in direct(2, "203.0.9.9", no_relay)
    # a client elsewhere writing the partner's relay into its own
    # Received field is not believed: Moat's field names the client
    assert "SENDER_LEARNED_HAM" not in direct(3, "192.0.2.77", body)
    # once learned as spam too, the history no longer speaks for it
    spamdir = message_dir(moat, "spam", [
        partner_mail(99, b"203.0.113.25", spam_words=True)])
    assert "learned 1 spam message" in \
        moat.ctl("spam", "train", "--spam", spamdir).stdout
    # moatd rereads the token table within filter.spam's 30 seconds at
    # most; moatctl spam check reads it now
    check = moat.ctl("spam", "check", os.path.join(hamdir, "0.eml")).stdout
    assert "SENDER_LEARNED_HAM" not in check, check


def test_trusted_relays_must_be_networks(moat_factory):
    moat = moat_factory(settings({
        "filter.spam.trusted_relays": "192.0.2.0/24, mx.example.com"}),
        users=(), start=False)
    r = subprocess.run([MOATD, "-c", moat.conf, "--check-config"],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert "trusted_relays" in r.stderr, r.stderr


def tokens_in(moat):
    out = moat.ctl("spam", "stats").stdout
    m = re.search(r"bayes: (\d+) tokens", out)
    assert m, out
    return int(m.group(1))


def test_bayes_tokens_expire(moat_factory):
    """The token table stays bounded: `moatctl spam expire --max N` and the
    spamlearn service (at start, then hourly) drop the tokens learned
    longest ago down to three quarters of filter.spam.bayes_max_tokens; a
    database from before the day column is upgraded in place."""
    moat, db = bayes_moat(moat_factory,
                          {"filter.spam.bayes_max_tokens": "60"})
    os.makedirs(os.path.dirname(db), exist_ok=True)
    # the schema before expiry (user_version 1), with old tokens in it
    old = sqlite3.connect(db)
    old.executescript(
        "CREATE TABLE tokens (hash INTEGER PRIMARY KEY, spam INTEGER NOT "
        "NULL DEFAULT 0, ham INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE seen (key INTEGER PRIMARY KEY, spam INTEGER NOT "
        "NULL);"
        "CREATE TABLE vars (id INTEGER PRIMARY KEY CHECK (id = 1), nspam "
        "INTEGER NOT NULL, nham INTEGER NOT NULL);"
        "INSERT INTO vars VALUES (1, 30, 30);"
        "PRAGMA user_version = 1;")
    old.executemany("INSERT INTO tokens VALUES (?, 1, 0)",
                    [(i,) for i in range(1, 101)])
    old.commit()
    old.close()
    subprocess.run(["chown", "-R", "moat", os.path.dirname(db)], check=True)
    hamdir = message_dir(moat, "ham", [
        b"From: colleague@work.example\nSubject: report %d\nMessage-Id: "
        b"<e%d@work.example>\n\nthe quarterly report draft and budget "
        b"number %d\n" % (i, i, i) for i in range(4)])
    assert "learned 4 ham messages" in \
        moat.ctl("spam", "train", "--ham", hamdir).stdout
    total = tokens_in(moat)
    assert total > 60, total
    assert "(kept to 60, filter.spam.bayes_max_tokens)" in \
        moat.ctl("spam", "stats").stdout
    # by hand, with a limit of its own
    out = moat.ctl("spam", "expire", "--max", "%d" % (total - 1)).stdout
    keep = (total - 1) // 4 * 3
    assert keep > 60
    assert out.startswith("expired %d tokens, %d remain" %
                          (total - keep, keep)), out
    # every row has its day (the upgrade's for the old ones)
    con = sqlite3.connect(db)
    days = {d for (d,) in con.execute("SELECT DISTINCT day FROM tokens")}
    con.close()
    assert days and 0 not in days, days
    assert "bayes: 30 spam, 34 ham learned" in \
        moat.ctl("spam", "stats").stdout
    # the service: at start, down to 45 (three quarters of 60)
    moat.start()
    deadline = time.time() + 20
    while tokens_in(moat) > 60 and time.time() < deadline:
        time.sleep(0.2)
    assert tokens_in(moat) == 45
    assert re.search(r"event=bayes_expire removed=\d+ remain=45 max=60 "
                     r"forgotten_messages=\d+", moat.log()), moat.log()
    assert moat.ctl("spam", "expire").stdout.startswith(
        "expired 0 tokens, 45 remain (limit 60)")

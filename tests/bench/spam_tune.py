#!/usr/bin/python3
"""spam_tune: how Moat's BAYES_* scores were chosen, reproducibly, on the
TRAIN half only (tests/bench/spam.sh reports on the test half, which this
script never reads).

  spam_tune.py [--moatctl PATH] TRAIN CF

TRAIN is the train half as `spam_bench.py prep` writes it
(TRAIN/{spam,ham}/<sha256 prefix>.eml), CF the rule file whose scores are
evaluated (rules/data/moat_default.cf). Eight-fold cross-validation: the
messages are split by their name's first hex digit modulo 8; for each
fold a private Bayes database learns the other seven (`moatctl spam
train`) and `moatctl spam check` scores this fold, so every message is
scored by a Bayes that never saw it, trained on seven eighths of the
half (the size Bayes has in the benchmark matters: the log-odds sums grow
with it). Printed: spam recall and ham false positives at the tag score
5.0 with CF's scores; then the BAYES_* map (one score per probability
band, rising with the probability) that maximises recall minus twenty times
the share of ham reaching 4.0 (a false positive costs as much as twenty
missed spam; ham is counted a point under the tag score, a margin),
searched exhaustively on half points, with a held-out check per fold
(fitted on the other seven folds' scores, measured on this one's).
Rule scores other than BAYES_* are set by hand and left alone: the corpus
is from 2002 and must not talk a rule about modern spam down to zero.

Needs a build (default build/gateway/moatctl); as root, the work directory
is handed to the moat user because moatctl runs as the daemon's user.
"""

import argparse
import itertools
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile

import spam_bench  # noqa: E402 (same directory)

BANDS = ["BAYES_00", "BAYES_05", "BAYES_20", "BAYES_40", "BAYES_50",
         "BAYES_60", "BAYES_80", "BAYES_95", "BAYES_99"]
EDGES = [0.01, 0.05, 0.2, 0.4, 0.6, 0.8, 0.95, 0.99]
TAG, MARGIN, MAX_FP, FP_COST = 5.0, 1.0, 0.002, 20.0
FOLDS = "01234567"


def band(p):
    i = 0
    while i < len(EDGES) and p >= EDGES[i]:
        i += 1
    return i


def cf_scores(path):
    """Last score of each rule (score set 3 when four are given)."""
    out = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"score\s+(\S+)\s+(.*)", line)
            if m:
                v = m.group(2).split("#")[0].split()
                out[m.group(1)] = float(v[3] if len(v) == 4 else v[0])
    return out


def run_fold(ctl, work, fold, train, test):
    d = os.path.join(work, fold)
    os.makedirs(os.path.join(d, "bayes"))
    conf = os.path.join(d, "moat.conf")
    with open(conf, "w") as f:
        f.write("data_dir = %s/data\nhostname = tune.moat.test\n"
                "filter.spam.bayes_db = %s/bayes/bayes.db\n"
                "filter.spam.bayes_min_learns = 100\n"
                "filter.spam.autolearn = no\n"
                "filter.spam.trusted_relays = %s\n"
                % (d, d, ", ".join(spam_bench.CORPUS_RELAYS)))
    if os.getuid() == 0:
        uid = pwd.getpwnam("moat").pw_uid
        for root, dirs, _ in os.walk(work):
            os.chown(root, uid, -1)
    for label in ("spam", "ham"):
        subprocess.run([ctl, "-c", conf, "spam", "train", "--" + label,
                        os.path.join(train, label)], check=True,
                       stdout=subprocess.DEVNULL)
    r = subprocess.run([ctl, "-c", conf, "spam", "check",
                        os.path.join(test, "spam"), os.path.join(test, "ham")],
                       check=True, capture_output=True, text=True)
    return r.stdout.splitlines()


def parse(lines, fold):
    """(is_spam, score without BAYES_*, band or None, fold) per message."""
    rows = []
    for line in lines:
        p = line.split(None, 3)
        if len(p) < 3 or p[0] not in ("spam", "ham"):
            continue
        rest = p[3] if len(p) > 3 else ""
        score = float(p[1])
        for m in re.finditer(r"(BAYES_\w+)\((-?[\d.]+)\)", rest):
            score -= float(m.group(2))
        m = re.search(r"bayes=([\d.]+)", rest)
        rows.append((os.path.basename(os.path.dirname(p[2])) == "spam",
                     score, band(float(m.group(1))) if m else None, fold))
    return rows


def measure(rows, bands, at=TAG):
    spam = [r for r in rows if r[0]]
    ham = [r for r in rows if not r[0]]

    def total(r):
        return r[1] + (bands[r[2]] if r[2] is not None else 0)

    recall = sum(total(r) >= TAG for r in spam) / max(1, len(spam))
    fp = sum(total(r) >= at for r in ham)
    return recall, fp, len(ham)


def fit(rows, bands):
    """The BAYES_* map maximising recall at TAG minus FP_COST times the
    share of ham at TAG - MARGIN or above: an exhaustive search over half
    points from 0 to 6 for the four spam-side bands (BAYES_60 to
    BAYES_99, rising with the probability); the ham-side bands keep their
    scores. Ties go to the smaller scores."""
    lower = list(bands[:5])
    grid = [x / 2 for x in range(0, 13)]
    best, best_key = list(bands), None
    for top in itertools.combinations_with_replacement(grid, 4):
        cand = lower + list(top)
        recall, _, _ = measure(rows, cand)
        _, fp, nham = measure(rows, cand, TAG - MARGIN)
        key = (recall - FP_COST * fp / max(1, nham), -sum(top))
        if best_key is None or key > best_key:
            best, best_key = cand, key
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--moatctl", default=os.path.join(
        here, "..", "..", "build", "gateway", "moatctl"))
    ap.add_argument("train")
    ap.add_argument("cf")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="moat-spamtune-")
    os.chmod(work, 0o755)
    try:
        folds = os.path.join(work, "folds")
        for label in ("spam", "ham"):
            src = os.path.join(args.train, label)
            for name in sorted(os.listdir(src)):
                fold = FOLDS[int(name[0], 16) % len(FOLDS)]
                d = os.path.join(folds, fold, label)
                os.makedirs(d, exist_ok=True)
                os.symlink(os.path.join(os.path.abspath(src), name),
                           os.path.join(d, name))
        rows = []
        for fold in FOLDS:
            train = os.path.join(work, "train-" + fold)
            for other in FOLDS:
                if other == fold:
                    continue
                for label in ("spam", "ham"):
                    d = os.path.join(train, label)
                    os.makedirs(d, exist_ok=True)
                    src = os.path.join(folds, other, label)
                    for name in os.listdir(src):
                        os.symlink(os.readlink(os.path.join(src, name)),
                                   os.path.join(d, name))
            lines = run_fold(args.moatctl, os.path.join(work, "db"), fold,
                             train, os.path.join(folds, fold))
            rows += parse(lines, fold)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cf = cf_scores(args.cf)
    bands = [cf.get(b, 0) for b in BANDS]
    bands[-1] += cf.get("BAYES_999", 0)
    recall, fp, nham = measure(rows, bands)
    print("cross-validated on the train half (%d messages): recall %.1f%%, "
          "ham at or above %.1f: %d of %d (%.2f%%)" % (
              len(rows), recall * 100, TAG, fp, nham, fp * 100 / nham))
    for fold in FOLDS:
        fitted = fit([r for r in rows if r[3] != fold], bands)
        recall, fp, nham = measure([r for r in rows if r[3] == fold], fitted)
        print("held-out: map fitted without fold %s, on fold %s: recall "
              "%.1f%%, ham flagged %d of %d" % (fold, fold, recall * 100, fp,
                                                nham))
    fitted = fit(rows, bands)
    recall, fp, nham = measure(rows, fitted)
    print("best map on all folds: recall %.1f%%, ham flagged %d of %d "
          "(%.2f%%; target at most %.1f%%)" % (
              recall * 100, fp, nham, fp * 100 / nham, MAX_FP * 100))
    for name, old, new in zip(BANDS, bands, fitted):
        print("  %-9s %6.3f -> %5.1f" % (name, old, new))
    print("(BAYES_99 includes BAYES_999, which adds to it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

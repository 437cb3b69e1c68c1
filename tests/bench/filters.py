#!/usr/bin/python3
"""What the filter chain adds per message: N messages over one SMTP
connection (XCLIENT presents 192.0.2.10, so SPF really evaluates, against a
dnslib zone on loopback), once with `filters = spf` and once with no filter.
Prints the chain's own time (the `total:` of each `event=filters` log line:
the DATA run), the mean time from MAIL FROM to its 250 (SPF runs in the
MAIL phase) and from the end of DATA to the 250, with and without filters.

Usage: /usr/bin/python3 tests/bench/filters.py [N]   (build first)
"""

import os
import re
import smtplib
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from dns_harness import LoopbackDNS  # noqa: E402
from moat_harness import Moat  # noqa: E402
from dnslib import RR, QTYPE, TXT, RCODE  # noqa: E402
from dnslib import server as dns_server  # noqa: E402

BODY = (b"From: a@example.org\r\nTo: demo@example.test\r\nSubject: bench\r\n"
        b"\r\n" + (b"x" * 78 + b"\r\n") * 50)


class Zone(dns_server.BaseResolver):
    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        if name in ("example.org", "helo.example.org") and \
                request.q.qtype == QTYPE.TXT:
            reply.add_answer(RR(request.q.qname, QTYPE.TXT, ttl=300,
                                rdata=TXT("v=spf1 ip4:192.0.2.0/24 -all")))
        elif name not in ("example.org", "helo.example.org"):
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


def run(n, filters, dns_port, addr="192.0.2.10", extra=None):
    settings = {"dns.servers": "127.0.0.1@%d" % dns_port,
                "smtp.xclient_trusted": "127.0.0.1",
                "filters": filters, "log_level": "info"}
    settings.update(extra or {})
    moat = Moat(settings)
    moat.add_user("demo@example.test")
    moat.start()
    try:
        c = smtplib.SMTP("127.0.0.1", moat.smtp_port, timeout=30)
        c.ehlo("client.test")
        c.docmd("XCLIENT", "ADDR=" + addr)
        c.ehlo_resp = None
        c.ehlo("helo.example.org")
        waits, mails = [], []
        for _ in range(n):
            t0 = time.perf_counter()
            code, msg = c.mail("a@example.org")
            mails.append(time.perf_counter() - t0)
            assert code == 250, msg
            c.rcpt("demo@example.test")
            code, _ = c.docmd("DATA")
            assert code == 354
            c.send(BODY.replace(b"\r\n.", b"\r\n..") + b".\r\n")
            t0 = time.perf_counter()
            code, msg = c.getreply()
            waits.append(time.perf_counter() - t0)
            assert code == 250, msg
        c.quit()
        totals = [int(m) for m in
                  re.findall(r"event=filters .*total:(\d+)us", moat.log())]
        return waits, totals, mails
    finally:
        moat.stop()
        moat.cleanup()


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    dns = LoopbackDNS(Zone())
    port = dns.port
    try:
        with_f, totals, mail_f = run(n, "spf", port)
        without, _, mail_none = run(n, '""', port)
        noedit, _, _ = run(n, "spf", port, "127.0.0.2")
        nolog, _, _ = run(n, "spf", port, "127.0.0.2",
                          {"filters.message_log": "no"})
    finally:
        dns.stop()
    us = 1e6
    print("messages: %d per run, 4 KB, one connection" % n)
    print("DATA run (event=filters total): mean %.0f us, median %.0f us,"
          " first message %.0f us" % (statistics.mean(totals),
                                       statistics.median(totals),
                                       totals[0]))
    print("MAIL -> 250, filters = spf (the MAIL phase): mean %.0f us, "
          "median %.0f us" % (statistics.mean(mail_f) * us,
                              statistics.median(mail_f) * us))
    print("MAIL -> 250, no filters: mean %.0f us, median %.0f us"
          % (statistics.mean(mail_none) * us,
             statistics.median(mail_none) * us))
    print("end of DATA -> 250, filters = spf: mean %.0f us, median %.0f us"
          % (statistics.mean(with_f) * us, statistics.median(with_f) * us))
    print("end of DATA -> 250, no filters:    mean %.0f us, median %.0f us"
          % (statistics.mean(without) * us, statistics.median(without) * us))
    print("end of DATA -> 250, filters = spf, loopback client (no SPF, no "
          "header edit): mean %.0f us, median %.0f us"
          % (statistics.mean(noedit) * us, statistics.median(noedit) * us))
    print("  the same without the message log: mean %.0f us, median %.0f us"
          % (statistics.mean(nolog) * us, statistics.median(nolog) * us))
    print("added by the chain (mean difference): %.0f us" %
          ((statistics.mean(with_f) - statistics.mean(without)) * us))


if __name__ == "__main__":
    main()

"""The resolver (lib/dns, libunbound) against a real DNS server on loopback:
dnslib serves a test zone, moatd's configuration points dns.servers at it,
and `moatctl dns` performs lookups through the production code path."""

import socket
import threading

import pytest

dnslib = pytest.importorskip("dnslib")
from dnslib import server as dns_server  # noqa: E402

ZONE = """
example.test.        300 IN MX 10 mx1.example.test.
example.test.        300 IN MX 20 mx2.example.test.
example.test.        300 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
mx1.example.test.    300 IN A 192.0.2.10
mx2.example.test.    300 IN AAAA 2001:db8::25
nullmx.example.test. 300 IN MX 0 .
"""


class ZoneResolver(dns_server.BaseResolver):
    def __init__(self, zone):
        self.records = dnslib.RR.fromZone(zone)

    def resolve(self, request, handler):
        reply = request.reply()
        q = request.q
        found = False
        for rr in self.records:
            if rr.rname == q.qname:
                found = True
                if q.qtype == rr.rtype or q.qtype == dnslib.QTYPE.ANY:
                    reply.add_answer(rr)
        if not found:
            reply.header.rcode = dnslib.RCODE.NXDOMAIN
        return reply


@pytest.fixture
def dns_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = dns_server.DNSServer(ZoneResolver(ZONE), port=port,
                                  address="127.0.0.1",
                                  logger=dns_server.DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data"))
    server.start_thread()
    yield port
    server.stop()


def test_lookups_through_moat_resolver(moat_factory, dns_port):
    moat = moat_factory({"dns.servers": "127.0.0.1@%d" % dns_port},
                        start=False)
    mx = moat.ctl("dns", "mx", "example.test").stdout.split("\n")
    assert "10 mx1.example.test" in mx and "20 mx2.example.test" in mx
    assert moat.ctl("dns", "a", "mx1.example.test").stdout.strip() == \
        "192.0.2.10"
    assert moat.ctl("dns", "aaaa", "mx2.example.test").stdout.strip() == \
        "2001:db8::25"
    assert moat.ctl("dns", "txt", "example.test").stdout.strip() == \
        '"v=spf1 ip4:192.0.2.0/24 -all"'
    assert moat.ctl("dns", "mx", "nullmx.example.test").stdout.strip() == \
        "0 ."
    r = moat.ctl("dns", "mx", "missing.example.test", check=False)
    assert r.returncode == 1 and "NXDOMAIN" in r.stderr
    r = moat.ctl("dns", "srv", "example.test", check=False)
    assert r.returncode == 2

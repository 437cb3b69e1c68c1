"""The resolver (lib/dns, libunbound) against a real DNS server on loopback:
dnslib serves a test zone, moatd's configuration points dns.servers at it,
and `moatctl dns` performs lookups through the production code path."""


import pytest

dnslib = pytest.importorskip("dnslib")
from dns_harness import LoopbackDNS  # noqa: E402

ZONE = """
example.test.        300 IN MX 10 mx1.example.test.
example.test.        300 IN MX 20 mx2.example.test.
example.test.        300 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
mx1.example.test.    300 IN A 192.0.2.10
mx2.example.test.    300 IN AAAA 2001:db8::25
nullmx.example.test. 300 IN MX 0 .
"""


@pytest.fixture
def dns_port():
    dns = LoopbackDNS(ZONE)
    yield dns.port
    dns.stop()


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

"""The loopback DNS server the integration tests point moatd's resolver at
(dns.servers): dnslib (Debian python3-dnslib) on 127.0.0.1 and an
ephemeral UDP port, with a resolver a test module chooses: ZoneResolver
for a zone given as text, or its own dnslib BaseResolver."""

import socket

import dnslib
from dnslib import server as dns_server

QUIET = dns_server.DNSLogger("-request,-reply,-truncated,-error,-recv,"
                             "-send,-data,-log_error")


class ZoneResolver(dns_server.BaseResolver):
    """Answers from the records of a zone in master-file text; a name
    with no record at all is NXDOMAIN, a name without the asked type
    NODATA."""

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


class LoopbackDNS:
    """A running dnslib server for resolver (a BaseResolver) or, given a
    string, for that zone text."""

    def __init__(self, resolver):
        if isinstance(resolver, str):
            resolver = ZoneResolver(resolver)
        self.resolver = resolver
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = dns_server.DNSServer(resolver, port=self.port,
                                           address="127.0.0.1",
                                           logger=QUIET)
        self.server.start_thread()

    @property
    def setting(self):
        """The value for moatd's dns.servers."""
        return "127.0.0.1@%d" % self.port

    def stop(self):
        self.server.stop()

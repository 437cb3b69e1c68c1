"""Remote peers for the relay tests, none of them written here: aiosmtpd
(Debian python3-aiosmtpd) as the next hop or remote MX, Postfix's smtp-sink,
and a dnslib DNS server on loopback serving MX and A records. Every peer
listens on 127.0.0.0/8 so several "hosts" share one port number (moatd's
relay.remote_port) on different loopback addresses."""

import os
import socket
import subprocess
import tempfile
import threading
import time

from aiosmtpd.controller import Controller


from dns_harness import LoopbackDNS, ZoneResolver  # noqa: E402
from moat_harness import free_port  # noqa: E402  (shared port picker)


class DNS(LoopbackDNS):
    """A loopback DNS server for a zone given as text."""

    def __init__(self, zone):
        super().__init__(ZoneResolver(zone))


class Handler:
    """Records every message; can refuse recipients or fail DATA."""

    def __init__(self, rcpt_replies=None, data_replies=None):
        self.messages = []
        self.rcpt_replies = dict(rcpt_replies or {})
        self.data_replies = list(data_replies or [])
        self.rcpt_checks = []
        self.sessions_tls = []
        self.auth_attempts = []
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        with self.lock:
            self.rcpt_checks.append((envelope.mail_from, address))
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.data_replies:
                reply = self.data_replies.pop(0)
                if reply:
                    return reply
            self.messages.append({
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "mail_options": list(envelope.mail_options),
                "rcpt_options": list(envelope.rcpt_options),
                "data": envelope.original_content,
                "tls": session.ssl is not None,
            })
        return "250 2.0.0 Ok: queued"


class Sink:
    """aiosmtpd on host:port. tls=True offers STARTTLS with a self-signed
    certificate; size sets the SIZE limit."""

    def __init__(self, host="127.0.0.1", port=None, tls=False, size=None,
                 handler=None, auth=None, broken_tls=False):
        self.host = host
        self.port = port or free_port(host)
        self.handler = handler or Handler()
        kwargs = {"server_hostname": "sink.remote.test"}
        if size is not None:
            kwargs["data_size_limit"] = size
        if tls:
            self.certdir = tempfile.mkdtemp(prefix="moat-sink-")
            cert = os.path.join(self.certdir, "cert.pem")
            key = os.path.join(self.certdir, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                            "-pkeyopt", "ec_paramgen_curve:P-256",
                            "-nodes", "-subj", "/CN=mx.remote.test",
                            "-days", "1", "-keyout", key, "-out", cert],
                           check=True, capture_output=True)
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            if broken_tls:
                # Offers STARTTLS, then no handshake can succeed with a
                # client that insists on TLS 1.2 or later.
                ctx.minimum_version = ssl.TLSVersion.TLSv1
                ctx.maximum_version = ssl.TLSVersion.TLSv1_1
            kwargs["tls_context"] = ctx
        if auth is not None:
            # auth = (user, password): AUTH offered after STARTTLS and
            # required before MAIL.
            from aiosmtpd.smtp import AuthResult, LoginPassword

            def authenticator(server, session, envelope, mechanism, data):
                ok = (isinstance(data, LoginPassword) and
                      data.login.decode() == auth[0] and
                      data.password.decode() == auth[1])
                self.handler.auth_attempts.append((mechanism, ok))
                return AuthResult(success=ok)
            kwargs["authenticator"] = authenticator
            kwargs["auth_required"] = True
        self.controller = Controller(self.handler, hostname=host,
                                     port=self.port, **kwargs)

    @property
    def messages(self):
        return self.handler.messages

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        try:
            self.controller.stop()
        except Exception:
            pass

    def wait(self, count, timeout=20):
        deadline = time.time() + timeout
        while len(self.messages) < count and time.time() < deadline:
            time.sleep(0.05)
        return self.messages


class SmtpSink:
    """Postfix's smtp-sink on 127.0.0.1:port, counting what it receives."""

    def __init__(self, port=None, extra=()):
        self.port = port or free_port()
        self.proc = subprocess.Popen(
            ["/usr/sbin/smtp-sink", "-c", "-u", _user()] + list(extra) +
            ["127.0.0.1:%d" % self.port, "256"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port),
                                         timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("smtp-sink did not start")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _user():
    import pwd
    return pwd.getpwuid(os.geteuid()).pw_name


def wait_for(predicate, timeout=20, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()

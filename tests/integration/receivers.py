"""Real message receivers on 127.0.0.1 for the notification tests.

- :class:`SmtpReceiver`: aiosmtpd, a real SMTP server with AUTH LOGIN/PLAIN
  (no TLS), keeping every message it accepts;
- :class:`HttpReceiver`: a threaded ``http.server`` that takes JSON POSTs
  (Apprise's ``json://``, Alertmanager's webhook), keeps their bodies and
  Authorization header, and answers with a status the test sets (500 = channel down).

docs/design.md, "Test receivers": aiosmtpd's Controller with port 0 fails its own readiness probe,
so both get a free port picked here.
"""
import email
import email.policy
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from harness import free_port

SMTP_USER = 'alerts@example.com'


class SmtpReceiver:
    def __init__(self, password, port=None, exclude_auth=()):
        self.password = password
        self.port = port or free_port()
        # Alertmanager's AUTH LOGIN expects the "Username:" prompt of Postfix and co, not aiosmtpd's
        # "User Name": its test offers PLAIN alone (exclude_auth=('LOGIN',)).
        self.exclude_auth = list(exclude_auth)
        self.messages = []
        self._controller = None

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook; pylint: disable=invalid-name
        self.messages.append(email.message_from_bytes(envelope.original_content, policy=email.policy.default))
        return '250 OK'

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        return AuthResult(success=auth_data.login == SMTP_USER.encode() and
                          auth_data.password == self.password.encode())

    def start(self):
        self._controller = Controller(self, hostname='127.0.0.1', port=self.port, authenticator=self._authenticate,
                                      auth_require_tls=False, auth_exclude_mechanism=self.exclude_auth)
        self._controller.start()
        return self

    def stop(self):
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def url(self):
        """The Apprise URL a user would write (app password in it: a secret)."""
        return ('mailto://%s:%s@127.0.0.1:%d?mode=insecure&from=twzrd@example.com&to=ops@example.com'
                % (SMTP_USER.replace('@', '%40'), self.password, self.port))

    def texts(self):
        """(subject, plain-text body) of every message received."""
        out = []
        for message in self.messages:
            part = message.get_body(preferencelist=('plain', 'html'))
            out.append((str(message['Subject']), part.get_content() if part else ''))
        return out


class _LoopbackHttp:
    """A threaded HTTP server on a free 127.0.0.1 port, serving ``handler`` until stop()."""

    def _serve(self, handler):
        self._server = ThreadingHTTPServer(('127.0.0.1', self.port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()


class HttpReceiver(_LoopbackHttp):
    def __init__(self):
        self.port = free_port()
        self.bodies = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # pylint: disable=invalid-name
                length = int(self.headers.get('Content-Length') or 0)
                raw = self.rfile.read(length)
                if receiver.status == 200:
                    receiver.bodies.append({'path': self.path, 'json': json.loads(raw.decode('utf-8')),
                                            'authorization': self.headers.get('Authorization')})
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args):  # keep test output quiet
                pass

        self._serve(Handler)

    def url(self, token):
        return 'json://127.0.0.1:%d/hooks/%s' % (self.port, token)

    def messages(self):
        return [(b['json'].get('title'), b['json'].get('message')) for b in self.bodies]


class HealthEndpoint(_LoopbackHttp):
    """An app's health endpoint on 127.0.0.1 for the ``http`` check: GET paths answer as the test sets.

    ``routes``: ``{path: (status, delay_seconds)}``; a status 3xx answers with a Location to ``/``.
    Keeps each request's path and Authorization header (what reached the app).
    """

    def __init__(self, routes):
        self.port = free_port()
        self.routes = dict(routes)
        self.requests = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # pylint: disable=invalid-name
                endpoint.requests.append({'path': self.path, 'authorization': self.headers.get('Authorization')})
                status, delay = endpoint.routes.get(self.path, (404, 0))
                if delay:
                    time.sleep(delay)
                body = ('{"status": %d}' % status).encode()
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header('Location', '/')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # keep test output quiet
                pass

        self._serve(Handler)

    def url(self, path, userinfo=''):
        return 'http://%s127.0.0.1:%d%s' % (userinfo + '@' if userinfo else '', self.port, path)


class SilentServer:
    """A TCP port on 127.0.0.1 that accepts connections and never answers (or trickles one byte at a time).

    The hung app or database that a probe must give up on: ``trickle`` sends ``prefix`` one byte every
    ``trickle`` seconds, for ever, so that no socket read ever times out.
    """

    def __init__(self, trickle=None, prefix=b'HTTP/1.1 200 OK\r\n'):
        self.port = free_port()
        self.trickle = trickle
        self.prefix = prefix
        self.accepted = 0
        self._stop = threading.Event()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(('127.0.0.1', self.port))
        self._sock.listen(64)
        self._sock.settimeout(0.1)
        self._held = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, dummy = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            self._held.append(conn)
            if self.trickle:
                threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn):
        data = self.prefix + b'X-Slow: ' + b'a' * 100000
        for byte in data:
            if self._stop.wait(self.trickle):
                return
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                return

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        for conn in self._held:
            conn.close()
        self._sock.close()

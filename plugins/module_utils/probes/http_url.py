# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Health check URLs without urllib.request: validating them, and the hourly check's one plain-http GET.

urllib.request pulls in http.client, email and ssl (~20-60 ms of imports): the hourly ``http`` check
validates its URLs and probes ``http://`` endpoints with this module alone; only an ``https://`` URL
loads http_probe (and ssl).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import re
import socket
import time

from urllib.parse import unquote, urlparse, urlsplit, urlunparse

from ansible_collections.twzrd.ops.plugins.module_utils.core.redact import redact

MAX_HEADER_BYTES = 65536
STATUS_LINE = re.compile(br'^HTTP/1\.[01] (\d{3})(?: |\r\n)')


def url_errors(url):
    """Messages about a health check URL that cannot work (empty list when fine); the URL is redacted."""
    if url is None:
        return ['url is required']
    if not isinstance(url, str):
        return ['url must be a string, got %s' % type(url).__name__]
    shown = redact(url)
    if '\x00' in url or any(ch.isspace() for ch in url):
        return ['url %r must not contain NUL bytes or whitespace' % shown.replace('\x00', '\\x00')]
    try:
        parsed = urlparse(url)
        parsed.port  # pylint: disable=pointless-statement  # raises ValueError for a bad port
    except ValueError as exc:
        return ['url %r is not a valid URL (%s)' % (shown, exc)]
    if parsed.scheme not in ('http', 'https') or not parsed.hostname:
        return ['url %r must be an http:// or https:// URL with a host' % (shown,)]
    return []


def split_credentials(url):
    """``(url without user:password, Authorization header or None)``: credentials go as basic auth."""
    parsed = urlparse(url)
    if parsed.username is None and parsed.password is None:
        return url, None
    netloc = parsed.netloc.rsplit('@', 1)[1]
    user_pass = '%s:%s' % (unquote(parsed.username or ''), unquote(parsed.password or ''))
    header = 'Basic ' + base64.b64encode(user_pass.encode('utf-8')).decode('ascii')
    return urlunparse(parsed._replace(netloc=netloc)), header


def get_status(url, timeout):
    """One GET of a plain ``http://`` URL: ``(status or None, '', error or None)`` like http_probe.fetch_once.

    Waits for the whole header within ``timeout`` in all (a server that trickles bytes gets no more), reads
    no body, follows no redirect, uses no proxy; credentials in the URL go as basic auth.
    """
    plain, authorization = split_credentials(url)
    parts = urlsplit(plain)
    target = (parts.path or '/') + ('?' + parts.query if parts.query else '')
    lines = ['GET %s HTTP/1.1' % target, 'Host: %s' % parts.netloc, 'User-Agent: twzrd.ops', 'Accept: */*',
             'Connection: close']
    if authorization:
        lines.append('Authorization: %s' % authorization)
    deadline = time.monotonic() + timeout
    data = b''
    try:
        sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout)
        try:
            sock.sendall(('\r\n'.join(lines) + '\r\n\r\n').encode('utf-8'))
            while b'\r\n\r\n' not in data and len(data) < MAX_HEADER_BYTES:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise socket.timeout()
                sock.settimeout(left)
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        finally:
            sock.close()
    except socket.timeout:
        return None, '', 'timed out: no complete answer within %gs' % round(timeout, 3)
    except (OSError, UnicodeError) as exc:
        return None, '', getattr(exc, 'strerror', None) or str(exc) or type(exc).__name__
    found = STATUS_LINE.match(data)
    if not found or b'\r\n\r\n' not in data:
        return None, '', 'the answer is not a complete HTTP response'
    return int(found.group(1)), '', None

# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP health probes for apps on this host (standard library only).

One probe = up to ``1 + retries`` GET requests, each under ``timeout``
seconds in total (connect, headers and body: an endpoint that trickles one
byte a second cannot hold the rollout), waiting ``backoff * 2**n`` seconds between attempts.  The answer
must carry exactly the expected status: redirects are not followed and no
proxy is used (health endpoints are local; an ``http_proxy`` in the
environment must not answer for them).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import contextlib
import signal
import socket
import threading
import time

from urllib.error import HTTPError, URLError
from urllib.request import HTTPRedirectHandler, ProxyHandler, Request, build_opener

from ansible_collections.twzrd.ops.plugins.module_utils.probes.http_url import split_credentials, url_errors

__all__ = ['fetch_once', 'probe', 'split_credentials', 'total_deadline', 'url_errors']

BODY_EXCERPT = 200
MAX_WAIT = 300.0  # one wait between attempts never exceeds this, however often backoff doubled


class _NoRedirect(HTTPRedirectHandler):
    """A 3xx is an answer to compare with the expected status, not a hop."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class _DeadlinePassed(BaseException):
    """Raised by SIGALRM inside a request; BaseException so no library handler swallows it."""


@contextlib.contextmanager
def total_deadline(seconds):
    """Interrupt the block after ``seconds`` in all (socket timeouts only bound each read).

    Uses SIGALRM, so only in the main thread (where modules run); elsewhere
    the per-read socket timeout is all there is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise _DeadlinePassed()
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _opener():
    return build_opener(ProxyHandler({}), _NoRedirect())


def fetch_once(url, timeout, opener=None):
    """One GET: ``(status or None, body excerpt, error message or None)``."""
    opener = opener or _opener()
    plain_url, authorization = split_credentials(url)
    request = Request(plain_url, headers={'Authorization': authorization} if authorization else {})
    try:
        with total_deadline(timeout):
            return _answer(opener, request, timeout)
    except _DeadlinePassed:
        return None, '', 'no complete answer within %ss' % timeout


def _answer(opener, request, timeout):
    try:
        response = opener.open(request, timeout=timeout)
        try:
            return response.getcode(), response.read(BODY_EXCERPT).decode('utf-8', 'replace'), None
        finally:
            response.close()
    except HTTPError as exc:  # a status outside 2xx is still an answer
        try:
            body = exc.read(BODY_EXCERPT).decode('utf-8', 'replace')
        except Exception:
            body = ''
        return exc.code, body, None
    except (URLError, socket.timeout, socket.error, ValueError) as exc:
        reason = getattr(exc, 'reason', exc)
        return None, '', '%s' % (reason,)


def probe(url, expected_status=200, timeout=5.0, retries=3, backoff=1.0,
          fetch=fetch_once, sleep=time.sleep, clock=time.monotonic):
    """Probe until the expected status or out of attempts.

    Returns ``{ok, status, attempts, seconds, error, body}``: ``status`` and
    ``body`` are from the last answer, ``error`` says why the last attempt
    failed (connection refused, timeout, wrong status).
    """
    started = clock()
    opener = _opener() if fetch is fetch_once else None
    attempt = 0
    status, body, error = None, '', None
    while True:
        attempt += 1
        if opener is not None:
            status, body, error = fetch(url, timeout, opener)
        else:
            status, body, error = fetch(url, timeout)
        if status == expected_status:
            return {'ok': True, 'status': status, 'attempts': attempt,
                    'seconds': round(clock() - started, 3), 'error': None, 'body': body}
        if error is None:
            error = 'HTTP %s, expected %s' % (status, expected_status)
        if attempt > retries:
            break
        sleep(min(MAX_WAIT, backoff * (2 ** min(attempt - 1, 30))))
    return {'ok': False, 'status': status, 'attempts': attempt,
            'seconds': round(clock() - started, 3), 'error': error, 'body': body}

# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Messages to people: compose (pure) and deliver through Apprise.

Apprise is the only delivery code (DESIGN.md, "Delivery"): one URL per
channel (``mailto://``, ``slack://``, ``tgram://``, ``ntfy://``,
``json://`` ...).  Importing it costs ~0.3 s, so it is imported only when a
message is due: a quiet hourly run never pays for it.

URLs hold secrets (passwords, tokens).  Nothing here ever shows one: a
channel is named ``#N scheme`` (its position in ``urls``), Apprise's own
log records are captured instead of printed, and every text that leaves
this file goes through :func:`scrub` first.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import re
import threading
import time

from ansible.module_utils.six.moves.urllib.parse import unquote

from ansible_collections.twzrd.ops.plugins.module_utils import alerting

DEFAULT_TIMEOUT = 20.0      # seconds for all deliveries of one run together
PING_TIMEOUT = 5.0
MAX_BODY = 60000            # characters; chat services cut far earlier anyway

_HEADINGS = {
    alerting.FIRING: 'NEW',
    alerting.ESCALATED: 'ESCALATED',
    alerting.DEESCALATED: 'DE-ESCALATED',
    alerting.REMINDER: 'STILL FIRING',
    alerting.RESOLVED: 'RESOLVED',
}


# --- naming channels without their secrets --------------------------------

def channel_name(index, url):
    """``#2 mailto``: what logs, results and messages call a URL."""
    scheme = (url or '').split('://', 1)[0] if '://' in (url or '') else '?'
    scheme = re.sub(r'[^A-Za-z0-9+._-]', '', scheme)[:20] or '?'
    return '#%d %s' % (index + 1, scheme)


def fingerprint(url):
    """Stable id of a URL for the state file (pending messages) that reveals nothing."""
    return hashlib.sha256((url or '').encode('utf-8')).hexdigest()[:16]


def secret_parts(url):
    """The pieces of a URL that may be secret: everything but the scheme and plain host names/ports."""
    if not url:
        return []
    rest = url.split('://', 1)[-1]
    pieces = set()
    for piece in re.split(r'[/:@?&=#,]+', rest):
        for candidate in (piece, unquote(piece)):
            if len(candidate) >= 3 and not re.match(r'^(\d{1,3}(\.\d{1,3}){3}|localhost|\d{1,5})$', candidate):
                pieces.add(candidate)
    pieces.add(url)
    return sorted(pieces, key=len, reverse=True)


def scrub(text, urls):
    """``text`` with every possibly secret piece of ``urls`` replaced by ``***``."""
    text = '' if text is None else str(text)
    for url in urls or []:
        for piece in secret_parts(url):
            text = text.replace(piece, '***')
    return text


# --- composing ----------------------------------------------------------

def _value_line(alert):
    parts = []
    if alert.get('value') is not None:
        parts.append('value %s' % (alert['value'],))
    if alert.get('threshold') is not None:
        parts.append('threshold %s' % (alert['threshold'],))
    return ', '.join(parts)


def _when(epoch):
    return time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(epoch))


def _event_lines(event):
    name = event.get('check') or '?'
    if event.get('subject'):
        name = '%s %s' % (name, event['subject'])
    heading = _HEADINGS[event['event']]
    if event['event'] == alerting.RESOLVED:
        was = (event.get('previous_level') or event.get('level') or '').upper()
        lines = ['%s %s (was %s): %s' % (heading, name, was, event.get('message') or '')]
        now_value = 'value now %s' % event['value'] if event.get('value') is not None else 'no longer raised'
        lines.append('  %s; threshold %s' % (now_value, event.get('threshold')))
        return lines
    level = (event.get('level') or '').upper()
    if event.get('previous_level') and event['event'] in (alerting.ESCALATED, alerting.DEESCALATED):
        level = '%s -> %s' % (event['previous_level'].upper(), level)
    lines = ['%s %s %s: %s' % (heading, level, name, event.get('message') or '')]
    detail = _value_line(event)
    if event['event'] == alerting.REMINDER and event.get('since'):
        detail = (detail + '; ' if detail else '') + 'firing since %s' % _when(event['since'])
    if detail:
        lines.append('  ' + detail)
    if event.get('remediation'):
        lines.append('  what to do: %s' % event['remediation'])
    return lines


def subject_line(job, host, status):
    return 'twzrd %s %s: %s' % (job, host, str(status).upper())


def compose_alert_message(job, host, status, events, firing, now):
    """One message for one run: every event, then what else is still firing.

    Returns ``(title, body)``.
    """
    lines = ['twzrd %s on %s at %s: %s' % (job, host, _when(now), str(status).upper()), '']
    for event in events:
        lines.extend(_event_lines(event))
    told = set((e.get('check'), e.get('subject')) for e in events)
    others = [a for a in firing if (a.get('check'), a.get('subject')) not in told]
    if others:
        lines.extend(['', 'Also firing:'])
        for alert in others:
            name = alert['check'] + (' %s' % alert['subject'] if alert.get('subject') else '')
            lines.append('- %s %s: %s' % (alert['level'].upper(), name, alert.get('message')))
    return subject_line(job, host, status), _limit('\n'.join(lines))


def compose_report_message(job, host, status, summary, alerts, accepted, now):
    """The weekly report as text: summary lines, then each alert with what to do."""
    lines = ['twzrd %s on %s at %s: %s' % (job, host, _when(now), str(status).upper()), '']
    lines.extend(summary or [])
    if alerts:
        lines.extend(['', 'Alerts:'])
        for alert in alerts:
            lines.append('- %s %s: %s' % (alert['level'].upper(), _report_name(alert), alert.get('message')))
            if alert.get('remediation'):
                lines.append('  what to do: %s' % alert['remediation'])
    if accepted:
        lines.extend(['', 'Accepted (not alerting):'])
        for alert in accepted:
            name = alert['check'] + (' %s' % alert['subject'] if alert.get('subject') else '')
            lines.append('- %s %s: %s (accepted: %s)' % (alert['level'].upper(), name, alert.get('message'),
                                                         alert.get('accepted_reason')))
    return subject_line(job, host, status) + report_reason(status, alerts), _limit('\n'.join(lines))


def _report_name(alert):
    """``check subject``, after the job that raised it when another job did (the weekly report's open alerts)."""
    name = alert['check'] + (' %s' % alert['subject'] if alert.get('subject') else '')
    return '%s %s' % (alert['job'], name) if alert.get('job') else name


def report_reason(status, alerts, shown=3):
    """Why a report is not OK, for its subject: ``: alerts swap, report_crash_restarts api and 2 more``."""
    top = [a for a in alerts if a.get('level') == status]
    if not top:
        return ''
    names = [''.join(ch if ch.isprintable() else '?' for ch in _report_name(a))[:120] for a in top[:shown]]
    return ': %s%s' % (', '.join(names), ' and %d more' % (len(top) - shown) if len(top) > shown else '')


def _limit(text):
    return text if len(text) <= MAX_BODY else text[:MAX_BODY] + '\n... (cut)'


# --- delivering ---------------------------------------------------------

# Imports below are inside functions: apprise, logging and ansible's urls cost ~0.15 s together,
# and a quiet hourly run sends nothing (bench/bench_notify.py measures it).

def _capture_handler():
    """A logging handler that keeps Apprise's lines (why a delivery failed) per thread instead of printing them."""
    import logging  # pylint: disable=import-outside-toplevel

    class Capture(logging.Handler):
        def __init__(self):
            logging.Handler.__init__(self, level=logging.WARNING)
            self.lines = {}

        def emit(self, record):
            try:
                self.lines.setdefault(record.thread, []).append(record.getMessage())
            except Exception:  # pylint: disable=broad-except  # logging must never break delivery
                pass
    return Capture()


def _apprise_logger():
    import logging  # pylint: disable=import-outside-toplevel
    logger = logging.getLogger('apprise')
    logger.propagate = False  # its lines may quote URLs: never on stderr
    logger.setLevel(logging.WARNING)
    return logger


def _apprise():
    import apprise  # pylint: disable=import-outside-toplevel
    _apprise_logger()
    return apprise


def deliver(urls, title, body, timeout=DEFAULT_TIMEOUT, html=None, attach=None):
    """Send one message to every URL at once, within ``timeout`` seconds overall.

    Returns one dict per URL: ``{channel, fingerprint, ok, error}``; errors are
    scrubbed of secrets.  Never raises.  Email channels get ``html`` (with
    ``attach`` files) when given; every other channel gets the text ``body``.
    """
    try:
        apprise = _apprise()
    except ImportError as exc:
        return [dict(channel=channel_name(i, u), fingerprint=fingerprint(u), ok=False,
                     error='the apprise library is not installed (%s)' % exc) for i, u in enumerate(urls)]
    capture = _capture_handler()
    logger = _apprise_logger()
    logger.addHandler(capture)
    outcomes = [dict(channel=channel_name(i, u), fingerprint=fingerprint(u), ok=False, error='timed out')
                for i, u in enumerate(urls)]
    threads = []
    try:
        for index, url in enumerate(urls):
            thread = threading.Thread(target=_send_one,
                                      args=(apprise, url, title, body, html, attach, outcomes[index], capture))
            thread.daemon = True  # a hung channel must not keep the job alive
            thread.start()
            threads.append(thread)
        deadline = time.time() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.time()))
    finally:
        logger.removeHandler(capture)
    for outcome in outcomes:
        outcome['error'] = scrub(outcome['error'], urls) if outcome['error'] else None
    return outcomes


def _send_one(apprise, url, title, body, html, attach, outcome, capture):
    try:
        apobj = apprise.Apprise()
        is_email = url.split('://', 1)[0].lower() in ('mailto', 'mailtos')
        if html and attach and is_email and 'inline=' not in url:
            # images travel as inline parts the HTML shows through cid: (RFC 2387), not as attachments
            url += ('&' if '?' in url else '?') + 'inline=yes'
        if not apobj.add(url):
            outcome['error'] = 'not a valid Apprise URL (unknown scheme or missing parts)'
            return
        if html and is_email:
            ok = apobj.notify(title=title, body=html, body_format=apprise.NotifyFormat.HTML,
                              attach=list(attach) if attach else None)
        else:
            ok = apobj.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT)
        if ok:
            outcome.update(ok=True, error=None)
        else:
            reasons = capture.lines.get(threading.current_thread().ident) or ['delivery refused']
            outcome['error'] = '; '.join(reasons[-2:])[:300]
    except Exception as exc:  # pylint: disable=broad-except  # a channel's bug must not fail the job
        outcome['error'] = '%s: %s' % (type(exc).__name__, exc)


def test_message(host, now):
    title = 'twzrd test message from %s' % host
    body = ('This is a test message from twzrd.ops on %s at %s.\n'
            'If you read this, alerts from this host reach you through this channel.' % (host, _when(now)))
    return title, body


# --- dead-man's switch ----------------------------------------------------

def ping(url, failed, timeout=PING_TIMEOUT):
    """GET ``url`` (``url/fail`` after a failed run), healthchecks.io style. Returns None or an error."""
    from ansible.module_utils.urls import open_url  # pylint: disable=import-outside-toplevel
    target = url.rstrip('/') + '/fail' if failed else url
    try:
        response = open_url(target, method='GET', timeout=timeout, validate_certs=True,
                            http_agent='twzrd.ops', follow_redirects='safe')
        response.read(1024)
    except Exception as exc:  # pylint: disable=broad-except  # a ping never fails the job
        scheme = channel_name(0, url).split(' ', 1)[1]
        return "dead-man's switch (%s ping_url) not reached: %s" % (scheme, scrub(exc, [url]))
    return None

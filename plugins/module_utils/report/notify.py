# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Messages to people: compose (pure) and deliver through Apprise.

Apprise is the only delivery code (docs/design.md, "Delivery"): one URL per
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

from ansible_collections.twzrd.ops.plugins.module_utils.report import alerting

DEFAULT_TIMEOUT = 20.0      # seconds for all deliveries of one run together
PING_TIMEOUT = 5.0
MAX_BODY = 60000            # characters; chat services cut far earlier anyway

# Apprise's notify types: what Slack, ntfy, Telegram and webhooks colour and route by.
INFO = 'info'
SUCCESS = 'success'
WARNING_TYPE = 'warning'
FAILURE = 'failure'
NOTIFY_TYPES = (INFO, SUCCESS, WARNING_TYPE, FAILURE)
WARNING_LEVELNO = 30        # logging.WARNING, without importing logging for a quiet run

_HEADINGS = {
    alerting.FIRING: 'NEW',
    alerting.ESCALATED: 'ESCALATED',
    alerting.DEESCALATED: 'DE-ESCALATED',
    alerting.REMINDER: 'STILL FIRING',
    alerting.RESOLVED: 'RESOLVED',
    alerting.SILENCE_EXPIRED: 'SILENCE EXPIRED',
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


_PLAIN_HOST = re.compile(r'^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]|localhost|\d{1,5})$')
_DNS_NAME = re.compile(r'^([A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}$')
_SECRET_KEY = re.compile(r'(?i)(pass|secret|token|key|auth|sig|cred|session|hook|code|topic)')
MIN_TOKEN = 6


def _looks_token(piece):
    """A host, path or query piece that is a credential, not a word: digits in it, or long.

    ``hooks``, ``ping``, ``api``, ``smtp.example.com`` are words of a URL and stay readable in messages;
    ``T1JJ3T3L2``, ``hooktoken-Zq81LmN0pR``, a 20-letter ntfy topic are not.
    """
    if len(piece) < MIN_TOKEN or _PLAIN_HOST.match(piece) or _DNS_NAME.match(piece):
        return False
    return any(c.isdigit() for c in piece) or len(piece) >= 16


def secret_parts(url):
    """The pieces of a URL that may be secret, longest first: the URL itself, its userinfo, the
    password, and tokens in its host, path and query (see :func:`_looks_token`; any value of a key
    such as ``token=`` or ``password=``).  Not the scheme, plain host names, ports or ordinary words:
    scrubbing those turned "dead-man's switch (http ping_url)" into "(http ***_url)".
    """
    if not url:
        return []
    rest = url.split('://', 1)[-1]
    pieces = set([url, rest])
    location, query = rest.partition('?')[::2]
    authority, path = location.partition('/')[::2]
    if '@' in authority:
        userinfo, authority = authority.rsplit('@', 1)
        user, password = userinfo.partition(':')[::2]
        pieces.update([userinfo, password])
        if '@' in unquote(user) or _looks_token(user):
            pieces.add(user)
    for piece in re.split(r'[/:#,]+', authority + '/' + path):
        if _looks_token(piece):
            pieces.add(piece)
    for pair in re.split(r'[&;]', query.split('#', 1)[0]):
        key, value = pair.partition('=')[::2]
        if value and (_SECRET_KEY.search(key) or _looks_token(unquote(value))):
            pieces.add(value)
    for piece in list(pieces):
        pieces.add(unquote(piece))
    return sorted((p for p in pieces if len(p) >= 3), key=len, reverse=True)


def scrub(text, urls):
    """``text`` with every possibly secret piece of ``urls`` replaced by ``***``."""
    text = '' if text is None else str(text)
    for url in urls or []:
        for piece in secret_parts(url):
            text = text.replace(piece, '***')
    return text


# --- composing ----------------------------------------------------------

def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _value_line(alert):
    """``value 91, threshold 90`` for a measured check; nothing for a condition (its message is the sentence).

    "value server_unreachable, threshold connect" read as nonsense: a value or threshold that is not a
    number (a state, an error kind) is already told by the alert's message.
    """
    if not _is_number(alert.get('value')):
        return ''
    if _is_number(alert.get('threshold')):
        return 'value %s, threshold %s' % (alert['value'], alert['threshold'])
    return 'value %s' % (alert['value'],)


def _resolved_line(event):
    """What a resolved check reads now, against the threshold configured now (it may have been raised)."""
    if not _is_number(event.get('value')):
        return 'no longer raised'
    if _is_number(event.get('threshold')):
        return 'value now %s, threshold now %s' % (event['value'], event['threshold'])
    return 'value now %s (no %s threshold now)' % (event['value'], (event.get('previous_level') or 'alert').lower())


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
        lines.append('  %s' % _resolved_line(event))
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


def message_type(report, status, events):
    """The Apprise notify type of one message: the type of its worst content.

    A failed run is a ``failure``.  A report (sent every run) is ``info``.  An alert message is
    ``failure`` when it tells a critical alert (new, escalated, reminded), else ``warning`` when it
    tells a warning, else ``success`` (it only says what resolved).
    """
    if status == 'failed':
        return FAILURE
    if report:
        return INFO
    levels = set(e.get('level') for e in events or [] if e.get('event') != alerting.RESOLVED)
    if 'critical' in levels:
        return FAILURE
    if 'warning' in levels:
        return WARNING_TYPE
    return SUCCESS if events else INFO


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
    return subject_line(job, host, status), _limit('\n'.join(_one_line(line) for line in lines))


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
    return (subject_line(job, host, status) + report_reason(status, alerts),
            _limit('\n'.join(_one_line(line) for line in lines)))


def _report_name(alert):
    """``check subject``, after the job that raised it when another job did (the weekly report's open alerts)."""
    name = alert['check'] + (' %s' % alert['subject'] if alert.get('subject') else '')
    return '%s %s' % (alert['job'], name) if alert.get('job') else name


def report_reason(status, alerts, shown=3):
    """Why a report is not OK, for its subject: ``: alerts swap, report_crash_restarts api and 2 more``."""
    top = [a for a in alerts if a.get('level') == status]
    if not top:
        return ''
    names = [_one_line(_report_name(a))[:120] for a in top[:shown]]
    return ': %s%s' % (', '.join(names), ' and %d more' % (len(top) - shown) if len(top) > shown else '')


def _one_line(text):
    """``text`` as the one line it is meant to be: app names, subjects and messages are other users'
    choice (a PM2 app may be named ``$'api\\nRESOLVED ...'``), and must not add lines that read as ours."""
    return ''.join(ch if ch.isprintable() else '?' for ch in text)


def _limit(text):
    return text if len(text) <= MAX_BODY else text[:MAX_BODY] + '\n... (cut)'


# --- delivering ---------------------------------------------------------

# Imports below are inside functions: apprise, logging and ansible's urls cost ~0.15 s together,
# and a quiet hourly run sends nothing (bench/bench_notify.py measures it).

def _capture_handler():
    """A logging handler that keeps Apprise's lines (why a delivery failed) per thread instead of printing them.

    The fallback for Apprise before 2.3, whose result (a bool) keeps no lines: each URL is sent from its
    own thread with Apprise's parallel mode off (:func:`_send_one`).  Apprise 2.3 logs from worker threads
    of its own: :func:`_call_lines` reads that call's lines from its result instead.
    """
    import logging  # pylint: disable=import-outside-toplevel

    class Capture(logging.Handler):
        def __init__(self):
            logging.Handler.__init__(self, level=logging.DEBUG)
            self.lines = {}

        def emit(self, record):
            try:
                self.lines.setdefault(record.thread, []).append((record.levelno, record.getMessage()))
            except Exception:  # pylint: disable=broad-except  # logging must never break delivery
                pass
    return Capture()


def _apprise_logger():
    import logging  # pylint: disable=import-outside-toplevel
    logger = logging.getLogger('apprise')
    logger.propagate = False  # its lines may quote URLs: never on stderr
    logger.setLevel(logging.DEBUG)  # the cause of a failure ("Connection refused") is a debug line
    return logger


def _apprise():
    import apprise  # pylint: disable=import-outside-toplevel
    _apprise_logger()
    return apprise


def _call_lines(result):
    """``(levelno, message)`` of the lines Apprise 2.3+ keeps with a call's result; [] from older versions (a bool)."""
    import logging  # pylint: disable=import-outside-toplevel
    try:
        return [(logging.getLevelName(entry.level), entry.message) for entry in result.logs()]
    except Exception:  # pylint: disable=broad-except  # no per-call logs: the thread capture answers
        return []


def failure_reason(lines):
    """Why a delivery failed, from Apprise's ``(levelno, message)`` lines: its warnings plus the socket error.

    ``Failed to send JSON POST notification: Internal server error., error=500.``;
    ``A Connection error occurred sending JSON notification to 127.0.0.1. ([Errno 111] Connection refused)``.
    """
    warnings = [text for level, text in lines if isinstance(level, int) and level >= WARNING_LEVELNO]
    causes = [text.split(':', 1)[1] for level, text in lines if text.startswith('Socket Exception:')]
    reason = '; '.join(warnings[-2:]) or 'delivery refused (Apprise gave no reason)'
    if causes:
        errno = re.findall(r'\[Errno -?\d+\] [^"\'()]+', causes[-1])
        cause = errno[-1].strip() if errno else causes[-1].strip()[-160:]
        reason = '%s (%s)' % (reason, cause)
    return reason[:400]


def deliver(urls, title, body, timeout=DEFAULT_TIMEOUT, html=None, attach=None, notify_type=INFO):
    """Send one message to every URL at once, within ``timeout`` seconds overall.

    Returns one dict per URL: ``{channel, fingerprint, ok, error, timed_out}``; errors are
    scrubbed of secrets.  Never raises.  Email channels get ``html`` (with
    ``attach`` files) when given; every other channel gets the text ``body``.
    ``notify_type`` is Apprise's (info, success, warning, failure): chat services colour by it.
    """
    try:
        apprise = _apprise()
    except ImportError as exc:
        return [dict(channel=channel_name(i, u), fingerprint=fingerprint(u), ok=False, timed_out=False,
                     error='the apprise library is not installed (%s)' % exc) for i, u in enumerate(urls)]
    capture = _capture_handler()
    logger = _apprise_logger()
    logger.addHandler(capture)
    outcomes = [dict(channel=channel_name(i, u), fingerprint=fingerprint(u), ok=False, timed_out=True,
                     error='timed out after %gs (notify.timeout)' % timeout)
                for i, u in enumerate(urls)]
    threads = []
    try:
        for index, url in enumerate(urls):
            thread = threading.Thread(target=_send_one,
                                      args=(apprise, url, title, body, html, attach, notify_type, outcomes[index],
                                            capture))
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


def _send_one(apprise, url, title, body, html, attach, notify_type, outcome, capture):
    import inspect  # pylint: disable=import-outside-toplevel
    import logging  # pylint: disable=import-outside-toplevel
    try:
        # One URL per thread here already: no Apprise thread pool on top (before 2.3, its lines then come
        # from this thread, which the capture keys on; 2.3+ keeps them with the call's result anyway).
        apobj = apprise.Apprise(asset=apprise.AppriseAsset(async_mode=False))
        is_email = url.split('://', 1)[0].lower() in ('mailto', 'mailtos')
        if html and attach and is_email and 'inline=' not in url:
            # images travel as inline parts the HTML shows through cid: (RFC 2387), not as attachments
            url += ('&' if '?' in url else '?') + 'inline=yes'
        if not apobj.add(url):
            outcome.update(error='not a valid Apprise URL (unknown scheme or missing parts)', timed_out=False)
            return
        options = dict(title=title, body=body, body_format=apprise.NotifyFormat.TEXT, notify_type=notify_type)
        if html and is_email:
            options.update(body=html, body_format=apprise.NotifyFormat.HTML, attach=list(attach) if attach else None)
        if 'log_level' in inspect.signature(apobj.notify).parameters:
            options['log_level'] = logging.DEBUG  # Apprise 2.3+: this call's own lines, whichever thread logged them
        ok = apobj.notify(**options)
        if ok:
            outcome.update(ok=True, error=None, timed_out=False)
        else:
            outcome.update(error=failure_reason(_call_lines(ok) or capture.lines.get(threading.current_thread().ident)
                                                or []), timed_out=False)
    except Exception as exc:  # pylint: disable=broad-except  # a channel's bug must not fail the job
        outcome.update(error='%s: %s' % (type(exc).__name__, exc), timed_out=False)


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

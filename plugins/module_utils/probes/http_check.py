# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hourly ``http`` check: is each app's health endpoint answering, with the right status, quickly?

Option ``http_checks``: ``{name: {url, timeout, status, latency_warning_ms}}``
(a plain URL string is shorthand for ``{url: ...}``).  The URL rules are
pm2_restart's ``health_checks`` (module_utils/probes/http_probe.py): http or https
only, one GET, redirects not followed, no proxy, at most a short body
excerpt read, credentials in the URL sent as basic auth and masked in every
output.  No answer or a wrong status is critical, an answer slower than
``latency_warning_ms`` a warning; the alert's subject is the check's name.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math
import re
import time

from ansible_collections.twzrd.ops.plugins.module_utils.core.alerts import CRITICAL, WARNING, make_alert, runbook
from ansible_collections.twzrd.ops.plugins.module_utils.probes import http_url
from ansible_collections.twzrd.ops.plugins.module_utils.probes.budget import NotRun, run_concurrently
from ansible_collections.twzrd.ops.plugins.module_utils.core.redact import redact, url_credentials

CHECK = 'http'
OPTION = 'http_checks'
DEFAULTS = {'timeout': 5.0, 'status': 200, 'latency_warning_ms': 1000.0}
KEYS = ('url',) + tuple(sorted(DEFAULTS))
MAX_TIMEOUT = 300.0
# A name is an alert subject, a Prometheus label value and a word in messages: keep it plain.
NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$')

ANCHOR = 'an-http-check-fails-or-is-slow'
# What to do, by what went wrong (APP and URL are replaced by the check's name and masked URL).
REMEDIATION_TEXT = {
    'down': ('See whether the app runs and what it logs: `pm2 ls`, `pm2 logs APP --err --lines 100` as the '
             'PM2 user, and `curl -sS -o /dev/null -w "%{http_code} %{time_total}s\\n" URL` on the host. '
             'Fix the cause, then restart it gracefully (twzrd.ops.pm2_restart).'),
    'status': ('The app answers but not as expected: read its error log (`pm2 logs APP --err --lines 100` '
               'as the PM2 user) and what the endpoint returns (`curl -sS -i URL`); a database or other '
               'backend it needs is the usual cause. If the status changed on purpose, set `status` in '
               'http_checks.'),
    'slow': ('Find what is slow: `pm2 monit` (CPU, memory of the app), load and swap on the host, slow '
             'queries in PostgreSQL. Fix the cause or, if this latency is normal for the endpoint, raise '
             '`latency_warning_ms` in http_checks.'),
}
REMEDIATION = dict((kind, runbook(text, ANCHOR)) for kind, text in REMEDIATION_TEXT.items())


def secrets(raw):
    """Passwords inside the URLs: the module adds them to no_log_values so they are masked everywhere."""
    found = []
    for spec in (raw or {}).values() if isinstance(raw, dict) else ():
        url = spec.get('url') if isinstance(spec, dict) else spec
        found.extend(url_credentials(url))
    return found


def normalize(raw):
    """``({name: {url, timeout, status, latency_warning_ms}}, [error messages])``, defaults filled in.

    Every message names the parameter: ``http_checks.web.url: ...``.
    """
    if raw is None or raw == {}:
        return {}, []
    if not isinstance(raw, dict):
        return {}, ['%s must be a dict of check name -> {url, timeout, status, latency_warning_ms}' % OPTION]
    checks, errors = {}, []
    for name in sorted(raw, key=str):
        spec = raw[name]
        where = '%s.%s' % (OPTION, redact(str(name)))
        if not isinstance(name, str) or not NAME.match(name):
            errors.append('%s: the name must be 1-64 letters, digits, _ . : or -, starting with a letter or digit'
                          % where)
            continue
        if isinstance(spec, str):
            spec = {'url': spec}
        if not isinstance(spec, dict):
            errors.append('%s must be a dict with at least url, got %s' % (where, type(spec).__name__))
            continue
        unknown = sorted(str(key) for key in set(spec) - set(KEYS))
        if unknown:
            errors.append('%s: unknown keys %s (allowed: %s)' % (where, ', '.join(unknown), ', '.join(KEYS)))
            continue
        check = dict(DEFAULTS)
        check.update((key, value) for key, value in spec.items() if value is not None)
        found = ['%s.url: %s' % (where, msg) for msg in http_url.url_errors(check.get('url'))]
        found += ['%s.%s' % (where, msg) for msg in _number_errors(check)]
        if found:
            errors.extend(found)
            continue
        checks[name] = check
    return checks, errors


def errors(raw):
    """Only the messages of :func:`normalize` (empty when ``raw`` is fine)."""
    return normalize(raw)[1]


def _number_errors(check):
    """Coerce the numbers in place; ``key: problem`` for each that is not sane."""
    problems = []
    for key, kind in (('status', int), ('timeout', float), ('latency_warning_ms', float)):
        value = check[key]
        if isinstance(value, bool) or isinstance(value, (list, dict)):
            problems.append('%s: must be a number, got %r' % (key, value))
            continue
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            problems.append('%s: must be a number, got %r' % (key, value))
            continue
        if not math.isfinite(number):
            problems.append('%s: must be a finite number, got %s' % (key, value))
            continue
        if kind is int and number != int(number):
            problems.append('%s: must be a whole number, got %s' % (key, value))
            continue
        check[key] = kind(number)
    if problems:
        return problems
    if not 100 <= check['status'] <= 599:
        problems.append('status: must be an HTTP status (100-599), got %s' % check['status'])
    if not 0 < check['timeout'] <= MAX_TIMEOUT:
        problems.append('timeout: must be > 0 and <= %g seconds, got %g' % (MAX_TIMEOUT, check['timeout']))
    elif not 0 < check['latency_warning_ms'] < check['timeout'] * 1000:
        problems.append('latency_warning_ms: must be > 0 and lower than timeout (%g s = %g ms): a slower answer '
                        'is no answer, got %g' % (check['timeout'], check['timeout'] * 1000,
                                                  check['latency_warning_ms']))
    return problems


# --- collecting (network) ----------------------------------------------------------------------

def _probe(url):
    """``function(timeout)`` for run_concurrently: one GET, ``(status, latency_ms, error)``."""
    if url.lower().startswith('https:'):
        # Only https needs urllib.request and ssl (~20-60 ms of imports); plain http is one socket (http_url).
        from ansible_collections.twzrd.ops.plugins.module_utils.probes import http_probe  # pylint: disable=import-outside-toplevel
        fetch = http_probe.fetch_once
    else:
        fetch = http_url.get_status

    def run(timeout):
        started = time.monotonic()
        status, dummy, error = fetch(url, timeout)
        return status, round((time.monotonic() - started) * 1000.0, 1), error
    return run


def jobs(checks):
    """run_concurrently jobs, keyed ``('http', name)`` so they can share one round with other probes."""
    return dict(((CHECK, name), (check['timeout'], _probe(check['url']))) for name, check in checks.items())


def results(checks, outcomes):
    """Per name ``{url (masked), status, expected_status, latency_ms, latency_warning_ms, timeout, error}``."""
    out = {}
    for name in sorted(checks):
        check = checks[name]
        outcome = outcomes.get((CHECK, name))
        if isinstance(outcome, NotRun) or outcome is None:
            status, latency, error = None, None, outcome.reason if outcome is not None else 'not run'
        else:
            status, latency, error = outcome
            if status is None:
                latency = None
        shown = redact(check['url'], url_credentials(check['url']))
        out[name] = {
            'url': shown,
            'status': status,
            'expected_status': check['status'],
            'latency_ms': latency,
            'latency_warning_ms': check['latency_warning_ms'],
            'timeout': check['timeout'],
            'error': redact(_plain(error), url_credentials(check['url'])) if error else None,
        }
    return out


def _plain(error):
    """``connection refused`` rather than ``[Errno 111] Connection refused``."""
    text = re.sub(r'^\[Errno -?\d+\] ', '', str(error))
    return text[:1].lower() + text[1:]


def collect(http_checks, budget):
    """Probe every check at once within ``budget`` (a :class:`~.budget.Budget`).

    ``http_checks``: the normalized mapping from :func:`normalize`.  Returns
    ``{name: {'url': masked url, 'status': int|None, 'expected_status': int,
    'latency_ms': float|None, 'latency_warning_ms': float, 'timeout': float,
    'error': str|None}}``; ``status`` None means no answer (``error`` says why).
    """
    if not http_checks:
        return {}
    return results(http_checks, run_concurrently(jobs(http_checks), budget))


# --- evaluating (pure) ---------------------------------------------------------------------------

def _remediation(kind, name, result):
    return REMEDIATION[kind].replace('APP', name).replace('URL', result['url'])


def problem(result):
    """What went wrong with one result: ``'down'``, ``'status'``, ``'slow'`` or None."""
    if result['status'] is None:
        return 'down'
    if result['status'] != result['expected_status']:
        return 'status'
    if result['latency_ms'] is not None and result['latency_ms'] > result['latency_warning_ms']:
        return 'slow'
    return None


def remediation_text(kind, name, result):
    """What to do about ``kind`` (:func:`problem`) for check ``name``, without the runbook link."""
    return REMEDIATION_TEXT[kind].replace('APP', name).replace('URL', result['url'])


def message(kind, name, result):
    """The alert message for ``kind`` (:func:`problem`): names the check, the masked URL and what was expected."""
    expected = result['expected_status']
    if kind == 'down':
        return ('http check %s: %s gave no answer (%s), expected HTTP %s; see whether the app runs and what it logs'
                % (name, result['url'], result['error'] or 'no answer', expected))
    if kind == 'status':
        return ('http check %s: %s answered HTTP %s, expected HTTP %s; read the app\'s error log'
                % (name, result['url'], result['status'], expected))
    return ('http check %s: %s answered in %g ms, slower than the warning threshold of %g ms; find what '
            'slows the app' % (name, result['url'], result['latency_ms'], result['latency_warning_ms']))


def evaluate(results_by_name):
    """Alerts for the results of :func:`collect`: critical without the expected status, warning when slow."""
    alerts = []
    for name in sorted(results_by_name):
        result = results_by_name[name]
        kind = problem(result)
        if kind is None:
            continue
        # no answer has no status: the value a person reads is why (the same words as the message)
        value, threshold = {'down': (result['error'] or 'no answer', result['expected_status']),
                            'status': (result['status'], result['expected_status']),
                            'slow': (result['latency_ms'], result['latency_warning_ms'])}[kind]
        alerts.append(make_alert(CHECK, WARNING if kind == 'slow' else CRITICAL, value, threshold,
                                 message(kind, name, result), _remediation(kind, name, result), subject=name))
    return alerts

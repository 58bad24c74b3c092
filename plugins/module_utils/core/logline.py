# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One log line per run, in logfmt (docs/logs.md).

A line reads well with ``tail`` and splits with one regex::

    ts=2026-11-28T14:00:01Z job=twzrd_health mode=alerts status=warning alerts=1 ... msg="..."

Values with spaces, quotes or ``=`` are double-quoted with backslash
escapes.  Names in a line come from users the root jobs do not trust: every
character that any reader takes for a line break (``str.splitlines()`` breaks
on U+2028, U+0085, \\x1c ...) or a terminal obeys is written as a visible
escape (``\\u2028``), so no name can forge or hide a line; newlines and tabs
become spaces.  A line is bounded (:data:`MAX_LINE_BYTES`) so every reader
can read it.  The line is appended with a single
``write()`` on an ``O_APPEND`` descriptor, so concurrent writers never
interleave inside a line.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
import time
import unicodedata

_BARE = re.compile(r'^[A-Za-z0-9_.:/@+%,-]+$')
# Parses one line back into (key, value) pairs; documented in docs/logs.md.
FIELD_RE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')
# Control, format (bidi overrides), line and paragraph separators: never written as they are.
_UNSAFE_CATEGORIES = ('Cc', 'Cf', 'Cs', 'Zl', 'Zp')
_SPACES = {'\n': ' ', '\r': ' ', '\t': ' '}
# Bounds of one line (docs/logs.md): msg lists the first MAX_ALERTS_IN_LINE alerts, and no
# value is longer than its share, so a line stays far below what --status and tail read.
MAX_ALERTS_IN_LINE = 20
MAX_MSG_BYTES = 8192
MAX_VALUE_BYTES = 1024
MAX_LINE_BYTES = 32768


def iso_utc(epoch):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(epoch))


def _escape_char(char):
    if char in _SPACES:
        return _SPACES[char]
    if unicodedata.category(char) not in _UNSAFE_CATEGORIES:
        return char
    code = ord(char)
    return '\\x%02x' % code if code < 0x100 else '\\u%04x' % code if code < 0x10000 else '\\U%08x' % code


def escape(text):
    """``text`` with every line break, control and format character as a visible escape (``\\u2028``)."""
    return ''.join(_escape_char(char) for char in text)


def clip(text, limit):
    """``text`` cut to at most ``limit`` UTF-8 bytes, marked with ``...`` when cut."""
    data = text.encode('utf-8', 'replace')
    if len(data) <= limit:
        return text
    return data[:max(0, limit - 3)].decode('utf-8', 'ignore') + '...'


def format_value(value, limit=MAX_VALUE_BYTES):
    if value is None:
        return ''
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, float):
        text = ('%.3f' % value).rstrip('0').rstrip('.')
    else:
        text = str(value)
    # Escape before cutting: a cut escape is harmless text, quoting below still applies.
    text = clip(escape(text), limit)
    if text and _BARE.match(text):
        return text
    return '"%s"' % text.replace('\\', '\\\\').replace('"', '\\"')


def format_line(fields):
    """``fields`` is a sequence of (key, value) pairs, kept in order.

    Each value is cut to MAX_VALUE_BYTES (``msg`` to MAX_MSG_BYTES) and to its share of what is
    left of MAX_LINE_BYTES (quoting may double it), so every reader can read the whole line.
    """
    parts = []
    budget = MAX_LINE_BYTES - 1   # the newline
    for index, (key, value) in enumerate(fields):
        reserve = (len(fields) - index - 1) * 64   # room for a short value in each later field
        cap = MAX_MSG_BYTES if key == 'msg' else MAX_VALUE_BYTES
        part = '%s=%s' % (key, format_value(value, max(16, min(cap, (budget - reserve - len(key) - 4) // 2))))
        parts.append(part)
        budget -= len(part.encode('utf-8', 'replace')) + 1
    return ' '.join(parts)


def parse_line(line):
    """Inverse of :func:`format_line` for tools and tests: a dict of strings."""
    parsed = {}
    for key, raw in FIELD_RE.findall(line):
        if raw.startswith('"'):
            raw = re.sub(r'\\(.)', r'\1', raw[1:-1])
        parsed[key] = raw
    return parsed


def result_fields(job, result, started, extra=None, metric_fields=None):
    """The standard fields of a run: when, what, outcome, key numbers, messages.

    ``extra`` pairs go right after ``job`` (e.g. mode), ``metric_fields``
    after the outcome; both are (key, value) pairs.
    """
    alerts = result.get('alerts') or []
    fields = [
        ('ts', iso_utc(started)),
        ('job', job),
    ]
    fields.extend(extra or [])
    fields.extend([
        ('status', result.get('status')),
        ('alerts', len(alerts)),
        ('duration_ms', int(round((time.time() - started) * 1000))),
    ])
    fields.extend(metric_fields or [])
    fields.append(('msg', alert_summary(alerts)))
    return fields


def alert_summary(alerts):
    """The alerts' messages joined with ``; ``, the first MAX_ALERTS_IN_LINE of them (the result has all)."""
    if not alerts:
        return 'all checks ok'
    messages = ['%s %s' % (a['level'].upper(), a['message']) for a in alerts[:MAX_ALERTS_IN_LINE]]
    if len(alerts) > MAX_ALERTS_IN_LINE:
        messages.append('... and %d more alert(s): see the run\'s result or report' % (len(alerts) - MAX_ALERTS_IN_LINE))
    return '; '.join(messages)


def append_line(path, line, mode=0o640):
    """Append ``line`` plus newline with one write; creates the file with ``mode``."""
    data = (line.replace('\n', ' ') + '\n').encode('utf-8', 'replace')
    # O_NONBLOCK: a FIFO nobody reads fails at once (ENXIO) instead of hanging the run
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, mode)
    try:
        written = os.write(fd, data)
        if written != len(data):
            raise OSError('short write to %s (%d of %d bytes)' % (path, written, len(data)))
    finally:
        os.close(fd)


def log_run(log_file, job, result, started, extra=None, metric_fields=None):
    """Append this run's line (:func:`result_fields`) to ``log_file``.

    Returns None, or why the line could not be written: each module decides
    whether that fails the run or is a warning.
    """
    line = format_line(result_fields(job, result, started, extra=extra, metric_fields=metric_fields))
    try:
        append_line(log_file, line)
    except (IOError, OSError) as exc:
        return 'cannot append to log_file %s: %s' % (log_file, exc)
    return None

# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One log line per run, in logfmt (docs/logs.md).

A line reads well with ``tail`` and splits with one regex::

    ts=2026-11-28T14:00:01Z job=twzrd_health mode=alerts status=warning alerts=1 ... msg="..."

Values with spaces, quotes or ``=`` are double-quoted with backslash
escapes; newlines never reach the file.  The line is appended with a single
``write()`` on an ``O_APPEND`` descriptor, so concurrent writers never
interleave inside a line.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
import time

_BARE = re.compile(r'^[A-Za-z0-9_.:/@+%,-]+$')
# Parses one line back into (key, value) pairs; documented in docs/logs.md.
FIELD_RE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def iso_utc(epoch):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(epoch))


def format_value(value):
    if value is None:
        return ''
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, float):
        text = ('%.3f' % value).rstrip('0').rstrip('.')
    else:
        text = str(value)
    text = text.replace('\r', ' ').replace('\n', ' ')
    if text and _BARE.match(text):
        return text
    return '"%s"' % text.replace('\\', '\\\\').replace('"', '\\"')


def format_line(fields):
    """``fields`` is a sequence of (key, value) pairs, kept in order."""
    return ' '.join('%s=%s' % (key, format_value(value)) for key, value in fields)


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
    messages = ['%s %s' % (a['level'].upper(), a['message']) for a in alerts]
    fields.append(('msg', '; '.join(messages) if messages else 'all checks ok'))
    return fields


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

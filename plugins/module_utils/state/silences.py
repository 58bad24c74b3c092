# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Silences kept on the host: ``twzrd-run --silence CHECK[:SUBJECT] --for DURATION --reason TEXT``.

The runner writes ``/etc/twzrd/silences.json`` (root, 0644, atomically); every
job reads it at its report stage, whichever user runs it, so a silence needs
no inventory change and no reinstall.  A silence is ``accept`` with an end:
a matching alert stays in the result (``silenced``, with the reason) but
raises nothing until ``until``.

Root never believes what another user controls: the file is opened without
following a symlink, must be a regular file owned by root and writable by
root alone; anything else is ignored with a warning (the alerts go out).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import stat
import time

DEFAULT_FILE = '/etc/twzrd/silences.json'
FILE_ENV = 'TWZRD_SILENCES_FILE'   # the runner sets it from its --config-dir
MAX_BYTES = 1024 * 1024


def silences_file():
    return os.environ.get(FILE_ENV) or DEFAULT_FILE


def iso_utc(epoch):
    return time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(epoch))


def _valid(entry):
    if not isinstance(entry, dict):
        return False
    until = entry.get('until')
    return (isinstance(entry.get('id'), str) and isinstance(entry.get('check'), str) and entry['check']
            and isinstance(entry.get('reason'), str) and isinstance(until, (int, float)) and not isinstance(until, bool)
            and (entry.get('subject') is None or isinstance(entry['subject'], str)))


def read(path):
    """``(entries, warning)``: the silences in ``path``; a missing file is none and no warning."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, 'O_CLOEXEC', 0))
    except OSError as exc:
        if exc.errno == 2:
            return [], None
        return [], 'silences %s not read (%s): nothing is silenced this run' % (path, exc.strerror)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return [], 'silences %s ignored: not a regular file' % path
        if info.st_uid != 0 or info.st_mode & 0o022:
            # another user could have written it: silencing on its word would hide alerts from root's jobs
            return [], ('silences %s ignored: not owned by root, or writable by group or others '
                        '(twzrd-run --silence writes it root-owned, 0644)' % path)
        chunks, size = [], 0
        while size <= MAX_BYTES:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        return [], 'silences %s not read (%s): nothing is silenced this run' % (path, exc.strerror)
    finally:
        os.close(fd)
    if size > MAX_BYTES:
        return [], 'silences %s ignored: larger than %d bytes' % (path, MAX_BYTES)
    try:
        data = json.loads(b''.join(chunks).decode('utf-8'))
    except ValueError as exc:
        return [], 'silences %s ignored: not JSON (%s); fix or remove it with twzrd-run --unsilence' % (path, exc)
    entries = data.get('silences') if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return [], 'silences %s ignored: no "silences" list' % path
    return [entry for entry in entries if _valid(entry)], None


def active(entries, now):
    return [entry for entry in entries if entry['until'] > now]


def label(entry):
    """``check`` or ``check:subject``: how a person names a silence."""
    return entry['check'] if entry.get('subject') in (None, '', '*') else '%s:%s' % (entry['check'], entry['subject'])


def _matches(entry, alert):
    if entry['check'] != alert.get('check'):
        return False
    return entry.get('subject') in (None, '', '*') or entry['subject'] == alert.get('subject')


def apply(alerts, entries, now):
    """Split ``alerts`` into (raised, silenced) by the silences active at ``now``."""
    raised, silenced = [], []
    live = active(entries, now)
    for alert in alerts:
        match = next((entry for entry in live if _matches(entry, alert)), None)
        if match is None:
            raised.append(alert)
        else:
            silenced.append(dict(alert, silenced=True, silence_id=match['id'], silenced_reason=match['reason'],
                                 silenced_by=match.get('by'), silenced_until=iso_utc(match['until'])))
    return raised, silenced


def summary_line(entry):
    return 'silenced: %s until %s by %s (%s)' % (label(entry), iso_utc(entry['until']), entry.get('by') or '?',
                                                 entry['reason'])

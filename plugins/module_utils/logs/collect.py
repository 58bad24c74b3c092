# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Count error lines of the last N days in log files and the system journal.

Lines are matched against error patterns; identical messages that differ
only in numbers, ids or times are grouped so the report shows "what" and
"how often" instead of a wall of lines.  Every quoted line is redacted.
A line without a timestamp inherits the last one seen in its file; lines
before any timestamp count when the file changed inside the period.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import calendar
import errno
import glob
import os
import re
import subprocess
import time

from ansible_collections.twzrd.ops.plugins.module_utils.core import owned_files
from ansible_collections.twzrd.ops.plugins.module_utils.core.redact import excerpt

# "TypeError:", "MyException" and "UnhandledPromiseRejection" count; "0 errors", "stderr" don't.
DEFAULT_ERROR_PATTERNS = [r'(?i)(error|exception)\b|\b(fatal|panic|unhandled|traceback|segfault|out of memory)']
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
TOP_MESSAGES = 5
SYSLOG_FILES = ('/var/log/syslog', '/var/log/messages')

_ISO_TS = re.compile(r'^\[?(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,]\d+)?\s?(Z|[+-]\d\d:?\d\d)?\]?:?\s*')
_SYSLOG_TS = re.compile(r'^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d)\s+')
_MONTHS = dict((m, i) for i, m in enumerate(
    ('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'), 1))
_VARIABLE = re.compile(r'0x[0-9a-f]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d+', re.I)


class AnyPattern:
    """Matches when any of the patterns does (each keeps its own inline flags such as (?i))."""

    def __init__(self, patterns):
        self.compiled = [re.compile(p) for p in patterns]

    def search(self, text):
        for pattern in self.compiled:
            if pattern.search(text):
                return True
        return False


def compile_patterns(patterns):
    return AnyPattern(patterns)


def line_timestamp(line, now):
    """(epoch, rest_of_line) when the line starts with a time we know, else (None, line)."""
    match = _ISO_TS.match(line)
    if match:
        year, month, day, hour, minute, second, zone = match.groups()
        fields = (int(year), int(month), int(day), int(hour), int(minute), int(second))
        try:
            if zone:
                epoch = calendar.timegm(fields + (0, 0, 0))
                if zone != 'Z':
                    sign = -1 if zone[0] == '-' else 1
                    digits = zone[1:].replace(':', '')
                    epoch -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
            else:
                epoch = time.mktime(fields + (0, 0, -1))
        except (ValueError, OverflowError):
            return None, line
        return epoch, line[match.end():]
    match = _SYSLOG_TS.match(line)
    if match and match.group(1) in _MONTHS:
        month, day = _MONTHS[match.group(1)], int(match.group(2))
        year = time.localtime(now).tm_year
        fields = (year, month, day, int(match.group(3)), int(match.group(4)), int(match.group(5)), 0, 0, -1)
        try:
            epoch = time.mktime(fields)
            if epoch > now + 86400:  # syslog has no year: December lines read in January
                epoch = time.mktime((year - 1,) + fields[1:])
        except (ValueError, OverflowError):
            return None, line
        return epoch, line[match.end():]
    return None, line


def message_key(message):
    """Group messages that differ only in numbers or ids."""
    return _VARIABLE.sub('#', message.strip())[:160]


class ErrorTally:
    """Error lines of one source, grouped by message shape."""

    def __init__(self, source, secrets=()):
        self.source = source
        self.secrets = secrets
        self.errors = 0
        self.groups = {}
        self.last = None
        self.last_ts = None
        self.per_day = {}

    def add(self, message, ts=None):
        self.errors += 1
        if ts is not None:  # the weekly report charts error lines per day
            day = time.strftime('%Y-%m-%d', time.gmtime(ts))
            self.per_day[day] = self.per_day.get(day, 0) + 1
        key = message_key(message)
        group = self.groups.get(key)
        if group is None:
            self.groups[key] = [1, message]
        else:
            group[0] += 1
        self.last, self.last_ts = message, ts

    def as_dict(self):
        top = sorted(self.groups.values(), key=lambda g: (-g[0], g[1]))[:TOP_MESSAGES]
        return {
            'source': self.source,
            'errors': self.errors,
            'distinct': len(self.groups),
            'top': [{'count': count, 'message': excerpt(message, self.secrets)} for count, message in top],
            'last': excerpt(self.last, self.secrets) if self.last is not None else None,
            'last_at': int(self.last_ts) if self.last_ts else None,
            'per_day': dict(self.per_day),
        }


def scan_lines(lines, matcher, since, now, tally, include_undated=True):
    """Feed matching lines newer than ``since`` into ``tally``."""
    current_ts = None
    for line in lines:
        ts, message = line_timestamp(line, now)
        if ts is not None:
            current_ts = ts
        if current_ts is None:
            if not include_undated:
                continue
        elif current_ts < since:
            continue
        if matcher.search(message):
            tally.add(message.rstrip('\n'), current_ts)
    return tally


def scan_file(path, matcher, since, now, secrets=(), max_bytes=DEFAULT_MAX_BYTES, owner_uid=None):
    """Scan one file; files untouched since ``since`` are skipped without reading.

    The file is opened by :func:`owned_files.open_checked` (regular, owned by
    ``owner_uid`` when given, no other user's symlink): a refused one has
    ``error`` and ``skipped`` set, an unreadable one ``error``.
    """
    tally = ErrorTally(path, secrets)
    try:
        fd, info = owned_files.open_checked(path, owner_uid)
        try:
            if info.st_mtime < since:
                return tally.as_dict()
            data = owned_files.read_tail(fd, info.st_size, max_bytes)
        finally:
            os.close(fd)
        scan_lines(data.decode('utf-8', 'replace').splitlines(), matcher, since, now, tally)
    except owned_files.Refused as exc:
        return dict(tally.as_dict(), error=str(exc), skipped=True)
    except (IOError, OSError) as exc:
        return dict(tally.as_dict(), error=exc.strerror or str(exc))
    return tally.as_dict()


def _hidden(path):
    """True when ``path`` may exist but cannot be looked at (a directory on the way is not ours to search)."""
    try:
        os.lstat(path)
    except OSError as exc:
        return exc.errno not in (errno.ENOENT, errno.ENOTDIR)
    return False


def expand_paths(patterns):
    """Glob patterns to paths, sorted, compressed rotations skipped.

    Whatever is there is returned (a FIFO or another user's symlink too):
    :func:`scan_file` refuses it with a reason, so it is reported, never silently dropped.
    """
    found = set()
    for pattern in patterns:
        if not glob.has_magic(pattern) and _hidden(pattern):
            found.add(pattern)  # there, but this user may not see it: scan_file says why
            continue
        for path in glob.glob(pattern):
            if not os.path.isdir(path) and not path.endswith(('.gz', '.xz', '.bz2', '.zst')):
                found.add(path)
    return sorted(found)


def _scan_in_child(patterns, matcher, since, now, secrets, max_bytes, owner_uid, emit):
    """The child's part of :func:`scan_paths`: say which files, then one result per file."""
    paths = expand_paths(patterns)
    emit({'paths': paths})
    for path in paths:
        emit({'reading': path})
        emit({'source': scan_file(path, matcher, since, now, secrets, max_bytes, owner_uid)})


def scan_paths(patterns, matcher, since, now, secrets=(), max_bytes=DEFAULT_MAX_BYTES, owner=None,
               timeout=owned_files.FILE_TIMEOUT):
    """Scan every file the glob ``patterns`` match, in a child process; a list of source dicts.

    ``owner`` is ``(uid, gid)`` of the user who controls the paths (a PM2
    daemon's): the child then has that user's rights and each file must be
    that user's.  A file that takes longer than ``timeout`` seconds is
    reported with an error and the others are still read.
    """
    sources, todo, expand = [], list(patterns), True
    rights = owned_files.owner_rights(*owner) if owner else None
    owner_uid = owner[0] if owner else None
    while todo:
        def work(emit, todo=tuple(todo), expand=expand):
            _scan_in_child(todo if expand else [glob.escape(p) for p in todo], matcher, since, now, secrets,
                           max_bytes, owner_uid, emit)
        messages, timed_out = owned_files.in_child(rights, work, timeout)
        reading, listed = None, None
        for message in messages:
            if 'paths' in message:
                listed = list(message['paths'])
            elif 'reading' in message:
                reading = message['reading']
            elif 'source' in message:
                sources.append(message['source'])
                reading = None
            elif 'failed' in message:
                sources.append(dict(ErrorTally(' '.join(todo)).as_dict(), error=message['failed']))
        if not timed_out or listed is None:
            if timed_out:
                sources.append(dict(ErrorTally(' '.join(todo)).as_dict(), skipped=True,
                                    error='listing took longer than %d s' % timeout))
            break
        if reading is not None:
            sources.append(dict(ErrorTally(reading).as_dict(), skipped=True,
                                error='%s took longer than %d s to read' % (reading, timeout)))
        done = set(s['source'] for s in sources)
        todo, expand = [p for p in listed if p not in done], False
    return sources


def pm2_log_patterns(error_logs):
    """Each PM2 error log plus its rotations (pm2-logrotate: NAME-error__DATE.log, NAME-error.log.1)."""
    patterns = []
    for path in error_logs:
        if path and path != '/dev/null':
            patterns.append(path)
            patterns.append(re.sub(r'\.log$', '', path) + '__*.log')
            patterns.append(path + '.[0-9]*')
    return patterns


def scan_journal(since, now, secrets=(), journalctl='journalctl', timeout=120, max_lines=50000):
    """Messages of priority err and worse from the journal, or None when there is no journal."""
    try:
        proc = subprocess.Popen(
            [journalctl, '--no-pager', '--quiet', '--priority=err', '--output=short-iso',
             '--since=@%d' % int(since), '--lines=%d' % max_lines],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={'PATH': '/usr/bin:/bin', 'LANG': 'C.UTF-8', 'SYSTEMD_PAGER': ''})
        out, err = proc.communicate(timeout=timeout)
    except OSError:
        return None
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return dict(ErrorTally('journal').as_dict(), error='journalctl took longer than %d s' % timeout)
    if proc.returncode != 0 or b'No journal files were found' in err:
        return None
    tally = ErrorTally('journal', secrets)
    for line in out.decode('utf-8', 'replace').splitlines():
        ts, rest = line_timestamp(line, now)
        if ts is None:
            continue  # "-- Boot ... --" separators and continuation lines
        # drop the host name: "host unit[pid]: message" -> "unit[pid]: message"
        tally.add(rest.split(' ', 1)[-1], ts)
    return tally.as_dict()


def scan_system_log(since, now, matcher, secrets=()):
    """The journal where there is one, else the first classic syslog file present."""
    result = scan_journal(since, now, secrets)
    if result is not None:
        return result
    for path in SYSLOG_FILES:
        if os.path.isfile(path):
            return scan_paths([glob.escape(path)], matcher, since, now, secrets)[0]
    return None

# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""New lines in log files since a remembered offset ("no new errors after restart").

:func:`mark` remembers how big each log is before the restart; afterwards
:func:`new_lines` reads only the bytes written since (from the start when
the file shrank, i.e. was rotated or truncated), at most ``max_bytes`` per
file so a log flood cannot eat our memory.  :func:`error_lines` picks the
lines matching any pattern.  Matching and excerpting are pure.

The paths come from PM2, so its user chooses them: with ``owner`` ((uid,
gid) of the PM2 user) the files are read as that user and must be that
user's regular files (core/owned_files.py); a file refused is a warning.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible_collections.twzrd.ops.plugins.module_utils.core import owned_files

MAX_NEW_BYTES = 1024 * 1024


def _size(path, owner_uid):
    try:
        fd, info = owned_files.open_checked(path, owner_uid)
    except (owned_files.Refused, IOError, OSError):
        return 0
    os.close(fd)
    return info.st_size


def read_new(path, offset, max_bytes=MAX_NEW_BYTES, owner_uid=None):
    """Text appended to ``path`` after ``offset``; '' when missing or unreadable.

    Raises owned_files.Refused for a file that is not ``owner_uid``'s regular file.
    """
    try:
        fd, info = owned_files.open_checked(path, owner_uid)
    except (IOError, OSError):
        return ''
    try:
        start = offset if info.st_size >= offset else 0  # rotated or truncated: everything in it is new
        return owned_files.read_tail(fd, info.st_size, max_bytes, start=start).decode('utf-8', 'replace')
    except (IOError, OSError):
        return ''
    finally:
        os.close(fd)


def _in_child(owner, work):
    """``work(emit)`` as ``owner`` under the per-file time bound; its messages (a timeout adds one)."""
    rights = owned_files.owner_rights(*owner) if owner else None
    messages, timed_out = owned_files.in_child(rights, work)
    if timed_out:
        messages.append({'refused': 'reading the logs took longer than %d s' % owned_files.FILE_TIMEOUT})
    return messages


def mark(paths, owner=None):
    """``{path: size}`` now (0 for a file that does not exist yet or is not one we read)."""
    owner_uid = owner[0] if owner else None

    def work(emit):
        emit({'sizes': dict((path, _size(path, owner_uid)) for path in paths)})
    offsets = dict((path, 0) for path in paths)
    for message in _in_child(owner, work):
        offsets.update(message.get('sizes') or {})
    return offsets


def new_lines(offsets, max_bytes=MAX_NEW_BYTES, owner=None, warnings=None):
    """All complete-or-not lines written to the files since :func:`mark`.

    A file refused (another user's symlink, a FIFO, not the owner's) adds a
    warning naming it to ``warnings`` and gives no lines.
    """
    owner_uid = owner[0] if owner else None

    def work(emit):
        for path in sorted(offsets):
            try:
                emit({'text': read_new(path, offsets[path], max_bytes, owner_uid)})
            except owned_files.Refused as exc:
                emit({'refused': str(exc)})
    lines = []
    for message in _in_child(owner, work):
        if 'refused' in message and warnings is not None:
            warnings.append('log file skipped: %s' % message['refused'])
        lines.extend(line for line in message.get('text', '').splitlines() if line.strip())
    return lines


def error_lines(lines, matcher):
    """Lines ``matcher`` (logscan.compile_patterns) finds an error in, in order."""
    return [line for line in lines if matcher.search(line)]

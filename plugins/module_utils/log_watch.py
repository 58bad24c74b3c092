# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""New lines in log files since a remembered offset ("no new errors after restart").

:func:`mark` remembers how big each log is before the restart; afterwards
:func:`new_lines` reads only the bytes written since (from the start when
the file shrank, i.e. was rotated or truncated), at most ``max_bytes`` per
file so a log flood cannot eat our memory.  :func:`error_lines` picks the
lines matching any pattern.  Matching and excerpting are pure.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

MAX_NEW_BYTES = 1024 * 1024


def mark(paths):
    """``{path: size}`` now (0 for a file that does not exist yet)."""
    offsets = {}
    for path in paths:
        try:
            offsets[path] = os.path.getsize(path)
        except OSError:
            offsets[path] = 0
    return offsets


def read_new(path, offset, max_bytes=MAX_NEW_BYTES):
    """Text appended to ``path`` after ``offset``; '' when missing or unreadable."""
    try:
        size = os.path.getsize(path)
        if size < offset:  # rotated or truncated: everything in it is new
            offset = 0
        with open(path, 'rb') as handle:
            handle.seek(max(offset, size - max_bytes))
            return handle.read(max_bytes).decode('utf-8', 'replace')
    except (IOError, OSError):
        return ''


def new_lines(offsets, max_bytes=MAX_NEW_BYTES):
    """All complete-or-not lines written to the files since :func:`mark`."""
    lines = []
    for path in sorted(offsets):
        lines.extend(line for line in read_new(path, offsets[path], max_bytes).splitlines() if line.strip())
    return lines


def error_lines(lines, matcher):
    """Lines ``matcher`` (logscan.compile_patterns) finds an error in, in order."""
    return [line for line in lines if matcher.search(line)]

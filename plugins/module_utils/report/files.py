# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dated report files: the audit trail of the weekly jobs (option ``report_dir``).

The report stage writes each run's report (the text a person reads: summary
lines, alerts with what to do, accepted conditions) as
``REPORT_DIR/JOB[-INSTANCE]-YYYY-MM-DDTHHMMZ.txt``, atomically, mode 0640, and
keeps the newest ``report_keep`` of that job; the run's log line names the file.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
import time

from ansible_collections.twzrd.ops.plugins.module_utils.core.atomic import write_atomic

MODE = 0o640
DIR_MODE = 0o750
SUFFIX = '.txt'
_UNSAFE = re.compile(r'[^A-Za-z0-9_.-]+')
_STAMP = r'\d{4}-\d{2}-\d{2}T\d{4}Z'


def prefix(key):
    """``vacuum:app`` -> ``vacuum-app``: the job key as a file name part (a database name may hold anything)."""
    return _UNSAFE.sub('_', key.replace(':', '-')).strip('.') or 'report'


def file_name(key, started):
    return '%s-%s%s' % (prefix(key), time.strftime('%Y-%m-%dT%H%MZ', time.gmtime(started)), SUFFIX)


def stale(names, key, keep):
    """This job's report files beyond the newest ``keep`` (the names sort by time)."""
    pattern = re.compile(r'^%s-%s%s$' % (re.escape(prefix(key)), _STAMP, re.escape(SUFFIX)))
    mine = sorted(name for name in names if pattern.match(name))
    return mine[:-keep] if keep > 0 else mine


def write(report_dir, key, started, text, keep):
    """Write this run's report and prune the old ones; returns the path. Raises OSError."""
    if not os.path.isdir(report_dir):
        os.makedirs(report_dir, DIR_MODE)
    path = os.path.join(report_dir, file_name(key, started))
    write_atomic(path, text.rstrip('\n') + '\n', mode=MODE)
    for name in stale(os.listdir(report_dir), key, keep):
        try:
            os.unlink(os.path.join(report_dir, name))
        except OSError:
            continue  # someone else pruned it, or it is not ours to remove: the next run tries again
    return path

# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The state file that survives between runs (DESIGN.md, "Results and alerts").

One JSON file (default ``/var/lib/twzrd/state.json``) shared by all jobs,
one top-level section per module.  Read-modify-write happens under an
exclusive ``flock`` on a side lock file, so jobs that overlap (cron runs
them independently) never lose each other's updates.  Writes go to a temp
file in the same directory that is fsync'ed and renamed over the old one.
A missing or corrupt file is reported as a warning and treated as empty.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import fcntl
import json
import os
import tempfile

DEFAULT_STATE_FILE = '/var/lib/twzrd/state.json'
FORMAT_VERSION = 1


class StateError(Exception):
    """The state file cannot be locked or written (permissions, disk)."""


def atomic_write(path, text, mode=0o600):
    """Replace ``path`` with ``text`` so readers see the old or the new file, never half."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp_path = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, 'w') as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(tmp_path, path)
    except BaseException:
        try:
            os.unlink(tmp_path)
        except OSError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_state(path):
    """Load the state file: ``(data, warning)``; warning is None when all is well."""
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return {}, 'state file %s does not exist yet: fresh start' % path
        return {}, 'state file %s cannot be read (%s): fresh start' % (path, exc.strerror)
    except ValueError as exc:
        return {}, 'state file %s is corrupt (%s): fresh start' % (path, exc)
    if not isinstance(data, dict):
        return {}, 'state file %s does not hold a JSON object: fresh start' % path
    return data, None


class StateStore:
    """Locked access to the state file.

    ``with StateStore(path) as store:`` takes the lock and loads the data;
    ``store.section(name)`` is a mutable dict owned by one module;
    ``store.save()`` writes everything back atomically.  ``read_only=True``
    neither locks nor creates anything (report mode, check mode).
    """

    def __init__(self, path, read_only=False):
        self.path = path
        self.read_only = read_only or not path
        self.data = {}
        self.warning = None
        self._lock_fd = None

    def __enter__(self):
        if not self.path:
            return self
        if not self.read_only:
            self._lock()
        self.data, self.warning = read_state(self.path)
        return self

    def __exit__(self, *exc_info):
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None
        return False

    def _lock(self):
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            if not os.path.isdir(directory):
                os.makedirs(directory, 0o750)
            self._lock_fd = os.open(self.path + '.lock', os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        except (IOError, OSError) as exc:
            raise StateError('cannot lock state file %s: %s' % (self.path, exc))

    def section(self, name):
        section = self.data.get(name)
        if not isinstance(section, dict):
            section = {}
            self.data[name] = section
        return section

    def save(self):
        if self.read_only:
            raise StateError('state file %s was opened read-only' % self.path)
        self.data['version'] = FORMAT_VERSION
        try:
            atomic_write(self.path, json.dumps(self.data, sort_keys=True, separators=(',', ':')))
        except (IOError, OSError) as exc:
            raise StateError('cannot write state file %s: %s' % (self.path, exc))

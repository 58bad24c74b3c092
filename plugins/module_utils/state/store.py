# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The state file that survives between runs (docs/design.md, "State").

One JSON file (default ``/var/lib/twzrd/state.json``) shared by all jobs,
one top-level section per module.  Read-modify-write happens under an
exclusive ``flock`` on a side lock file, so jobs that overlap (cron runs
them independently) never lose each other's updates.  Writes go to a temp
file in the same directory that is fsync'ed and renamed over the old one (core/atomic.py).
A missing or corrupt file is reported as a warning and treated as empty;
a section of the wrong shape likewise (state/schema.py).  Anything but a
regular file (symlink, FIFO, device) is refused, never read or replaced.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import fcntl
import json
import os
import stat

from ansible_collections.twzrd.ops.plugins.module_utils.state import schema as state_schema
from ansible_collections.twzrd.ops.plugins.module_utils.core.atomic import TEMP_SUFFIX, write_atomic

DEFAULT_STATE_FILE = '/var/lib/twzrd/state.json'
FORMAT_VERSION = 1
# Far above a real state file (a few hundred KiB); /dev/zero or a runaway file stops here.
MAX_STATE_BYTES = 16 * 1024 * 1024
# A state directory a run creates (an on-demand run as root before the install, say) is 0755 whatever
# the umask: job users (postgres) must traverse it to reach their own STATE/USER; the files are 0600.
DIR_MODE = 0o755
# Marks a directory twzrd created, whose mode the install role then owns (docs/install.md).
CREATED_MARKER = '.created-by-twzrd'
# What a fresh start replaced, kept beside the state file (keep_damaged).
DAMAGED_SUFFIX = '.corrupt'


class StateError(Exception):
    """The state file cannot be locked or written (permissions, disk)."""


def make_dirs(directory):
    """Create ``directory`` and its missing parents, each DIR_MODE and marked as twzrd's own."""
    if os.path.isdir(directory):
        return
    parent = os.path.dirname(directory)
    if parent != directory:
        make_dirs(parent)
    try:
        os.mkdir(directory, DIR_MODE)
    except OSError as exc:
        if exc.errno == errno.EEXIST and os.path.isdir(directory):
            return  # a concurrent first run created it between our look and our mkdir
        raise
    os.chmod(directory, DIR_MODE)  # mkdir's mode went through the umask
    fd = os.open(os.path.join(directory, CREATED_MARKER), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, 'w') as handle:
        handle.write('Created by a twzrd.ops run: the twzrd.ops.install role sets the mode of this directory.\n')


def _kind(mode):
    for test, name in ((stat.S_ISLNK, 'a symlink'), (stat.S_ISDIR, 'a directory'), (stat.S_ISFIFO, 'a FIFO'),
                       (stat.S_ISCHR, 'a character device'), (stat.S_ISBLK, 'a block device'),
                       (stat.S_ISSOCK, 'a socket')):
        if test(mode):
            return name
    return 'not a regular file'


def path_error(path):
    """Why ``path`` (or its ``.lock``) must not be used as a state file, or None.

    Only a regular file, or a missing one, is ours to read and replace: a
    symlink, FIFO or device is refused (reading a FIFO hangs, replacing
    /dev/null breaks the machine).
    """
    if '\x00' in path:
        return 'state_file must not contain a NUL byte'
    for candidate in (path, path + '.lock'):
        try:
            mode = os.lstat(candidate).st_mode
        except (IOError, OSError) as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                continue
            return 'state_file %s cannot be examined: %s' % (candidate, exc.strerror)
        if not stat.S_ISREG(mode):
            return ('state_file %s is %s, not a regular file: refusing to read or replace it; '
                    'point state_file at a regular file' % (candidate, _kind(mode)))
    return None


def _read_bounded(path, dir_fd=None, owner=None):
    """The file's text, refusing non-regular files and reading at most MAX_STATE_BYTES + 1 bytes.

    ``owner`` (a uid): the file must belong to that user (another user's state, read by root).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, 'O_CLOEXEC', 0), dir_fd=dir_fd)
    try:
        info = os.fstat(fd)
        mode = info.st_mode
        if not stat.S_ISREG(mode):
            raise StateError('state_file %s is %s, not a regular file: refusing to read it' % (path, _kind(mode)))
        if owner is not None and info.st_uid != owner:
            raise StateError('state_file %s belongs to uid %d, not uid %d: refusing to read it'
                             % (path, info.st_uid, owner))
        chunks, size = [], 0
        while size <= MAX_STATE_BYTES:
            chunk = os.read(fd, min(1 << 20, MAX_STATE_BYTES + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b''.join(chunks)
    finally:
        os.close(fd)


def read_state(path):
    """Load the state file: ``(data, warning)``; warning is None when all is well.

    Raises StateError for a path that is not a regular file.
    """
    error = path_error(path)
    if error:
        raise StateError(error)
    try:
        raw = _read_bounded(path)
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return {}, 'state file %s does not exist yet: fresh start' % path
        if exc.errno == errno.ELOOP:
            raise StateError('state_file %s is a symlink: refusing to read or replace it' % path)
        return {}, 'state file %s cannot be read (%s): fresh start' % (path, exc.strerror)
    return parse_state(raw, path)


def parse_state(raw, path):
    """``(data, warning)`` of a state file's bytes: JSON object, within the size bound, sections checked."""
    if len(raw) > MAX_STATE_BYTES:
        return {}, 'state file %s is larger than %d bytes: fresh start' % (path, MAX_STATE_BYTES)
    try:
        data = json.loads(raw.decode('utf-8'))
    except (ValueError, UnicodeDecodeError) as exc:
        return {}, 'state file %s is corrupt (%s): fresh start' % (path, exc)
    except RecursionError:
        return {}, 'state file %s is nested too deeply: fresh start' % path
    if not isinstance(data, dict):
        return {}, 'state file %s does not hold a JSON object: fresh start' % path
    data, warnings = state_schema.validate(data)
    return data, '; '.join(warnings) or None


def keep_damaged(path):
    """Keep the state file a fresh start is about to replace as ``path.corrupt`` (one copy, the latest): a
    person can still look at it or mend it. A hard link of the file we read (same owner, same 0600 mode, no
    copy of its bytes, whatever its size); says where it is, or why it could not be kept."""
    kept = path + DAMAGED_SUFFIX
    directory, name = os.path.split(kept)
    link = os.path.join(directory, '.%s.%d%s' % (name, os.getpid(), TEMP_SUFFIX))
    try:
        os.link(path, link)  # link() never follows a symlink; path_error refused one at path already
        os.replace(link, kept)
    except (IOError, OSError) as exc:
        try:
            os.unlink(link)
        except OSError:
            pass
        return 'the file as it was could not be kept (%s)' % exc.strerror
    return 'the file as it was is kept as %s' % kept


class StateStore:
    """Locked access to the state file.

    ``with StateStore(path) as store:`` takes the lock and loads the data;
    ``store.section(name)`` is a mutable dict owned by one module;
    ``store.save()`` writes everything back atomically.  ``read_only=True``
    neither locks nor creates anything (report mode, check mode).
    ``degrade=True``: when the lock cannot be taken (read-only or full disk),
    go on read-only with a warning instead of raising, so the run still
    reports its alerts; a path that is not a regular file still raises.
    """

    def __init__(self, path, read_only=False, degrade=False):
        self.path = path
        self.degrade = degrade
        self.read_only = read_only or not path
        self.data = {}
        self.warning = None
        # The file is simply not there yet: its warning is routine, not news (the cron runner
        # mails no first run; report_sinks.conditions puts it in the result's routine_warnings).
        self.first_run = False
        self._lock_fd = None

    def __enter__(self):
        if not self.path:
            return self
        lock_warning = None
        if not self.read_only:
            try:
                self._lock()
            except StateError as exc:
                if not self.degrade or path_error(self.path):
                    raise
                self.read_only = True
                lock_warning = '%s: state not saved this run (baselines and alert history unchanged)' % exc
        self.data, self.warning = read_state(self.path)
        self.first_run = bool(self.warning) and not lock_warning and not os.path.lexists(self.path)
        if self.first_run and self.read_only:
            # A look that writes nothing starts nothing: no state yet is not news there (`make run` on a
            # new machine; the report says there is no history yet). A run that creates the file says so.
            self.warning, self.first_run = None, False
        elif self.warning and not self.first_run and not self.read_only and os.path.lexists(self.path):
            self.warning += '; ' + keep_damaged(self.path)  # this run's save replaces it
        if lock_warning:
            self.warning = '; '.join(w for w in (lock_warning, self.warning) if w)
        return self

    def __exit__(self, *exc_info):
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None
        return False

    def _lock(self):
        error = path_error(self.path)
        if error:
            raise StateError(error)
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            make_dirs(directory)
            self._lock_fd = os.open(self.path + '.lock', os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
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
        error = path_error(self.path)  # someone may have put a FIFO or symlink there since we read
        if error:
            raise StateError(error)
        try:
            write_atomic(self.path, json.dumps(self.data, sort_keys=True, separators=(',', ':'), allow_nan=False))
        except (IOError, OSError) as exc:
            raise StateError('cannot write state file %s: %s' % (self.path, exc))
        except (RecursionError, ValueError) as exc:
            raise StateError('cannot write state file %s: %s' % (self.path, exc))


def read_user_state(directory, user, uid):
    """Another user's state file, ``directory/state.json``, as untrusted data: ``(data, warning)``.

    For root reading what a job running as ``user`` (uid ``uid``) recorded: the directory and the
    file must not be symlinks and must belong to that user, the file must be a regular one within
    MAX_STATE_BYTES, and its sections pass the schema.  Anything else is ``({}, why)``; nothing is
    ever written or created.
    """
    path = os.path.join(directory, os.path.basename(DEFAULT_STATE_FILE))
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, 'O_CLOEXEC', 0))
    except (IOError, OSError) as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            return {}, 'state directory %s of user %s is not a directory (or a symlink): not read' % (directory, user)
        return {}, 'state directory %s of user %s cannot be opened (%s): not read' % (directory, user, exc.strerror)
    try:
        dir_uid = os.fstat(dir_fd).st_uid
        if dir_uid != uid:
            return {}, ('state directory %s belongs to uid %d, not to user %s: not read'
                        % (directory, dir_uid, user))
        raw = _read_bounded(os.path.basename(path), dir_fd=dir_fd, owner=uid)
    except StateError as exc:
        return {}, '%s' % exc
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return {}, None  # the user's jobs have not run yet
        if exc.errno == errno.ELOOP:
            return {}, 'state_file %s is a symlink: refusing to read it' % path
        return {}, 'state file %s cannot be read (%s)' % (path, exc.strerror)
    finally:
        os.close(dir_fd)
    return parse_state(raw, path)

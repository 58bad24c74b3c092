# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One pm2_restart run per PM2 daemon at a time (docs/restart.md, "One run at a time").

The cron runner's ``flock`` covers cron only; a playbook run takes no runner
lock, so the module takes its own: an exclusive, non-blocking ``flock`` on
``pm2_restart.<hash of PM2_HOME>.lock`` in the state file's directory.  A
second run never waits: it fails at once and names the holder (pid, start
time, user, what started it), which the holder wrote into the lock file.

The lock runs as root against directories other users may control, so:
the directory must be owned by root or by us and writable by no one else
(so nobody can plant or swap the file), it is opened without following a
symlink, and the file must be a regular file of ours with one link.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import fcntl
import hashlib
import json
import os
import pwd
import stat
import time

from ansible_collections.twzrd.ops.plugins.module_utils.core.logline import iso_utc

HOLDER_MAX_BYTES = 4096
# The holder writes its details right after taking the lock: give it that moment.
HOLDER_READ_TRIES = 5
HOLDER_READ_PAUSE = 0.05
ANCESTORS = 12  # cron -> sh -> twzrd-run -> python module is 3 deep; ansible adds a few
# ansible-playbook options whose value is the next argument (an inventory.yml is not the playbook).
_PLAYBOOK_OPTIONS_WITH_VALUE = frozenset((
    '-i', '--inventory', '--inventory-file', '-e', '--extra-vars', '-l', '--limit', '-t', '--tags', '--skip-tags',
    '-u', '--user', '-c', '--connection', '-f', '--forks', '-M', '--module-path', '-T', '--timeout',
    '--private-key', '--key-file', '--vault-password-file', '--vault-id', '--become-user', '--become-method',
    '--start-at-task', '--ssh-common-args', '--ssh-extra-args', '--scp-extra-args', '--sftp-extra-args'))
_OPEN_FLAGS = getattr(os, 'O_CLOEXEC', 0) | os.O_NOFOLLOW | os.O_NONBLOCK


class LockError(Exception):
    """The lock cannot be used safely (directory or file not ours, I/O error)."""


class LockHeld(Exception):
    """Another run holds the lock; ``holder`` is what it wrote about itself (may be empty)."""

    def __init__(self, path, holder):
        Exception.__init__(self, path)
        self.path = path
        self.holder = holder


def lock_path(directory, pm2_home):
    """The lock file of one PM2 daemon: a hash, since PM2_HOME is any path a user chose."""
    home = os.path.realpath(pm2_home).encode('utf-8', 'surrogateescape')
    return os.path.join(directory, 'pm2_restart.%s.lock' % hashlib.sha256(home).hexdigest()[:16])


def _open_directory(directory):
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0) | _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LockError('the state file\'s directory %s, where the restart lock goes, is a symlink: refusing it '
                            '(set state_file in a root-owned directory such as /var/lib/twzrd)' % directory)
        raise LockError('cannot open the lock directory %s (the state file\'s): %s' % (directory, exc.strerror))
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISDIR(info.st_mode):
        problem = 'is not a directory'
    elif info.st_uid not in (0, os.geteuid()):
        problem = 'is owned by uid %d, neither root nor this run\'s user' % info.st_uid
    elif info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problem = 'is writable by group or others (mode %o)' % stat.S_IMODE(info.st_mode)
    if problem:
        os.close(fd)
        raise LockError('the state file\'s directory %s, where the restart lock goes, %s: another user could plant '
                        'or swap the lock; keep state_file in a directory only its owner can write, such as '
                        '/var/lib/twzrd' % (directory, problem))
    return fd


def _open_lock_file(dir_fd, path):
    name = os.path.basename(path)
    try:
        fd = os.open(name, os.O_RDWR | os.O_CREAT | _OPEN_FLAGS, 0o600, dir_fd=dir_fd)
    except OSError as exc:
        raise LockError('cannot open the restart lock %s next to the state file: %s%s' % (
            path, exc.strerror, ' (a symlink: remove it)' if exc.errno == errno.ELOOP else ''))
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = 'is not a regular file'
    elif info.st_uid != os.geteuid():
        problem = 'is owned by uid %d, not by this run\'s user (uid %d)' % (info.st_uid, os.geteuid())
    elif info.st_nlink != 1:
        problem = 'has %d hard links' % info.st_nlink
    if problem:
        os.close(fd)
        raise LockError('lock file %s %s: refusing it; remove it (no restart runs while it is missing)'
                        % (path, problem))
    return fd


def _alive(pid):
    try:
        os.kill(int(pid), 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    except (TypeError, ValueError, OverflowError):
        return False
    return int(pid) > 0


def _read_holder(fd):
    """The holder's description; a previous run's (its pid gone) is not the holder's: wait for the new one."""
    for attempt in range(HOLDER_READ_TRIES):
        data = os.pread(fd, HOLDER_MAX_BYTES, 0)
        try:
            holder = json.loads(data.decode('utf-8', 'replace'))
            if isinstance(holder, dict) and _alive(holder.get('pid')):
                return holder
        except ValueError:
            pass
        if attempt + 1 < HOLDER_READ_TRIES:
            time.sleep(HOLDER_READ_PAUSE)
    return {}


def acquire(directory, pm2_home, holder):
    """Take the lock for ``pm2_home``: ``(fd, warning)``; keep the fd open for the run.

    ``holder`` (pid, started, user, started_by) is written into the file for a
    run that finds it held; ``warning`` says when that failed (the lock is held
    all the same).  Raises LockHeld (never waits) or LockError.
    """
    path = lock_path(directory, pm2_home)
    dir_fd = _open_directory(directory)
    try:
        fd = _open_lock_file(dir_fd, path)
    finally:
        os.close(dir_fd)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            os.close(fd)
            raise LockError('cannot lock %s: %s' % (path, exc.strerror))
        found = _read_holder(fd)
        os.close(fd)
        raise LockHeld(path, found)
    try:
        data = json.dumps(dict(holder, pm2_home=pm2_home), sort_keys=True).encode('utf-8', 'surrogateescape')
        os.ftruncate(fd, 0)
        os.pwrite(fd, data + b'\n', 0)
        os.fsync(fd)
    except OSError as exc:  # the lock is ours all the same: a missing description only weakens the message
        return fd, 'cannot describe this run in the restart lock %s: %s' % (path, exc.strerror)
    return fd, None


def _clean(value, limit=200):
    """A holder field for a message: the file is ours, but a line break must never end up in a log line."""
    text = str(value)[:limit]
    return ''.join(ch if ch.isprintable() else '?' for ch in text)


def describe_holder(holder):
    """``pid 1234, started 2026-12-04T01:00:02Z, user root, via the cron runner (twzrd-run restart)``."""
    if not holder:
        return 'a run that has not described itself yet (it took the lock a moment ago)'
    parts = []
    for key, label in (('pid', 'pid %s'), ('started', 'started %s'), ('user', 'user %s'), ('started_by', 'via %s')):
        if holder.get(key) not in (None, ''):
            parts.append(label % _clean(holder[key]))
    return ', '.join(parts) or 'a run that did not describe itself'


def _cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as handle:
            raw = handle.read(65536)
    except (IOError, OSError):
        return []
    return [arg.decode('utf-8', 'replace') for arg in raw.split(b'\x00') if arg]


def _parent(pid):
    try:
        with open('/proc/%d/stat' % pid, 'rb') as handle:
            fields = handle.read(4096).rsplit(b')', 1)[1].split()
        return int(fields[1])
    except (IOError, OSError, IndexError, ValueError):
        return 0


def _launcher(argv):
    """What this command line is, when it is one of the ways a restart is started; never its secrets
    (only program names, the cron job name and playbook file names are kept)."""
    names = [os.path.basename(arg) for arg in argv[:3]]
    if 'twzrd-run' in names or 'twzrd_run.py' in names:
        job = argv[-1] if argv and not argv[-1].startswith('-') else '?'
        return 'the cron runner (twzrd-run %s)' % os.path.basename(job)
    if 'ansible-playbook' in names:
        books, skip = [], False
        for arg in argv[names.index('ansible-playbook') + 1:]:
            if skip or arg.startswith('-'):
                skip = arg in _PLAYBOOK_OPTIONS_WITH_VALUE
                continue
            if arg.endswith(('.yml', '.yaml')):
                books.append(os.path.basename(arg))
        return 'ansible-playbook %s' % (' '.join(books[:3]) or '(playbook unknown)')
    return None


def started_by(pid=None, ansible_task=False):
    """How this run was started: the cron runner, ansible-playbook, an Ansible task, or the parent command.

    ``ansible_task``: the controller passed its internal arguments (``_ansible_version``), so a run with no
    ansible-playbook among its ancestors came from a controller on another host.
    """
    pid = os.getpid() if pid is None else pid
    parent = _parent(pid)
    first = _cmdline(parent)
    current = parent
    for dummy in range(ANCESTORS):
        if current <= 1:
            break
        found = _launcher(_cmdline(current))
        if found:
            return found
        current = _parent(current)
    if ansible_task:
        return 'an Ansible task (controller on another host)'
    program = os.path.basename(first[0]) if first else '?'
    return 'parent process %d (%s)' % (parent, program)


def holder_details(started, ansible_task=False):
    """What this run writes into the lock for whoever finds it held."""
    try:
        user = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        user = 'uid %d' % os.geteuid()
    sudo_user = os.environ.get('SUDO_USER')
    if sudo_user and sudo_user != user:
        user = '%s (sudo from %s)' % (user, sudo_user)
    return {'pid': os.getpid(), 'started': iso_utc(started), 'user': user,
            'started_by': started_by(ansible_task=ansible_task)}

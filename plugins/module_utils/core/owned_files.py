# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading files whose paths another user controls.

The rule is docs/design.md, "What root believes, and what people are told".

PM2 tells root where each app logs, and the app user can point that path, or
a directory on it, anywhere: at a root-only file, a FIFO, ``/proc/kmsg``.  So:

* :func:`open_checked` walks the path one component at a time from ``/``
  with ``O_NOFOLLOW`` (a symlink is followed only when root made it), opens the
  file ``O_NONBLOCK`` and checks the fd, not the path: a regular file, owned by
  the expected user.  Anything else raises :class:`Refused` naming the path.
* :func:`read_tail` reads at most ``max_bytes``.
* :func:`in_child` runs the reading in a child process with the owner's rights
  (when we are root) under a time bound per file: a read that hangs (NFS, a
  device) is killed, never the job.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import json
import os
import pwd
import select
import signal
import stat
import time

FILE_TIMEOUT = 30  # seconds for one file (open, read, scan)
MAX_MESSAGES_BYTES = 64 * 1024 * 1024  # what a child may send back in all
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, 'O_PATH', 0)
_FILE_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC
_KINDS = ((stat.S_ISDIR, 'a directory'), (stat.S_ISFIFO, 'a FIFO'), (stat.S_ISCHR, 'a character device'),
          (stat.S_ISBLK, 'a block device'), (stat.S_ISSOCK, 'a socket'))


class Refused(Exception):
    """The path is not a file we read: a symlink someone else made, not a regular file, the wrong owner."""


def user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return 'uid %d' % uid


def _step(name, dir_fd, flags, path, walked):
    """Open ``name`` under ``dir_fd`` without following a symlink, unless root made the symlink."""
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        link = os.lstat(name, dir_fd=dir_fd)
        if not stat.S_ISLNK(link.st_mode):
            raise
        if link.st_uid != 0:  # a link root made is the admin's choice; any other user's is a redirection
            where = '' if walked == path else ' (its directory %s is)' % walked
            raise Refused('%s is a symbolic link%s made by user %s' % (path, where, user_name(link.st_uid)))
        return os.open(name, flags & ~os.O_NOFOLLOW, dir_fd=dir_fd)


def open_checked(path, owner_uid=None):
    """``(fd, fstat)`` of ``path`` for reading; the caller closes the fd.

    Raises :class:`Refused` for anything but a regular file (owned by
    ``owner_uid`` when given) reached without another user's symlink, and
    OSError when it cannot be opened at all.
    """
    if not isinstance(path, str) or not os.path.isabs(path) or '\x00' in path:
        raise Refused('%r is not an absolute path' % (path,))
    parts = [part for part in path.split('/') if part]
    if not parts:
        raise Refused('%s is not a file' % path)
    dir_fd = os.open('/', _DIR_FLAGS)
    walked = ''
    try:
        for part in parts[:-1]:
            walked += '/' + part
            next_fd = _step(part, dir_fd, _DIR_FLAGS, path, walked)
            os.close(dir_fd)
            dir_fd = next_fd
        fd = _step(parts[-1], dir_fd, _FILE_FLAGS, path, path)
    finally:
        os.close(dir_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = [name for test, name in _KINDS if test(info.st_mode)]
            raise Refused('%s is not a regular file (%s)' % (path, kind[0] if kind else 'special file'))
        if owner_uid is not None and info.st_uid != owner_uid:
            raise Refused('%s is owned by user %s, not by user %s' % (path, user_name(info.st_uid), user_name(owner_uid)))
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def read_tail(fd, size, max_bytes, start=None):
    """At most ``max_bytes`` from ``fd``: the end of the file (from the first whole line), or from ``start``."""
    if start is None:
        start = max(0, size - max_bytes)
        partial = start > 0
    else:
        start, partial = max(start, size - max_bytes, 0), False
    os.lseek(fd, start, os.SEEK_SET)
    chunks, left = [], max_bytes
    while left > 0:
        chunk = os.read(fd, min(left, 1024 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    data = b''.join(chunks)
    if partial:  # drop the cut first line
        data = data[data.find(b'\n') + 1:] if b'\n' in data else b''
    return data


def _drop_to(owner):
    """Become ``owner`` (uid, gid) for good: only in the child."""
    uid, gid = owner
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if os.geteuid() != uid:  # never go on reading with root's rights
        raise OSError(errno.EPERM, 'could not become uid %d' % uid)


def _child(write_fd, owner, work):
    """The child's whole life: drop rights, run ``work(emit)``, exit without running the parent's cleanup."""
    code = 0
    try:
        out = os.fdopen(write_fd, 'wb')

        def emit(message):
            out.write(json.dumps(message).encode('utf-8') + b'\n')
            out.flush()
        try:
            if owner is not None:
                _drop_to(owner)
            work(emit)
        except Exception as exc:  # pylint: disable=broad-except  # reported to the parent, never a traceback
            emit({'failed': '%s: %s' % (type(exc).__name__, exc)})
            code = 1
        out.close()
    finally:
        os._exit(code)  # pylint: disable=protected-access


def _reap(pid):
    """Kill the child and wait for it a little (a read stuck in the kernel may outlive SIGKILL for a while)."""
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
        except ChildProcessError:
            return
        time.sleep(0.02)


def _max_fd():
    try:
        return os.sysconf('SC_OPEN_MAX')
    except (ValueError, OSError):
        return 65536


def in_child(owner, work, timeout=FILE_TIMEOUT):
    """Run ``work(emit)`` in a child, as ``owner`` ((uid, gid), or None: as we are); returns ``(messages, timed_out)``.

    ``emit`` sends one JSON-able message to the parent.  The time bound is per
    message: a child that says nothing for ``timeout`` seconds is killed and
    ``timed_out`` is True (the last message says what it was doing).
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        # Keep nothing of the parent's open (the state file and its lock): a child stuck in the kernel outlives it.
        os.closerange(3, write_fd)
        os.closerange(write_fd + 1, _max_fd())
        _child(write_fd, owner, work)
    os.close(write_fd)
    messages, buffered, total, timed_out = [], b'', 0, False
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or total > MAX_MESSAGES_BYTES:
                timed_out = True
                break
            if not select.select([read_fd], [], [], left)[0]:
                continue
            chunk = os.read(read_fd, 1024 * 1024)
            if not chunk:
                break
            total += len(chunk)
            buffered += chunk
            *lines, buffered = buffered.split(b'\n')
            if lines:
                deadline = time.monotonic() + timeout
            messages.extend(json.loads(line.decode('utf-8')) for line in lines if line)
    finally:
        os.close(read_fd)
        if timed_out:
            _reap(pid)
        else:
            os.waitpid(pid, 0)
    return messages, timed_out


def owner_rights(uid, gid):
    """The ``owner`` for :func:`in_child`: drop to ``uid`` when we are root and it is someone else."""
    if os.geteuid() == 0 and uid != 0:
        return (uid, gid)
    return None

# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel counters and the kernel log, for the oom_kills check. Collectors: they report, never judge.

The kernel log is read only when the counter says something was killed, bounded in records, bytes
and time, and never blocks: /dev/kmsg opened non-blocking (it ends at EAGAIN), else ``dmesg`` with a
timeout. Neither is readable by every user (kernel.dmesg_restrict): then the victim is unknown.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import os
import re
import subprocess
import time

VMSTAT = '/proc/vmstat'
KMSG = '/dev/kmsg'
MAX_RECORDS = 20000
MAX_BYTES = 4 * 1024 * 1024
MAX_SECONDS = 2.0
# "Out of memory: Killed process 1234 (node) ..." and "Memory cgroup out of memory: Killed process ..."
_KILLED = re.compile(r'Killed process (\d+) \(([^)]*)\)')
# A process names itself (prctl PR_SET_NAME, any user): only plain characters reach a message.
_UNPLAIN = re.compile(r'[^A-Za-z0-9_.@:+/-]')


def vmstat_counter(name, path=None):
    """The counter ``name`` of /proc/vmstat, or None where the kernel has none (oom_kill: Linux 4.13+)."""
    with open(path or VMSTAT) as handle:
        for line in handle:
            parts = line.split()
            if len(parts) == 2 and parts[0] == name:
                return int(parts[1])
    return None


def read_kmsg(path=None, max_records=MAX_RECORDS, max_bytes=MAX_BYTES, max_seconds=MAX_SECONDS):
    """The records the kernel still holds, oldest first; ends at EAGAIN (no more), EOF or a bound.

    Raises OSError when the log cannot be opened (not root with kernel.dmesg_restrict=1).
    """
    fd = os.open(path or KMSG, os.O_RDONLY | os.O_NONBLOCK)
    lines = []
    size = 0
    deadline = time.time() + max_seconds
    try:
        while len(lines) < max_records and size < max_bytes and time.time() < deadline:
            try:
                chunk = os.read(fd, 8192)
            except OSError as exc:
                if exc.errno == errno.EPIPE:  # the record we were at was overwritten: go on with the next
                    continue
                if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                    break
                raise
            if not chunk:
                break
            size += len(chunk)
            lines.extend(chunk.decode('utf-8', 'replace').splitlines())
    finally:
        os.close(fd)
    return lines[:max_records]


def read_dmesg(timeout=5):
    """``dmesg`` as a fallback (util-linux); None when it cannot be run or read the log."""
    try:
        proc = subprocess.run(['dmesg'], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout[-MAX_BYTES:].decode('utf-8', 'replace').splitlines()


def oom_victims(lines):
    """``[{'pid', 'name'}]`` of the processes the OOM killer ended, in log order."""
    victims = []
    for line in lines:
        match = _KILLED.search(line)
        if match:
            victims.append({'pid': int(match.group(1)), 'name': _UNPLAIN.sub('?', match.group(2))[:32]})
    return victims


def recent_oom_victims(count):
    """The last ``count`` OOM victims of the kernel log, or None when the log cannot be read."""
    try:
        lines = read_kmsg()
    except OSError:
        lines = read_dmesg()
    if lines is None:
        return None
    return oom_victims(lines)[-count:]

# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collect host metrics with psutil. Collectors report numbers, never judge."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import time

try:
    import psutil
    HAS_PSUTIL = True
    PSUTIL_IMPORT_ERROR = None
except ImportError as exc:  # the install role ships psutil; a bare host may not have it
    psutil = None
    HAS_PSUTIL = False
    PSUTIL_IMPORT_ERROR = exc


def _pct(part, whole):
    return round(100.0 * part / whole, 1) if whole else 0.0


def collect_memory():
    vm = psutil.virtual_memory()
    swap = psutil.swap_memory()
    return {
        'memory': {
            'total_bytes': vm.total,
            'available_bytes': vm.available,
            'used_percent': _pct(vm.total - vm.available, vm.total),
        },
        'swap': {
            'present': swap.total > 0,
            'total_bytes': swap.total,
            'used_bytes': swap.used,
            'used_percent': _pct(swap.used, swap.total),
        },
    }


def collect_load():
    load1, load5, load15 = os.getloadavg()
    return {
        'load1': round(load1, 2),
        'load5': round(load5, 2),
        'load15': round(load15, 2),
        'cpu_count': psutil.cpu_count() or 1,
    }


def _per_path(paths, read):
    """``{path: read(path)}``; a path that cannot be read (missing, no permission) gets ``{'error': why}``:
    reported per path, never raised, so one bad path does not hide the others."""
    found = {}
    for path in paths:
        try:
            found[path] = read(path)
        except OSError as exc:
            found[path] = {'error': exc.strerror or str(exc)}
    return found


def _disk_usage(path):
    usage = psutil.disk_usage(path)
    return {
        'total_bytes': usage.total,
        'used_bytes': usage.used,
        'free_bytes': usage.free,
        # like df: share of the space non-root users can fill
        'used_percent': _pct(usage.used, usage.used + usage.free),
    }


def _inode_usage(path):
    stat = os.statvfs(path)
    used = stat.f_files - stat.f_ffree
    return {
        'total': stat.f_files,
        'free': stat.f_ffree,
        'used_percent': _pct(used, stat.f_files) if stat.f_files else None,
    }


def collect_disks(paths):
    """Space use per path, like ``df``."""
    return _per_path(paths, _disk_usage)


def collect_inodes(paths):
    """Inode use per path (os.statvfs, like ``df -i``). A file system with no inode count (f_files 0:
    btrfs, many FUSE ones) has no ``used_percent``."""
    return _per_path(paths, _inode_usage)


def collect_uptime(now=None):
    now = time.time() if now is None else now
    boot = psutil.boot_time()
    return {'boot_time': int(boot), 'uptime_seconds': int(now - boot)}

# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way twzrd.ops replaces a file: readers see the old file or the new one, never half.

The state file, the report files and pages, and the Prometheus textfile all
go through :func:`write_atomic`: a temp file in the same directory (so the
rename stays on one file system), created ``O_EXCL`` with mode 0600 and then
set to ``mode`` with ``fchmod`` (the job's umask decides nothing), written
whole, fsync'ed, renamed over ``path``, and the directory fsync'ed so the
rename itself survives a crash.  On any error the temp file is removed and
``path`` is left as it was.  The temp name starts with a dot and ends in
``.tmp``: node_exporter reads only ``*.prom`` and the report pruning matches
only its own names, so no reader ever takes a temp file for the real one.
A symlink at ``path`` is replaced, never followed.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import tempfile

TEMP_SUFFIX = '.tmp'


def write_atomic(path, data, mode=0o600):
    """Replace ``path`` with ``data`` (bytes, or text written as UTF-8) with ``mode``. Raises OSError."""
    if not isinstance(data, bytes):
        data = data.encode('utf-8')
    directory, name = os.path.split(os.path.abspath(path))
    fd, tmp_path = tempfile.mkstemp(prefix='.%s.' % name, suffix=TEMP_SUFFIX, dir=directory)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp_path, path)
    except BaseException:
        try:
            os.unlink(tmp_path)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


def _fsync_directory(directory):
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)

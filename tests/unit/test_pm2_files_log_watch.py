"""The Friday restart reads an app's new error lines as root: only the app user's own log, never what it points at.

Real files, a FIFO and symlinks made by user ``nobody`` (the app user); needs root.
"""
import os
import pathlib
import pwd
import shutil
import signal
import tempfile

import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.pm2.client import resolve_target
from ansible_collections.twzrd.ops.plugins.module_utils.pm2.rollout import Pm2Ops

NOBODY = pwd.getpwnam('nobody')
pytestmark = pytest.mark.skipif(os.getuid() != 0, reason='needs root to act as another user')


@pytest.fixture
def logs():
    """The app user's log directory, reachable by that user."""
    path = pathlib.Path(tempfile.mkdtemp(prefix='twzrd-log-watch-'))
    os.chmod(str(path), 0o755)
    yield path
    shutil.rmtree(str(path), ignore_errors=True)


@pytest.fixture
def ops(logs):
    return Pm2Ops(resolve_target(None, str(logs / 'pm2'), 'nobody'))


@pytest.fixture(autouse=True)
def never_hang():
    """A read that blocks fails the test instead of hanging it."""
    def timeout(_signum, _frame):
        raise AssertionError('reading the logs blocked')
    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def as_nobody(path):
    os.lchown(str(path), NOBODY.pw_uid, NOBODY.pw_gid)
    return str(path)


def test_the_app_users_own_new_lines_are_read(ops, logs):
    log = logs / 'web-error.log'
    log.write_text('Error: old\n')
    as_nobody(log)
    offsets = ops.mark_logs([str(log)])
    with open(str(log), 'a') as handle:
        handle.write('Error: new\n')
    assert ops.new_log_lines(offsets) == ['Error: new']
    assert ops.warnings == []


def test_a_symlink_to_a_root_only_file_is_not_read(ops, logs):
    secret = logs / 'root-only.log'
    secret.write_text('start\n')
    os.chmod(str(secret), 0o600)
    link = logs / 'web-error.log'
    os.symlink(str(secret), str(link))
    as_nobody(link)
    offsets = ops.mark_logs([str(link)])
    with open(str(secret), 'a') as handle:
        handle.write('Error: TOPSECRET\n')
    assert ops.new_log_lines(offsets) == []
    assert [w for w in ops.warnings if str(link) in w and 'symbolic link' in w and 'skipped' in w], ops.warnings


def test_a_fifo_does_not_block_the_restart(ops, logs):
    fifo = logs / 'web-error.log'
    os.mkfifo(str(fifo))
    as_nobody(fifo)
    offsets = ops.mark_logs([str(fifo)])
    assert ops.new_log_lines(offsets) == []
    assert [w for w in ops.warnings if str(fifo) in w and 'a FIFO' in w], ops.warnings

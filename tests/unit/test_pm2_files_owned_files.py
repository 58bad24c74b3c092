"""owned_files.py and logscan.scan_paths: files another user controls are opened safely, with bounds.

Real files, FIFOs, devices and symlinks; user ``nobody`` as the other user (these need root).
"""
import os
import pathlib
import pwd
import shutil
import tempfile
import time

import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.logs import collect as logscan
from ansible_collections.twzrd.ops.plugins.module_utils.core import owned_files
from ansible_collections.twzrd.ops.plugins.module_utils.pm2 import client as pm2

NOBODY = pwd.getpwnam('nobody')
MATCHER = logscan.compile_patterns(logscan.DEFAULT_ERROR_PATTERNS)
needs_root = pytest.mark.skipif(os.getuid() != 0, reason='needs root to act as another user')


def write(path, text='Error: boom\n', mode=0o644):
    path.write_text(text)
    os.chmod(str(path), mode)
    return str(path)


def refused(path, owner_uid=None):
    with pytest.raises(owned_files.Refused) as info:
        fd, _info = owned_files.open_checked(str(path), owner_uid)
        os.close(fd)
    return str(info.value)


def test_a_regular_file_of_the_owner_opens(tmp_path):
    fd, info = owned_files.open_checked(write(tmp_path / 'a.log'), os.getuid())
    try:
        assert owned_files.read_tail(fd, info.st_size, 1024) == b'Error: boom\n'
    finally:
        os.close(fd)


@pytest.mark.parametrize('make, reason', [
    (lambda p: os.mkfifo(str(p)), 'is not a regular file (a FIFO)'),
    (lambda p: p.mkdir(), 'is not a regular file (a directory)'),
])
def test_special_files_are_refused_without_blocking(tmp_path, make, reason):
    path = tmp_path / 'x.log'
    make(path)
    started = time.monotonic()
    assert refused(path) == '%s %s' % (path, reason)
    assert time.monotonic() - started < 1


def test_a_device_is_refused():
    assert 'not a regular file (a character device)' in refused('/dev/zero')


@needs_root
def test_another_users_symlink_is_refused_a_roots_is_followed(tmp_path):
    target = write(tmp_path / 'secret.log', mode=0o600)
    link = tmp_path / 'web-error.log'
    os.symlink(target, str(link))
    fd, _info = owned_files.open_checked(str(link))  # root made it: the admin's choice
    os.close(fd)
    os.lchown(str(link), NOBODY.pw_uid, NOBODY.pw_gid)
    assert refused(link) == '%s is a symbolic link made by user nobody' % link


@needs_root
def test_another_users_symlinked_directory_is_refused(tmp_path):
    (tmp_path / 'root').mkdir()
    write(tmp_path / 'root' / 'web-error.log')
    logs = tmp_path / 'logs'
    os.symlink(str(tmp_path / 'root'), str(logs))
    os.lchown(str(logs), NOBODY.pw_uid, NOBODY.pw_gid)
    assert refused(logs / 'web-error.log') == ('%s/web-error.log is a symbolic link (its directory %s is) made by '
                                               'user nobody' % (logs, logs))


def test_a_file_of_another_owner_is_refused(tmp_path):
    path = write(tmp_path / 'a.log')
    other = NOBODY.pw_uid if os.getuid() != NOBODY.pw_uid else 0
    assert 'is owned by user %s, not by user %s' % (owned_files.user_name(os.getuid()), owned_files.user_name(other)) \
        in refused(path, other)


@pytest.mark.parametrize('path', ['relative.log', '', '/', '/tmp/a\x00b'])
def test_odd_paths_are_refused(path):
    assert refused(path)


def test_read_tail_is_bounded_and_starts_at_a_whole_line(tmp_path):
    path = write(tmp_path / 'big.log', ''.join('line %04d\n' % i for i in range(1000)))
    fd, info = owned_files.open_checked(path)
    try:
        data = owned_files.read_tail(fd, info.st_size, 95)
        assert len(data) <= 95 and data.startswith(b'line ') and data.endswith(b'line 0999\n')
        assert owned_files.read_tail(fd, info.st_size, 10 ** 6, start=10) == open(path, 'rb').read()[10:]
        assert owned_files.read_tail(fd, info.st_size, 20, start=10) == b'line 0998\nline 0999\n'  # the newest
    finally:
        os.close(fd)


def test_a_child_that_hangs_is_killed_at_the_time_bound():
    def hang(emit):
        emit({'reading': 'slow'})
        time.sleep(60)
    started = time.monotonic()
    messages, timed_out = owned_files.in_child(None, hang, timeout=0.5)
    assert timed_out and messages == [{'reading': 'slow'}]
    assert time.monotonic() - started < 5


@needs_root
def test_the_child_has_the_owners_rights_only(shared_dir):
    tmp_path = shared_dir
    secret = write(tmp_path / 'root-only.log', mode=0o600)

    def work(emit):
        emit({'uid': os.getuid(), 'euid': os.geteuid(), 'groups': os.getgroups()})
        try:
            open(secret).close()
            emit({'read': True})
        except PermissionError:
            emit({'read': False})
    messages, timed_out = owned_files.in_child((NOBODY.pw_uid, NOBODY.pw_gid), work)
    assert not timed_out
    assert messages == [{'uid': NOBODY.pw_uid, 'euid': NOBODY.pw_uid, 'groups': []}, {'read': False}]


class SlowOn:
    """A matcher that takes forever on one line: stands for a read or scan that hangs."""

    def __init__(self, word):
        self.word = word

    def search(self, text):
        if self.word in text:
            time.sleep(60)
        return 'Error' in text


def test_scan_paths_bounds_each_file_and_still_reads_the_others(tmp_path):
    write(tmp_path / 'a.log', 'Error: one\n')
    write(tmp_path / 'b.log', 'Error: HANG\n')
    write(tmp_path / 'c.log', 'Error: three\n')
    started = time.monotonic()
    sources = logscan.scan_paths([str(tmp_path / '*.log')], SlowOn('HANG'), 0, time.time(), timeout=1)
    assert time.monotonic() - started < 10
    by_path = dict((os.path.basename(s['source']), s) for s in sources)
    assert sorted(by_path) == ['a.log', 'b.log', 'c.log']
    assert by_path['a.log']['errors'] == 1 and by_path['c.log']['errors'] == 1
    assert by_path['b.log']['skipped'] and 'took longer than 1 s' in by_path['b.log']['error']


@pytest.fixture
def shared_dir():
    """A directory the other user can reach (pytest's tmp dirs are private to root)."""
    path = tempfile.mkdtemp(prefix='twzrd-owned-files-')
    os.chmod(path, 0o755)
    yield pathlib.Path(path)
    shutil.rmtree(path, ignore_errors=True)


@needs_root
def test_scan_paths_as_the_owner_reports_what_it_may_not_read(shared_dir):
    tmp_path = shared_dir
    mine = write(tmp_path / 'web-error.log', 'Error: mine\n')
    os.chown(mine, NOBODY.pw_uid, NOBODY.pw_gid)
    root_only = write(tmp_path / 'web-error.log.1', 'Error: TOPSECRET\n', mode=0o600)
    os.mkfifo(str(tmp_path / 'web-error__2026-12-01.log'))
    os.chown(str(tmp_path / 'web-error__2026-12-01.log'), NOBODY.pw_uid, NOBODY.pw_gid)
    sources = logscan.scan_paths(logscan.pm2_log_patterns([mine]), MATCHER, 0, time.time(),
                                 owner=(NOBODY.pw_uid, NOBODY.pw_gid))
    by_path = dict((s['source'], s) for s in sources)
    assert by_path[mine]['errors'] == 1 and 'error' not in by_path[mine]
    assert by_path[root_only]['errors'] == 0 and by_path[root_only]['error'] == 'Permission denied'
    assert 'TOPSECRET' not in repr(sources)
    assert 'a FIFO' in by_path[str(tmp_path / 'web-error__2026-12-01.log')]['error']


@needs_root
def test_a_pid_of_another_user_than_the_homes_owner_is_no_daemon(tmp_path):
    home = tmp_path / 'pm2'
    home.mkdir()
    assert pm2.owner_mismatch(os.getpid(), str(home)) is None
    os.chown(str(home), NOBODY.pw_uid, NOBODY.pw_gid)
    assert pm2.owner_mismatch(os.getpid(), str(home)) == (os.getuid(), NOBODY.pw_uid)
    assert pm2.process_uid(os.getpid()) == os.getuid()
    assert pm2.process_uid(2 ** 22 + 7) is None


def test_the_child_keeps_none_of_the_parents_files(tmp_path):
    """The state file's lock must not live on in a child stuck in the kernel."""
    with open(write(tmp_path / 'held.log')) as held:
        def work(emit):
            found = []
            for fd in os.listdir('/proc/self/fd'):
                if int(fd) <= 2:
                    continue
                try:
                    found.append(os.readlink('/proc/self/fd/%s' % fd))
                except FileNotFoundError:  # the listing's own fd, closed by now
                    pass
            emit({'open': found})
        [message], timed_out = owned_files.in_child(None, work)
    assert not timed_out
    assert len(message['open']) == 1 and message['open'][0].startswith('pipe:'), message  # its own pipe only

"""core/atomic.py, the one atomic writer, against the real file system: mode, fsync, no partial file."""
import os
import subprocess
import sys

import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.core import atomic
from ansible_collections.twzrd.ops.plugins.module_utils.core.atomic import write_atomic

COLLECTIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           '.build', 'collections')


@pytest.mark.parametrize('mode', [0o600, 0o640, 0o644])
def test_mode_is_set_whatever_the_umask(tmp_path, mode):
    path = tmp_path / 'f'
    for umask in (0o077, 0o000):  # the job's umask decides nothing, neither stricter nor looser
        old = os.umask(umask)
        try:
            write_atomic(str(path), b'x', mode=mode)
        finally:
            os.umask(old)
        assert (os.stat(str(path)).st_mode & 0o7777) == mode


def test_replaces_whole_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / 'twzrd_x.prom'
    write_atomic(str(path), b'a 1\n')
    write_atomic(str(path), u'caf\u00e9 2\n')  # text is written as UTF-8
    assert path.read_bytes() == u'caf\u00e9 2\n'.encode('utf-8')
    assert os.listdir(str(tmp_path)) == ['twzrd_x.prom']


def test_large_data_is_written_whole(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 7)  # several write() calls
    write_atomic(str(tmp_path / 'big'), data)
    assert (tmp_path / 'big').read_bytes() == data


def test_file_and_directory_are_fsynced_before_and_after_the_rename(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        info = os.fstat(fd)
        calls.append(('fsync', 'dir' if os.path.isdir('/proc/self/fd/%d' % fd) else info.st_size))
        real_fsync(fd)

    def replace(src, dst):
        calls.append(('replace', os.path.basename(dst)))
        real_replace(src, dst)
    monkeypatch.setattr(atomic.os, 'fsync', fsync)
    monkeypatch.setattr(atomic.os, 'replace', replace)
    write_atomic(str(tmp_path / 'state.json'), b'{"a": 1}')
    # the data is on disk before the name points at it, and the new name is on disk before we return
    assert calls == [('fsync', 8), ('replace', 'state.json'), ('fsync', 'dir')]


def test_failed_rename_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / 'twzrd_x.prom'
    path.write_bytes(b'previous 1\n')

    def broken_replace(src, dst):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(atomic.os, 'replace', broken_replace)
    with pytest.raises(OSError):
        write_atomic(str(path), b'new 2\n' * 1000)
    assert path.read_bytes() == b'previous 1\n' and os.listdir(str(tmp_path)) == ['twzrd_x.prom']


def test_a_write_the_file_system_refuses_leaves_no_partial_file(tmp_path):
    """A real short write: RLIMIT_FSIZE makes the kernel refuse the write past 4 KiB (EFBIG)."""
    path = tmp_path / 'state.json'
    path.write_bytes(b'previous\n')
    script = (
        'import resource, signal, sys\n'
        'sys.path.insert(0, %r)\n'
        'from ansible_collections.twzrd.ops.plugins.module_utils.core.atomic import write_atomic\n'
        'signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n'
        'resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))\n'
        'try:\n'
        '    write_atomic(%r, b"n" * 100000)\n'
        'except OSError as exc:\n'
        '    print("refused", exc.errno)\n' % (COLLECTIONS, str(path)))
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=60, check=False)
    assert proc.stdout.startswith('refused'), (proc.stdout, proc.stderr)
    assert path.read_bytes() == b'previous\n' and os.listdir(str(tmp_path)) == ['state.json']


def test_a_missing_directory_raises_and_creates_nothing(tmp_path):
    with pytest.raises(OSError):
        write_atomic(str(tmp_path / 'gone' / 'f'), b'new')
    assert os.listdir(str(tmp_path)) == []


def test_a_symlink_at_the_path_is_replaced_not_followed(tmp_path):
    target = tmp_path / 'elsewhere'
    target.write_bytes(b'not yours')
    link = tmp_path / 'state.json'
    link.symlink_to(target)
    write_atomic(str(link), b'mine')
    assert not link.is_symlink() and link.read_bytes() == b'mine' and target.read_bytes() == b'not yours'


def test_temp_name_is_hidden_and_never_the_readers_suffix(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def replace(src, dst):
        seen.append(os.path.basename(src))
        real_replace(src, dst)
    monkeypatch.setattr(atomic.os, 'replace', replace)
    write_atomic(str(tmp_path / 'twzrd_alerts.prom'), b'a 1\n')
    assert seen[0].startswith('.twzrd_alerts.prom.') and seen[0].endswith('.tmp')

"""The hourly `inodes` check (issue 19 item 3): recorded statvfs results, then the real file system."""
import os
import shutil
import subprocess
import tempfile

import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.report import metrics_export
from ansible_collections.twzrd.ops.plugins.module_utils.host import collect as system
from ansible_collections.twzrd.ops.plugins.module_utils.checks import host, registry

PARAMS = {'inode_warning': 85.0, 'inode_critical': 95.0, 'disk_paths': ['/', '/srv', '/btrfs', '/gone']}


class Statvfs:
    def __init__(self, files, ffree):
        self.f_files = files
        self.f_ffree = ffree


RECORDED = {'/': Statvfs(655360, 65536), '/srv': Statvfs(1000, 30), '/btrfs': Statvfs(0, 0)}


def fake_statvfs(path):
    if path not in RECORDED:
        raise OSError(2, 'No such file or directory')
    return RECORDED[path]


def test_levels_messages_and_readings_from_recorded_statvfs(monkeypatch):
    monkeypatch.setattr(system.os, 'statvfs', fake_statvfs)
    metrics, states = registry.collect([host.INODES], PARAMS, None, 0)
    assert states == {}
    assert metrics['inodes']['/btrfs'] == {'total': 0, 'free': 0, 'used_percent': None}
    assert metrics['inodes']['/gone'] == {'error': 'No such file or directory'}
    alerts, readings = registry.evaluate([host.INODES], metrics, PARAMS)
    assert [(a['subject'], a['level'], a['value'], a['threshold']) for a in alerts] == [
        ('/', 'warning', 90.0, 85.0), ('/srv', 'critical', 97.0, 95.0)]
    assert alerts[0]['message'] == 'inodes on / 90.0% used (65536 of 655360 free), above the warning threshold of 85.0%'
    assert alerts[1]['remediation'].startswith('Find the directories with the most files: `du --inodes -x /srv ')
    assert alerts[1]['remediation'].endswith('(docs/runbooks.md#inodes-exhausted)')
    # no inode count, or no path (the disk check tells that one): no reading, no alert
    assert sorted(readings) == ['inodes:/', 'inodes:/srv']
    assert readings['inodes:/'] == {'value': 90.0, 'warning': 85.0, 'critical': 95.0}


def test_exported_per_path_as_a_ratio(monkeypatch):
    monkeypatch.setattr(system.os, 'statvfs', fake_statvfs)
    metrics, dummy = registry.collect([host.INODES], PARAMS, None, 0)
    families = metrics_export.build_families('alerts', None, {'metrics': metrics, 'alerts': []}, 'ok', 0.0, 1.0)
    [family] = [f for f in families if f[0] == 'twzrd_inode_used_ratio']
    assert sorted((dict(zip(family[3], values))['path'], value) for values, value in family[4]) == [
        ('/', 0.9), ('/srv', 0.97)]


def test_only_the_hourly_job_runs_it():
    assert host.INODES in registry.for_mode(host.CHECKS, 'alerts')
    assert host.INODES not in registry.for_mode(host.CHECKS, 'report')


def test_real_statvfs_agrees_with_df(tmp_path):
    """The collector on this machine's file system, against `df -i` (coreutils) on the same path."""
    df = shutil.which('df')
    if not df:
        pytest.skip('no df')
    out = subprocess.run([df, '--output=itotal,iused', str(tmp_path)], capture_output=True, text=True,
                         check=True).stdout.split('\n')[1].split()
    total, used = int(out[0]), int(out[1])
    got = system.collect_inodes([str(tmp_path)])[str(tmp_path)]
    assert got['total'] == total
    if total == 0:
        assert got['used_percent'] is None
    else:
        # other processes create and delete files meanwhile: a few inodes either way
        assert abs(got['total'] - got['free'] - used) < 1000
        assert got['used_percent'] == pytest.approx(100.0 * used / total, abs=0.2)


def test_real_tmpfs_counts_the_files_made():
    """On a tmpfs (/dev/shm), 200 new files are 200 more inodes in use."""
    shm = '/dev/shm'
    if not os.path.isdir(shm) or os.statvfs(shm).f_files == 0:
        pytest.skip('no tmpfs with an inode count at /dev/shm')
    directory = tempfile.mkdtemp(dir=shm)
    try:
        before = system.collect_inodes([directory])[directory]
        for index in range(200):
            open(os.path.join(directory, 'f%d' % index), 'w').close()
        after = system.collect_inodes([directory])[directory]
    finally:
        shutil.rmtree(directory)
    assert after['total'] == before['total']
    assert before['free'] - after['free'] >= 190  # another process may free a few meanwhile
    assert after['used_percent'] >= before['used_percent']

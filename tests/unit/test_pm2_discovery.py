"""Finding PM2 daemons from /proc: recorded /proc entries in a temporary tree (no process needed)."""
import os
import pwd

import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.pm2 import client as pm2
from ansible_collections.twzrd.ops.plugins.module_utils.pm2 import discovery as disc

ME = pwd.getpwuid(os.getuid())
NET_UNIX_HEADER = 'Num       RefCount Protocol Flags    Type St Inode Path\n'


def fake_process(proc, pid, cmdline, uid=None, nspid=None, environ=b'', ppid=1):
    base = proc / str(pid)
    base.mkdir(parents=True)
    (base / 'cmdline').write_bytes(cmdline)
    uid = ME.pw_uid if uid is None else uid
    (base / 'status').write_text('Name:\tnode\nPPid:\t%d\nUid:\t%d\t%d\t%d\t%d\nNSpid:\t%s\n'
                                 % (ppid, uid, uid, uid, uid, nspid or pid))
    (base / 'environ').write_bytes(environ)
    return base


def title(home, version='5.3.0'):
    return ('PM2 v%s: God Daemon (%s)' % (version, home)).encode() + b'\0'


def pm2_home(tmp_path, name, pid):
    home = tmp_path / name
    home.mkdir()
    (home / 'pm2.pid').write_text(str(pid))
    return str(home)


def net_unix(proc, *paths):
    (proc / 'net').mkdir(parents=True, exist_ok=True)
    lines = ['0000000000000000: 00000002 00000000 00010000 0001 01 %d %s\n' % (1000 + i, p)
             for i, p in enumerate(paths)]
    (proc / 'net' / 'unix').write_text(NET_UNIX_HEADER + ''.join(lines))


@pytest.mark.parametrize('cmdline, expected', [
    (b'PM2 v5.3.0: God Daemon (/home/app/.pm2)\0', ('/home/app/.pm2', True)),
    (b'PM2 v7.0.4: God Daemon (/tmp/very/long/pa', ('/tmp/very/long/pa', False)),  # cut short by node
    (b'PM2 v5.3.0: God Daemon (/srv/pm2)' + b'\0' * 40, ('/srv/pm2', True)),
    (b'node\0/usr/lib/node_modules/pm2/lib/Daemon.js\0', None),
    (b'PM2 v5.3.0: app (/home/app/app.js)\0', None),
    (b'vim\0notes about PM2 v5: God Daemon (x)\0', None),
])
def test_god_daemon_title(cmdline, expected):
    assert pm2.god_daemon_title(cmdline) == expected


def test_scan_finds_daemons_with_owner_and_skips_others_and_containers(tmp_path):
    proc = tmp_path / 'proc'
    fake_process(proc, 101, title('/home/app/.pm2'), uid=0)
    fake_process(proc, 202, b'node\0server.js\0')
    fake_process(proc, 303, title('/root/.pm2'), nspid='303 1')  # PM2 inside a container
    (proc / 'self').mkdir()
    found = disc.scan_god_daemons(str(proc))
    assert [(d.pid, d.uid, d.shown_home, d.whole) for d in found] == [(101, 0, '/home/app/.pm2', True)]


def test_a_daemon_child_caught_between_fork_and_exec_is_not_a_second_daemon(tmp_path):
    """PM2 starts (and restarts) an app with fork() then exec(): in between, the child shows the
    daemon's title. Seen on a crash-looping app under load: one run found "two root daemons" and
    renamed every app "root:PM2_HOME/app"."""
    proc = tmp_path / 'proc'
    fake_process(proc, 101, title('/home/app/.pm2'), uid=0)
    fake_process(proc, 102, title('/home/app/.pm2'), uid=0, ppid=101)  # forked, not yet exec'd
    fake_process(proc, 103, title('/home/app/.pm2'), uid=1000, ppid=101)  # ... and already setuid to the app's user
    fake_process(proc, 104, title('/srv/own/.pm2'), uid=1000, ppid=101)  # an app running a PM2 of its own: kept
    fake_process(proc, 105, title('/srv/own/.pm2'), uid=1000, ppid=104)  # whose forks are its own
    found = disc.scan_god_daemons(str(proc))
    assert [(d.pid, d.uid, d.shown_home) for d in found] == [(101, 0, '/home/app/.pm2'), (104, 1000, '/srv/own/.pm2')]


def test_home_of_a_whole_title_is_checked_against_its_pid_file(tmp_path):
    home = pm2_home(tmp_path, 'pm2', 41)
    daemon = disc.FoundDaemon(41, ME.pw_uid, home, True, None)
    assert disc.daemon_home(daemon, '/nonexistent', set()) == home
    reused = disc.FoundDaemon(42, ME.pw_uid, home, True, None)  # its pid file names another process
    assert disc.daemon_home(reused, '/nonexistent', set()) is None


def test_a_title_cut_short_is_completed_from_the_owner_home_or_the_sockets(tmp_path):
    long_home = pm2_home(tmp_path, 'a-very-long-directory-name-that-node-cuts', 51)
    cut = disc.FoundDaemon(51, ME.pw_uid, long_home[:30], False, None)
    assert disc.daemon_home(cut, '/nonexistent', {os.path.dirname(long_home), long_home}) == long_home
    owner_home = tmp_path / 'user'
    owner_home.mkdir()
    dot_pm2 = pm2_home(owner_home, '.pm2', 52)
    assert disc.daemon_home(disc.FoundDaemon(52, ME.pw_uid, dot_pm2[:20], False, None), str(owner_home), set()) \
        == dot_pm2
    assert disc.daemon_home(disc.FoundDaemon(53, ME.pw_uid, dot_pm2[:20], False, None), str(owner_home), set()) \
        is None


def test_socket_dirs_reads_only_pm2_sockets(tmp_path):
    proc = tmp_path / 'proc'
    net_unix(proc, '/home/app/.pm2/rpc.sock', '/home/app/.pm2/pub.sock', '/run/systemd/notify', '@abstract')
    assert disc.socket_dirs(str(proc / 'net' / 'unix')) == {'/home/app/.pm2'}
    assert disc.socket_dirs(str(tmp_path / 'missing')) == set()


def test_discover_targets_builds_targets_and_never_reads_the_environment(tmp_path):
    proc = tmp_path / 'proc'
    home = pm2_home(tmp_path, 'pm2', 61)
    base = fake_process(proc, 61, title(home), environ=b'PM2_HOME=/wrong\0DB_PASSWORD=x\0')
    os.chmod(str(base / 'environ'), 0)  # reading it would fail (as root, the test asserts no open below)
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    node = bin_dir / 'node'
    node.write_text('')
    os.symlink(str(node), str(base / 'exe'))
    beside = bin_dir / 'pm2'
    beside.write_text('#!/bin/sh\n')
    beside.chmod(0o755)
    net_unix(proc)
    opened = []
    real_read = disc._read

    def spy(path, mode='rb'):
        opened.append(path)
        return real_read(path, mode)
    disc._read = spy
    try:
        [target] = disc.discover_targets(proc_root=str(proc))
    finally:
        disc._read = real_read
    assert (target.pm2_home, target.user, target.uid, target.found_pid, target.problem) == \
        (home, ME.pw_name, ME.pw_uid, 61, None)
    assert target.pm2_bin == str(beside)  # pm2 beside the daemon's node (nvm installs) comes first
    assert not [p for p in opened if p.endswith('environ')]


def test_a_daemon_whose_home_cannot_be_told_is_reported_not_dropped(tmp_path):
    proc = tmp_path / 'proc'
    fake_process(proc, 71, b'PM2 v5.3.0: God Daemon (/nowhere/cut-sho')
    net_unix(proc)
    [target] = disc.discover_targets(pm2_bin=None, proc_root=str(proc))
    assert target.found_pid == 71 and 'its PM2_HOME (/nowhere/cut-sho...) cannot be read' in target.problem
    assert 'set pm2_user and pm2_home' in target.problem


def test_single_target_asks_a_person_when_several_daemons_run(monkeypatch):
    configured = pm2.Pm2Target(None, '/root/.pm2', 'root', 0, 0, '/root')
    found = [pm2.Pm2Target('/usr/bin/pm2', '/home/a/.pm2', 'a', 1, 1, '/home/a', found_pid=5),
             pm2.Pm2Target('/usr/bin/pm2', '/home/b/.pm2', 'b', 2, 2, '/home/b', found_pid=6)]
    monkeypatch.delenv('PM2_HOME', raising=False)
    monkeypatch.setattr(disc, 'discover_targets', lambda pm2_bin=None: list(found))
    with pytest.raises(pm2.Pm2Error, match='2 PM2 daemons run on this host .*set pm2_user or pm2_home'):
        disc.single_target(configured)
    assert disc.single_target(configured, pm2_user='root') is configured  # told: no discovery
    monkeypatch.setattr(disc, 'discover_targets', lambda pm2_bin=None: found[:1])
    assert disc.single_target(configured) is found[0]
    monkeypatch.setattr(disc, 'discover_targets', lambda pm2_bin=None: [])
    assert disc.single_target(configured) is configured

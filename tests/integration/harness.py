"""Shared integration helpers: run a module the way cron runs it, and a private PM2.

Every PM2 here gets its own PM2_HOME under the test's tmp dir and is killed
at teardown, so no test touches a real ~/.pm2 and no daemon outlives a test.
"""
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, '.build', 'collections')
APPS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'apps')


def default_pm2_bin():
    return os.environ.get('TWZRD_PM2') or os.path.join(ROOT, 'tests', 'node', 'node_modules', '.bin', 'pm2')


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def stop_process(proc, timeout=10):
    """End a server a test started (``proc``, a Popen; None or already ended: nothing to do): SIGTERM, then
    SIGKILL when it has not exited within ``timeout`` seconds."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


def run_module(name, args, tmp_path, env=None, timeout=120):
    """Execute plugins/modules/<name>.py directly with an args file (the cron code
    path: docs/design.md, "One code path for cron and playbooks"). Returns (returncode, parsed JSON or None, stdout, stderr).

    Without a ``state_file`` in ``args`` the run keeps its state in ``tmp_path``: the modules' default,
    /var/lib/twzrd/state.json, is this machine's, and a test's alerts left there would show in ``make run``."""
    if isinstance(args, dict) and 'state_file' not in args:
        args = dict(args, state_file=str(tmp_path / 'state.json'))
    args_file = tmp_path / ('%s-args-%d.json' % (name, time.monotonic_ns()))
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
    run_env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'PYTHONPATH': COLLECTIONS, 'LANG': 'C.UTF-8'}
    run_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, '-m', 'ansible_collections.twzrd.ops.plugins.modules.%s' % name, str(args_file)],
        capture_output=True, text=True, env=run_env, timeout=timeout, cwd=str(tmp_path), check=False,
    )
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        result = None
    return proc.returncode, result, proc.stdout, proc.stderr


def disk_alerts_args(tmp_path, warning, critical, **extra):
    """twzrd_health alerts-mode arguments for a test about the disk check: its thresholds as given, load far
    out of reach, no PM2 (an empty PM2_HOME), state and log in ``tmp_path``; ``extra`` adds or overrides."""
    (tmp_path / 'pm2home').mkdir(exist_ok=True)
    args = {'mode': 'alerts', 'disk_paths': ['/'], 'disk_warning': warning, 'disk_critical': critical,
            'load_warning': 1000, 'load_critical': 2000, 'pm2_home': str(tmp_path / 'pm2home'),
            'state_file': str(tmp_path / 'state.json'), 'log_file': str(tmp_path / 'alerts.log')}
    args.update(extra)
    return args


class Pm2:
    """A private PM2 daemon for one test."""

    as_owner = ()  # the command prefix that runs pm2 as the daemon's user (none: as us)

    def __init__(self, pm2_bin, home):
        self.bin = pm2_bin
        self.home = str(home)
        self.started = False

    def env(self, extra=None):
        env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'HOME': os.environ.get('HOME', '/root'),
               'PM2_HOME': self.home, 'LANG': 'C.UTF-8'}
        env.update(extra or {})
        return env

    def cmd(self, *args, env=None, check=True, timeout=60):
        self.started = True
        proc = subprocess.run(list(self.as_owner) + [self.bin] + list(args), capture_output=True, text=True,
                              env=self.env(env), timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError('pm2 %s failed: %s %s' % (' '.join(args), proc.stdout, proc.stderr))
        return proc

    def start(self, app, name, env=None, extra_args=()):
        script = app if os.path.isabs(app) else os.path.join(APPS, app)
        return self.cmd('start', script, '--name', name, *extra_args, env=env)

    def jlist(self):
        out = self.cmd('jlist').stdout
        return json.loads(out[out.index('['):])

    def wait_for(self, predicate, timeout=30, interval=0.25):
        """Poll jlist until predicate(list) is true; returns that list."""
        deadline = time.monotonic() + timeout
        while True:
            procs = self.jlist()
            if predicate(procs):
                return procs
            if time.monotonic() > deadline:
                raise AssertionError('PM2 never reached the expected state: %s' % [
                    (p['name'], p['pm2_env']['status'], p['pm2_env']['restart_time']) for p in procs])
            time.sleep(interval)

    def daemon_pid(self):
        try:
            with open(os.path.join(self.home, 'pm2.pid')) as handle:
                return int(handle.read().strip())
        except (OSError, ValueError):
            return None

    def wait_gone(self, pid, timeout=15):
        """``pm2 kill`` can return while the daemon is still exiting: wait, so no test sees it."""
        deadline = time.monotonic() + timeout
        while pid and time.monotonic() < deadline:
            try:
                with open('/proc/%d/cmdline' % pid, 'rb') as handle:
                    if b'God Daemon' not in handle.read():
                        return  # exited (a zombie has no command line), or the pid was reused
            except OSError:
                return
            time.sleep(0.05)

    def kill(self):
        if self.started:
            pid = self.daemon_pid()
            self.cmd('kill', check=False)
            self.wait_gone(pid)


class OtherUserPm2(Pm2):
    """A private PM2 run as another user (``nobody``), the way an app user runs it; needs root.

    pytest's tmp dirs are private to root, so it gets a home of its own that
    the user can reach; :meth:`close` kills the daemon and removes the home.
    """

    def __init__(self, pm2_bin, user='nobody'):
        entry = pwd.getpwnam(user)
        self.as_owner = ('runuser', '-u', user, '--')
        self.user_home = tempfile.mkdtemp(prefix='twzrd-pm2-%s-' % user)
        os.chmod(self.user_home, 0o755)
        os.chown(self.user_home, entry.pw_uid, entry.pw_gid)
        super().__init__(pm2_bin, os.path.join(self.user_home, 'pm2'))

    def env(self, extra=None):
        return super().env(dict({'HOME': self.user_home}, **(extra or {})))

    def close(self):
        self.kill()
        shutil.rmtree(self.user_home, ignore_errors=True)

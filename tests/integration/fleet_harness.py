"""A small fleet for end-to-end tests: simulated hosts, Debian's real Prometheus and Alertmanager.

- :class:`FleetHost`: one host's textfile directory, state file and ``prometheus-node-exporter``
  (tests/integration/node_exporter.py); :meth:`FleetHost.run_alerts` runs ``twzrd_health
  mode=alerts`` the cron way, so the textfile is the module's own. Two knobs simulate what a test
  cannot wait for: ``disk_fill`` runs the module in a private mount namespace where its disk path
  is a 4 MiB tmpfs filled to that share (a real file system, seen only by that run), and
  ``clock_offset`` runs it with its clock that many seconds in the past (a run made hours ago).
- :class:`Prometheus` (``/usr/bin/prometheus``) and :class:`Alertmanager`
  (``/usr/bin/prometheus-alertmanager``, with ``amtool``): started on free 127.0.0.1 ports with
  their own directories, no clustering, stopped by pid.
- :func:`alertmanager_test_config`: the shipped extras/alertmanager/alertmanager.yml with only
  its timings and receiver endpoints changed.

Everything runs under pytest-xdist: free ports, private temp dirs, nothing system-wide.
"""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

from harness import COLLECTIONS, ROOT, free_port, stop_process
from node_exporter import NodeExporter

PROMETHEUS = '/usr/bin/prometheus'
ALERTMANAGER = '/usr/bin/prometheus-alertmanager'
AMTOOL = '/usr/bin/amtool'
RULES = os.path.join(ROOT, 'extras', 'prometheus', 'twzrd.rules.yml')
ALERTMANAGER_CONFIG = os.path.join(ROOT, 'extras', 'alertmanager', 'alertmanager.yml')
TMPFS_KIB = 4096
# The module run with its clock shifted: time.time() is what every timestamp of a run comes from.
_SHIFTED_RUN = (
    'import runpy, sys, time\n'
    'offset = float(sys.argv[1]); real = time.time\n'
    'time.time = lambda: real() - offset\n'
    'sys.argv = [sys.argv[2], sys.argv[3]]\n'
    "runpy.run_module('ansible_collections.twzrd.ops.plugins.modules.' + sys.argv[0], run_name='__main__',"
    ' alter_sys=True)\n')


def require(*binaries):
    """A clear failure naming the Debian package when a server is not installed."""
    packages = {PROMETHEUS: 'prometheus', ALERTMANAGER: 'prometheus-alertmanager', AMTOOL: 'prometheus-alertmanager'}
    for binary in binaries:
        if not os.access(binary, os.X_OK):
            raise RuntimeError('%s not installed: apt-get install %s (scripts/install-system-deps.sh)'
                               % (binary, packages.get(binary, binary)))


def wait_until(predicate, timeout, what, interval=0.2):
    """Poll ``predicate()`` until it returns something true (returned); AssertionError naming ``what``
    and the last value after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError('%s: not seen within %ss (last: %r)' % (what, timeout, value))
        time.sleep(interval)


def http_json(url, data=None, timeout=5):
    body = None if data is None else json.dumps(data).encode('utf-8')
    request = urllib.request.Request(url, data=body, headers={'Content-Type': 'application/json'} if body else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read().decode('utf-8'))


class Server:
    """A server process on a free 127.0.0.1 port, ready when ``ready_path`` answers 200."""

    binary = None
    ready_path = '/-/ready'

    def __init__(self, workdir):
        self.workdir = str(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.port = None
        self.proc = None
        self.log_path = os.path.join(self.workdir, os.path.basename(self.binary) + '.log')

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self.port

    def command(self):
        raise NotImplementedError

    def start(self, timeout=30, attempts=3):
        """Start on a free port; another free port when the one picked was taken meanwhile (xdist)."""
        require(self.binary)
        for dummy in range(attempts):
            self.port = free_port()
            with open(self.log_path, 'ab') as log:
                self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
            deadline = time.monotonic() + timeout
            while self.proc.poll() is None and time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(self.url + self.ready_path, timeout=2) as response:
                        if response.status == 200:
                            return self
                except (OSError, urllib.error.URLError):
                    pass
                time.sleep(0.1)
            self.stop()
            if 'address already in use' not in self.log().lower():
                break
        raise RuntimeError('%s did not come up: %s' % (self.binary, self.log()[-2000:]))

    def log(self):
        try:
            with open(self.log_path, errors='replace') as handle:
                return handle.read()
        except OSError:
            return ''

    def stop(self):
        stop_process(self.proc)


class Alertmanager(Server):
    """prometheus-alertmanager with ``config`` (a dict), its own storage, clustering off."""

    binary = ALERTMANAGER

    def __init__(self, workdir, config):
        super().__init__(workdir)
        self.config_path = os.path.join(self.workdir, 'alertmanager.yml')
        with open(self.config_path, 'w') as handle:
            yaml.safe_dump(config, handle, sort_keys=False)

    def command(self):
        return [self.binary, '--config.file=%s' % self.config_path,
                '--storage.path=%s' % os.path.join(self.workdir, 'data'),
                '--web.listen-address=127.0.0.1:%d' % self.port,
                '--cluster.listen-address=',  # no gossip port (0.0.0.0:9094 by default), no peers
                '--log.level=debug']

    def amtool(self, *args, check=True):
        """``amtool --alertmanager.url=... ARGS``; returns stdout."""
        require(AMTOOL)
        proc = subprocess.run([AMTOOL, '--alertmanager.url=%s' % self.url] + list(args), capture_output=True,
                              text=True, timeout=30, check=False, env={'PATH': '/usr/bin:/bin', 'HOME': self.workdir})
        if check and proc.returncode != 0:
            raise AssertionError('amtool %s: %s %s' % (' '.join(args), proc.stdout, proc.stderr))
        return proc.stdout

    def alerts(self, **filters):
        """Alerts as Alertmanager holds them (API v2): each has labels and status.state/silencedBy/inhibitedBy."""
        query = urllib.parse.urlencode(dict(filters, active='true', silenced='true', inhibited='true',
                                            unprocessed='true'))
        return http_json(self.url + '/api/v2/alerts?' + query)


class Prometheus(Server):
    """prometheus scraping ``targets`` ({instance name: 'host:port'}) as job ``node`` every ``interval``,
    evaluating ``rule_files`` every second and sending to ``alertmanager`` (an :class:`Alertmanager`)."""

    binary = PROMETHEUS

    def __init__(self, workdir, targets, rule_files=(RULES,), alertmanager=None, interval='1s', scrape_configs=None):
        super().__init__(workdir)
        config = {
            'global': {'scrape_interval': interval, 'scrape_timeout': interval, 'evaluation_interval': interval},
            'rule_files': list(rule_files),
            # instance = the host's name, as file_sd or relabelling gives it in a real fleet;
            # ``scrape_configs`` replaces this (a file_sd_configs job, for one)
            'scrape_configs': scrape_configs or [{'job_name': 'node', 'static_configs': [
                {'targets': [address], 'labels': {'instance': name}} for name, address in sorted(targets.items())]}],
        }
        if alertmanager is not None:
            config['alerting'] = {'alertmanagers': [{'static_configs': [
                {'targets': ['127.0.0.1:%d' % alertmanager.port]}]}]}
        self.config_path = os.path.join(self.workdir, 'prometheus.yml')
        with open(self.config_path, 'w') as handle:
            yaml.safe_dump(config, handle, sort_keys=False)

    def command(self):
        return [self.binary, '--config.file=%s' % self.config_path,
                '--storage.tsdb.path=%s' % os.path.join(self.workdir, 'data'),
                '--web.listen-address=127.0.0.1:%d' % self.port,
                # resend firing alerts every few seconds (1 min by default), as Alertmanager expects
                '--rules.alert.resend-delay=2s']

    def query(self, expr):
        """The instant vector of ``expr``: [{'metric': {...}, 'value': [t, 'v']}]."""
        answer = http_json(self.url + '/api/v1/query?' + urllib.parse.urlencode({'query': expr}))
        assert answer['status'] == 'success', answer
        return answer['data']['result']

    def alerts(self):
        return http_json(self.url + '/api/v1/alerts')['data']['alerts']

    def targets_up(self):
        """{instance: health} of the scrape targets."""
        active = http_json(self.url + '/api/v1/targets')['data']['activeTargets']
        return dict((t['labels'].get('instance'), t['health']) for t in active)


class FleetHost:
    """One simulated host: its node_exporter serves the textfiles its modules write."""

    def __init__(self, name, root):
        self.name = name
        self.dir = os.path.join(str(root), name)
        self.textfile_dir = os.path.join(self.dir, 'textfile')
        os.makedirs(self.textfile_dir)
        self.state_file = os.path.join(self.dir, 'state.json')
        self.exporter = NodeExporter(self.textfile_dir)
        self.runs = 0

    @property
    def address(self):
        return '127.0.0.1:%d' % self.exporter.port

    def start(self):
        self.exporter.start()
        return self

    def stop(self):
        self.exporter.stop()

    def alerts_command(self, args, disk_path=None, disk_fill=None, clock_offset=0):
        """The command of one ``twzrd_health mode=alerts`` run (see :meth:`run_alerts`); its args file is written."""
        self.runs += 1
        args = dict(args, mode='alerts', state_file=self.state_file, textfile_dir=self.textfile_dir)
        args_file = os.path.join(self.dir, 'alerts-args-%d.json' % self.runs)
        with open(args_file, 'w') as handle:
            json.dump({'ANSIBLE_MODULE_ARGS': args}, handle)
        command = [sys.executable, '-c', _SHIFTED_RUN, str(clock_offset), 'twzrd_health', args_file]
        if disk_fill is not None:
            # A private mount namespace: the tmpfs exists for this run only, seen by nobody else.
            fill_kib = int(TMPFS_KIB * disk_fill)
            command = ['unshare', '--mount', '--propagation', 'private', 'sh', '-ec',
                       'mount -t tmpfs -o size=%dk twzrd-fleet-test "$1"; fallocate -l %dk "$1/fill"; shift; exec "$@"'
                       % (TMPFS_KIB, fill_kib), 'sh', disk_path] + command
        return command

    def run_alerts(self, args, disk_path=None, disk_fill=None, clock_offset=0):
        """Start ``twzrd_health mode=alerts`` with ``args`` (a Popen; :func:`finish` waits for it).

        ``disk_fill`` (0-1): ``disk_path`` is a 4 MiB tmpfs this full for the run.
        ``clock_offset``: the run happens that many seconds ago (its start, last success, state).
        """
        env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'PYTHONPATH': COLLECTIONS, 'LANG': 'C.UTF-8'}
        return subprocess.Popen(self.alerts_command(args, disk_path, disk_fill, clock_offset), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env, cwd=self.dir)


def finish(*procs, timeout=120):
    """Wait for module runs started by :meth:`FleetHost.run_alerts`; their parsed results."""
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        try:
            result = json.loads(out)
        except ValueError:
            raise AssertionError('the module printed no JSON (rc %s): %s %s' % (proc.returncode, out, err))
        results.append(result)
    return results


def alertmanager_test_config(webhook_url, smtp_port, secrets_dir, smtp_user=None, group_wait='3s',
                             group_interval='1s', shipped=ALERTMANAGER_CONFIG):
    """The shipped configuration with short timings and the test's receivers: every webhook URL, the SMTP
    server (127.0.0.1 without TLS, ``smtp_user``) and the secret files' paths. Routes, grouping, repeat
    interval, inhibit rules and send_resolved stay as shipped."""
    with open(shipped) as handle:
        config = yaml.safe_load(handle)
    config['route'].update(group_wait=group_wait, group_interval=group_interval)
    smtp = config['global']
    smtp.update(smtp_smarthost='127.0.0.1:%d' % smtp_port, smtp_require_tls=False,
                smtp_auth_password_file=os.path.join(str(secrets_dir), 'smtp_password'))
    if smtp_user:
        smtp['smtp_auth_username'] = smtp_user
    for receiver in config['receivers']:
        for webhook in receiver.get('webhook_configs') or []:
            webhook['url'] = webhook_url
            webhook['http_config']['authorization']['credentials_file'] = os.path.join(str(secrets_dir),
                                                                                       'webhook_token')
    return config

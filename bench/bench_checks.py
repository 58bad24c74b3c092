"""The check registry and its new hourly checks (issue 19): what a quiet hourly run costs now.

A quiet hourly alerts run of this collection (swap, memory, oom_kills, load, disk, inodes, PM2 crashes
through the registry, at their default thresholds; nothing crosses them here) against the same run
of the collection before the registry (git ref ``TWZRD_BENCH_BASELINE``, default the main commit this
work started from), alternating, ``TWZRD_BENCH_RUNS`` (45) runs each, medians (with 15 one invocation
landed anywhere between 0.89 and 1.14 on an idle VM, bench/README.md). Both sides are unpacked the
same way (``git archive`` of ``plugins``; the candidate is ``TWZRD_BENCH_CANDIDATE``, default HEAD): an
unpacked copy runs ~10 % slower than the repository's own tree, so comparing against that would flatter
the candidate. Each side keeps its own state file, as the hourly job does (after one unmeasured run, the
oom_kill baseline is read and kept like every hour after the first).
Target: at most 10 % more wall time. The new checks have no switch: the baseline is the old code.

The candidate also runs the two network checks, as configured on a host: one ``http_checks`` endpoint
answering 200 on 127.0.0.1 (a real HTTP server in this process) and ``postgres_ping`` against a throwaway
PostgreSQL 15 cluster (tests/integration/pg_harness.py); ``TWZRD_BENCH_PROBES=0`` leaves them out.
"""
import os
import sys
import tempfile

import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.common import ROOT, compare, write_module_args

sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))
from pg_harness import PgCluster  # noqa: E402  pylint: disable=wrong-import-position

BASELINE = os.environ.get('TWZRD_BENCH_BASELINE', '676f3b3cb622d3c993252603ca5a89ceda6e6cd8')
CANDIDATE = os.environ.get('TWZRD_BENCH_CANDIDATE', 'HEAD')
RUNS = int(os.environ.get('TWZRD_BENCH_RUNS', '45'))
PROBES = os.environ.get('TWZRD_BENCH_PROBES', '1') != '0'
MODULE = 'ansible_collections.twzrd.ops.plugins.modules.twzrd_health'
TARGET = 1.10


def unpacked(ref, work, name):
    """The collection's plugins at git ``ref`` under ``work/name``; returns the path for PYTHONPATH."""
    dest = os.path.join(work, name, 'ansible_collections', 'twzrd', 'ops')
    os.makedirs(dest)
    archive = subprocess.run(['git', 'archive', ref, 'plugins', 'galaxy.yml'], cwd=ROOT, capture_output=True,
                             check=True).stdout
    subprocess.run(['tar', '-x', '-C', dest], input=archive, check=True)
    return os.path.join(work, name)


def module_cmd(collections, path):
    return ['env', 'PYTHONPATH=%s' % collections, sys.executable, '-m', MODULE, path]


def quiet_args(work, name, **extra):
    os.makedirs(os.path.join(work, 'pm2'), exist_ok=True)
    return write_module_args(os.path.join(work, name + '.json'), dict({
        'mode': 'alerts', 'state_file': os.path.join(work, name + '-state.json'),
        'log_file': os.path.join(work, name + '.log'), 'pm2_home': os.path.join(work, 'pm2'),
        'disk_paths': ['/'], 'disk_warning': 99, 'disk_critical': 99.5, 'load_warning': 1000, 'load_critical': 2000},
        **extra))


class Healthy(BaseHTTPRequestHandler):
    def do_GET(self):  # pylint: disable=invalid-name
        self.send_response(200)
        self.send_header('Content-Length', '2')
        self.end_headers()
        self.wfile.write(b'ok')

    def log_message(self, *args):
        pass


def main():
    server = cluster = None
    probes = {}
    if PROBES:
        server = ThreadingHTTPServer(('127.0.0.1', 0), Healthy)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        cluster = PgCluster()
        cluster.start()
        probes = {'http_checks': {'app': 'http://127.0.0.1:%d/health' % server.server_address[1]},
                  'postgres_ping': {'login_unix_socket': cluster.socket_dir, 'login_port': cluster.port}}
    try:
        return measure(probes)
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        if cluster is not None:
            cluster.cleanup()


def measure(probes):
    with tempfile.TemporaryDirectory(prefix='twzrd-bench-checks-') as work:
        base, candidate = unpacked(BASELINE, work, 'before'), unpacked(CANDIDATE, work, 'now')
        before, now = quiet_args(work, 'before'), quiet_args(work, 'now', **probes)
        out = subprocess.run(module_cmd(candidate, now), capture_output=True, text=True, check=False).stdout
        if probes and ('"http"' not in out or '"accepting"' not in out or '"up": 1' not in out):
            raise SystemExit('the candidate did not probe as configured: %s' % out[:2000])
        # Bytecode is written (and read) as on a host, where the job's collection has its __pycache__:
        # with PYTHONDONTWRITEBYTECODE every run would compile both sides from source.
        env = dict((k, v) for k, v in os.environ.items() if k != 'PYTHONDONTWRITEBYTECODE')
        # one unmeasured run each: bytecode written, the state file and the oom_kill baseline exist
        compare('before', module_cmd(base, before), 'now', module_cmd(candidate, now), runs=1, env=env, cwd=ROOT)
        medians = compare('before', module_cmd(base, before), 'now', module_cmd(candidate, now), runs=RUNS, env=env,
                          cwd=ROOT)
    (b_wall, b_cpu), (n_wall, n_cpu) = medians['before'], medians['now']
    ratio = n_wall / b_wall
    print('quiet hourly alerts run, median of %d alternating runs (wall / CPU seconds):' % RUNS)
    print('  before the registry (%s)            : %.3f s / %.3f s' % (BASELINE[:7], b_wall, b_cpu))
    print('  registry + inodes, memory, oom_kills%s (%s): %.3f s / %.3f s'
          % (' + http, postgres' if probes else '', CANDIDATE[:7], n_wall, n_cpu))
    print('  ratio now / before                    : %.3f wall, %.3f CPU (target <= %.2f wall: %s)'
          % (ratio, n_cpu / b_cpu, TARGET, 'met' if ratio <= TARGET else 'MISSED'))
    return 0 if ratio <= TARGET else 1


if __name__ == '__main__':
    sys.exit(main())

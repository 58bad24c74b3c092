"""Requests failed while pm2_restart reloads a 2-instance cluster app, under a steady request loop.

`python -m bench.bench_restart` (or `python -m bench restart`). A private PM2
(own PM2_HOME, killed at the end) runs the test app from tests/integration/apps
on 127.0.0.1; a bounded request loop (count and time) hits it while the module
runs, one new connection per request. Scenarios, alternated run by run so
machine load hits all alike:

  steady       no restart at all: the baseline for throughput and latency
  reload       pm2_restart (strategy auto = reload), app drains 500 ms after server.close
  reload-naive the same, app exits as soon as server.close calls back (DRAIN_MS=0)
  restart      pm2_restart strategy=restart: stop and start, not zero-downtime

Each of the two apps runs alone under its own PM2 daemon, as in the integration
test: with a second cluster app on the same daemon the naive app lost requests
much more rarely (0 of 27 reloads, against 5 of 10 alone).

Target: 0 failed requests for `reload` (exit status 1 otherwise).
Env: TWZRD_BENCH_RUNS (default 5), TWZRD_PM2 (pm2 binary).
"""
import os
import pathlib
import socket
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))

from harness import Pm2, default_pm2_bin, free_port, run_module  # noqa: E402
from bench.common import ensure_collection_link  # noqa: E402
from request_loop import RequestLoop  # noqa: E402

RUNS = int(os.environ.get('TWZRD_BENCH_RUNS', '5'))
REQUEST_TIMEOUT = 5.0  # a connection stuck this long counts as failed
STEADY_SECONDS = 4.0
SCENARIOS = ('steady', 'reload', 'reload-naive', 'restart')


def wait_online(pm2, name, port, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs = [p for p in pm2.jlist() if p['name'] == name]
        if procs and all(p['pm2_env']['status'] == 'online' for p in procs):
            try:
                with socket.create_connection(('127.0.0.1', port), timeout=1):
                    return
            except OSError:
                pass
        time.sleep(0.2)
    raise RuntimeError('%s did not come online' % name)


def one_run(daemons, work, scenario, apps):
    key = 'reload-naive' if scenario == 'reload-naive' else 'reload'
    name, port = apps[key]
    pm2 = daemons[key]
    loop = RequestLoop('http://127.0.0.1:%d/' % port, max_requests=100000, max_seconds=30,
                       timeout=REQUEST_TIMEOUT)
    loop.start()
    if scenario == 'steady':
        time.sleep(STEADY_SECONDS)
    else:
        args = {'pm2_bin': pm2.bin, 'pm2_home': pm2.home, 'state_file': str(work / 'state.json'),
                'apps': [name], 'strategy': 'restart' if scenario == 'restart' else 'auto',
                'stable_seconds': 1, 'settle_seconds': 0.5,
                'health_checks': {name: {'url': 'http://127.0.0.1:%d/health' % port, 'retries': 5, 'backoff': 0.2}}}
        rc, result, out, err = run_module('pm2_restart', args, work)
        if rc != 0:
            loop.stop()
            raise RuntimeError('pm2_restart failed in %s: %s %s' % (scenario, out[-800:], err[-800:]))
    loop.stop()
    wait_online(pm2, name, port)
    return loop.summary()


def aggregate(samples):
    return {
        'runs': len(samples),
        'requests': sum(s['requests'] for s in samples),
        'failed': sum(s['failed'] for s in samples),
        'runs_with_failures': sum(1 for s in samples if s['failed']),
        'rps': statistics.median(s['requests_per_second'] or 0 for s in samples),
        'p99_ms': statistics.median(s['p99_ms'] or 0 for s in samples),
        'max_ms': max(s['max_ms'] or 0 for s in samples),
        'errors': [e for s in samples for e in s['first_errors']][:3],
    }


def main():
    ensure_collection_link()
    pm2_bin = default_pm2_bin()
    if not os.access(pm2_bin, os.X_OK):
        print('pm2 not found at %s: run `make node-tools` or set TWZRD_PM2' % pm2_bin)
        return 1
    work = pathlib.Path(tempfile.mkdtemp(prefix='twzrd-bench-restart-'))
    apps = {'reload': ('restart-bench', free_port()), 'reload-naive': ('restart-bench-naive', free_port())}
    daemons = dict((key, Pm2(pm2_bin, work / ('pm2home-%s' % key))) for key in apps)
    samples = dict((s, []) for s in SCENARIOS)
    try:
        for key, (name, port) in apps.items():
            env = {'PORT': str(port)}
            if key == 'reload-naive':
                env['DRAIN_MS'] = '0'
            daemons[key].start('restart_app.js', name, env=env, extra_args=('-i', '2'))
            wait_online(daemons[key], name, port)
        for run in range(RUNS):
            for scenario in SCENARIOS:
                samples[scenario].append(one_run(daemons, work, scenario, apps))
            print('  run %d/%d done' % (run + 1, RUNS), flush=True)
    finally:
        for pm2 in daemons.values():
            pm2.kill()
    stats = dict((s, aggregate(samples[s])) for s in SCENARIOS)
    base = stats['steady']
    print('pm2_restart of a 2-instance cluster app under a steady request loop, %d runs per scenario' % RUNS)
    print('(request timeout %.0f s; rps and p99 are medians of the runs; ratios against steady):' % REQUEST_TIMEOUT)
    print('| scenario | requests | failed | runs with failures | req/s | ratio | p99 ms | ratio | max ms |')
    print('|---|---|---|---|---|---|---|---|---|')
    for scenario in SCENARIOS:
        s = stats[scenario]
        print('| %s | %d | %d | %d/%d | %.0f | %.2f | %.2f | %.2f | %.0f |' % (
            scenario, s['requests'], s['failed'], s['runs_with_failures'], s['runs'], s['rps'],
            s['rps'] / base['rps'] if base['rps'] else 0, s['p99_ms'],
            s['p99_ms'] / base['p99_ms'] if base['p99_ms'] else 0, s['max_ms']))
    for scenario in SCENARIOS:
        if stats[scenario]['errors']:
            print('  %s errors: %s' % (scenario, '; '.join(stats[scenario]['errors'])))
    ok = stats['reload']['failed'] == 0
    print('target (0 failed requests during reload): %s' % ('met' if ok else 'MISSED'))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())

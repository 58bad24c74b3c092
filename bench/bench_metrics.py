"""Prometheus textfile export (issue 11): what it costs an hourly run.

The real twzrd_health alerts run, three ways, alternating, medians of wall and CPU time:
``off`` (no textfile_dir), ``on`` (textfile_dir set: prometheus_client imported, the file
rendered and replaced atomically) and ``baseline``: the same run of the collection before
the export existed (git ref ``TWZRD_BENCH_METRICS_BASELINE``). Targets, on CPU time (wall
time on a shared machine swings more than the difference): ``off`` within 10 % of the
baseline (prometheus_client is never imported without textfile_dir), ``on`` under 25 % more.
"""
import os
import sys
import tempfile

from bench.common import COLLECTIONS, ROOT, collections_at, compare, ensure_collection_link, write_module_args

BASELINE = os.environ.get('TWZRD_BENCH_METRICS_BASELINE', '8eccc36')
RUNS = int(os.environ.get('TWZRD_BENCH_RUNS', '15'))
MODULE = 'ansible_collections.twzrd.ops.plugins.modules.twzrd_health'


def args_file(work, name, **extra):
    args = {'mode': 'alerts', 'state_file': os.path.join(work, name + '-state.json'),
            'log_file': os.path.join(work, name + '.log'), 'pm2_home': os.path.join(work, 'pm2'),
            'pm2_bin': '/bin/false', 'disk_paths': ['/'], 'disk_warning': 99, 'disk_critical': 99.5,
            'load_warning': 1000, 'load_critical': 2000}
    args.update(extra)
    return write_module_args(os.path.join(work, name + '.json'), args)


def module_cmd(collections, path):
    return ['env', 'PYTHONPATH=%s' % collections, sys.executable, '-m', MODULE, path]


def main():
    ensure_collection_link()
    with tempfile.TemporaryDirectory(prefix='twzrd-bench-metrics-') as work:
        textfile_dir = os.path.join(work, 'textfile')
        os.makedirs(textfile_dir)
        base = module_cmd(collections_at(BASELINE, work), args_file(work, 'baseline'))
        off = module_cmd(COLLECTIONS, args_file(work, 'off'))
        on = module_cmd(COLLECTIONS, args_file(work, 'on', textfile_dir=textfile_dir))
        off_vs_base = compare('baseline', base, 'off', off, runs=RUNS, cwd=ROOT)
        on_vs_off = compare('off', off, 'on', on, runs=RUNS, cwd=ROOT)
        assert os.listdir(textfile_dir) == ['twzrd_alerts.prom']
    ok = True
    for title, medians, first, second, target in (
            ('without textfile_dir vs before the export', off_vs_base, 'baseline', 'off', 1.10),
            ('with textfile_dir vs without', on_vs_off, 'off', 'on', 1.25)):
        wall = medians[second][0] / medians[first][0]
        cpu = medians[second][1] / medians[first][1]
        print('%s: wall %.3f s vs %.3f s (x%.2f), CPU %.3f s vs %.3f s (x%.2f); target CPU x%.2f or less: %s' % (
            title, medians[second][0], medians[first][0], wall, medians[second][1], medians[first][1], cpu, target,
            'met' if cpu <= target else 'MISSED'))
        ok = ok and cpu <= target
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())

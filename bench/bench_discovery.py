"""What finding PM2 costs: an alerts run told where PM2 is vs one that finds it in /proc.

One private PM2 daemon with one app, plus idle processes so /proc holds about as many
entries as a small VPS (PROCESSES). Both contenders check that same daemon, each with its
own state file, alternately. Target: discovery adds less than 5 % CPU to a run.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

from bench.common import COLLECTIONS, ROOT, compare, ensure_collection_link, timed_run, write_module_args

RUNS = 9
PROCESSES = 250
TARGET = 1.05
PM2_BIN = os.environ.get('TWZRD_PM2') or os.path.join(ROOT, 'tests', 'node', 'node_modules', '.bin', 'pm2')
APP = os.path.join(ROOT, 'tests', 'integration', 'apps', 'steady.js')
MODULE = 'ansible_collections.twzrd.ops.plugins.modules.twzrd_health'
QUIET = {'load_warning': 1000, 'load_critical': 2000, 'disk_warning': 99.8, 'disk_critical': 99.9,
         'swap_warning': 99.8, 'swap_critical': 99.9}


def alerts_args(work, name, **pm2):
    return write_module_args(os.path.join(work, name + '.json'), dict(
        QUIET, mode='alerts', pm2_bin=PM2_BIN, state_file=os.path.join(work, name, 'state.json'),
        log_file=os.path.join(work, name + '.log'), **pm2))


def pm2_apps(args_file, env):
    out = subprocess.run([sys.executable, '-m', MODULE, args_file], env=env, capture_output=True, check=True).stdout
    return sorted(json.loads(out)['metrics']['pm2']['apps'])


def main():
    ensure_collection_link()
    work = tempfile.mkdtemp(prefix='twzrd-bench-discovery-')
    home = os.path.join(work, 'pm2')
    pm2_env = dict(os.environ, PM2_HOME=home)
    idle = []
    try:
        subprocess.run([PM2_BIN, 'start', APP, '--name', 'web'], env=pm2_env, capture_output=True, check=True)
        running = sum(1 for name in os.listdir('/proc') if name.isdigit())
        idle = [subprocess.Popen(['sleep', '600']) for _idle in range(max(0, PROCESSES - running))]
        env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'PYTHONPATH': COLLECTIONS, 'LANG': 'C.UTF-8'}
        told = alerts_args(work, 'told', pm2_home=home)
        found = alerts_args(work, 'found')
        if pm2_apps(told, env) != ['web'] or 'web' not in pm2_apps(found, env):
            print('both runs must see the app web: the benchmark measures nothing otherwise')
            return 1
        entries = sum(1 for name in os.listdir('/proc') if name.isdigit())
        medians = compare('told', [sys.executable, '-m', MODULE, told], 'found', [sys.executable, '-m', MODULE, found],
                          runs=RUNS, env=env, cwd=ROOT)
        floor = [timed_run([sys.executable, '-c', 'import ansible.module_utils.basic'], env=env)[1]
                 for _round in range(RUNS)]
    finally:
        for proc in idle:
            proc.kill()
            proc.wait()
        subprocess.run([PM2_BIN, 'kill'], env=pm2_env, capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)
    (t_wall, t_cpu), (f_wall, f_cpu) = medians['told'], medians['found']
    ratio = f_cpu / t_cpu
    print('twzrd_health alerts run, %d processes in /proc, median of %d (wall / CPU seconds):' % (entries, RUNS))
    print('  pm2_home given            : %.3f s / %.3f s' % (t_wall, t_cpu))
    print('  PM2 found in /proc        : %.3f s / %.3f s' % (f_wall, f_cpu))
    print('  ratio found / given       : %.3fx wall, %.3fx CPU (target < %.2fx CPU)' % (f_wall / t_wall, ratio, TARGET))
    print('  (python + ansible.module_utils.basic alone: %.3f s CPU)' % sorted(floor)[len(floor) // 2])
    return 0 if ratio < TARGET else 1


if __name__ == '__main__':
    sys.exit(main())

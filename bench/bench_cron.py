"""The cron path against ansible-playbook, and the install role's idempotent re-run.

1. One hourly alerts run exactly as cron starts it on a host (``/bin/sh -c
   'flock -n LOCK twzrd-run alerts'``: the runner, then twzrd_health in
   alerts mode) against ``ansible-playbook`` running the same module with the
   same arguments locally (without facts, and with facts as a playbook does by
   default). Alternated, medians of wall and CPU time; target >= 4x on both
   against the cheaper playbook.
2. The install role re-run on a host where it is already installed (the
   idempotent run every later deploy costs), in a container from the local
   Molecule image: over the podman connection (what Molecule measures; no
   pipelining there) and on the host itself with a local connection (close to
   SSH with pipelining). Skipped when podman or the image is missing
   (``make molecule-deps``).

``python -m bench.bench_cron`` (or ``python -m bench cron``); numbers go to bench/README.md.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from bench.common import COLLECTIONS, ROOT, compare, ensure_collection_link

RUNS = 7
RUNNER = os.path.join(ROOT, 'roles', 'install', 'files', 'twzrd_run.py')
IMAGE = os.environ.get('TWZRD_IMAGE', 'localhost/twzrd-debian:bookworm')
TARGET = 4.0


def cron_vs_playbook():
    work = tempfile.mkdtemp(prefix='twzrd-bench-cron-')
    try:
        config = os.path.join(work, 'etc')
        os.makedirs(config)
        module_args = {'mode': 'alerts', 'state_file': os.path.join(work, 'state.json'),
                       'log_file': os.path.join(work, 'alerts.log'), 'pm2_home': os.path.join(work, 'pm2')}
        with open(os.path.join(config, 'alerts.json'), 'w') as handle:
            json.dump({'twzrd_run': {'module': 'twzrd_health', 'timeout': 300},
                       'ANSIBLE_MODULE_ARGS': module_args}, handle)
        playbooks = {}
        for facts in (False, True):
            path = os.path.join(work, 'alerts-facts.yml' if facts else 'alerts.yml')
            with open(path, 'w') as handle:
                handle.write('- hosts: localhost\n  gather_facts: %s\n  tasks:\n'
                             '    - twzrd.ops.twzrd_health: %s\n' % (str(facts).lower(), json.dumps(module_args)))
            playbooks[facts] = path
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_LOCAL_TEMP=os.path.join(work, 'tmp'),
                   TWZRD_CONFIG_DIR=config, TWZRD_PYTHON=sys.executable, TWZRD_PYTHONPATH=COLLECTIONS)
        # cron's command line; exit 1/2 (warning/critical) is a run that worked.
        cron = ['/bin/sh', '-c', 'flock -n %s/alerts.lock %s %s alerts; test $? -le 2'
                % (work, sys.executable, RUNNER)]
        ansible_playbook = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
        base = [ansible_playbook, '-i', 'localhost,', '-c', 'local', '-e', 'ansible_python_interpreter=%s' % sys.executable]
        medians = compare('cron', cron, 'playbook', base + [playbooks[False]], runs=RUNS, env=env, cwd=ROOT)
        facts = compare('cron', cron, 'playbook+facts', base + [playbooks[True]], runs=3, env=env, cwd=ROOT)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    (c_wall, c_cpu), (p_wall, p_cpu) = medians['cron'], medians['playbook']
    f_wall, f_cpu = facts['playbook+facts']
    print('hourly alerts run, median of %d (wall / CPU seconds):' % RUNS)
    print('  cron path (sh + flock + twzrd-run + module) : %.3f s / %.3f s' % (c_wall, c_cpu))
    print('  ansible-playbook, gather_facts: false       : %.3f s / %.3f s  -> %.1fx wall, %.1fx CPU'
          % (p_wall, p_cpu, p_wall / c_wall, p_cpu / c_cpu))
    print('  ansible-playbook, gather_facts: true (3 runs): %.3f s / %.3f s  -> %.1fx wall, %.1fx CPU'
          % (f_wall, f_cpu, f_wall / facts['cron'][0], f_cpu / facts['cron'][1]))
    met = p_wall / c_wall >= TARGET and p_cpu / c_cpu >= TARGET
    print('  target >= %.0fx wall and CPU against the cheaper playbook: %s' % (TARGET, 'met' if met else 'MISSED'))
    return met


def _run(cmd, **kwargs):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False, **kwargs)


def _timed(cmd, **kwargs):
    start = time.perf_counter()
    proc = _run(cmd, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError('%s failed:\n%s' % (' '.join(cmd[:3]), proc.stdout[-3000:]))
    recap = [line for line in proc.stdout.splitlines() if 'changed=' in line]
    return time.perf_counter() - start, (recap[-1].split() if recap else [])


def _changed(recap):
    return next((field for field in recap if field.startswith('changed=')), 'changed=?')


def role_rerun():
    podman = shutil.which('podman')
    if not podman or _run([podman, 'image', 'exists', IMAGE]).returncode != 0:
        print('install role re-run: skipped (no podman or no %s; run `make molecule-deps`)' % IMAGE)
        return True
    name = 'twzrd-bench-%d' % os.getpid()
    molecule_collections = os.path.join(ROOT, '.build', 'molecule-collections')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH='%s:%s' % (COLLECTIONS, molecule_collections),
               ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false')
    started = _run([podman, 'run', '-d', '--name', name, '--runtime=runc', '--systemd=always',
                    '--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=32768:32768', IMAGE, '/sbin/init'])
    if started.returncode != 0:
        print('install role re-run: skipped (podman run failed: %s)' % started.stdout.strip())
        return True
    try:
        _run([podman, 'exec', name, 'systemctl', 'is-system-running', '--wait'])
        # pip in the container trusts the controller's CAs (as molecule/shared/prepare.yml does).
        _run([podman, 'cp', '/etc/ssl/certs/ca-certificates.crt', name + ':/etc/ssl/certs/twzrd-controller-ca.crt'])
        _run([podman, 'exec', name, 'sh', '-c',
              'printf "[global]\\ncert = /etc/ssl/certs/twzrd-controller-ca.crt\\n" > /etc/pip.conf'])
        playbook = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', name + ',', '-c', 'containers.podman.podman',
                    '-e', 'install_db_health_user=root', '-e', 'install_vacuum_user=root',
                    os.path.join(ROOT, 'install.yml')]
        first, first_recap = _timed(playbook, env=env, cwd=ROOT)
        rerun, rerun_recap = _timed(playbook, env=env, cwd=ROOT)
        # The same re-run on the host itself (local connection), with the venv the role installed.
        src = '/root/twzrd-src/ansible_collections/twzrd/ops'
        _run([podman, 'exec', name, 'mkdir', '-p', src])
        tar = subprocess.Popen(['tar', '-C', ROOT, '-c', 'galaxy.yml', 'meta', 'plugins', 'roles', 'install.yml'],
                               stdout=subprocess.PIPE)
        subprocess.run([podman, 'exec', '-i', name, 'tar', '-C', src, '-x'], stdin=tar.stdout, check=True)
        tar.wait()
        local = [podman, 'exec', '-e', 'ANSIBLE_COLLECTIONS_PATH=/root/twzrd-src', name,
                 '/opt/twzrd/venv/bin/ansible-playbook', '-i', 'localhost,', '-c', 'local',
                 '-e', 'ansible_python_interpreter=/usr/bin/python3',
                 '-e', 'install_db_health_user=root', '-e', 'install_vacuum_user=root', src + '/install.yml']
        _timed(local)  # first local run settles anything path-dependent
        local_rerun, local_recap = _timed(local)
    finally:
        _run([podman, 'rm', '-f', '-t', '0', name])
    print('install role on a fresh container, then re-run (wall seconds):')
    print('  first install, podman connection : %.1f s (%s)' % (first, _changed(first_recap)))
    print('  re-run, podman connection        : %.1f s (%s)' % (rerun, _changed(rerun_recap)))
    print('  re-run on the host, local        : %.1f s (%s)' % (local_rerun, _changed(local_recap)))
    return _changed(rerun_recap) == 'changed=0' and _changed(local_recap) == 'changed=0'


def main():
    ensure_collection_link()
    fast = cron_vs_playbook()
    idempotent = role_rerun()
    if not idempotent:
        print('install role re-run changed something: not idempotent')
    return 0 if fast and idempotent else 1


if __name__ == '__main__':
    sys.exit(main())

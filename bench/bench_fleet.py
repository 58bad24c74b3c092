"""The on-demand playbooks over a fleet: 1, 10 and 20 hosts from one controller (issue 11).

Each host is a podman container from the Molecule image (``make molecule-deps``) with the
modules' Python dependencies (Debian's python3-psutil and python3-psycopg2) baked into a
derived image once; Ansible reaches them with the containers.podman connection (from the
``ansible`` wheel, scripts/molecule-collections.sh). The containers run ``sleep infinity``:
what is measured is the controller's side (ansible-playbook, its workers, the podman CLI)
and the module inside each host.

Host counts and playbooks alternate (1, 10, 20, 1, 10, 20 ...) with the settings
docs/fleet.md recommends (forks >= hosts, a fixed interpreter, an absolute remote_tmp, no
facts). ``trivial`` (one ansible.builtin.command per host) is the baseline: what the
connection alone costs on this machine. One more 20-host run with Ansible's defaults
(5 forks, interpreter discovery, ~ remote_tmp) shows what the settings buy. Wall time and
controller CPU (ansible-playbook and its children) per host count, medians; target: 20 hosts
in at most 4x the wall time of 1 host. Every run's fleet summary must count all N hosts, none
failed or unreachable.

``python -m bench.bench_fleet`` (or ``python -m bench fleet``); ``TWZRD_BENCH_RUNS`` (default 2)
runs per host count. Every container started here is removed by name at the end.
Over SSH, with pipelining and ControlPersist, and against the floor at every size: bench_fleet_ssh.py.
"""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from bench.common import COLLECTIONS, ROOT, ensure_collection_link, timed_run

IMAGE = os.environ.get('TWZRD_IMAGE', 'localhost/twzrd-debian:bookworm')
FLEET_IMAGE = os.environ.get('TWZRD_FLEET_IMAGE', 'localhost/twzrd-fleet:bookworm')
MOLECULE_COLLECTIONS = os.path.join(ROOT, '.build', 'molecule-collections')
COUNTS = (1, 10, 20)
# trivial: one ansible.builtin.command per host, the floor the podman connection sets.
PLAYBOOKS = ('trivial', 'alerts', 'health')
# What the modules need on a host (docs/fleet.md): Debian's psutil and psycopg2.
MODULE_PACKAGES = ('python3-psutil', 'python3-psycopg2')
RUNS = int(os.environ.get('TWZRD_BENCH_RUNS', '2'))
TARGET = 4.0
# The same settings docs/fleet.md shows for ansible.cfg; "defaults" is what Ansible does unset.
TUNED = {'ANSIBLE_FORKS': '20', 'ANSIBLE_PYTHON_INTERPRETER': '/usr/bin/python3', 'ANSIBLE_REMOTE_TMP': '/root/.ansible/tmp'}
DEFAULTS = {'ANSIBLE_FORKS': '5', 'ANSIBLE_PYTHON_INTERPRETER': 'auto_silent', 'ANSIBLE_REMOTE_TMP': '~/.ansible/tmp'}
PODMAN_RUN = ['--runtime=runc', '--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=32768:32768']


def _podman(*args, check=True):
    proc = subprocess.run(['podman'] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          check=False)
    if check and proc.returncode != 0:
        raise RuntimeError('podman %s failed: %s' % (' '.join(args[:3]), proc.stdout[-2000:]))
    return proc


def derived_image(name, packages):
    """``IMAGE`` plus Debian ``packages``, built once as ``name`` and reused (shared with bench_fleet_ssh)."""
    if _podman('image', 'exists', name, check=False).returncode == 0:
        return
    builder = 'twzrd-fleet-build-%d' % os.getpid()
    try:
        # No host keys in the image: the SSH bench brings a throwaway one per run.
        _podman('run', '--name', builder, *PODMAN_RUN, IMAGE, 'sh', '-c',
                'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends %s'
                ' >/dev/null && rm -rf /var/lib/apt/lists/* /etc/ssh/ssh_host_*' % ' '.join(packages))
        _podman('commit', '-q', builder, name)
    finally:
        _podman('rm', '-f', '-t', '0', builder, check=False)
    print('built %s (%s + %s)' % (name, IMAGE, ', '.join(packages)))


def fleet_image():
    """The Molecule image plus the modules' Python dependencies."""
    derived_image(FLEET_IMAGE, MODULE_PACKAGES)


def start_hosts(count):
    names = []
    try:
        for index in range(count):
            name = 'twzrd-fleet-%d-%02d' % (os.getpid(), index + 1)
            _podman('run', '-d', '--name', name, *PODMAN_RUN, FLEET_IMAGE, 'sleep', 'infinity')
            names.append(name)
    except Exception:
        remove_hosts(names)
        raise
    return names


def remove_hosts(names):
    if names:
        _podman('rm', '-f', '-t', '0', *names, check=False)


def write_inventory(work, names):
    path = os.path.join(work, 'fleet-%d.ini' % len(names))
    with open(path, 'w') as handle:
        handle.write('[fleet]\n%s\n\n[fleet:vars]\nansible_connection=containers.podman.podman\n' % '\n'.join(names))
    return path


TRIVIAL = """- name: One trivial module per host (the connection's own cost)
  hosts: all
  gather_facts: false
  tasks:
    - name: Run true
      ansible.builtin.command: "true"
      changed_when: false
"""


def ansible_env(work, settings):
    """The environment of every ansible-playbook run: this checkout's collection, no ansible.cfg, ``settings``."""
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH='%s:%s' % (COLLECTIONS, MOLECULE_COLLECTIONS),
                ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false', ANSIBLE_LOCAL_TEMP=os.path.join(work, 'tmp'),
                ANSIBLE_NOCOLOR='1', **settings)


def playbook_command(work, playbook, inventory):
    """ansible-playbook for one of the collection's playbooks, or ``trivial`` (written into ``work``)."""
    path = os.path.join(ROOT, 'playbooks', playbook + '.yml')
    if playbook == 'trivial':
        path = os.path.join(work, 'trivial.yml')
        with open(path, 'w') as handle:
            handle.write(TRIVIAL)
    return [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', inventory, path]


def play(work, inventory, playbook, settings):
    """One timed ansible-playbook run: (wall, CPU, its output)."""
    cmd = playbook_command(work, playbook, inventory)
    wall, cpu, rc, output = timed_run(cmd, env=ansible_env(work, settings), cwd=work, keep_stdout=True)
    output = output.decode('utf-8', 'replace')
    if rc != 0:
        raise RuntimeError('%s failed (%d): %s' % (playbook, rc, output[-1500:]))
    return wall, cpu, output


def check_summary(playbook, output, count):
    """Every host ran the module: the fleet summary's totals line counts N hosts, none failed or unreachable."""
    if playbook == 'trivial':
        return
    totals = re.search(r'"twzrd\.ops %s: (\d+) hosts?: ([^"]*)"' % playbook, output)
    if not totals or int(totals.group(1)) != count or re.search('failed|unreachable|not run', totals.group(2)):
        raise RuntimeError('%s on %d hosts: wrong fleet summary %s' % (
            playbook, count, totals.group(0) if totals else '(none printed)'))


def exec_scaling(names):
    """Wall time of one ``podman exec true`` and of one per host at once (medians of 3): the connection's floor."""
    def once(targets):
        start = time.perf_counter()
        procs = [subprocess.Popen(['podman', 'exec', name, 'true']) for name in targets]
        if any(proc.wait() != 0 for proc in procs):
            raise RuntimeError('podman exec failed')
        return time.perf_counter() - start
    one = statistics.median(once(names[:1]) for _round in range(3))
    many = statistics.median(once(names) for _round in range(3))
    return one, many


def measure(work, names):
    """Host counts and playbooks alternate round by round, so load from elsewhere hits all alike."""
    inventories = dict((count, write_inventory(work, names[:count])) for count in COUNTS)
    play(work, inventories[COUNTS[-1]], 'alerts', TUNED)  # warm-up: first run on each host
    samples = dict(((playbook, count), []) for playbook in PLAYBOOKS for count in COUNTS)
    for _round in range(RUNS):
        for count in COUNTS:
            for playbook in PLAYBOOKS:
                wall, cpu, output = play(work, inventories[count], playbook, TUNED)
                check_summary(playbook, output, count)
                samples[(playbook, count)].append((wall, cpu))
    results = dict((key, (statistics.median(v[0] for v in values), statistics.median(v[1] for v in values)))
                   for key, values in samples.items())
    wall, cpu, output = play(work, inventories[COUNTS[-1]], 'alerts', DEFAULTS)
    check_summary('alerts', output, COUNTS[-1])
    return results, (wall, cpu), exec_scaling(names)


def report(results, defaults, execs):
    met = True
    print('median of %d runs per host count; controller CPU = ansible-playbook and its children '
          '(workers, podman CLI); settings: %s' % (RUNS, ', '.join('%s=%s' % item for item in sorted(TUNED.items()))))
    print('  playbook   hosts      wall   x 1 host      CPU   CPU/host')
    for playbook in PLAYBOOKS:
        one_wall = results[(playbook, 1)][0]
        for count in COUNTS:
            wall, cpu = results[(playbook, count)]
            print('  %-8s  %5d  %7.2f s  %7.2fx  %6.2f s  %6.2f s'
                  % (playbook, count, wall, wall / one_wall, cpu, cpu / count))
    for playbook in PLAYBOOKS:
        ratio = results[(playbook, COUNTS[-1])][0] / results[(playbook, 1)][0]
        ok = ratio <= TARGET
        if playbook != 'trivial':
            met = met and ok
        print('%s: %d hosts in %.2fx the wall time of 1 host (target <= %.0fx%s): %s'
              % (playbook, COUNTS[-1], ratio, TARGET, ', the connection alone' if playbook == 'trivial' else '',
                 'met' if ok else 'MISSED'))
    tuned_wall, tuned_cpu = results[('alerts', COUNTS[-1])]
    print('alerts, %d hosts with Ansible defaults (5 forks, interpreter discovery, ~ remote_tmp), 1 run: '
          '%.2f s wall (%.2fx the tuned run), %.2f s CPU (%.2fx)'
          % (COUNTS[-1], defaults[0], defaults[0] / tuned_wall, defaults[1], defaults[1] / tuned_cpu))
    print('podman exec true: 1 container %.2f s; %d containers at once %.2f s (%.1fx)'
          % (execs[0], COUNTS[-1], execs[1], execs[1] / execs[0]))
    print('load average at the end: %s' % ' '.join('%.1f' % x for x in os.getloadavg()))
    return met


def main():
    if not shutil.which('podman') or _podman('image', 'exists', IMAGE, check=False).returncode != 0:
        print('fleet: skipped (no podman or no %s; run `make molecule-deps`)' % IMAGE)
        return 0
    if not os.path.isdir(os.path.join(MOLECULE_COLLECTIONS, 'ansible_collections', 'containers', 'podman')):
        print('fleet: skipped (no containers.podman collection; run `make molecule-deps`)')
        return 0
    ensure_collection_link()
    fleet_image()
    work = tempfile.mkdtemp(prefix='twzrd-bench-fleet-')
    names = []
    try:
        names = start_hosts(max(COUNTS))
        results, defaults, execs = measure(work, names)
    finally:
        remove_hosts(names)
        shutil.rmtree(work, ignore_errors=True)
    return 0 if report(results, defaults, execs) else 1


if __name__ == '__main__':
    sys.exit(main())

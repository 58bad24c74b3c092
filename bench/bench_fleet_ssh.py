"""The alerts playbook over SSH against the floor, at 1, 10, 20 and 50 hosts (issue 21, item 7).

Each host is a podman container (``--network=host``) from the Molecule image plus Debian's
python3-psutil, python3-psycopg2 and openssh-server (a derived image built once), running its own
sshd on 127.0.0.1:PORT with a throwaway host key and one throwaway client key, both made in a temp
dir. Ansible reaches them the way people run it: the ssh connection with pipelining,
``ControlMaster=auto ControlPersist=60s`` (and ``-C``, Ansible's default ssh_args), forks >= hosts,
a fixed interpreter, no facts; host keys land in a known_hosts file in the temp dir.

In one run, host counts and playbooks alternate (the order of the playbooks flips each round):
``trivial`` (one ``ansible.builtin.command: true`` per host, the floor), ``module`` (the health_check
role's module task alone, with its templated options: what the module costs without the playbook's other
per-host tasks) and ``alerts.yml`` on the same hosts. Every run starts cold (no ssh master left from
the run before, as an hourly run finds them); every alerts run's fleet summary must count all N hosts,
none failed or unreachable, and every module run must have run once on each host.
Target: alerts at most 1.3x the floor's median wall time at every size.

CPU: the controller's = ansible-playbook and its children, plus the ssh ControlPersist masters,
which detach from ansible-playbook: this process is their subreaper, ends them after each run
and reaps them, so their CPU lands in its RUSAGE_CHILDREN too (reported apart). The hosts' =
the containers' cgroup CPU (sshd and the module), which on a real fleet is not the controller's.

Then where the time goes: one host's ssh round trips, warm and cold (``ssh true``, ``python3``), and
the per-task times of the three playbooks on one host and on the largest size, warm and cold
(ansible.posix.profile_tasks).

``python -m bench fleet_ssh``; ``TWZRD_BENCH_RUNS`` (default 3) runs per size and playbook,
``TWZRD_BENCH_FLEET_COUNTS`` (default ``1,10,20,50``). Every container started here is removed
by name at the end.
"""
import ctypes
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from bench.bench_fleet import (IMAGE, MODULE_PACKAGES, MOLECULE_COLLECTIONS, PODMAN_RUN, _podman, ansible_env,
                               check_summary, derived_image, playbook_command, remove_hosts)
from bench.common import ROOT, ensure_collection_link

SSH_IMAGE = os.environ.get('TWZRD_FLEET_SSH_IMAGE', 'localhost/twzrd-fleet-ssh:bookworm')
COUNTS = tuple(int(n) for n in os.environ.get('TWZRD_BENCH_FLEET_COUNTS', '1,10,20,50').split(','))
PLAYBOOKS = ('trivial', 'module', 'alerts')
ROLE_TASKS = os.path.join(ROOT, 'roles', 'health_check', 'tasks', 'main.yml')
RECAP_OK = re.compile(r'^\S+\s+: ok=1\s+changed=0\s+unreachable=0\s+failed=0\s', re.M)
RUNS = int(os.environ.get('TWZRD_BENCH_RUNS', '3'))
TARGET = 1.3
PR_SET_CHILD_SUBREAPER = 36
SSHD_OPTIONS = ('-o', 'AuthorizedKeysFile=/keys/authorized_keys', '-o', 'StrictModes=no', '-o', 'UsePAM=no',
                '-o', 'PasswordAuthentication=no', '-o', 'PermitRootLogin=prohibit-password',
                '-o', 'MaxStartups=200', '-o', 'MaxSessions=50', '-o', 'UseDNS=no', '-o', 'PrintMotd=no',
                '-o', 'LogLevel=ERROR')


def settings(work, forks):
    """docs/fleet.md's ansible.cfg as environment variables, plus the throwaway key and known_hosts."""
    return {
        'ANSIBLE_FORKS': str(forks),
        'ANSIBLE_PYTHON_INTERPRETER': '/usr/bin/python3',
        'ANSIBLE_REMOTE_TMP': '/root/.ansible/tmp',
        'ANSIBLE_PIPELINING': 'True',
        'ANSIBLE_SSH_ARGS': '-C -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=%s'
                            ' -o StrictHostKeyChecking=no -o LogLevel=ERROR' % os.path.join(work, 'known_hosts'),
        'ANSIBLE_SSH_CONTROL_PATH_DIR': os.path.join(work, 'cp'),
        'ANSIBLE_HOST_KEY_CHECKING': 'False',
        'ANSIBLE_PRIVATE_KEY_FILE': os.path.join(work, 'keys', 'id'),
        'ANSIBLE_REMOTE_USER': 'root',
    }


def free_ports(count):
    """``count`` TCP ports free on 127.0.0.1 now (the kernel picks them; sshd binds them a moment later)."""
    sockets = []
    try:
        for _index in range(count):
            sock = socket.socket()
            sock.bind(('127.0.0.1', 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def make_keys(work):
    keys = os.path.join(work, 'keys')
    os.makedirs(keys)
    for name in ('id', 'host'):
        subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'twzrd-bench', '-f',
                        os.path.join(keys, name)], check=True)
    shutil.copy(os.path.join(keys, 'id.pub'), os.path.join(keys, 'authorized_keys'))
    return keys


def start_hosts(work, count):
    """``count`` containers, each with sshd on its own 127.0.0.1 port; returns [(name, port)]."""
    keys = make_keys(work)
    hosts = []
    try:
        for index, port in enumerate(free_ports(count)):
            name = 'twzrd-fleetssh-%d-%02d' % (os.getpid(), index + 1)
            _podman('run', '-d', '--name', name, *PODMAN_RUN, '--network=host', '-v', '%s:/keys:ro' % keys,
                    SSH_IMAGE, 'sh', '-c', 'mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e -h /keys/host'
                    ' -o ListenAddress=127.0.0.1:%d %s' % (port, ' '.join(SSHD_OPTIONS)))
            hosts.append((name, port))
        deadline = time.monotonic() + 30
        for name, port in hosts:
            while True:
                try:
                    socket.create_connection(('127.0.0.1', port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError('sshd in %s is not listening on 127.0.0.1:%d: %s' % (
                            name, port, _podman('logs', name, check=False).stdout[-500:]))
                    time.sleep(0.1)
    except Exception:
        remove_hosts([name for name, _port in hosts])
        raise
    return hosts


def write_inventory(work, hosts):
    path = os.path.join(work, 'fleet-ssh-%d.ini' % len(hosts))
    with open(path, 'w') as handle:
        handle.write('[fleet]\n')
        for index, (_name, port) in enumerate(hosts):
            handle.write('h%02d ansible_host=127.0.0.1 ansible_port=%d\n' % (index + 1, port))
    return path


def become_subreaper():
    """Orphans below this process (the ssh masters ControlPersist detaches) become its children."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), 'prctl(PR_SET_CHILD_SUBREAPER)')


def ssh_children():
    """The ssh processes whose parent is this process: {pid: alive}. Alive ones are the ControlPersist
    masters; dead ones (zombies) are ssh clients whose Ansible worker exited before reaping them."""
    me = str(os.getpid())
    found = {}
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % pid) as handle:
                stat = handle.read()
        except OSError:
            continue
        comm = stat[stat.index('(') + 1:stat.rindex(')')]
        state, ppid = stat[stat.rindex(')') + 2:].split()[:2]
        if comm == 'ssh' and ppid == me:
            found[int(pid)] = state != 'Z'
    return found


def reap_clients():
    """Reap the ssh clients left as zombies (their CPU is ansible-playbook's)."""
    for pid, alive in ssh_children().items():
        if not alive:
            os.waitpid(pid, 0)


def end_masters():
    """End and reap every ssh master left by the run; returns how many there were."""
    reap_clients()
    masters = [pid for pid, alive in ssh_children().items() if alive]
    for pid in masters:
        os.kill(pid, signal.SIGTERM)
    for pid in masters:
        os.waitpid(pid, 0)
    return len(masters)


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cgroup_file(name):
    """The file that counts container ``name``'s CPU time (cgroup v1 cpuacct or v2 cpu.stat)."""
    path = _podman('inspect', '--format', '{{.State.CgroupPath}}', name).stdout.strip()
    v1 = '/sys/fs/cgroup/cpuacct%s/cpuacct.usage' % path
    return v1 if os.path.exists(v1) else '/sys/fs/cgroup%s/cpu.stat' % path


def cgroup_usage(files):
    """The containers' CPU seconds so far. Only reads files: a podman call here would count as controller CPU."""
    total = 0.0
    for path in files:
        with open(path) as handle:
            text = handle.read()
        if path.endswith('cpuacct.usage'):
            total += int(text) / 1e9
        else:
            total += int(re.search(r'usage_usec (\d+)', text).group(1)) / 1e6
    return total


def module_only_playbook(work):
    """The health_check role's module task alone (alerts mode), written into ``work``: its first task as is."""
    with open(ROLE_TASKS) as handle:
        tasks = handle.read()
    if '\n- name: Show the result' not in tasks:  # the split below would keep the role's other tasks
        raise RuntimeError('%s: no "Show the result" task after the module task' % ROLE_TASKS)
    task = tasks.split('\n- name: Show the result')[0].split('---\n', 1)[1]
    task = task.replace('"{{ health_check_mode }}"', 'alerts').replace(
        "if health_check_mode == 'report' else omit", "if false else omit")
    path = os.path.join(work, 'module.yml')
    with open(path, 'w') as handle:
        handle.write('- name: The module task of the health_check role alone\n  hosts: all\n  gather_facts: false\n'
                     '  vars_files: [%s]\n  tasks:\n' % os.path.join(ROOT, 'playbooks', 'vars', 'runtime.yml'))
        handle.write(''.join('    ' + line if line.strip() else line for line in task.strip('\n').splitlines(True)))
        handle.write('\n')
    return path


def command(work, playbook, inventory):
    if playbook == 'module':
        return [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', inventory,
                module_only_playbook(work)]
    return playbook_command(work, playbook, inventory)


def check_result(playbook, output, count):
    """alerts: its fleet summary counts every host; module: every host ran it once, unchanged and not failed."""
    if playbook != 'module':
        check_summary(playbook, output, count)
    elif len(RECAP_OK.findall(output)) != count:
        raise RuntimeError('module on %d hosts: not every host ran it: %s' % (count, output[-1500:]))


class Fleet:
    """The hosts, their inventories per size and the cgroup paths read around each run."""

    def __init__(self, work, hosts):
        self.work = work
        self.hosts = hosts
        self.inventories = dict((count, write_inventory(work, hosts[:count])) for count in COUNTS)
        self.cgroups = [cgroup_file(name) for name, _port in hosts]

    def run(self, count, playbook, extra=None, cold=True):
        """One ansible-playbook run on ``count`` hosts: dict of wall, controller and host CPU, output."""
        env = ansible_env(self.work, dict(settings(self.work, max(COUNTS)), **(extra or {})))
        cmd = command(self.work, playbook, self.inventories[count])
        if cold and end_masters():
            raise RuntimeError('ssh masters were left running before a cold run')
        hosts_before = cgroup_usage(self.cgroups[:count])
        cpu_before = children_cpu()
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, cwd=self.work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              check=False)
        wall = time.perf_counter() - start
        reap_clients()
        cpu_ansible = children_cpu() - cpu_before
        hosts_cpu = cgroup_usage(self.cgroups[:count]) - hosts_before
        masters = end_masters() if cold else 0
        cpu_masters = children_cpu() - cpu_before - cpu_ansible
        output = proc.stdout.decode('utf-8', 'replace')
        if proc.returncode != 0:
            raise RuntimeError('%s on %d hosts failed (%d): %s' % (playbook, count, proc.returncode, output[-1500:]))
        check_result(playbook, output, count)
        if cold and masters != count:
            raise RuntimeError('%s on %d hosts left %d ssh masters, not one per host' % (playbook, count, masters))
        return {'wall': wall, 'ansible': cpu_ansible, 'masters': cpu_masters, 'hosts': hosts_cpu, 'output': output}


def measure(fleet):
    """Sizes and playbooks alternate round by round, so load from elsewhere hits all alike."""
    fleet.run(max(COUNTS), 'alerts')  # warm-up: first module run on each host, page cache
    samples = dict(((playbook, count), []) for playbook in PLAYBOOKS for count in COUNTS)
    for round_ in range(RUNS):
        for count in COUNTS:
            for playbook in (PLAYBOOKS if round_ % 2 == 0 else PLAYBOOKS[::-1]):
                sample = fleet.run(count, playbook)
                samples[(playbook, count)].append(sample)
                print('  round %d: %-7s %2d hosts %6.2f s' % (round_ + 1, playbook, count, sample['wall']), flush=True)
    return dict((key, dict((field, statistics.median(s[field] for s in values))
                           for field in ('wall', 'ansible', 'masters', 'hosts')))
                for key, values in samples.items())


def ssh_once(work, port, command, control):
    """Wall time of one ``ssh host command``, through a master socket (warm) or a new connection (cold)."""
    cmd = ['ssh', '-i', os.path.join(work, 'keys', 'id'), '-p', str(port), '-C',
           '-o', 'UserKnownHostsFile=%s' % os.path.join(work, 'known_hosts'), '-o', 'StrictHostKeyChecking=no',
           '-o', 'LogLevel=ERROR', '-o', 'ControlPath=%s' % os.path.join(work, 'cp', 'probe-%d' % port)]
    cmd += ['-o', 'ControlMaster=auto', '-o', 'ControlPersist=60s'] if control else ['-o', 'ControlMaster=no']
    start = time.perf_counter()
    subprocess.run(cmd + ['root@127.0.0.1', command], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def task_times(output):
    """profile_tasks' per-task lines: {task name: seconds} (the slowest host's duration per task)."""
    times = {}
    for name, seconds in re.findall(r'^(.+?) -+ (\d+\.\d+)s$', output, re.M):
        times[name.strip()] = float(seconds)
    return times


def profile(fleet):
    """Where the time goes: ssh alone, warm and cold; the per-task times of both playbooks."""
    work, port = fleet.work, fleet.hosts[0][1]
    cold = statistics.median(ssh_once(work, port, 'true', False) for _r in range(5))
    ssh_once(work, port, 'true', True)
    warm = statistics.median(ssh_once(work, port, 'true', True) for _r in range(5))
    python = statistics.median(ssh_once(work, port, 'python3 -c pass', True) for _r in range(5))
    imports = statistics.median(ssh_once(work, port, 'python3 -c "import psutil, json, socket, ssl, hashlib"', True)
                                for _r in range(5))
    end_masters()
    tasks = {}
    profile_env = {'ANSIBLE_CALLBACKS_ENABLED': 'ansible.posix.profile_tasks',
                   'PROFILE_TASKS_SORT_ORDER': 'none', 'PROFILE_TASKS_TASK_OUTPUT_LIMIT': '100'}
    for count in (1, max(COUNTS)):
        for playbook in PLAYBOOKS:
            result = fleet.run(count, playbook, profile_env)
            tasks[(count, playbook, 'cold')] = (result['wall'], task_times(result['output']))
            fleet.run(count, 'trivial', cold=False)  # opens the masters the next run reuses
            result = fleet.run(count, playbook, profile_env, cold=False)
            tasks[(count, playbook, 'warm')] = (result['wall'], task_times(result['output']))
            end_masters()
    return {'ssh_cold': cold, 'ssh_warm': warm, 'python': python, 'imports': imports}, tasks


def report(results, probes, tasks):
    print('median of %d cold runs per size and playbook; forks=%d, pipelining, ControlMaster=auto '
          'ControlPersist=60s, -C, interpreter /usr/bin/python3, no facts' % (RUNS, max(COUNTS)))
    print('controller CPU = ansible-playbook and its children + the ssh masters; hosts CPU = the containers\' cgroups')
    print('  playbook  hosts      wall  x floor       ctl CPU  (ssh masters)  ctl CPU/host  hosts CPU/host')
    met = True
    for count in COUNTS:
        floor = results[('trivial', count)]['wall']
        for playbook in PLAYBOOKS:
            r = results[(playbook, count)]
            ctl = r['ansible'] + r['masters']
            ratio = r['wall'] / floor
            mark = '' if playbook == 'trivial' else '%.2fx' % ratio
            if playbook == 'alerts':
                met = met and ratio <= TARGET
                mark += '' if ratio <= TARGET else ' MISSED'
            print('  %-8s  %5d  %7.2f s  %-12s  %6.2f s  (%5.2f s)  %9.3f s  %12.3f s'
                  % (playbook, count, r['wall'], mark, ctl, r['masters'], ctl / count, r['hosts'] / count))
    print('target: alerts <= %.1fx the floor at every size: %s' % (TARGET, 'met' if met else 'MISSED'))
    print('one host, ssh: new connection `true` %.3f s; through the master `true` %.3f s, `python3 -c pass` %.3f s,'
          ' python3 importing psutil/json/ssl %.3f s'
          % (probes['ssh_cold'], probes['ssh_warm'], probes['python'], probes['imports']))
    for (count, playbook, label), (wall, times) in sorted(tasks.items()):
        print('profile_tasks %-7s %2d hosts %-4s %6.2f s wall: %s' % (
            playbook, count, label, wall, '; '.join('%s %.2f s' % item for item in times.items())))
    print('load average at the end: %s' % ' '.join('%.1f' % x for x in os.getloadavg()))
    return met


def main():
    if not shutil.which('podman') or _podman('image', 'exists', IMAGE, check=False).returncode != 0:
        print('fleet_ssh: skipped (no podman or no %s; run `make molecule-deps`)' % IMAGE)
        return 0
    if not shutil.which('ssh') or not shutil.which('ssh-keygen'):
        print('fleet_ssh: skipped (no ssh client; scripts/install-system-deps.sh installs openssh-client)')
        return 0
    if not os.path.isdir(os.path.join(MOLECULE_COLLECTIONS, 'ansible_collections', 'ansible', 'posix')):
        print('fleet_ssh: skipped (no ansible.posix collection for profile_tasks; run `make molecule-deps`)')
        return 0
    ensure_collection_link()
    derived_image(SSH_IMAGE, MODULE_PACKAGES + ('openssh-server',))
    work = tempfile.mkdtemp(prefix='twzrd-bench-fleetssh-')
    os.makedirs(os.path.join(work, 'cp'))
    hosts = []
    try:
        hosts = start_hosts(work, max(COUNTS))
        become_subreaper()  # after the containers started: their conmon must not become ours
        fleet = Fleet(work, hosts)
        results = measure(fleet)
        probes, tasks = profile(fleet)
    finally:
        end_masters()
        remove_hosts([name for name, _port in hosts])
        shutil.rmtree(work, ignore_errors=True)
    return 0 if report(results, probes, tasks) else 1


if __name__ == '__main__':
    sys.exit(main())

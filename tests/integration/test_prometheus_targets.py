"""Issue 21 item 4: `twzrd.ops.prometheus_targets` writes a file_sd file from the inventory, and a real
Prometheus (Debian's 2.42) scrapes the hosts' node_exporters through it, with the inventory's names and groups.

Two simulated hosts (tests/integration/fleet_harness.py): each a node_exporter serving the textfile that
twzrd_health mode=alerts wrote for it; the inventory points at them (ansible_host, twzrd_exporter_port).
"""
import json
import os
import subprocess
import sys

import pytest

import fleet_harness
from fleet_harness import FleetHost, Prometheus, finish, wait_until
from harness import COLLECTIONS, ROOT

QUIET = {'disk_paths': ['/'], 'disk_warning': 99.8, 'disk_critical': 99.9, 'load_warning': 1000,
         'load_critical': 2000, 'swap_warning': 99.8, 'swap_critical': 99.9}


def play(tmp_path, inventory, *extra):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',
               ANSIBLE_NOCOLOR='1', ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'),
               ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', str(inventory),
                           os.path.join(ROOT, 'playbooks', 'prometheus_targets.yml')] + list(extra),
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300, check=False)


def inventory_of(tmp_path, hosts):
    path = tmp_path / 'inventory.yml'
    path.write_text(json.dumps({'all': {'children': {
        'web': {'hosts': {'web-1': {'ansible_host': '127.0.0.1', 'twzrd_exporter_port': hosts[0].exporter.port}}},
        'db': {'hosts': {'db-1': {'ansible_host': '127.0.0.1', 'twzrd_exporter_port': hosts[1].exporter.port,
                                  'twzrd_exporter_labels': {'env': 'test'}}}},
    }}}))
    return path


@pytest.fixture
def two_hosts(tmp_path):
    try:
        fleet_harness.require(fleet_harness.PROMETHEUS)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    hosts = [FleetHost('web-1', tmp_path / 'hosts'), FleetHost('db-1', tmp_path / 'hosts')]
    started = []
    try:
        for host in hosts:
            started.append(host.start())
        finish(*[host.run_alerts(QUIET) for host in hosts])
        yield hosts
    finally:
        for host in reversed(started):
            host.stop()


def test_the_inventory_becomes_targets_prometheus_scrapes(tmp_path, two_hosts):
    targets_file = tmp_path / 'file_sd' / 'twzrd.json'
    targets_file.parent.mkdir()
    inventory = inventory_of(tmp_path, two_hosts)

    dry = play(tmp_path, inventory, '-e', 'twzrd_targets_file=%s' % targets_file, '--check')
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert not targets_file.exists()  # check mode writes nothing

    first = play(tmp_path, inventory, '-e', 'twzrd_targets_file=%s' % targets_file)
    assert first.returncode == 0, first.stdout + first.stderr
    assert 'changed=1' in first.stdout
    groups = json.loads(targets_file.read_text())
    assert sorted((g['labels']['instance'], g['labels']['groups']) for g in groups) == [('db-1', ',db,'), ('web-1', ',web,')]
    assert oct(targets_file.stat().st_mode & 0o777) == '0o644'
    again = play(tmp_path, inventory, '-e', 'twzrd_targets_file=%s' % targets_file)
    assert again.returncode == 0 and 'changed=0' in again.stdout, again.stdout

    sd = {'job_name': 'node', 'file_sd_configs': [{'files': [str(targets_file)], 'refresh_interval': '1s'}]}
    prometheus = Prometheus(tmp_path / 'prometheus', {}, scrape_configs=[sd])
    prometheus.start()
    try:
        wait_until(lambda: prometheus.targets_up() == {'web-1': 'up', 'db-1': 'up'}, 30, 'both targets up')
        # the modules' own series, under the inventory's names and groups
        wait_until(lambda: len(prometheus.query('twzrd_job_last_success_timestamp_seconds')) >= 2, 30,
                   'the hosts\' twzrd series')
        web = prometheus.query('up{groups=~".*,web,.*"}')
        assert [s['metric']['instance'] for s in web] == ['web-1']
        db = prometheus.query('twzrd_job_last_success_timestamp_seconds{env="test"}')
        assert [s['metric']['instance'] for s in db] == ['db-1']
    finally:
        prometheus.stop()


def test_a_bad_port_names_the_host_and_the_variable(tmp_path):
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(json.dumps({'all': {'hosts': {'web-9': {'twzrd_exporter_port': 99999}}}}))
    proc = play(tmp_path, inventory, '-e', 'twzrd_targets_file=%s' % (tmp_path / 'targets.json'))
    assert proc.returncode != 0
    assert 'twzrd_exporter_port of host web-9 must be a port 1-65535' in proc.stdout + proc.stderr
    assert 'Traceback' not in proc.stdout + proc.stderr
    assert not (tmp_path / 'targets.json').exists()


def test_without_a_targets_file_the_playbook_says_what_to_set(tmp_path):
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(json.dumps({'all': {'hosts': {'web-9': {}}}}))
    proc = play(tmp_path, inventory)
    assert proc.returncode != 0 and 'twzrd_targets_file is required' in proc.stdout

"""The shipped Alertmanager configuration (extras/alertmanager/alertmanager.yml) with Debian's real
amtool (prometheus-alertmanager 0.25): it loads, routes by severity, groups across hosts, its inhibit
rule covers every subject label the shipped rules use, no secret is written in it, and the reminder
interval is the hosts' own. What it does with real alerts: tests/integration/test_fleet_alerting.py."""
import re
import subprocess

import pytest
import yaml

import fleet_harness
from fleet_harness import ALERTMANAGER_CONFIG, AMTOOL, RULES, alertmanager_test_config

from ansible_collections.twzrd.ops.plugins.doc_fragments.report import ModuleDocFragment


@pytest.fixture(scope='module')
def amtool():
    try:
        fleet_harness.require(AMTOOL)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    return AMTOOL


@pytest.fixture(scope='module')
def config():
    with open(ALERTMANAGER_CONFIG) as handle:
        return yaml.safe_load(handle)


def check_config(amtool, path):
    proc = subprocess.run([amtool, 'check-config', str(path)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and 'SUCCESS' in proc.stdout, proc.stdout + proc.stderr
    return proc.stdout


def test_the_shipped_configuration_is_valid(amtool):
    out = check_config(amtool, ALERTMANAGER_CONFIG)
    assert '1 inhibit rules' in out and '2 receivers' in out, out


def test_the_test_copy_is_valid_too(amtool, tmp_path):
    copy = tmp_path / 'alertmanager.yml'
    copy.write_text(yaml.safe_dump(alertmanager_test_config('http://127.0.0.1:9/hook', 25, tmp_path)))
    check_config(amtool, copy)


@pytest.mark.parametrize('labels, receiver', [
    (['severity=critical'], 'chat-and-mail'),
    (['severity=warning'], 'chat'),
    ([], 'chat'),  # an alert without severity still reaches someone
], ids=['critical', 'warning', 'no-severity'])
def test_routing_by_severity(amtool, labels, receiver):
    proc = subprocess.run([amtool, 'config', 'routes', 'test', '--config.file=%s' % ALERTMANAGER_CONFIG,
                           'alertname=TwzrdDiskUsedHigh', 'instance=web1'] + labels,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and proc.stdout.split() == [receiver], proc.stdout + proc.stderr


def test_grouped_by_alert_and_check_across_hosts(config):
    assert config['route']['group_by'] == ['alertname', 'check']
    for route in config['route']['routes']:
        assert 'group_by' not in route  # inherited: one message per alert and check, every host in it


def test_reminders_follow_the_hosts_repeat_hours(config):
    options = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options']['notify']['suboptions']
    assert config['route']['repeat_interval'] == '%dh' % options['repeat_hours']['default'] == '24h'


def test_every_resolved_message_is_sent(config):
    for receiver in config['receivers']:
        for kind in ('webhook_configs', 'email_configs'):
            for channel in receiver.get(kind) or []:
                assert channel['send_resolved'] is True, (receiver['name'], kind)


def test_the_inhibit_rule_covers_every_subject_label_of_the_rules(config):
    """A critical mutes only the warning of the same check on the same host and subject: every label a
    shipped rule names its subject by must be in ``equal`` (a label the rules gain later too)."""
    with open(RULES) as handle:
        text = handle.read()
    named = set(re.findall(r'\$labels\.([a-z_]+)', text)) | {'alertname'}
    named.discard('level')  # the severity itself
    rule = config['inhibit_rules'][0]
    assert rule['source_matchers'] == ['severity="critical"'] and rule['target_matchers'] == ['severity="warning"']
    assert named <= set(rule['equal']), named - set(rule['equal'])
    assert 'instance' in rule['equal'] and 'severity' not in rule['equal']


def test_no_secret_is_written_in_it(config):
    def walk(node, path=''):
        if isinstance(node, dict):
            for key, value in node.items():
                yield from walk(value, '%s.%s' % (path, key))
        elif isinstance(node, list):
            for item in node:
                yield from walk(item, path)
        else:
            yield path, node
    for path, value in walk(config):
        key = path.rsplit('.', 1)[-1]
        if re.search(r'password|secret|credentials|token|api_key|api_url', key):
            assert key.endswith('_file'), path
        assert 'example.com' in str(value) or not re.search(r'https?://', str(value)), path

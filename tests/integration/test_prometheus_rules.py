"""The shipped Prometheus rules, checked and unit-tested with the real promtool (Debian's
`prometheus` package; scripts/install-system-deps.sh): `promtool check rules` on the file,
`promtool test rules` on tests/prometheus/*.yml, and every rule (alert name and severity)
is expected to fire in some test."""
import glob
import os
import shutil
import subprocess

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RULES = os.path.join(ROOT, 'extras', 'prometheus', 'twzrd.rules.yml')
TESTS = sorted(glob.glob(os.path.join(ROOT, 'tests', 'prometheus', '*.yml')))


@pytest.fixture(scope='module')
def promtool():
    path = shutil.which('promtool')
    if not path:
        pytest.fail('promtool not installed: apt-get install prometheus (scripts/install-system-deps.sh)')
    return path


def test_rules_file_is_valid(promtool):
    proc = subprocess.run([promtool, 'check', 'rules', RULES], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'SUCCESS' in proc.stdout


@pytest.mark.parametrize('test_file', TESTS, ids=os.path.basename)
def test_rule_unit_tests_pass(promtool, test_file):
    proc = subprocess.run([promtool, 'test', 'rules', os.path.basename(test_file)], cwd=os.path.dirname(test_file),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _fired_in_tests():
    fired = set()
    for path in TESTS:
        with open(path) as handle:
            doc = yaml.safe_load(handle)
        assert doc['rule_files'] == ['../../extras/prometheus/twzrd.rules.yml'], path
        for case in doc['tests']:
            for check in case.get('alert_rule_test') or []:
                for alert in check.get('exp_alerts') or []:
                    fired.add((check['alertname'], alert['exp_labels'].get('severity')))
    return fired


def _recording_rules_tested():
    tested = set()
    for path in TESTS:
        with open(path) as handle:
            doc = yaml.safe_load(handle)
        for case in doc['tests']:
            tested.update(check['expr'] for check in case.get('promql_expr_test') or [])
    return tested


def test_every_rule_is_covered():
    with open(RULES) as handle:
        rules = [rule for group in yaml.safe_load(handle)['groups'] for rule in group['rules']]
    fired = _fired_in_tests()
    recorded = _recording_rules_tested()
    for rule in rules:
        if 'record' in rule:  # a recording rule: its result is checked by a promql_expr_test
            assert rule['record'] in recorded, '%s is never checked in tests/prometheus' % rule['record']
            continue
        severity = rule['labels']['severity']
        if severity.startswith('{{'):  # templated from the alert's level: both must be seen
            assert (rule['alert'], 'warning') in fired and (rule['alert'], 'critical') in fired, rule['alert']
        else:
            assert (rule['alert'], severity) in fired, '%s (%s) never fires in tests/prometheus' % (rule['alert'], severity)
        assert rule['annotations'].get('summary') and rule['annotations'].get('remediation'), rule['alert']

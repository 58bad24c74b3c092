"""The fleet summary (plugin_utils/fleet_summary.py and its filters): pure functions, no Ansible run."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.twzrd.ops.plugins.filter.fleet_summary import fleet_summary, fleet_summary_render
from ansible_collections.twzrd.ops.plugins.plugin_utils import fleet_summary as fs


def alert(check, level, value, threshold, subject=None):
    found = {'check': check, 'level': level, 'value': value, 'threshold': threshold,
             'message': '%s is %s' % (check, value), 'remediation': 'fix %s' % check}
    if subject:
        found['subject'] = subject
    return found


def module_result(status, alerts=()):
    return {'changed': False, 'status': status, 'alerts': list(alerts), 'metrics': {}}


FAILED_RUN = {'failed': True, 'msg': 'cannot connect', 'status': 'failed',
              'alerts': [alert('job_failed', 'critical', 'connect', 'a successful run')]}
UNREACHABLE = {'unreachable': True, 'changed': False,
               'msg': 'Task failed: Failed to connect to the host via ssh: Connection refused'}


def fleet(**extra):
    results = {
        'web-1': module_result('ok'),
        'web-2': module_result('warning', [alert('swap', 'warning', 35.5, 20)]),
        'db-1': module_result('critical', [alert('load', 'warning', 9, 8),
                                           alert('disk', 'critical', 97.123, 95, subject='/')]),
        'db-2': FAILED_RUN,
        'app-1': UNREACHABLE,
        'app-2': None,
        'app-3': None,
    }
    failures = {'app-3': {'task': 'Check twzrd_fail_on', 'msg': 'twzrd_fail_on must be warning or critical'}}
    return fs.build('alerts', results, failures, generated='2026-12-01T00:00:00Z', **extra)


def test_rows_are_worst_first_then_by_host_with_totals_per_status():
    summary = fleet()
    assert [(row['host'], row['status']) for row in summary['hosts']] == [
        ('app-3', 'failed'), ('db-2', 'failed'), ('app-1', 'unreachable'), ('db-1', 'critical'),
        ('web-2', 'warning'), ('app-2', 'not_run'), ('web-1', 'ok')]
    assert summary['totals'] == {'failed': 2, 'unreachable': 1, 'critical': 1, 'warning': 1, 'not_run': 1, 'ok': 1}
    assert summary['hosts_total'] == 7
    assert fs.totals_line(summary) == '7 hosts: 2 failed, 1 unreachable, 1 critical, 1 warning, 1 not run, 1 ok'


def test_each_row_names_the_top_alert_or_why_the_host_has_none():
    rows = dict((row['host'], row) for row in fleet()['hosts'])
    # the critical alert wins over an earlier warning
    assert (rows['db-1']['check'], rows['db-1']['subject'], rows['db-1']['value'], rows['db-1']['threshold']) == (
        'disk', '/', 97.123, 95)
    assert rows['db-1']['alerts'] == 2
    assert (rows['web-2']['check'], rows['web-2']['value'], rows['web-2']['threshold']) == ('swap', 35.5, 20)
    assert rows['db-2']['check'] == 'job_failed' and rows['db-2']['detail'] == 'job_failed is connect'
    assert rows['app-1']['detail'] == 'Failed to connect to the host via ssh: Connection refused'
    assert rows['app-3']['detail'] == 'twzrd_fail_on must be warning or critical (task: Check twzrd_fail_on)'
    assert rows['app-2']['detail'] == fs.NOT_RUN_DETAIL
    assert rows['web-1']['check'] is None and rows['web-1']['detail'] == ''


def test_a_failure_after_a_good_module_run_makes_the_host_failed_without_the_modules_alert():
    row = fs.host_row('h', module_result('warning', [alert('swap', 'warning', 30, 20)]),
                      {'task': 'Summary', 'msg': "'dict object' has no attribute 'x'"})
    assert row['status'] == 'failed' and row['check'] is None
    assert row['detail'] == "'dict object' has no attribute 'x' (task: Summary)"


def test_module_failure_without_alerts_uses_its_message_and_a_skipped_task_is_not_run():
    assert fs.host_row('h', {'failed': True, 'msg': 'missing required arguments: apps'})['detail'] == (
        'missing required arguments: apps')
    skipped = fs.host_row('h', {'skipped': True, 'skip_reason': 'Conditional result was False'})
    assert (skipped['status'], skipped['detail']) == ('not_run', 'Conditional result was False')
    assert fs.host_row('h', None, None, 'untouched, the rollout stopped')['detail'] == 'untouched, the rollout stopped'
    # a result without a status is not silently "ok"
    assert fs.host_row('h', {'changed': False})['status'] == 'failed'


@pytest.mark.parametrize('fail_on, failing', [
    ('never', ['app-3', 'db-2', 'app-1']),
    ('', ['app-3', 'db-2', 'app-1']),
    ('critical', ['app-3', 'db-2', 'app-1', 'db-1']),
    ('warning', ['app-3', 'db-2', 'app-1', 'db-1', 'web-2']),
])
def test_failing_hosts_always_include_failed_and_unreachable_and_follow_fail_on(fail_on, failing):
    summary = fleet(fail_on=fail_on)
    assert summary['failing'] == failing
    assert summary['fail_on'] == (fail_on or 'never')


def test_bad_fail_on_and_bad_results_are_clear_errors():
    with pytest.raises(fs.SummaryError, match='fail_on must be never, warning or critical'):
        fleet(fail_on='sometimes')
    with pytest.raises(fs.SummaryError, match='results must be a mapping'):
        fs.build('alerts', ['web-1'])


def test_text_table_is_aligned_and_cuts_long_cells():
    summary = fleet()
    summary['hosts'][1]['detail'] = 'x' * 200
    lines = fs.text_lines(summary)
    assert lines[0] == 'twzrd.ops alerts: 7 hosts: 2 failed, 1 unreachable, 1 critical, 1 warning, 1 not run, 1 ok'
    header = lines[1]
    assert header.split() == ['HOST', 'STATUS', 'CHECK', 'VALUE', 'THRESHOLD', 'DETAIL']
    start = header.index('STATUS')
    assert [line[start:start + 11].strip() for line in lines[2:]] == [
        'FAILED', 'FAILED', 'UNREACHABLE', 'CRITICAL', 'WARNING', 'NOT RUN', 'OK']
    assert 'disk /' in lines[5] and '97.12' in lines[5]
    assert lines[3].endswith('x' * 69 + '...') and len(lines[3]) < 200


def test_markdown_has_totals_every_host_and_escapes_pipes():
    summary = fleet(check_mode=True)
    summary['hosts'][0]['detail'] = 'a | b'
    text = fs.markdown(summary)
    assert text.startswith('# twzrd.ops alerts (check mode): fleet summary\n')
    assert '**7 hosts: 2 failed, 1 unreachable, 1 critical, 1 warning, 1 not run, 1 ok**' in text
    table = [line for line in text.splitlines() if line.startswith('| ')]
    assert table[0] == '| Host | Status | Check | Value | Threshold | Detail |'
    assert [line.split(' | ')[0][2:] for line in table[1:]] == ['app-3', 'db-2', 'app-1', 'db-1', 'web-2', 'app-2', 'web-1']
    assert 'a \\| b' in table[1]
    assert text.endswith('\n')


def test_an_empty_run_still_renders():
    summary = fs.build('vacuum', {})
    assert fs.totals_line(summary) == '0 hosts: none'
    assert len(fs.text_lines(summary)) == 2


def test_filter_reads_hostvars_and_reports_bad_arguments():
    hostvars = {'web-1': {'reg': module_result('ok')},
                'web-2': {'reg': module_result('warning', [alert('swap', 'warning', 30, 20)])},
                'web-3': {'twzrd_fleet_failure': {'task': 'Validating arguments', 'msg': 'bad type'}}}
    summary = fleet_summary(hostvars, ['web-1', 'web-2', 'web-3'], 'reg', job='health', fail_on='warning')
    assert [(r['host'], r['status']) for r in summary['hosts']] == [
        ('web-3', 'failed'), ('web-2', 'warning'), ('web-1', 'ok')]
    assert summary['failing'] == ['web-3', 'web-2']
    assert fleet_summary_render(summary, 'text')[0] == 'twzrd.ops health: 3 hosts: 1 failed, 1 warning, 1 ok'
    with pytest.raises(AnsibleFilterError, match='web-9 is not an inventory host'):
        fleet_summary(hostvars, ['web-9'], 'reg')
    with pytest.raises(AnsibleFilterError, match='result must name the variable'):
        fleet_summary(hostvars, ['web-1'], '')
    with pytest.raises(AnsibleFilterError, match='hosts must be a list'):
        fleet_summary(hostvars, 'web-1', 'reg')
    with pytest.raises(AnsibleFilterError, match='fail_on must be'):
        fleet_summary(hostvars, ['web-1'], 'reg', fail_on='always')
    with pytest.raises(AnsibleFilterError, match='output must be text or markdown'):
        fleet_summary_render(summary, 'html')
    with pytest.raises(AnsibleFilterError, match='the input must be the result'):
        fleet_summary_render({'x': 1})

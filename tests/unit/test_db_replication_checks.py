"""The archiving and replication checks of twzrd_db_health (issue 20): collected rows -> metrics, facts, alerts.

The rows are what postgres/collect.py's collect_archiving / collect_replication return (their shape is held to
the real server by tests/integration/test_db_replication_checks.py); the entries are checks/postgres.py's.
"""
import re

import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.checks import postgres as db_entries
from ansible_collections.twzrd.ops.plugins.module_utils.postgres import evaluate
from ansible_collections.twzrd.ops.plugins.module_utils.report import metrics_export as mx
from ansible_collections.twzrd.ops.plugins.module_utils.runs.db_health import CHECKS_OF, unchecked_checks

PARAMS = {'archive_ready_warning': 600.0, 'slot_wal_warning': 1073741824, 'slot_wal_critical': None,
          'replay_lag_warning': 300.0, 'replay_lag_critical': None}
GB = 1073741824


def archiver(**overrides):
    row = {'archive_mode': 'on', 'in_recovery': False, 'archived_count': 10,
           'last_archived_wal': '000000010000000000000009', 'last_archived_time': 1000.0, 'failed_count': 0,
           'last_failed_wal': None, 'last_failed_time': None, 'failed_age': None, 'may_list_ready': True,
           'ready_count': 0, 'oldest_ready_age': None}
    row.update(overrides)
    return row


def archiving(row, **params):
    metrics, facts = evaluate.archiving_metrics(row)
    alerts, readings = evaluate.evaluate_checks([db_entries.ARCHIVING], facts, dict(PARAMS, **params))
    return alerts, metrics, readings


def slot(name, active=False, retained=2 * GB, wal_status='extended', kind='physical'):
    return {'slot': name, 'type': kind, 'active': active, 'database': None, 'wal_status': wal_status,
            'retained_bytes': retained}


def replication(data, **params):
    metrics, facts = evaluate.replication_metrics(data, dict(PARAMS, **params))
    alerts, readings = evaluate.evaluate_checks([db_entries.REPLICATION], facts, dict(PARAMS, **params))
    return alerts, metrics, readings


def standby(**overrides):
    row = {'receive_lsn': '0/3000100', 'replay_lsn': '0/3000000', 'wal_waiting': True, 'waiting_bytes': 256.0,
           'last_replay_age': 400.0, 'paused': False, 'receivers': 1, 'receiver_status': 'streaming',
           'primary_conninfo': True}
    row.update(overrides)
    return {'in_recovery': True, 'standby': row}


def ends_with_runbook(alert, anchor):
    return alert['remediation'].endswith('(docs/runbooks.md#%s)' % anchor)


# -- archiving ---------------------------------------------------------------------------

def test_a_failure_after_the_last_success_is_critical_and_names_the_file():
    alerts, metrics, dummy = archiving(archiver(
        failed_count=3, last_failed_wal='00000001000000000000000A', last_failed_time=1060.0, failed_age=120.0,
        ready_count=2, oldest_ready_age=130.0))
    alert, = alerts
    assert alert['check'] == 'archiving' and alert['level'] == 'critical'
    assert alert['value'] is None and alert['threshold'] is None
    for text in ('00000001000000000000000A', '1970-01-01 00:17:40 UTC', '2min ago', 'failed_count 3',
                 'last success: 000000010000000000000009 at 1970-01-01 00:16:40 UTC', '2 segment(s) waiting'):
        assert text in alert['message'], text
    assert 'until the disk is full' in alert['remediation'] and ends_with_runbook(alert, 'wal-archiving-fails')
    assert metrics['failing'] is True and metrics['ready_count'] == 2 and metrics['oldest_ready_s'] == 130.0


def test_failures_and_never_a_success_are_critical_too():
    alerts, metrics, dummy = archiving(archiver(
        archived_count=0, last_archived_wal=None, last_archived_time=None, failed_count=1,
        last_failed_wal='000000010000000000000001', last_failed_time=5.0, failed_age=3.0))
    assert alerts[0]['level'] == 'critical' and 'last success: never' in alerts[0]['message']
    assert metrics['failing'] is True


def test_a_success_after_a_failure_is_quiet():
    alerts, metrics, readings = archiving(archiver(
        failed_count=4, last_failed_wal='000000010000000000000008', last_failed_time=990.0, failed_age=500.0))
    assert alerts == [] and metrics['failing'] is False
    assert readings == {'archiving': {'value': 0.0, 'warning': 600.0, 'critical': None}}


def test_a_role_that_may_not_list_the_status_dir_says_it_could_not_count():
    alerts, metrics, dummy = archiving(archiver(
        may_list_ready=False, ready_count=None, failed_count=1, last_failed_wal='000000010000000000000010',
        last_failed_time=2000.0, failed_age=1.0))
    assert 'could not be counted' in alerts[0]['message'] and 'pg_monitor' in alerts[0]['message']
    assert metrics['ready_count'] is None and metrics['oldest_ready_s'] is None
    assert 'pg_ls_archive_statusdir' in metrics['ready_unknown']


def test_the_oldest_waiting_segment_warns_above_archive_ready_warning():
    alerts, dummy, readings = archiving(archiver(ready_count=3, oldest_ready_age=900.0))
    alert, = alerts
    assert alert['level'] == 'warning' and alert['value'] == 900.0 and alert['threshold'] == 600.0
    assert '15min' in alert['message'] and '10min' in alert['message'] and '3 segment(s)' in alert['message']
    assert ends_with_runbook(alert, 'wal-archiving-fails')
    assert readings['archiving']['value'] == 900.0
    assert archiving(archiver(ready_count=3, oldest_ready_age=600.0))[0] == []  # equal does not cross


@pytest.mark.parametrize('mode, in_recovery, reason', [
    ('off', False, 'archive_mode is off'),
    ('on', True, 'only archive_mode = always archives during recovery'),
])
def test_nothing_to_check_is_skipped_and_said_so(mode, in_recovery, reason):
    alerts, metrics, readings = archiving(archiver(
        archive_mode=mode, in_recovery=in_recovery, failed_count=1, last_failed_wal='x', last_failed_time=2000.0))
    assert alerts == [] and readings == {} and reason in metrics['skipped']


def test_a_standby_with_archive_mode_always_is_checked():
    alerts, metrics, dummy = archiving(archiver(
        archive_mode='always', in_recovery=True, failed_count=1, last_failed_wal='000000010000000000000011',
        last_failed_time=2000.0, failed_age=1.0))
    assert alerts[0]['level'] == 'critical' and 'skipped' not in metrics


# -- replication: a primary's slots --------------------------------------------------------

def primary(*slots, **extra):
    return dict({'in_recovery': False, 'slots': list(slots), 'max_slot_wal_keep_size': '-1'}, **extra)


def test_an_inactive_slot_over_the_threshold_warns_naming_slot_and_bytes():
    alerts, metrics, readings = replication(primary(slot('old_consumer'), slot('standby_1', active=True)))
    alert, = alerts
    assert alert['subject'] == 'old_consumer' and alert['level'] == 'warning'
    assert alert['value'] == 2 * GB and alert['threshold'] == GB
    assert '2.0 GB' in alert['message'] and '%d bytes' % (2 * GB) in alert['message']
    assert '1.0 GB' in alert['message'] and 'max_slot_wal_keep_size unlimited' in alert['message']
    assert "pg_drop_replication_slot('old_consumer')" in alert['remediation']
    assert ends_with_runbook(alert, 'replication-slots-and-standbys')
    assert metrics['role'] == 'primary' and metrics['inactive_slots'] == 1
    assert [s['slot'] for s in metrics['slots']] == ['old_consumer', 'standby_1']
    assert set(readings) == {'replication:old_consumer'}  # an active slot is not compared


def test_an_active_slot_is_quiet_whatever_it_retains():
    alerts, dummy, dummy = replication(primary(slot('standby_1', active=True, retained=50 * GB)), slot_wal_warning=0)
    assert alerts == []


def test_slot_wal_critical_when_set():
    alerts, dummy, dummy = replication(primary(slot('old', retained=20 * GB)), slot_wal_critical=10 * GB)
    assert alerts[0]['level'] == 'critical' and alerts[0]['threshold'] == 10 * GB


@pytest.mark.parametrize('status, words', [('lost', 'already removed'), ('unreserved', 'next checkpoint')])
@pytest.mark.parametrize('active', [False, True])
def test_a_lost_or_unreserved_slot_is_critical_active_or_not(status, words, active):
    alerts, dummy, dummy = replication(primary(slot('gone', active=active, retained=None, wal_status=status)))
    alert, = alerts
    assert alert['level'] == 'critical' and alert['subject'] == 'gone' and status in alert['message']
    assert words in alert['message'] and "pg_drop_replication_slot('gone')" in alert['remediation']
    assert ends_with_runbook(alert, 'replication-slots-and-standbys')


def test_no_slots_nothing_to_say():
    alerts, metrics, dummy = replication(primary())
    assert alerts == [] and metrics['slots'] == [] and metrics['inactive_slots'] == 0


# -- replication: a standby ---------------------------------------------------------------------

def test_a_standby_lagging_while_wal_waits_warns():
    alerts, metrics, readings = replication(standby())
    alert, = alerts
    assert alert['subject'] == db_entries.STANDBY_SUBJECT and alert['level'] == 'warning'
    assert alert['value'] == 400.0 and alert['threshold'] == 300.0
    assert '6min' in alert['message'] and '5min' in alert['message'] and 'PAUSED' not in alert['message']
    assert metrics['role'] == 'standby' and 'pg_current_wal_lsn' in metrics['skipped']
    assert readings == {'replication:standby-replay': {'value': 400.0, 'warning': 300.0, 'critical': None}}
    critical, dummy, dummy = replication(standby(paused=True), replay_lag_critical=350.0)
    assert critical[0]['level'] == 'critical' and 'PAUSED' in critical[0]['message']


def test_everything_received_replayed_is_no_lag_however_old_the_last_transaction():
    alerts, metrics, dummy = replication(standby(wal_waiting=False, receive_lsn='0/3000000', last_replay_age=86400.0))
    assert alerts == [] and metrics['replay_lag_s'] == 0.0 and 'no lag' in metrics['lag_rule']


def test_no_streamed_wal_means_lag_unknown():
    alerts, metrics, dummy = replication(standby(wal_waiting=False, receive_lsn=None, receivers=1))
    assert alerts == [] and metrics['replay_lag_s'] is None and 'unknown' in metrics['lag_rule']


def test_a_standby_whose_receiver_does_not_stream_warns():
    alerts, metrics, dummy = replication(standby(wal_waiting=False, receivers=0, receiver_status=None))
    alert, = alerts
    assert alert['level'] == 'warning' and 'not streaming' in alert['message'] and 'none' in alert['message']
    assert 'primary_conninfo' in alert['remediation']
    assert ends_with_runbook(alert, 'replication-slots-and-standbys')
    assert metrics['wal_receiver'] == 'none'
    assert replication(standby(wal_waiting=False, receiver_status='waiting'))[0][0]['level'] == 'warning'


def test_an_archive_only_standby_is_not_warned_about_streaming():
    alerts, dummy, dummy = replication(standby(wal_waiting=False, receive_lsn=None, receivers=0,
                                               receiver_status=None, primary_conninfo=False))
    assert alerts == []


def test_a_role_that_cannot_see_the_receiver_status_is_not_warned():
    alerts, metrics, dummy = replication(standby(wal_waiting=False, receiver_status=None, primary_conninfo=None))
    assert alerts == [] and metrics['wal_receiver'].startswith('unknown')


# -- the run and the export ----------------------------------------------------------------------

def test_a_failed_query_leaves_its_check_unchecked():
    assert CHECKS_OF['archiving'] == ('archiving',) and CHECKS_OF['replication'] == ('replication',)
    assert unchecked_checks(['replication']) == ['replication']
    assert {'archiving', 'replication'} <= set(unchecked_checks(['settings']))


def samples(families):
    return dict(((name, frozenset(zip(labels, values))), value)
                for name, dummy_kind, dummy_help, labels, rows in families for values, value in rows)


def key(name, **labels):
    return (name, frozenset(dict(twzrd_job='db_health', database='app', **labels).items()))


def test_prometheus_series_of_a_primary():
    dummy, arch, dummy = archiving(archiver(failed_count=1, last_failed_wal='x', last_failed_time=2000.0,
                                            failed_age=1.0, ready_count=4, oldest_ready_age=30.0))
    dummy, repl, dummy = replication(primary(slot('old'), slot('standby_1', active=True)))
    got = samples(mx.build_families('db_health', 'app', {'alerts': [], 'metrics': {
        'connected': True, 'archiving': arch, 'replication': repl}}, 'critical', 1.0, 2.0))
    assert got[key('twzrd_pg_archive_failing')] == 1
    assert got[key('twzrd_pg_archive_ready_segments')] == 4
    assert got[key('twzrd_pg_archive_oldest_ready_seconds')] == 30.0
    assert got[key('twzrd_pg_in_recovery')] == 0
    assert got[key('twzrd_pg_replication_slot_retained_bytes', slot='old')] == 2 * GB
    assert key('twzrd_pg_replication_slot_retained_bytes', slot='standby_1') not in got  # active
    assert not [k for k in got if k[0] in ('twzrd_pg_replay_lag_seconds', 'twzrd_pg_wal_receiver_streaming')]


def test_prometheus_series_of_a_standby_and_of_skipped_checks():
    dummy, arch, dummy = archiving(archiver(in_recovery=True))
    dummy, repl, dummy = replication(standby(receivers=0, receiver_status=None))
    got = samples(mx.build_families('db_health', 'app', {'alerts': [], 'metrics': {
        'connected': True, 'archiving': arch, 'replication': repl}}, 'warning', 1.0, 2.0))
    assert not [k for k in got if k[0].startswith('twzrd_pg_archive')]  # skipped on a standby with mode on
    assert got[key('twzrd_pg_in_recovery')] == 1 and got[key('twzrd_pg_replay_lag_seconds')] == 400.0
    assert got[key('twzrd_pg_wal_receiver_streaming')] == 0
    dummy, repl, dummy = replication(standby(receivers=0, receiver_status=None, primary_conninfo=False))
    got = samples(mx.build_families('db_health', 'app', {'alerts': [], 'metrics': {'replication': repl}}, 'ok', 1, 2))
    assert key('twzrd_pg_wal_receiver_streaming') not in got  # archive-only: nothing to stream


def test_the_standby_subject_can_never_be_a_slot_name():
    assert not re.match(r'^[a-z0-9_]+$', db_entries.STANDBY_SUBJECT)

"""twzrd_db_health's archiving and replication checks against real clusters (issue 20).

One primary for the module (archive_mode on, archiving with ``cp`` into a directory of its own) and a
streaming hot standby made from it with pg_basebackup through the physical slot ``standby_slot``; the
archive_mode-off case uses the session cluster (archive_mode is off there).  The tests run in file order
and each leaves the pair as it found it (archiving working, no extra slot, replay running), except the
last, which stops the primary.  The module runs the cron way (harness.run_module).
"""
import os
import pwd
import time

import pytest

from harness import run_module
from pg_harness import PG_USER, PgCluster, PgStandby

STANDBY_SUBJECT = 'standby-replay'


def health(cluster, tmp_path, user=PG_USER, **extra):
    args = cluster.conn_params('postgres', user=user)
    args.update(state_file=str(tmp_path / ('state-%s.json' % user)))
    args.update(extra)
    rc, result, out, err = run_module('twzrd_db_health', args, tmp_path)
    assert rc == 0 and result is not None, (out, err)
    assert not [a for a in result['alerts'] if a['message'].startswith('check ')], result['alerts']
    # a role that may not read the sequences leaves that check unchecked (pgcat's); ours are always looked at
    assert result['unchecked'] == [] if user == PG_USER else not {'archiving', 'replication'} & set(result['unchecked'])
    return result


def by_check(result, check):
    return [a for a in result['alerts'] if a['check'] == check]


def query(cluster, sql, args=None):
    conn = cluster.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchone() if cur.description else None
    finally:
        conn.close()


def wait_until(what, predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError('timed out waiting for %s' % what)
        time.sleep(0.1)


def write_wal(cluster, rows=20000):
    """Some writes, then a switch to a new WAL segment (the old one goes to the archiver): its file name."""
    cluster.execute(['CREATE TABLE IF NOT EXISTS filler (id bigserial PRIMARY KEY, payload text)',
                     "INSERT INTO filler (payload) SELECT md5(g::text) FROM generate_series(1, %d) g" % rows])
    return query(cluster, 'SELECT pg_walfile_name(pg_switch_wal())')[0]


def set_archive_command(cluster, command):
    cluster.execute(["ALTER SYSTEM SET archive_command = '%s'" % command.replace("'", "''"),
                     'SELECT pg_reload_conf()'])


def archiving_works(cluster):
    """Archiving is back: the last success is later than any failure and nothing waits."""
    row = query(cluster, "SELECT last_failed_time IS NULL OR last_archived_time > last_failed_time, "
                         "(SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready') FROM pg_stat_archiver")
    return row[0] and row[1] == 0


def restore_archiving(cluster):
    set_archive_command(cluster, cluster.archive_command)
    write_wal(cluster, rows=10)  # wakes the archiver, which retries the waiting segments first
    wait_until('archiving to work again', lambda: archiving_works(cluster))


@pytest.fixture(scope='module')
def pair():
    """A primary archiving with cp into ARCHIVEDIR and its standby streaming through slot standby_slot."""
    try:
        primary = PgCluster()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    archive = os.path.join(primary.base, 'archive')
    os.makedirs(archive)
    if os.geteuid() == 0:
        owner = pwd.getpwnam(PG_USER)
        os.chown(archive, owner.pw_uid, owner.pw_gid)
    primary.archive_dir = archive
    primary.archive_command = 'cp %%p %s/%%f' % archive
    primary.settings.update(archive_mode='on', archive_command="'%s'" % primary.archive_command)
    standby = PgStandby(primary, slot='standby_slot')
    try:
        primary.start()
        for role in ('twzrd_plain', 'twzrd_monitor'):
            primary.execute('CREATE ROLE %s LOGIN' % role)
        primary.execute('GRANT pg_monitor TO twzrd_monitor')
        standby.start()
        standby.wait_caught_up()
        yield primary, standby
    finally:
        standby.cleanup()
        primary.cleanup()


def test_a_failing_archive_command_is_critical_and_names_the_file(pair, tmp_path):
    primary, dummy = pair
    set_archive_command(primary, 'false')
    try:
        failed = write_wal(primary)
        wait_until('the archiver to fail on %s' % failed, lambda: query(
            primary, 'SELECT last_failed_wal = %s FROM pg_stat_archiver', (failed,))[0])

        result = health(primary, tmp_path)
        alert, = by_check(result, 'archiving')
        assert alert['level'] == 'critical' and result['status'] == 'critical'
        assert failed in alert['message'] and 'failed_count' in alert['message']
        assert 'segment(s) waiting in pg_wal' in alert['message']
        assert 'pg_wal' in alert['remediation'] and alert['remediation'].endswith('(docs/runbooks.md#wal-archiving-fails)')
        archiving = result['metrics']['archiving']
        assert archiving['failing'] is True and archiving['last_failed_wal'] == failed
        assert archiving['ready_count'] >= 1 and archiving['failed_count'] >= 1

        # pg_monitor may list pg_wal/archive_status; a plain role sees the failure and says it could not count
        monitor = health(primary, tmp_path, user='twzrd_monitor')
        assert by_check(monitor, 'archiving')[0]['level'] == 'critical'
        assert monitor['metrics']['archiving']['ready_count'] >= 1
        plain = health(primary, tmp_path, user='twzrd_plain')
        alert, = by_check(plain, 'archiving')
        assert alert['level'] == 'critical' and failed in alert['message']
        assert 'could not be counted' in alert['message']
        assert plain['metrics']['archiving']['ready_count'] is None
        assert 'pg_ls_archive_statusdir' in plain['metrics']['archiving']['ready_unknown']
    finally:
        restore_archiving(primary)


def test_a_working_archive_is_quiet(pair, tmp_path):
    primary, dummy = pair
    segment = write_wal(primary)
    wait_until('%s archived' % segment, lambda: os.path.exists(os.path.join(primary.archive_dir, segment)))
    wait_until('nothing waiting', lambda: archiving_works(primary))
    result = health(primary, tmp_path, archive_ready_warning=1)
    assert by_check(result, 'archiving') == []
    archiving = result['metrics']['archiving']
    assert archiving['archive_mode'] == 'on' and archiving['failing'] is False
    assert archiving['ready_count'] == 0 and archiving['oldest_ready_s'] == 0.0
    assert archiving['last_archived_wal'] >= segment


def test_a_slow_archiver_warns_when_a_segment_waits_too_long(pair, tmp_path):
    primary, dummy = pair
    gate = os.path.join(primary.base, 'archive-go')  # the archive_command waits until it exists
    set_archive_command(primary, 'while [ ! -e %s ]; do sleep 0.1; done && %s' % (gate, primary.archive_command))
    try:
        write_wal(primary)
        time.sleep(2.2)
        result = health(primary, tmp_path, archive_ready_warning=1)
        alert, = by_check(result, 'archiving')
        assert alert['level'] == 'warning' and alert['value'] >= 2 and alert['threshold'] == 1
        assert 'waiting for the archiver' in alert['message'] and '1 segment(s) waiting' in alert['message']
        # the same run with the default (10 min) is quiet
        assert by_check(health(primary, tmp_path), 'archiving') == []
    finally:
        open(gate, 'w').close()
        restore_archiving(primary)


def test_archive_mode_off_is_skipped_and_said_so(pg_cluster, tmp_path):
    result = health(pg_cluster, tmp_path, archive_ready_warning=0)
    assert by_check(result, 'archiving') == []
    archiving = result['metrics']['archiving']
    assert archiving['archive_mode'] == 'off' and 'archive_mode is off' in archiving['skipped']
    assert 'failing' not in archiving
    assert result['metrics']['replication']['role'] == 'primary'


def test_an_unused_slot_warns_with_the_wal_it_retains(pair, tmp_path):
    primary, standby = pair
    primary.execute("SELECT pg_create_physical_replication_slot('old_consumer', true)")
    try:
        write_wal(primary, rows=50000)
        result = health(primary, tmp_path, slot_wal_warning=1048576)
        alert, = by_check(result, 'replication')
        assert alert['subject'] == 'old_consumer' and alert['level'] == 'warning'
        retained = query(primary, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) FROM pg_replication_slots "
                                  "WHERE slot_name = 'old_consumer'")[0]
        assert 1048576 < alert['value'] <= retained and alert['threshold'] == 1048576
        assert 'old_consumer' in alert['message'] and '%d bytes' % alert['value'] in alert['message']
        assert "pg_drop_replication_slot('old_consumer')" in alert['remediation']
        assert 'max_slot_wal_keep_size' in alert['remediation']
        slots = dict((slot['slot'], slot) for slot in result['metrics']['replication']['slots'])
        assert slots['standby_slot']['active'] is True and slots['old_consumer']['active'] is False
        assert result['metrics']['replication']['inactive_slots'] == 1
        # the default threshold (1 GB) is not crossed
        assert by_check(health(primary, tmp_path), 'replication') == []
    finally:
        primary.execute("SELECT pg_drop_replication_slot('old_consumer')")
    # the standby's slot is active: quiet, whatever the threshold
    result = health(primary, tmp_path, slot_wal_warning=0)
    assert by_check(result, 'replication') == []


def test_the_standby_is_recognised_and_primary_checks_are_skipped(pair, tmp_path):
    primary, standby = pair
    standby.wait_caught_up()
    time.sleep(1.5)  # the primary idle longer than the lag threshold: everything replayed, so no lag
    result = health(standby, tmp_path, replay_lag_warning=1, slot_wal_warning=0)
    assert result['status'] == 'ok', result['alerts']
    replication = result['metrics']['replication']
    assert replication['role'] == 'standby' and replication['in_recovery'] is True
    assert 'pg_current_wal_lsn' in replication['skipped'] and 'slots' not in replication
    assert replication['replay_lag_s'] == 0.0 and 'everything received is replayed' in replication['lag_rule']
    assert replication['wal_receiver'] == 'streaming' and replication['paused'] is False
    archiving = result['metrics']['archiving']
    assert archiving['archive_mode'] == 'on' and 'standby' in archiving['skipped']
    # the other checks ran as on a primary
    for name in ('connections', 'database_size', 'tables', 'wraparound', 'latency'):
        assert result['metrics'].get(name), name
    # pg_monitor sees the WAL receiver; a plain role cannot, and is told so rather than warned
    assert health(standby, tmp_path, user='twzrd_monitor')['metrics']['replication']['wal_receiver'] == 'streaming'
    plain = health(standby, tmp_path, user='twzrd_plain')
    assert by_check(plain, 'replication') == []
    assert plain['metrics']['replication']['wal_receiver'].startswith('unknown')
    assert plain['metrics']['replication']['role'] == 'standby'


def test_paused_replay_warns_and_resuming_clears_it(pair, tmp_path):
    primary, standby = pair
    standby.execute('SELECT pg_wal_replay_pause()')
    try:
        wait_until('replay paused', lambda: query(standby, 'SELECT pg_get_wal_replay_pause_state()')[0] == 'paused')
        primary.execute("INSERT INTO filler (payload) VALUES ('while the standby is paused')")
        wait_until('WAL waiting on the standby', lambda: query(
            standby, 'SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()')[0])
        time.sleep(1.5)
        result = health(standby, tmp_path, replay_lag_warning=1)
        alert, = by_check(result, 'replication')
        assert alert['subject'] == STANDBY_SUBJECT and alert['level'] == 'warning' and alert['value'] > 1
        assert 'PAUSED' in alert['message'] and 'pg_wal_replay_resume()' in alert['remediation']
        assert result['metrics']['replication']['paused'] is True
        critical = health(standby, tmp_path, replay_lag_warning=0.5, replay_lag_critical=1)
        assert by_check(critical, 'replication')[0]['level'] == 'critical'
    finally:
        standby.execute('SELECT pg_wal_replay_resume()')
    standby.wait_caught_up()
    result = health(standby, tmp_path, replay_lag_warning=1)
    assert by_check(result, 'replication') == []
    assert result['metrics']['replication']['replay_lag_s'] == 0.0


def test_a_standby_that_lost_its_primary_warns(pair, tmp_path):
    """Last: stops the primary (the fixture cleans both up)."""
    primary, standby = pair
    primary.stop()
    wait_until('the WAL receiver gone', lambda: query(
        standby, "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'")[0] == 0)
    result = health(standby, tmp_path)
    alert, = by_check(result, 'replication')
    assert alert['subject'] == STANDBY_SUBJECT and alert['level'] == 'warning'
    assert 'not streaming' in alert['message'] or 'WAL receiver' in alert['message']
    assert 'primary_conninfo' in alert['remediation']
    assert alert['remediation'].endswith('(docs/runbooks.md#replication-slots-and-standbys)')

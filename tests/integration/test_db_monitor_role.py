"""twzrd_db_health under a role without pg_monitor (issue 17 item 11): real PostgreSQL 15 cluster.

Such a role sees only its own sessions in pg_stat_activity: another session's
long transaction is invisible to it.  The run must say so (result, message,
metrics) with the grant to add, and never export what it cannot see as 0.
"""
import re
import time

import pytest

from harness import run_module
from ansible_collections.twzrd.ops.plugins.module_utils.core.logline import parse_line

ROLE = 'twzrd_plain'
SAMPLE = re.compile(r'^(\w+)(?:\{(.*)\})? (\S+)$')


def samples(path):
    found = {}
    for line in path.read_text().splitlines():
        match = SAMPLE.match(line)
        if match:
            labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', match.group(2) or '')))
            found[(match.group(1), labels)] = float(match.group(3))
    return found


def prom_file(tmp_path):
    files = sorted((tmp_path / 'textfile').glob('*.prom'))
    assert len(files) == 1, files
    return files[0]


def series(found, name, **labels):
    return [value for (metric, have), value in found.items()
            if metric == name and all((k, v) in have for k, v in labels.items())]


@pytest.fixture
def plain_role(pg_cluster):
    pg_cluster.execute(['DROP ROLE IF EXISTS %s' % ROLE, 'CREATE ROLE %s LOGIN' % ROLE])  # PUBLIC may CONNECT
    yield ROLE
    pg_cluster.execute('DROP ROLE IF EXISTS %s' % ROLE)


@pytest.fixture
def long_transaction(pg_cluster, pg_db):
    """Another session (postgres) with an open transaction, idle in it for over a second."""
    conn = pg_cluster.connect(pg_db, autocommit=False, application_name='forgotten-txn')
    conn.cursor().execute('SELECT txid_current()')
    time.sleep(1.5)
    yield conn
    conn.close()


def run_health(pg_cluster, pg_db, tmp_path, role):
    args = pg_cluster.conn_params(pg_db, user=role)
    args.update(state_file=str(tmp_path / 'state.json'), log_file=str(tmp_path / 'db.log'),
                textfile_dir=str(tmp_path / 'textfile'), transaction_age_warning=1, idle_in_transaction_warning=1)
    (tmp_path / 'textfile').mkdir(exist_ok=True)
    rc, result, out, err = run_module('twzrd_db_health', args, tmp_path)
    assert rc == 0, out + err
    return result


def test_role_without_pg_monitor_says_it_is_blind_and_exports_no_false_zero(  # pylint: disable=unused-argument
        pg_cluster, pg_db, plain_role, long_transaction, tmp_path):
    result = run_health(pg_cluster, pg_db, tmp_path, plain_role)

    assert result['status'] == 'warning', result['alerts']
    blind = [a for a in result['alerts'] if a['check'] == 'pg_monitor']
    assert len(blind) == 1, result['alerts']
    assert blind[0]['level'] == 'warning'
    assert 'GRANT pg_monitor TO %s' % ROLE in blind[0]['remediation']
    assert 'docs/runbooks.md#' in blind[0]['remediation']
    assert ROLE in blind[0]['message'] and 'own sessions' in blind[0]['message']
    assert 'GRANT pg_monitor TO %s' % ROLE in result['message']
    visibility = result['metrics']['visibility']
    assert visibility['role'] == ROLE and visibility['all_sessions'] is False
    assert visibility['hidden_sessions'] >= 1  # the forgotten transaction
    connections = result['metrics']['connections']
    assert connections['total'] >= 2  # it counts the session it cannot look into
    assert connections['oldest_transaction_s'] is None
    assert connections['idle_in_transaction_max_s'] is None
    assert connections['idle_in_transaction'] is None

    found = samples(prom_file(tmp_path))
    assert series(found, 'twzrd_pg_sees_all_sessions') == [0.0]
    assert series(found, 'twzrd_pg_oldest_transaction_seconds') == []
    assert series(found, 'twzrd_pg_idle_in_transaction_max_seconds') == []
    assert series(found, 'twzrd_pg_connections', state='idle_in_transaction') == []
    assert series(found, 'twzrd_pg_connections', state='not_visible')[0] >= 1
    assert sum(series(found, 'twzrd_pg_connections')) == connections['total']
    assert series(found, 'twzrd_alert', check='pg_monitor', level='warning') == [1.0]
    line = parse_line((tmp_path / 'db.log').read_text().splitlines()[-1])
    assert line['status'] == 'warning'


def test_after_the_grant_the_same_role_sees_the_long_transaction(  # pylint: disable=unused-argument
        pg_cluster, pg_db, plain_role, long_transaction, tmp_path):
    pg_cluster.execute('GRANT pg_monitor TO %s' % ROLE)
    result = run_health(pg_cluster, pg_db, tmp_path, plain_role)

    checks = set(a['check'] for a in result['alerts'])
    assert 'pg_monitor' not in checks and {'transaction_age', 'idle_in_transaction'} <= checks
    assert result['metrics']['visibility']['all_sessions'] is True
    assert result['metrics']['visibility']['via'] == 'pg_monitor'
    assert result['metrics']['connections']['oldest_transaction_s'] >= 1
    found = samples(prom_file(tmp_path))
    assert series(found, 'twzrd_pg_sees_all_sessions') == [1.0]
    assert series(found, 'twzrd_pg_oldest_transaction_seconds')[0] >= 1

"""One module skeleton (plugins/module_utils/core/job_module.py): a database that is down is a critical alert in
twzrd_db_health and twzrd_vacuum alike, never a module failure; bad parameters are a failure in both."""
import pytest

from harness import run_module
from pg_harness import PgCluster


@pytest.fixture
def own_cluster():
    """A cluster of its own: this test stops it."""
    cluster = PgCluster()
    cluster.start()
    yield cluster
    cluster.cleanup()


def run(module, args, tmp_path, **more):
    rc, result, out, err = run_module(module, dict(args, state_file=str(tmp_path / ('%s.json' % module)), **more),
                                      tmp_path)
    assert result is not None and 'Traceback' not in err, (rc, out, err)
    return rc, result


@pytest.mark.parametrize('module', ['twzrd_db_health', 'twzrd_vacuum'])
def test_a_stopped_database_is_a_critical_alert_not_a_failure(own_cluster, tmp_path, module):
    args = own_cluster.conn_params('postgres')
    log = str(tmp_path / 'job.log')
    rc, up = run(module, args, tmp_path, log_file=log)
    assert rc == 0 and not up.get('failed') and not [a for a in up['alerts'] if a['check'] == 'connection'], up
    own_cluster.stop()
    rc, down = run(module, args, tmp_path, log_file=log)
    assert rc == 0 and not down.get('failed'), down
    assert down['status'] == 'critical' and down['twzrd_reported'] is True
    connection = [a for a in down['alerts'] if a['check'] == 'connection']
    assert len(connection) == 1 and connection[0]['level'] == 'critical', down['alerts']
    assert 'postgresql-down-or-refusing-connections' in connection[0]['remediation']
    with open(log) as handle:
        lines = handle.read().splitlines()
    assert len(lines) == 2 and 'status=critical' in lines[1] and 'status=failed' not in lines[1], lines


@pytest.mark.parametrize('module', ['twzrd_db_health', 'twzrd_vacuum'])
def test_bad_parameters_are_a_failure_that_writes_nothing(tmp_path, module):
    rc, result = run(module, {'login_port': 0, 'log_file': str(tmp_path / 'job.log')}, tmp_path)
    assert rc == 1 and result['failed'] and 'login_port' in result['msg'], result
    assert not (tmp_path / 'job.log').exists() and not (tmp_path / ('%s.json' % module)).exists()

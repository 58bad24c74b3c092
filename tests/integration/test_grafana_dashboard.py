"""Issue 21 item 5: every query of the shipped Grafana dashboard (extras/grafana/twzrd.json) returns data from a
real Prometheus (Debian's 2.42) scraping a simulated host whose textfiles the modules wrote: the hourly alerts job
with a real PM2 app and the daily db_health job against a real PostgreSQL 15."""
import json
import os

import pytest

import fleet_harness
from fleet_harness import FleetHost, Prometheus, finish, wait_until
from harness import ROOT, run_module

DASHBOARD = os.path.join(ROOT, 'extras', 'grafana', 'twzrd.json')
QUIET = {'disk_paths': ['/'], 'disk_warning': 99.8, 'disk_critical': 99.9, 'load_warning': 1000,
         'load_critical': 2000, 'swap_warning': 99.8, 'swap_critical': 99.9}


def dashboard():
    with open(DASHBOARD) as handle:
        return json.load(handle)


def queries(board):
    """(panel title, expr) of every panel target, with the dashboard's variables as Grafana fills them for 'All'."""
    found = []
    for panel in board['panels']:
        for target in panel.get('targets', []):
            found.append((panel['title'], target['expr'].replace('$instance', '.*')))
    return found


def test_the_dashboard_is_well_formed():
    board = dashboard()
    ids = [panel['id'] for panel in board['panels']]
    assert len(ids) == len(set(ids))
    assert [v['name'] for v in board['templating']['list']] == ['datasource', 'instance']
    titles = [panel['title'] for panel in board['panels'] if panel['type'] == 'row']
    assert titles == ['Jobs', 'Host', 'PM2', 'PostgreSQL']
    for panel in board['panels']:
        grid = panel['gridPos']
        assert grid['x'] + grid['w'] <= 24, panel['title']
        if panel['type'] != 'row':
            assert panel['targets'] and panel['datasource']['uid'] == '${datasource}', panel['title']
    assert len(queries(board)) >= 12


@pytest.fixture
def host(tmp_path, pm2, pg_cluster, pg_db):
    try:
        fleet_harness.require(fleet_harness.PROMETHEUS)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    pm2.start('steady.js', 'web')
    pm2.wait_for(lambda procs: any(p['pm2_env']['status'] == 'online' for p in procs))
    fleet = FleetHost('web-1', tmp_path / 'hosts').start()
    try:
        [alerts] = finish(fleet.run_alerts(dict(QUIET, pm2_bin=pm2.bin, pm2_home=pm2.home)))
        assert alerts['status'] == 'ok', alerts
        conn = pg_cluster.connect(pg_db)
        with conn.cursor() as cur:
            cur.execute('CREATE TABLE events (id int PRIMARY KEY, v text)')
            cur.execute('INSERT INTO events SELECT g, g::text FROM generate_series(1, 1000) g')
            cur.execute('DELETE FROM events WHERE id % 2 = 0')
        conn.close()
        # 500 dead rows over a warning at 100: one firing check for the alerts panel
        args = dict(pg_cluster.conn_params(pg_db), state_file=fleet.state_file, textfile_dir=fleet.textfile_dir,
                    dead_rows_warning=100)
        rc, result, out, err = run_module('twzrd_db_health', args, tmp_path)
        assert result is not None and [a['check'] for a in result['alerts']] == ['dead_rows'], (out, err)
        yield fleet
    finally:
        fleet.stop()


def test_every_panel_query_returns_data(tmp_path, host):
    prometheus = Prometheus(tmp_path / 'prometheus', {host.name: host.address})
    prometheus.start()
    try:
        wait_until(lambda: prometheus.targets_up() == {host.name: 'up'}, 30, 'the host scraped')
        empty = []
        for title, expr in queries(dashboard()):
            try:
                # increase() needs two samples of the counter: a few scrapes (1 s apart)
                wait_until(lambda expr=expr: prometheus.query(expr), 15, 'data for %s' % expr)
            except AssertionError:
                empty.append((title, expr))
        assert empty == [], empty
    finally:
        prometheus.stop()

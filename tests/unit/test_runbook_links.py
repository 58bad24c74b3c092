"""Every alert links its runbook section and states its threshold (issue 10: runbooks, item 9).

Each check is triggered once with recorded inputs; a scan of the source makes sure no check
(a ``make_alert('name', ...)`` anywhere in plugins/) is missing from the triggers, so a new check
without a runbook link fails here.  The anchors come from the headings of docs/runbooks.md.
"""
import ast
import glob
import importlib.util
import os
import re

import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.report import alerting
from ansible_collections.twzrd.ops.plugins.module_utils.core.units import human_bytes, human_seconds
from ansible_collections.twzrd.ops.plugins.module_utils.postgres import evaluate as db_checks
from ansible_collections.twzrd.ops.plugins.module_utils.checks import postgres as db_entries
from ansible_collections.twzrd.ops.plugins.module_utils.runs import db_health
from ansible_collections.twzrd.ops.plugins.module_utils.postgres import vacuum as db_vacuum
from ansible_collections.twzrd.ops.plugins.module_utils.checks import forecast
from ansible_collections.twzrd.ops.plugins.module_utils.host import evaluate as health_checks
from ansible_collections.twzrd.ops.plugins.module_utils.postgres import connection as postgres
from ansible_collections.twzrd.ops.plugins.module_utils.probes import http_check, postgres_ping
from ansible_collections.twzrd.ops.plugins.modules import pm2_restart

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNBOOK = os.path.join(ROOT, 'docs', 'runbooks.md')
POINTER = re.compile(r'\(docs/runbooks\.md#([a-z0-9-]+)\)$')


def slug(heading):
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r'[^\w\- ]', '', heading.strip().lower())
    return text.replace(' ', '-')


def runbook_anchors():
    with open(RUNBOOK) as handle:
        return set(slug(line.lstrip('#')) for line in handle if re.match(r'^#{2,3} ', line))


SETTINGS = {'max_connections': 100, 'autovacuum': True, 'autovacuum_vacuum_threshold': 50,
            'autovacuum_vacuum_scale_factor': 0.2}


def backend(pid, state='idle', xact_age=None, state_age=1.0):
    return {'pid': pid, 'own': False, 'state': state, 'xact_age': xact_age, 'state_age': state_age,
            'user': 'app', 'application_name': 'api', 'database': 'app'}


def table(name, dead=0, has_pk=True):
    return {'schema': 'public', 'name': name, 'kind': 'r', 'has_pk': has_pk, 'reltuples': 1000,
            'reloptions': None, 'live_rows': 1000, 'dead_rows': dead, 'bytes': 8192}


def vacuum_target(name, status, message=None):
    return {'schema': 'public', 'name': name, 'table': 'public.' + name, 'status': status, 'message': message,
            'dead_rows_before': 20000, 'bytes_before': 8192, 'reason': 'requested'}


# collect_activity rows: a 40-minute query, a 2-minute one, a session waiting 10 min for a lock held by an idle one
ACTIVITY = [
    {'pid': 700, 'user': 'app', 'application_name': 'api', 'database': 'app', 'state': 'active',
     'backend_type': 'client backend', 'wait_event_type': None, 'query_age': 2400.0, 'lock_wait': None,
     'wait_from_locks': False, 'blockers': None, 'query': 'SELECT * FROM t WHERE card = ?'},
    {'pid': 701, 'user': 'app', 'application_name': 'api', 'database': 'app', 'state': 'active',
     'backend_type': 'client backend', 'wait_event_type': 'Lock', 'query_age': 600.0, 'lock_wait': 600.0,
     'wait_from_locks': True, 'blockers': [702], 'query': 'UPDATE t SET v = ? WHERE id = ?'},
    {'pid': 702, 'user': 'admin', 'application_name': 'psql', 'database': 'app', 'state': 'idle in transaction',
     'backend_type': 'client backend', 'wait_event_type': 'Client', 'query_age': 900.0, 'lock_wait': None,
     'wait_from_locks': False, 'blockers': None, 'query': 'LOCK TABLE t'},
]


def all_alerts():
    """One alert (at least) of every check the collection raises."""
    alerts = []
    alerts += health_checks.check_swap({'present': True, 'used_percent': 85.0, 'used_bytes': 2 << 30,
                                        'total_bytes': 4 << 30}, 20, 80)
    alerts += health_checks.check_load({'load1': 9.5, 'cpu_count': 2}, 8, 12)
    alerts += health_checks.check_disks({'/': {'used_percent': 90.0, 'free_bytes': 1 << 30},
                                         '/gone': {'error': 'No such file or directory'}}, 85, 95)
    apps = health_checks.summarize_apps([{'name': 'api', 'pm_id': 0, 'exec_mode': 'fork', 'status': 'errored',
                                          'restart_time': 5}], {})
    alerts += health_checks.check_pm2_crashes(apps, 0)
    alerts += health_checks.check_pm2_presence(False, {}, ['api'], '/home/app/.pm2')
    alerts += health_checks.check_pm2_presence(True, {}, ['web'], '/home/app/.pm2')
    alerts.append(health_checks.pm2_query_failed('timeout'))
    alerts += health_checks.check_log_errors({'total': 40, 'sources': [{'source': 'api', 'errors': 30}]}, 10, 7)
    alerts += health_checks.check_report_crash_restarts({'2026-12-01': {'api': 94}}, ['2026-12-01'], 5, 50)
    alerts += health_checks.check_log_errors_per_day({'sources': [{'per_day': {'2026-12-01': 93}}]}, ['2026-12-01'], 10, 500)
    probe = {'url': 'http://127.0.0.1:8080/health', 'expected_status': 200, 'latency_warning_ms': 1000.0,
             'timeout': 5.0, 'error': None}
    alerts += http_check.evaluate({'down': dict(probe, status=None, latency_ms=None, error='connection refused'),
                                   'broken': dict(probe, status=500, latency_ms=3.0),
                                   'slow': dict(probe, status=200, latency_ms=1500.0)})
    alerts += postgres_ping.evaluate({
        '127.0.0.1:5432': {'target': '127.0.0.1:5432', 'answer': 'no_response', 'latency_ms': None,
                           'error': 'connection refused: no server listens there'},
        '/run/pg/.s.PGSQL.5432': {'target': '/run/pg/.s.PGSQL.5432', 'answer': 'rejecting', 'latency_ms': 1.0,
                                  'error': 'the database system is starting up (SQLSTATE 57P03)'}})

    backends = [backend(i) for i in range(90)]
    backends += [backend(900, 'active', xact_age=7200.0), backend(901, 'idle in transaction', 60.0, state_age=900.0)]
    alerts += db_checks.evaluate_connections(backends, SETTINGS, 80, 95, 3600, None, 600)[0]
    alerts += db_checks.evaluate_visibility({'role': 'app', 'superuser': False, 'pg_monitor': False}, backends)[0]
    alerts += db_checks.evaluate_sizes([{'database': 'app', 'bytes': 2000}], {'app': [[0, 1000]]}, 86400.0,
                                       10, 500)[0]
    alerts += db_checks.evaluate_primary_keys([table('audit_log', has_pk=False)])[0]
    alerts += db_checks.evaluate_dead_rows([table('events', dead=150000)], SETTINGS, 100000)[0]
    alerts += db_checks.evaluate_wraparound([{'database': 'app', 'xid_age': 1200000000}], 1000000000, 1500000000)[0]
    alerts += db_checks.evaluate_migrations('public.schema_migrations', None, None)[0]
    alerts += db_checks.evaluate_migrations('public.schema_migrations', 10, 12)[0]
    alerts += db_checks.evaluate_expected_tables([('public', 'epochs')], set())[0]
    alerts += db_checks.evaluate_latency([80.0, 90.0, 85.0], 50)[0]
    # issue 20: a serial at 95 %, a sequence the role cannot read, an invalid index
    serial = {'schema': 'public', 'name': 'orders_id_seq', 'sequence_sql': 'public.orders_id_seq', 'type': 'integer',
              'increment': 1, 'min_value': 1, 'max_value': 2147483647, 'cycle': False, 'readable': True,
              'busy': False, 'last_value': 2040109465, 'table_schema': 'public', 'table_name': 'orders',
              'column_name': 'id', 'table_sql': 'public.orders', 'column_sql': 'id', 'column_type': 'integer'}
    alerts += db_checks.evaluate_checks([db_entries.SEQUENCES], {'sequences': db_checks.sequence_facts([serial])},
                                        {'sequence_warning_pct': 75, 'sequence_critical_pct': 90})[0]
    alerts += db_checks.evaluate_unreadable_sequences([dict(serial, readable=False, last_value=None)], 'monitor')
    alerts += db_checks.evaluate_invalid_indexes([{
        'schema': 'public', 'name': 'orders_email_key', 'index_sql': 'public.orders_email_key',
        'table_schema': 'public', 'table_name': 'orders', 'bytes': 8192, 'ready': True, 'is_unique': True,
        'definition': 'CREATE UNIQUE INDEX orders_email_key ON public.orders USING btree (email)'}])[0]
    alerts.append(db_checks.check_error('tables', 'canceling statement due to statement timeout'))
    alerts += db_checks.evaluate_checks([db_entries.LONG_QUERIES, db_entries.BLOCKING],
                                        db_checks.activity_facts(ACTIVITY),
                                        {'long_query_warning': 300, 'long_query_critical': 1800,
                                         'lock_wait_warning': 60, 'lock_wait_critical': 300})[0]
    for kind in (postgres.SERVER_UNREACHABLE, postgres.AUTH_FAILED, postgres.UNKNOWN_DATABASE,
                 postgres.CONNECTION_FAILED):
        alerts.append(db_health.connection_alert(postgres.PgConnectError(kind, 'cannot connect (%s)' % kind)))

    plan = [vacuum_target('a', db_vacuum.SKIPPED, 'lock not available'),
            vacuum_target('b', db_vacuum.FAILED, 'canceled'),
            vacuum_target('c', db_vacuum.NOT_STARTED, 'budget'),
            vacuum_target('d', db_vacuum.NOT_STARTED, db_vacuum.CONNECTION_LOST)]
    alerts += db_vacuum.summarize(plan, ['public.nope'], max_duration=3600)[0]

    for step in pm2_restart.REMEDIATION:
        alerts.append(pm2_restart.failure_alert({'app': 'api', 'step': step, 'message': 'it failed'}, ['web']))
    alerts.append(alerting.failure_alert('vacuum', 'boom', None))

    # capacity forecasts: a week of steady growth towards a full volume
    day, now = 86400, 1800000000
    gib = 1 << 30
    hourly = [(now - h * 3600, 75 * gib - h * (5 * gib // 24)) for h in range(7 * 24, 0, -1)]
    alerts += forecast.disk_forecasts({'/': hourly}, {'/': {'used_bytes': 75 * gib, 'free_bytes': 25 * gib}},
                                      now, 7, 14, 3)[0]
    alerts += forecast.db_size_forecasts({'app': [[now - d * day, (10 + 5 * (7 - d)) * gib] for d in range(7, 0, -1)]},
                                         {'app': 45 * gib}, {'path': '/var/lib/postgresql', 'free_bytes': 20 * gib},
                                         now, 7, 14, 3)[0]
    return alerts


def checks_in_source():
    """Every check name passed as a literal to make_alert anywhere in plugins/."""
    names = set()
    for path in glob.glob(os.path.join(ROOT, 'plugins', '**', '*.py'), recursive=True):
        with open(path) as handle:
            names.update(re.findall(r"make_alert\(\s*'(\w+)'", handle.read()))
    return names


def test_every_check_in_the_source_is_triggered_here():
    triggered = set(a['check'] for a in all_alerts())
    missing = checks_in_source() - triggered
    assert not missing, 'checks without a trigger in all_alerts(): %s' % sorted(missing)
    assert alerting.FAILURE_CHECK in triggered
    assert set(forecast.REMEDIATION) <= triggered  # checks named by a variable, not a literal


def test_runbook_has_the_sections_the_issue_asks_for():
    anchors = runbook_anchors()
    for anchor in ('swap-or-memory-exhausted', 'load-spikes', 'disk-full', 'postgresql-down-or-refusing-connections',
                   'connections-exhausted', 'a-table-bloats', 'wraparound-approaches', 'pm2-gone-after-a-reboot',
                   'an-app-crash-loops', 'the-friday-restart-stopped-halfway'):
        assert anchor in anchors


@pytest.mark.parametrize('alert', all_alerts(), ids=lambda a: '%s-%s' % (a['check'], a.get('subject') or a['value']))
def test_every_remediation_ends_with_an_existing_runbook_anchor(alert):
    match = POINTER.search(alert['remediation'])
    assert match, 'no runbook pointer at the end of: %s' % alert['remediation']
    assert match.group(1) in runbook_anchors(), 'docs/runbooks.md has no section #%s' % match.group(1)


def threshold_texts(threshold):
    """The ways a message may write a numeric threshold: as given, %g, or in the unit the message uses."""
    texts = set([str(threshold), '%g' % threshold, human_seconds(threshold),
                 human_bytes(threshold)])
    if float(threshold).is_integer():
        texts.add(str(int(threshold)))
    return texts


def states(message, text):
    return re.search(r'(?<![\w.])%s(?![\d])' % re.escape(text), message) is not None


NUMERIC = [a for a in all_alerts() if isinstance(a['threshold'], (int, float)) and not isinstance(a['threshold'], bool)]


@pytest.mark.parametrize('alert', NUMERIC, ids=lambda a: '%s-%s' % (a['check'], a.get('subject') or a['value']))
def test_every_alert_message_states_its_numeric_threshold(alert):
    assert any(states(alert['message'], text) for text in threshold_texts(alert['threshold'])), \
        '%s: threshold %r not in %r' % (alert['check'], alert['threshold'], alert['message'])


def test_numeric_thresholds_cover_the_measured_checks():
    numeric = set(a['check'] for a in NUMERIC)
    assert set(['swap', 'load', 'disk', 'pm2_crashes', 'log_errors', 'report_crash_restarts', 'log_errors_per_day',
                'connections', 'transaction_age',
                'idle_in_transaction', 'database_growth', 'primary_keys', 'dead_rows', 'wraparound', 'migrations',
                'expected_tables', 'latency', 'http', 'vacuum_skipped', 'vacuum_failed', 'vacuum_incomplete',
                'vacuum_not_found', 'long_queries', 'blocking']) <= numeric


def test_dead_rows_message_names_the_alert_threshold_not_only_the_autovacuum_trigger():
    alert = db_checks.evaluate_dead_rows([table('events', dead=150000)], SETTINGS, 100000)[0][0]
    assert 'threshold of 100000' in alert['message']
    assert 'autovacuum starts at 250 dead rows' in alert['message']


# --- remediations given to stage.fail in the modules, and the cron runner's --------------

def _runbook_anchor(node, assigned):
    """The anchor of a runbook(text, 'anchor') call, following a module-level name; None otherwise."""
    if isinstance(node, ast.Name) and node.id in assigned:
        node = assigned[node.id]
    if isinstance(node, ast.Call) and getattr(node.func, 'id', None) == 'runbook':
        last = node.args[-1]
        if isinstance(last, ast.Constant) and isinstance(last.value, str):
            return last.value
    return None


# Remediations that pass through text made elsewhere, each covered by a test in this file.
PASS_THROUGH = ('exc.remediation', "failure.get('remediation')")


def failure_remediations():
    found = []
    for path in sorted(glob.glob(os.path.join(ROOT, 'plugins', 'modules', '*.py'))):
        tree = ast.parse(open(path).read())
        assigned = dict((t.id, node.value) for node in tree.body if isinstance(node, ast.Assign)
                        for t in node.targets if isinstance(t, ast.Name))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, 'attr', None) == 'fail':
                for keyword in node.keywords:
                    if keyword.arg == 'remediation':
                        found.append((os.path.basename(path), node.lineno, keyword.value, assigned))
    return found


def test_module_failures_link_a_runbook_section():
    anchors = runbook_anchors()
    found = failure_remediations()
    assert len(found) >= 8  # pm2_restart 5, twzrd_vacuum 3, twzrd_health 1, twzrd_notify 1
    for name, line, value, assigned in found:
        if ast.unparse(value) in PASS_THROUGH:
            continue
        anchor = _runbook_anchor(value, assigned)
        assert anchor in anchors, '%s:%d: remediation without a runbook section (%s)' % (name, line, anchor)


def test_cron_runner_failures_link_a_runbook_section():
    spec = importlib.util.spec_from_file_location('twzrd_run', os.path.join(ROOT, 'roles', 'install', 'files',
                                                                            'twzrd_run.py'))
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    for kind in ('config', 'python', 'timeout', 'arguments', 'crash'):
        text = runner.remediation_for(kind, 'vacuum', python='/opt/twzrd/venv/bin/python', timeout=3000)
        match = POINTER.search(text)
        assert match and match.group(1) in runbook_anchors(), text

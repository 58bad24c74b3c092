"""The weekly report sees every installed job (issue 18 item 2): db_health and vacuum run as
postgres with /var/lib/twzrd/postgres/state.json, the report as root with /var/lib/twzrd/state.json;
the report's page and message show the PostgreSQL jobs' open alert, database sizes and vacuum runs."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared'))
from cronjobs import parse_logline, run_as_cron  # noqa: E402

RECEIVED = '/var/tmp/twzrd-received.jsonl'


def psql(host, sql):
    result = host.run('runuser -u postgres -- psql -v ON_ERROR_STOP=1 -At -d shop -c %s', sql)
    assert result.rc == 0, result.stderr
    return result.stdout.strip()


def run_health(host):
    """The health job as cron runs it. cron itself runs it every minute here: start away from the minute, and
    run again when this run found cron's holding the lock (the runner then logs a failed line of its own)."""
    for _attempt in range(5):
        time.sleep((75 - time.time() % 60) % 60)  # 15 s past the minute: cron's run has started and ended
        result, new_lines = run_as_cron(host, 'health')
        lines = [parse_logline(text) for text in new_lines]
        ours = [line for line in lines if 'is held by another process' not in line.get('msg', '')]
        if ours:
            return result, ours[-1]
    raise AssertionError('the health job never got its lock: %s' % lines)


def test_weekly_report_shows_the_postgres_jobs(host):
    result, dummy = run_as_cron(host, 'vacuum')
    assert result.rc in (0, 1, 2), result.stderr
    # dead rows above the scenario's dead_rows_warning, for db_health to leave a warning open
    psql(host, 'DROP TABLE IF EXISTS weekly_churn; '
               'CREATE TABLE weekly_churn (id int PRIMARY KEY) WITH (autovacuum_enabled = off); '
               'INSERT INTO weekly_churn SELECT generate_series(1, 30000); DELETE FROM weekly_churn; '
               'SELECT pg_stat_force_next_flush()')
    result, dummy = run_as_cron(host, 'db_health')
    assert result.rc in (1, 2), result.stderr
    with host.sudo():
        pg_state = json.loads(host.file('/var/lib/twzrd/postgres/state.json').content_string)
    assert host.file('/var/lib/twzrd/postgres/state.json').user == 'postgres'
    db_alerts = pg_state['alerting']['db_health:shop']['alerts']
    assert any(a['check'] == 'dead_rows' and a['subject'] == 'public.weekly_churn' for a in db_alerts.values()), db_alerts

    before = len(host.file(RECEIVED).content_string.splitlines())
    result, line = run_health(host)
    assert line['status'] in ('warning', 'critical') and int(line['open_alerts']) >= 1, line
    with host.sudo():
        pages = host.run('ls -t /var/lib/twzrd/reports/twzrd-report-*.html').stdout.split()
        page = host.file(pages[0]).content_string
    for empty in ('No database sizes recorded', 'No vacuum runs recorded', 'None: all checks are ok'):
        assert empty not in page
    assert 'shop: ' in page and '<td>shop</td>' in page  # the size caption and a vacuum run row
    assert '(db_health:shop job)' in page and 'public.weekly_churn' in page

    messages = [json.loads(m) for m in host.file(RECEIVED).content_string.splitlines()[before:] if m.strip()]
    weekly = [m for m in messages if m['title'].startswith('twzrd health ') and 'dead_rows public.weekly_churn' in m['title']]
    assert weekly, [m['title'] for m in messages]
    assert 'state of user postgres' in weekly[-1]['message'] and 'db_health:shop' in weekly[-1]['message']
    psql(host, 'DROP TABLE weekly_churn')

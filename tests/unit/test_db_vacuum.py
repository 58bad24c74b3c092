"""Vacuum planning, statements, notices and the time budget (no server)."""
from ansible_collections.twzrd.ops.plugins.module_utils.postgres import vacuum as db_vacuum

SETTINGS = {'max_connections': 100, 'autovacuum': True, 'autovacuum_vacuum_threshold': 50,
            'autovacuum_vacuum_scale_factor': 0.2}


def table(name, dead=0, reltuples=1000, reloptions=None, kind='r', size=8192, schema='public'):
    return {'schema': schema, 'name': name, 'kind': kind, 'has_pk': True, 'reltuples': reltuples,
            'reloptions': reloptions, 'live_rows': reltuples, 'dead_rows': dead, 'bytes': size}


TABLES = [table('small', dead=300), table('big', dead=200000), table('mid', dead=20000), table('clean'),
          table('off', dead=60, reltuples=0, reloptions=['autovacuum_enabled=off']), table('parent', kind='p')]


def names(plan):
    return [t['table'] for t in plan]


def test_default_plan_is_needed_tables_worst_first():
    plan, missing = db_vacuum.plan_vacuum(TABLES, SETTINGS)
    assert names(plan) == ['public.big', 'public.mid', 'public.small', 'public.off']
    assert 'min_dead_rows' in plan[0]['reason'] and 'autovacuum trigger 250' in plan[2]['reason']
    assert '(autovacuum off for this table)' in plan[3]['reason']
    assert all(t['status'] == 'planned' for t in plan) and missing == []


def test_trigger_rule_can_be_turned_off_and_min_dead_rows_raised():
    plan, dummy = db_vacuum.plan_vacuum(TABLES, SETTINGS, min_dead_rows=100000, use_trigger=False)
    assert names(plan) == ['public.big']


def test_all_tables_skips_partitioned_parents():
    plan, dummy = db_vacuum.plan_vacuum(TABLES, SETTINGS, all_tables=True)
    assert len(plan) == 5 and 'public.parent' not in names(plan)


def test_requested_tables_and_not_found():
    requested = [('public', 'clean'), ('public', 'nope'), ('public', 'clean')]
    plan, missing = db_vacuum.plan_vacuum(TABLES, SETTINGS, requested=requested)
    assert names(plan) == ['public.clean'] and plan[0]['reason'] == 'requested'
    assert missing == ['public.nope']


def test_statement_quotes_identifiers():
    statement = db_vacuum.vacuum_statement('public', 'Robert"); DROP TABLE x; --', full=True)
    text = repr(statement)
    assert 'SKIP_LOCKED' in text and 'FULL' in text
    # the name stays one Identifier, never spliced into the SQL text
    assert statement.seq[-1].strings == ('public', 'Robert"); DROP TABLE x; --')
    plain = db_vacuum.vacuum_statement('s', 't', analyze=False)
    assert 'ANALYZE' not in repr(plain) and 'FULL' not in repr(plain)


def test_skip_reason_from_notices():
    assert db_vacuum.skip_reason(['INFO: whatever\n']) is None
    assert db_vacuum.skip_reason(['WARNING:  skipping vacuum of "t" --- lock not available\n']) == \
        'skipping vacuum of "t" --- lock not available'


class FakeCursor:
    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False

    def execute(self, statement):
        self.conn.clock.now += self.conn.cost
        name = statement.seq[-1].strings[1]
        self.conn.executed.append(name)
        if name in self.conn.locked:
            self.conn.notices.append('WARNING:  skipping vacuum of "%s" --- lock not available\n' % name)


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class FakeConn:
    closed = False

    def __init__(self, cost, locked=()):
        self.cost = cost
        self.locked = set(locked)
        self.notices = []
        self.executed = []
        self.clock = FakeClock()

    def cursor(self):
        return FakeCursor(self)


def test_execute_plan_budget_skips_and_summary():
    plan, dummy = db_vacuum.plan_vacuum(TABLES, SETTINGS)
    conn = FakeConn(cost=10, locked=['mid'])
    db_vacuum.execute_plan(conn, plan, max_duration=25, clock=conn.clock)
    # big (0-10s), mid (10-20s, skipped), small (20-30s) started before 25s; off not started
    assert conn.executed == ['big', 'mid', 'small']
    assert [t['status'] for t in plan] == ['vacuumed', 'skipped', 'vacuumed', 'not_started']
    assert 'lock not available' in plan[1]['message'] and 'max_duration' in plan[3]['message']
    db_vacuum.apply_stats(plan, {('public', 'big'): {'dead_rows': 0, 'bytes': 4096},
                                 ('public', 'small'): {'dead_rows': 0, 'bytes': 8192}}, 'after')
    alerts, metrics = db_vacuum.summarize(plan, ['public.gone'], max_duration=25)
    assert metrics['vacuumed'] == 2 and metrics['skipped'] == 1 and metrics['not_started'] == 1
    assert metrics['dead_rows_removed'] == 200300 and metrics['bytes_freed'] == 4096
    assert sorted(a['check'] for a in alerts) == ['vacuum_incomplete', 'vacuum_not_found', 'vacuum_skipped']


def test_check_mode_summary_has_no_alerts():
    plan, dummy = db_vacuum.plan_vacuum(TABLES, SETTINGS)
    alerts, metrics = db_vacuum.summarize(plan, [], check_mode=True)
    assert alerts == [] and metrics['planned'] == 4 and metrics['vacuumed'] == 0


def test_a_plain_vacuum_never_truncates():
    # truncating takes an ACCESS EXCLUSIVE lock (retried 5 s behind readers, replayed on a standby)
    assert 'TRUNCATE false' in repr(db_vacuum.vacuum_statement('s', 't'))
    assert 'TRUNCATE' not in repr(db_vacuum.vacuum_statement('s', 't', full=True))


def test_skipped_remediation_fits_the_cause():
    denied = {'table': 'public.events', 'message': 'skipping "events" --- only table or database owner can vacuum it'}
    busy = {'table': 'public.jobs', 'message': 'skipping vacuum of "jobs" --- lock not available'}
    only_denied = db_vacuum.skipped_remediation([denied], 'monitor')
    assert 'Role monitor may not vacuum public.events' in only_denied and 'pg_locks' not in only_denied
    both = db_vacuum.skipped_remediation([denied, busy], 'monitor')
    assert 'public.events' in both and 'pg_locks' in both and 'public.jobs' not in both
    assert 'pg_locks' in db_vacuum.skipped_remediation([busy]) and 'may not' not in db_vacuum.skipped_remediation([busy])
    assert db_vacuum.not_permitted('permission denied to vacuum "t", skipping it')

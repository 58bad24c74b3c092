"""twzrd_db_health's sequences and invalid_indexes checks (issue 20) against a real PostgreSQL 15 cluster.

Each condition is made for real: sequences moved with setval to a share of their column type's maximum,
an index left invalid by a CREATE UNIQUE INDEX CONCURRENTLY that failed on duplicates, a concurrent build
held open by an older transaction, a role with only pg_monitor.  Modules run the cron way (harness.run_module).
"""
import re
import threading
import time

import psycopg2
import pytest

from harness import run_module

INT4_MAX = 2147483647
MONITOR = 'twzrd_monitor_only'
SAMPLE = re.compile(r'^(\w+)(?:\{(.*)\})? (\S+)$')


def by_check(result, check):
    return dict((a.get('subject'), a) for a in result['alerts'] if a['check'] == check)


def health(pg_cluster, db, tmp_path, user='postgres', succeeds=True, **extra):
    args = pg_cluster.conn_params(db, user=user)
    args.update(state_file=str(tmp_path / 'state.json'))
    args.update(extra)
    rc, result, out, err = run_module('twzrd_db_health', args, tmp_path)
    if succeeds:
        assert rc == 0, (out, err)
    return rc, result, out, err


def setval(cur, table, column, value):
    cur.execute('SELECT setval(pg_get_serial_sequence(%s, %s), %s)', (table, column, value))


def samples(path):
    found = {}
    for line in path.read_text().splitlines():
        match = SAMPLE.match(line)
        if match:
            found[(match.group(1), tuple(sorted(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ''))))] = \
                float(match.group(3))
    return found


@pytest.fixture
def sequences(pg_cluster, pg_db):
    """Serial, identity, smallserial, bigserial, a widened column, a descending sequence, odd names."""
    conn = pg_cluster.connect(pg_db)
    with conn.cursor() as cur:
        cur.execute('CREATE TABLE warn_t (id serial PRIMARY KEY, v text)')
        setval(cur, 'warn_t', 'id', int(INT4_MAX * 0.80))
        cur.execute('CREATE TABLE crit_t (id serial PRIMARY KEY)')
        setval(cur, 'crit_t', 'id', int(INT4_MAX * 0.95))
        cur.execute('CREATE TABLE ident_t (id int GENERATED ALWAYS AS IDENTITY, v text)')
        setval(cur, 'ident_t', 'id', int(INT4_MAX * 0.80))
        cur.execute('INSERT INTO ident_t (v) VALUES (%s)', ('one more',))  # nextval after setval: + 1
        cur.execute('CREATE TABLE small_t (id smallserial)')
        setval(cur, 'small_t', 'id', 30000)  # 91.6 % of 32767
        cur.execute('CREATE TABLE big_t (id bigserial)')
        setval(cur, 'big_t', 'id', int(INT4_MAX * 0.80))  # 80 % of int4, nothing of int8
        cur.execute('CREATE TABLE fresh_t (id serial)')  # never called: last_value NULL
        cur.execute('CREATE TABLE wide_t (id serial)')
        cur.execute('ALTER TABLE wide_t ALTER COLUMN id TYPE bigint')  # its sequence stays AS integer
        setval(cur, 'wide_t', 'id', int(INT4_MAX * 0.80))
        cur.execute('CREATE SCHEMA "Sales Dept"')
        cur.execute('CREATE TABLE "Sales Dept"."Order Items" ("Id" serial)')
        setval(cur, '"Sales Dept"."Order Items"', 'Id', int(INT4_MAX * 0.78))
        cur.execute('CREATE SEQUENCE down_seq INCREMENT -1 MINVALUE -1000 MAXVALUE -1 START -1')
        cur.execute("SELECT setval('down_seq', -960)")
    yield conn
    conn.close()


def test_sequences_near_their_type_maximum_warn_and_name_the_column(pg_cluster, pg_db, sequences, tmp_path):
    (tmp_path / 'textfile').mkdir()
    dummy, result, dummy, dummy = health(pg_cluster, pg_db, tmp_path, textfile_dir=str(tmp_path / 'textfile'))
    found = by_check(result, 'sequences')
    assert set(found) == {'public.warn_t.id', 'public.crit_t.id', 'public.ident_t.id', 'public.small_t.id',
                          'public.wide_t.id', 'Sales Dept.Order Items.Id', 'public.down_seq'}, sorted(found)
    levels = dict((subject, alert['level']) for subject, alert in found.items())
    assert levels == {'public.warn_t.id': 'warning', 'public.crit_t.id': 'critical', 'public.ident_t.id': 'warning',
                      'public.small_t.id': 'critical', 'public.wide_t.id': 'warning',
                      'Sales Dept.Order Items.Id': 'warning', 'public.down_seq': 'critical'}

    warn = found['public.warn_t.id']
    assert warn['threshold'] == 75 and 79.9 < warn['value'] < 80.1
    left = INT4_MAX - int(INT4_MAX * 0.80)
    assert 'column public.warn_t.id (int4, sequence public.warn_t_id_seq)' in warn['message']
    assert 'at {:,} of the int4 maximum 2,147,483,647'.format(int(INT4_MAX * 0.80)) in warn['message']
    assert '{:,} values left'.format(left) in warn['message']
    assert 'ALTER TABLE public.warn_t ALTER COLUMN id TYPE bigint;' in warn['remediation']
    assert 'ALTER SEQUENCE public.warn_t_id_seq AS bigint;' in warn['remediation']
    assert 'ACCESS EXCLUSIVE' in warn['remediation']
    assert warn['remediation'].endswith('(docs/runbooks.md#a-sequence-nears-its-maximum)')

    crit = found['public.crit_t.id']
    assert crit['threshold'] == 90 and 94.9 < crit['value'] < 95.1 and 'critical threshold of 90%' in crit['message']
    # an identity column: the ALTER TABLE is enough, its sequence follows
    ident = found['public.ident_t.id']
    assert '{:,} values left'.format(INT4_MAX - int(INT4_MAX * 0.80) - 1) in ident['message']
    assert 'ALTER TABLE public.ident_t ALTER COLUMN id TYPE bigint;' in ident['remediation']
    assert 'ALTER SEQUENCE' not in ident['remediation'] and 'identity sequence follows' in ident['remediation']
    assert 'of the int2 maximum 32,767' in found['public.small_t.id']['message']
    assert '2,767 values left' in found['public.small_t.id']['message']
    # the column is bigint, its serial sequence is still AS integer: the sequence's own limit binds
    wide = found['public.wide_t.id']
    assert "the sequence's own maximum 2,147,483,647 (AS integer)" in wide['message']
    assert 'ALTER SEQUENCE public.wide_t_id_seq AS bigint;' in wide['remediation'] and 'ALTER TABLE' not in \
        wide['remediation']
    odd = found['Sales Dept.Order Items.Id']
    assert 'ALTER TABLE "Sales Dept"."Order Items" ALTER COLUMN "Id" TYPE bigint;' in odd['remediation']
    assert 'ALTER SEQUENCE "Sales Dept"."Order Items_Id_seq" AS bigint;' in odd['remediation']
    down = found['public.down_seq']
    assert 'sequence public.down_seq (no column owns it) at -960' in down['message']
    assert "own minimum -1,000" in down['message'] and '40 values left' in down['message']

    metrics = result['metrics']['sequences']
    assert metrics['count'] == 9 and metrics['read'] == 9 and metrics['unreadable'] == 0
    assert metrics['never_used'] == 1 and metrics['worst'][0]['sequence'] == 'public.down_seq'
    assert 'sequences' not in result.get('unchecked', [])
    exported = samples(next((tmp_path / 'textfile').glob('*.prom')))
    ratio = dict((dict(labels)['sequence'], value) for (name, labels), value in exported.items()
                 if name == 'twzrd_pg_sequence_used_ratio')
    assert abs(ratio['public.crit_t.id'] - 0.95) < 0.001 and ratio['public.big_t.id'] == 0  # 80 % of int4 is nothing of int8
    assert len(ratio) == 9
    assert exported[('twzrd_pg_sequences_unreadable', (('database', pg_db), ('twzrd_job', 'db_health')))] == 0


def test_custom_sequence_thresholds_are_honoured(pg_cluster, pg_db, sequences, tmp_path):
    dummy, result, dummy, dummy = health(pg_cluster, pg_db, tmp_path, sequence_warning_pct=85,
                                         sequence_critical_pct=99)
    found = by_check(result, 'sequences')
    assert dict((s, a['level']) for s, a in found.items()) == {
        'public.crit_t.id': 'warning', 'public.small_t.id': 'warning', 'public.down_seq': 'warning'}
    assert 'warning threshold of 85%' in found['public.crit_t.id']['message']


@pytest.mark.parametrize('options, error', [
    ({'sequence_warning_pct': 95, 'sequence_critical_pct': 90},
     'sequence_warning_pct (95.0) must be lower than sequence_critical_pct (90.0)'),
    ({'sequence_critical_pct': 120}, 'sequence_critical_pct must be <= 100, got 120.0'),
])
def test_bad_sequence_thresholds_are_a_clear_error(pg_cluster, pg_db, tmp_path, options, error):
    rc, result, out, err = health(pg_cluster, pg_db, tmp_path, succeeds=False, **options)
    assert rc != 0 and result['failed'] and error in result['msg'], out
    assert 'Traceback' not in out + err


def make_invalid_index(conn, schema, table, index):
    """A unique index built concurrently on a column with duplicates: the build fails, the index stays, invalid."""
    with conn.cursor() as cur:
        cur.execute('CREATE TABLE %s.%s (id int PRIMARY KEY, email text)' % (schema, table))
        cur.execute("INSERT INTO %s.%s SELECT g, 'user' || (g %% 500) FROM generate_series(1, 1000) g"
                    % (schema, table))
        with pytest.raises(psycopg2.errors.UniqueViolation):
            cur.execute('CREATE UNIQUE INDEX CONCURRENTLY %s ON %s.%s (email)' % (index, schema, table))
        cur.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = '%s.%s'::regclass" % (schema, index))
        assert cur.fetchone() == (False,)


def test_an_invalid_index_warns_with_the_statement_and_resolves_once_rebuilt(pg_cluster, pg_db, tmp_path):
    conn = pg_cluster.connect(pg_db)
    with conn.cursor() as cur:
        cur.execute('CREATE SCHEMA "Odd Schema"')
    make_invalid_index(conn, 'public', 'users', 'users_email_key')
    make_invalid_index(conn, '"Odd Schema"', '"User List"', '"select"')
    dummy, result, dummy, dummy = health(pg_cluster, pg_db, tmp_path)
    found = by_check(result, 'invalid_indexes')
    assert set(found) == {'public.users_email_key', 'Odd Schema.select'}
    plain = found['public.users_email_key']
    assert plain['level'] == 'warning' and 'on table public.users is invalid' in plain['message']
    assert re.search(r'is invalid \(\d+ B, (not maintained|still updated on every write)\)', plain['message'])
    assert plain['remediation'].startswith('REINDEX INDEX CONCURRENTLY public.users_email_key;')
    assert ('CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON public.users USING btree (email);'
            in plain['remediation'])
    assert 'duplicate keys' in plain['remediation']
    assert plain['remediation'].endswith('(docs/runbooks.md#an-index-is-invalid)')
    odd = found['Odd Schema.select']
    assert 'REINDEX INDEX CONCURRENTLY "Odd Schema"."select";' in odd['remediation']
    assert 'DROP INDEX CONCURRENTLY "Odd Schema"."select";' in odd['remediation']
    assert result['metrics']['invalid_indexes']['count'] == 2

    # the fix the alert gives, for real: remove the duplicates and rebuild one, drop the other
    with conn.cursor() as cur:
        cur.execute("DELETE FROM public.users WHERE id > 500")
        cur.execute(plain['remediation'].split(';')[0])
        cur.execute('DROP INDEX CONCURRENTLY "Odd Schema"."select"')
        cur.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.users_email_key'::regclass")
        assert cur.fetchone() == (True,)
    conn.close()
    dummy, again, dummy, dummy = health(pg_cluster, pg_db, tmp_path)  # the same state file
    assert not by_check(again, 'invalid_indexes') and again['metrics']['invalid_indexes']['count'] == 0
    assert set(again['recovered']) >= {'invalid_indexes:public.users_email_key', 'invalid_indexes:Odd Schema.select'}


def test_an_index_being_built_right_now_is_not_reported(pg_cluster, pg_db, tmp_path):
    """CREATE INDEX CONCURRENTLY waits for older transactions with its index already in the catalog, invalid."""
    pg_cluster.execute(['CREATE TABLE jobs (id int PRIMARY KEY, state text)',
                        "INSERT INTO jobs SELECT g, 'done' FROM generate_series(1, 1000) g"], dbname=pg_db)
    older = pg_cluster.connect(pg_db, autocommit=False)
    older.cursor().execute("INSERT INTO jobs VALUES (1001, 'new')")  # a writer the build must wait for
    builder = pg_cluster.connect(pg_db)
    errors = []

    def build():
        try:
            builder.cursor().execute('CREATE INDEX CONCURRENTLY jobs_state_idx ON jobs (state)')
        except psycopg2.Error as exc:  # pragma: no cover - reported below
            errors.append(exc)
    thread = threading.Thread(target=build)
    thread.start()
    try:
        watch = pg_cluster.connect(pg_db)
        deadline = time.monotonic() + 20
        while True:
            with watch.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                            "WHERE c.relname = 'jobs_state_idx' AND NOT i.indisvalid")
                if cur.fetchone()[0] == 1:
                    break
            assert time.monotonic() < deadline, 'the concurrent build never got its invalid index'
            time.sleep(0.05)
        watch.close()
        dummy, result, dummy, dummy = health(pg_cluster, pg_db, tmp_path)
        assert not by_check(result, 'invalid_indexes'), result['alerts']
        assert result['metrics']['invalid_indexes']['count'] == 0
    finally:
        older.rollback()
        older.close()
        thread.join(30)
        builder.close()
    assert not errors
    dummy, result, dummy, dummy = health(pg_cluster, pg_db, tmp_path)
    assert not by_check(result, 'invalid_indexes')  # built, valid


@pytest.fixture
def monitor_role(pg_cluster, pg_db):
    pg_cluster.execute(['DROP ROLE IF EXISTS %s' % MONITOR, 'CREATE ROLE %s LOGIN' % MONITOR,
                        'GRANT pg_monitor TO %s' % MONITOR])
    yield MONITOR
    pg_cluster.execute('DROP OWNED BY %s' % MONITOR, dbname=pg_db)  # its grants there
    pg_cluster.execute('DROP ROLE IF EXISTS %s' % MONITOR)


def test_a_pg_monitor_role_cannot_read_sequences_and_says_so(pg_cluster, pg_db, sequences, monitor_role, tmp_path):
    """pg_monitor gives no SELECT on sequences: last_value is NULL for it.  The run warns (not "no risk"),
    keeps the check's open alerts (unchecked), and reads them once granted SELECT."""
    make_invalid_index(sequences, 'public', 'users', 'users_email_key')
    dummy, result, dummy, dummy = health(pg_cluster, pg_db, tmp_path)  # as postgres: alerts are open
    assert 'public.crit_t.id' in by_check(result, 'sequences')

    dummy, blind, dummy, dummy = health(pg_cluster, pg_db, tmp_path, user=monitor_role)
    assert blind['status'] == 'warning'
    found = by_check(blind, 'sequences')
    assert list(found) == ['unreadable'], found
    alert = found['unreadable']
    assert alert['level'] == 'warning' and alert['value'] == 9
    assert ('role %s cannot read the value of 9 of 9 sequence(s)' % monitor_role) in alert['message']
    assert 'pg_monitor does not give it' in alert['message'] and 'public.crit_t.id' in alert['message']
    assert 'GRANT pg_read_all_data TO %s;' % monitor_role in alert['remediation']
    assert 'GRANT SELECT ON ALL SEQUENCES IN SCHEMA "Sales Dept" TO %s;' % monitor_role in alert['remediation']
    assert alert['remediation'].endswith('(docs/runbooks.md#the-check-role-cannot-read-sequences)')
    metrics = blind['metrics']['sequences']
    assert metrics['read'] == 0 and metrics['unreadable'] == 9 and metrics['max_used_pct'] is None
    assert 'sequences' in blind['unchecked']
    assert 'sequences:public.crit_t.id' not in blind['recovered']  # not read is not resolved
    # the catalogs are readable to anyone: invalid indexes are seen all the same
    assert list(by_check(blind, 'invalid_indexes')) == ['public.users_email_key']

    pg_cluster.execute(['GRANT SELECT ON ALL SEQUENCES IN SCHEMA public, "Sales Dept" TO %s' % monitor_role],
                       dbname=pg_db)
    dummy, granted, dummy, dummy = health(pg_cluster, pg_db, tmp_path, user=monitor_role)
    found = by_check(granted, 'sequences')
    assert 'unreadable' not in found and found['public.crit_t.id']['level'] == 'critical'
    assert granted['metrics']['sequences']['unreadable'] == 0 and 'sequences' not in granted.get('unchecked', [])
    assert 'sequences:unreadable' in granted['recovered']


def test_a_sequence_someone_alters_right_now_is_left_unread_not_waited_for(pg_cluster, pg_db, sequences, tmp_path):
    """An ALTER SEQUENCE in an open transaction holds a lock reading the value would queue behind (until
    lock_timeout failed the whole check): that sequence is skipped, counted as busy, its alerts kept."""
    dummy, before, dummy, dummy = health(pg_cluster, pg_db, tmp_path)
    assert 'public.crit_t.id' in by_check(before, 'sequences')
    altering = pg_cluster.connect(pg_db, autocommit=False)
    altering.cursor().execute('ALTER SEQUENCE crit_t_id_seq CACHE 2')
    try:
        dummy, result, dummy, dummy = health(pg_cluster, pg_db, tmp_path)
    finally:
        altering.rollback()
        altering.close()
    assert 'public.crit_t.id' not in by_check(result, 'sequences')
    assert not [a for a in result['alerts'] if a['level'] == 'critical' and 'could not run' in a['message']]
    metrics = result['metrics']['sequences']
    assert metrics['busy'] == 1 and metrics['busy_sequences'] == ['public.crit_t.id'] and metrics['read'] == 8
    assert 'sequences' in result['unchecked'] and 'sequences:public.crit_t.id' not in result['recovered']
    assert 'public.small_t.id' in by_check(result, 'sequences')  # the others are still checked


def _all_and_chosen(collect, conn, **chosen):
    """What a collector returns for every subject, and for the subjects the server chose (with its totals)."""
    return collect(conn), collect(conn, **chosen)


def test_the_sequences_the_server_chooses_give_what_judging_all_of_them_gives(
        pg_cluster, pg_db, sequences, monitor_role):
    """A run asks only for the sequences it reports on (collect_sequences with above_pct and listed): the facts,
    metrics and alerts must be those of every sequence judged here.  Ties in the share (never called, the same
    value, different values the same once rounded to 4 places, where the name decides), shares that round at
    a half of the 4th place (MAXVALUE 2,000,000 at odd values; then again without them, as each widens the
    choice), custom limits, descending ones, a sequence nobody may read, one held by an ALTER in an open
    transaction."""
    from ansible_collections.twzrd.ops.plugins.module_utils.postgres import collect as db_collect
    from ansible_collections.twzrd.ops.plugins.module_utils.postgres import evaluate as db_checks
    with sequences.cursor() as cur:
        for n in range(25):
            cur.execute('CREATE TABLE tie_%02d (id serial, v int)' % n)  # never called: 0 %
        for n in range(6):
            cur.execute("SELECT setval(pg_get_serial_sequence('tie_%02d', 'id'), 2000)" % n)  # 0.0001 % each
        for n, value in enumerate((2169, 2362, 2577, 2792, 3006)):  # 0.000101 % .. 0.00014 %: all 0.0001 %,
            cur.execute('CREATE TABLE r_%s (id serial)' % 'abcde'[n])  # by name the other way round than by value
            cur.execute("SELECT setval(pg_get_serial_sequence('r_%s', 'id'), %d)" % ('abcde'[n], value))
        for n in range(8):  # 100 * v / 2,000,000 = v / 20,000: odd v sits on a half of the 4th place
            cur.execute('CREATE SEQUENCE "half %d" MAXVALUE 2000000' % n)
            cur.execute("SELECT setval('\"half %d\"', %d)" % (n, 2 * n + 1))
        cur.execute('CREATE SEQUENCE own_max MAXVALUE 1000 CYCLE')
        cur.execute("SELECT setval('own_max', 751)")  # 75.1 % of its own maximum
        cur.execute('CREATE SEQUENCE secret_seq')
        cur.execute('REVOKE ALL ON SEQUENCE secret_seq FROM PUBLIC')
    pg_cluster.execute(['GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO %s' % monitor_role,
                        'REVOKE ALL ON SEQUENCE secret_seq FROM %s' % monitor_role], dbname=pg_db)
    monitor = psycopg2.connect(host=pg_cluster.socket_dir, port=pg_cluster.port, dbname=pg_db, user=monitor_role)
    monitor.autocommit = True
    altering = pg_cluster.connect(pg_db, autocommit=False)
    altering.cursor().execute('ALTER SEQUENCE warn_t_id_seq CACHE 2')  # busy: left unread
    try:
        compare_chosen_sequences(sequences, monitor)
        metrics = db_checks.sequence_metrics(db_collect.collect_sequences(sequences, above_pct=75, listed=10))
        assert metrics['busy_sequences'] == ['public.warn_t.id'] and metrics['count'] == 9 + 25 + 5 + 8 + 2
        pg_cluster.execute(['DROP SEQUENCE "half %d"' % n for n in range(8)], dbname=pg_db)
        compare_chosen_sequences(sequences, monitor)
    finally:
        altering.rollback()
        altering.close()
        monitor.close()


def compare_chosen_sequences(*connections):
    """For each connection (role) and thresholds: the chosen rows judge as every row does."""
    from ansible_collections.twzrd.ops.plugins.module_utils.checks import postgres as entries
    from ansible_collections.twzrd.ops.plugins.module_utils.postgres import collect as db_collect
    from ansible_collections.twzrd.ops.plugins.module_utils.postgres import evaluate as db_checks
    for conn in connections:
        for warning, critical, listed in [(75, 90, 10), (90, 95, 3), (None, 99, 10), (0.0001, None, 5),
                                          (None, None, 10), (75, 90, 1), (50, 90, 60), (75, 90, 14),
                                          (75, 90, 15), (75, 90, 16), (75, 90, 17)]:
            params = {'sequence_warning_pct': warning, 'sequence_critical_pct': critical}
            every, chosen = _all_and_chosen(
                db_collect.collect_sequences, conn,
                above_pct=db_checks.lowest_threshold(params, 'sequence_warning_pct', 'sequence_critical_pct'),
                listed=listed)
            assert len(chosen) < len(every) or listed >= 40 or warning == 0.0001
            all_facts = db_checks.sequence_facts(every, listed)
            facts = db_checks.sequence_facts(chosen, listed)
            # every fact the result lists or alerts on is there, the same
            for subject, fact in all_facts.items():
                if fact['listed'] or fact['used_pct'] > min(v for v in (warning, critical, 101) if v is not None):
                    assert facts.get(subject) == fact, (subject, warning, listed)
            assert db_checks.sequence_metrics(chosen, listed, facts) == \
                db_checks.sequence_metrics(every, listed, all_facts)
            assert db_checks.evaluate_checks([entries.SEQUENCES], {'sequences': facts}, params) == \
                db_checks.evaluate_checks([entries.SEQUENCES], {'sequences': all_facts}, params)
            assert db_checks.evaluate_unreadable_sequences(chosen, 'r') == \
                db_checks.evaluate_unreadable_sequences(every, 'r')
            assert db_checks.sequences_unread(chosen) == db_checks.sequences_unread(every)


def test_the_tables_the_server_chooses_give_what_judging_all_of_them_gives(pg_cluster, pg_db):
    """collect_tables with top and dead_rows_warning: the same primary-key, dead-row and table metrics as every
    table judged here.  Tables without a primary key, dead rows in many amounts (ties too), tables over their
    autovacuum trigger by the server settings and by their own reloptions, equal sizes, a partitioned table."""
    from ansible_collections.twzrd.ops.plugins.module_utils.checks import postgres as entries
    from ansible_collections.twzrd.ops.plugins.module_utils.postgres import collect as db_collect
    from ansible_collections.twzrd.ops.plugins.module_utils.postgres import evaluate as db_checks
    from pg_harness import flush_stats
    conn = pg_cluster.connect(pg_db)
    try:
        with conn.cursor() as cur:
            for n in range(30):
                key = 'PRIMARY KEY' if n % 7 else ''
                options = ' WITH (autovacuum_vacuum_threshold = 5, autovacuum_vacuum_scale_factor = 0)' \
                    if n % 10 == 3 else ''
                cur.execute('CREATE TABLE dt_%02d (id int %s, v text)%s' % (n, key, options))
                cur.execute('INSERT INTO dt_%02d SELECT g, md5(g::text) FROM generate_series(1, %d) g'
                            % (n, 100 + 40 * (n % 5)))
                if n % 3:
                    cur.execute('DELETE FROM dt_%02d WHERE id %% %d = 0' % (n, 2 + n % 4))
            cur.execute('CREATE TABLE parted (id int, at date) PARTITION BY RANGE (at)')
            cur.execute("CREATE TABLE parted_2026 PARTITION OF parted FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')")
            cur.execute("INSERT INTO parted SELECT g, '2026-06-01' FROM generate_series(1, 50) g")
            cur.execute('DELETE FROM parted WHERE id < 20')
            cur.execute('ANALYZE')
        flush_stats(conn)
        settings = db_collect.collect_settings(conn)
        for top, warning in [(10, 100000), (3, 20), (5, None), (1, 1), (50, 30)]:
            every, chosen = _all_and_chosen(db_collect.collect_tables, conn, top=top, dead_rows_warning=warning)
            assert len(chosen) < len(every) or top >= 30
            assert db_checks.table_metrics(chosen, settings, top) == db_checks.table_metrics(every, settings, top)
            assert db_checks.evaluate_primary_keys(chosen) == db_checks.evaluate_primary_keys(every)
            params = {'dead_rows_warning': warning}
            assert db_checks.evaluate_checks([entries.DEAD_ROWS], {'dead_rows': db_checks.dead_row_facts(
                chosen, settings, top)}, params) == db_checks.evaluate_checks(
                    [entries.DEAD_ROWS], {'dead_rows': db_checks.dead_row_facts(every, settings, top)}, params)
        over = db_checks.table_metrics(every, settings, 50)['over_autovacuum_trigger_count']
        assert over > 0  # the trigger case was there to get right
    finally:
        conn.close()

"""The new daily checks of twzrd_db_health against check_postgres's closest actions (issue 20, "Numbers").

    python -m bench.bench_check_postgres            # from the repo root; ~2 minutes
    python -m bench check_postgres                  # the same through bench/__main__.py (make bench runs all)
    python -m bench.bench_check_postgres --quick    # 500 tables, 2 runs, README untouched: a smoke run

One throwaway PostgreSQL cluster (tests/integration/pg_harness.py) with ``archive_mode = on`` and a working
``archive_command`` (cp into a directory of its own), one inactive physical replication slot that reserves WAL,
and the 5,000-table catalog of bench_db.py, with serial keys (5,000 sequences).  Seeded findings: one int4
sequence at 80 % of its maximum, a ``pg_sleep`` query running in another connection, a lock wait (a transaction
holds ``LOCK TABLE``, another session's UPDATE waits).  Then, alternating, ``TWZRD_BENCH_RUNS`` runs each
(default 15), medians of wall time:

- check_postgres as a Nagios setup runs it: one process per action (sequence, query_time, locks,
  archive_ready, replication_slots), the five summed;
- one twzrd_db_health run the cron way (python -m ...twzrd_db_health args.json, process start included) with
  ``scope: acute``, the hourly db_alerts job: the run of the compared checks (sequences, long queries, lock
  waits, archiving, replication) and the few cheap ones that share their queries (connections, transaction age,
  wraparound), without the daily run's table scan and database sizes, which check_postgres's five actions do not
  do either; the target is judged on this one;
- and the whole daily run (every check, ``scope: all``), reported beside it.

Both get the same small thresholds (THRESHOLDS), and every run's findings are compared with what was seeded
before any time is reported: a difference fails the bench naming it.  Target: ours >= 3x less wall time.
Numbers go to stdout, bench/results/check_postgres.json and the check_postgres section of bench/README.md.
"""
import argparse
import json
import os
import pwd
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))

from bench.common import COLLECTIONS, ensure_collection_link, replace_readme_section  # noqa: E402

README = os.path.join(ROOT, 'bench', 'README.md')
RESULTS = os.path.join(ROOT, 'bench', 'results', 'check_postgres.json')
BEGIN, END = '<!-- bench_check_postgres:begin -->', '<!-- bench_check_postgres:end -->'
TARGET = 3.0
SLOT = 'bench_idle_slot'
SEQUENCE_TABLE = 't00042'  # its serial sequence is moved to 80 % of the int4 maximum
LOCKED_TABLE = 't00001'
INT4_MAX = 2147483647

# The same thresholds on both sides, small enough that the seeded conditions cross them within seconds.
# Sequences: the defaults of ours.  Lock wait: check_postgres counts waiting locks (any wait), ours the
# seconds a session has waited (1 s; the bench waits until the wait is older than that).
THRESHOLDS = {'sequence_warning_pct': 75, 'sequence_critical_pct': 90,
              'long_query_warning': 1, 'long_query_critical': 1800,
              'lock_wait_warning': 1, 'lock_wait_critical': 300,
              'archive_ready_warning': 600,
              'slot_wal_warning': 1048576}
CHECK_POSTGRES_ACTIONS = [
    ('sequence', ['--warning=75%', '--critical=90%']),
    ('query_time', ['--warning=1 second', '--critical=30 minutes']),
    ('locks', ['--warning=waiting=1', '--critical=waiting=50']),
    ('archive_ready', ['--warning=10', '--critical=15']),  # .ready files waiting; its defaults
    ('replication_slots', ['--warning=1MB', '--critical=10GB']),
]
# check_postgres action -> the twzrd_db_health check that answers the same question
TOPICS = {'sequence': 'sequences', 'query_time': 'long_queries', 'locks': 'blocking',
          'archive_ready': 'archiving', 'replication_slots': 'replication'}
NAGIOS_LINE = re.compile(r'^POSTGRES_(?P<action>[A-Z_]+) (?P<status>OK|WARNING|CRITICAL|UNKNOWN): (?P<text>.*)$')
LEVEL_ORDER = {'ok': 0, 'warning': 1, 'critical': 2}


# -- reading what each tool found (pure; tests/unit/test_bench_check_postgres.py) ---------------------------

def parse_nagios(output):
    """check_postgres's first output line as (ACTION, status, message); the perfdata after ' | ' is dropped.

    A line that is not Nagios output raises ValueError with the text (an error message, a usage line).
    """
    line = output.strip().split('\n', 1)[0]
    match = NAGIOS_LINE.match(line)
    if not match:
        raise ValueError('not check_postgres output: %r' % output[:300])
    message = match.group('text').split(' | ', 1)[0]
    message = re.sub(r'^DB "[^"]*" (\((host|port)[:=][^)]*\) )*', '', message)  # which database, host, port
    return match.group('action'), match.group('status').lower(), message.strip()


def their_finding(action, output):
    """One check_postgres action's output as (level, what it names): the sequences at or above the warning
    percentage, the pid of the longest query, the number of waiting locks, the .ready files, the slots."""
    name, level, message = parse_nagios(output)
    if name != action.upper():
        raise ValueError('expected POSTGRES_%s, got POSTGRES_%s' % (action.upper(), name))
    if level == 'unknown':
        return level, message
    if action == 'sequence':
        named = [] if level == 'ok' else re.findall(r'((?:[^\s"]|"(?:[^"]|"")*")+)=\d+% \(calls left=', message)
        return level, sorted(named)
    if action == 'query_time':
        pid = re.search(r'\bPID:(\d+)', message)
        return level, int(pid.group(1)) if pid else None
    if action == 'locks':
        waiting = re.search(r'total "waiting" locks: (\d+)|\bwaiting=(\d+)', message)
        return level, int(waiting.group(1) or waiting.group(2)) if waiting else None
    if action == 'archive_ready':
        ready = re.search(r'files found: (\d+)', message)
        return level, int(ready.group(1)) if ready else None
    if action == 'replication_slots':
        if message.startswith('No replication slots'):
            return level, []
        return level, sorted(re.findall(r'(\S+): \S+ \S+ \((?:physical|logical) ', message))
    raise ValueError('no reader for action %s' % action)


def our_findings(result):
    """twzrd_db_health's result as {check: (level, [subjects])} for the five checks; level 'ok' when quiet.

    A check that could not run (its name in ``unchecked``, or an alert saying 'check ... failed') is 'unknown';
    one that skipped itself (``metrics.<check>.skipped``: archive_mode off, a standby) is 'skipped'.
    """
    found = {}
    for check in TOPICS.values():
        alerts = [a for a in result.get('alerts', []) if a.get('check') == check]
        if check in result.get('unchecked', []) or any(a['message'].startswith('check ') for a in alerts):
            found[check] = ('unknown', [a['message'] for a in alerts])
            continue
        metrics = result.get('metrics', {}).get(check)
        if isinstance(metrics, dict) and metrics.get('skipped'):  # quiet because it did not look: not a finding
            found[check] = ('skipped', [metrics['skipped']])
            continue
        level = max([a['level'] for a in alerts] or ['ok'], key=LEVEL_ORDER.get)
        found[check] = (level, sorted(a['subject'] for a in alerts))
    return found


def differences(theirs, ours, seeded):
    """What either tool did not find as seeded; [] when both found the same conditions.

    ``theirs``: {action: (level, what)} from their_finding; ``ours``: our_findings(result); ``seeded``:
    sequence (schema.name), column (schema.table.column), sleeper_pid, waiter_pid, slot.
    """
    expected_theirs = {
        'sequence': ('warning', [seeded['sequence']]),
        'query_time': ('warning', seeded['sleeper_pid']),  # the longest query: the sleeper started first
        'locks': ('warning', 1),
        'archive_ready': ('ok', 0),
        'replication_slots': ('warning', [seeded['slot']]),
    }
    problems = []
    for action, expected in expected_theirs.items():
        got = theirs.get(action)
        if got != expected:
            problems.append('check_postgres %s: expected %r, got %r' % (action, expected, got))
    # ours names every long query: the waiting UPDATE runs for as long as it waits, so it is one too
    long_pids = [str(seeded['sleeper_pid']), str(seeded['waiter_pid'])]
    expected_ours = {
        'sequences': [('warning', [seeded['column']])],
        'long_queries': [('warning', sorted(long_pids)), ('warning', [str(seeded['sleeper_pid'])])],
        'blocking': [('warning', [str(seeded['waiter_pid'])])],
        'archiving': [('ok', [])],
        'replication': [('warning', [seeded['slot']])],
    }
    for check, allowed in expected_ours.items():
        got = ours.get(check)
        if got not in allowed:
            problems.append('twzrd_db_health %s: expected %s, got %r' % (check, ' or '.join(map(repr, allowed)), got))
    return problems


# -- the cluster and its seeded conditions -----------------------------------------------------------------

class Session:
    """A statement running in its own connection (a thread waits on it) until it ends or is cancelled."""

    def __init__(self, cluster, db, statement, application_name):
        self.conn = cluster.connect(db, application_name=application_name)
        self.pid = self.conn.get_backend_pid()
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(statement,), daemon=True)
        self.thread.start()

    def _run(self, statement):
        try:
            with self.conn.cursor() as cur:
                cur.execute(statement)
        except Exception as exc:  # cancelled at the end  # pylint: disable=broad-except
            self.error = exc

    def close(self):
        self.thread.join(10)
        self.conn.close()


def wait_for(conn, condition, args, timeout=30):
    """Poll pg_stat_activity until ``condition`` (a WHERE clause) holds for a row."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with conn.cursor() as cur:
            cur.execute('SELECT pg_stat_clear_snapshot()')
            cur.execute('SELECT count(*) FROM pg_stat_activity WHERE ' + condition, args)
            if cur.fetchone()[0]:
                return
        time.sleep(0.05)
    raise RuntimeError('no session with %s %r within %ss' % (condition, args, timeout))


def archiving_cluster(pg_cluster_class):
    """A PgCluster with archive_mode on, archiving with cp into <base>/archive (owned by postgres)."""
    cluster = pg_cluster_class(settings={'autovacuum': 'off', 'max_locks_per_transaction': '256',
                                         'archive_mode': 'on'})
    archive = os.path.join(cluster.base, 'archive')
    os.makedirs(archive)
    if os.geteuid() == 0:
        owner = pwd.getpwnam('postgres')
        os.chown(archive, owner.pw_uid, owner.pw_gid)
    cluster.settings['archive_command'] = "'cp %%p %s/%%f'" % archive
    return cluster


def build(cluster, tables, create_tables, flush_stats):
    """The slot, the catalog (serial keys, some rows and dead rows as in bench_db.py), the 80 % sequence."""
    cluster.execute("SELECT pg_create_physical_replication_slot('%s', true)" % SLOT)  # reserves WAL from now
    db = cluster.create_database('bench_check_postgres')
    conn = cluster.connect(db)
    create_tables(conn, ['t%05d' % i for i in range(tables)], columns='id serial PRIMARY KEY, v text, at timestamptz')
    with conn.cursor() as cur:
        for i in range(0, tables, max(tables // 50, 1)):
            cur.execute('INSERT INTO "t%05d" (v, at) SELECT md5(g::text), now() FROM generate_series(1, 2000) g' % i)
            cur.execute('DELETE FROM "t%05d" WHERE id %% 3 = 0' % i)
        cur.execute("SELECT setval(pg_get_serial_sequence('%s', 'id'), %d)" % (SEQUENCE_TABLE, INT4_MAX * 8 // 10))
        cur.execute('ANALYZE')
        cur.execute('SELECT pg_switch_wal()')  # a finished segment for the archiver
    flush_stats(conn)
    conn.close()
    return db


def start_sessions(cluster, db):
    """The long query (first, so it is the longest) and the lock wait; returns (sleeper, holder, waiter)."""
    admin = cluster.connect(db)
    sleeper = Session(cluster, db, 'SELECT pg_sleep(3600)', 'bench-report')
    # check_postgres's query_time names the longest query in whole seconds, the later one on a tie
    wait_for(admin, "pid = %s AND clock_timestamp() - query_start > interval '2.5 s'", (sleeper.pid,))
    holder = cluster.connect(db, autocommit=False, application_name='bench-migration')
    holder.cursor().execute('LOCK TABLE "%s" IN ACCESS EXCLUSIVE MODE' % LOCKED_TABLE)
    waiter = Session(cluster, db, "UPDATE \"%s\" SET v = 'x' WHERE id = 1" % LOCKED_TABLE, 'bench-api')
    # both thresholds are 1 s: wait until the two conditions are older than that
    wait_for(admin, "pid = %s AND wait_event_type = 'Lock' AND clock_timestamp() - state_change > "
                    "interval '1.5 s'", (waiter.pid,))
    admin.close()
    return sleeper, holder, waiter


def stop_sessions(cluster, sessions):
    sleeper, holder, waiter = sessions
    cluster.execute('SELECT pg_cancel_backend(%d)' % sleeper.pid)
    sleeper.close()
    holder.rollback()
    holder.close()
    waiter.close()


# -- the runs ------------------------------------------------------------------------------------------------

def find_check_postgres():
    for name in ('check_postgres', 'check_postgres.pl'):
        path = shutil.which(name)
        if path:
            return path
    return None


def run_check_postgres(check_postgres, cluster, db, timed):
    """The five actions, one process each as Nagios runs them: ({action: seconds}, {action: finding})."""
    env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'LANG': 'C', 'LC_ALL': 'C',
           'HOME': tempfile.gettempdir()}  # no ~/.check_postgresrc of whoever runs the bench
    seconds, found, lines = {}, {}, {}
    for action, extra in CHECK_POSTGRES_ACTIONS:
        elapsed, proc = timed([check_postgres, '--action=%s' % action, '--host=%s' % cluster.socket_dir,
                               '--port=%d' % cluster.port, '--dbuser=postgres', '--dbname=%s' % db] + extra, env=env)
        if proc.returncode not in (0, 1, 2):  # 3: unknown or an error
            raise RuntimeError('check_postgres %s failed (%d): %s %s'
                               % (action, proc.returncode, proc.stdout[-1000:], proc.stderr[-1000:]))
        seconds[action] = elapsed
        try:
            found[action] = their_finding(action, proc.stdout)
        except ValueError as exc:
            raise RuntimeError('check_postgres %s: %s' % (action, exc))
        lines[action] = proc.stdout.split('\n', 1)[0].split(' | ', 1)[0]
    return seconds, found, lines


def time_collectors(cluster, db, runs):
    """Median milliseconds of each of our run's queries, in-process on one connection (where the run's
    ``query_ms`` goes): the five checks' collectors and the catalog-wide ones the whole run adds."""
    if COLLECTIONS not in sys.path:
        sys.path.insert(0, COLLECTIONS)
    from ansible_collections.twzrd.ops.plugins.module_utils.postgres import collect  # pylint: disable=import-outside-toplevel
    conn = cluster.connect(db)
    try:
        version = collect.collect_settings(conn)['server_version_num']
        # with the arguments the run passes: only the sequences and tables it reports on come back
        calls = [('sequences', lambda: collect.collect_sequences(conn, above_pct=THRESHOLDS['sequence_warning_pct'],
                                                                 listed=10)),
                 ('activity (long_queries, blocking)', lambda: collect.collect_activity(conn, version)),
                 ('archiving', lambda: collect.collect_archiving(conn)),
                 ('replication', lambda: collect.collect_replication(conn, version)),
                 ('invalid_indexes', lambda: collect.collect_invalid_indexes(conn)),
                 ('tables (primary keys, dead rows)',
                  lambda: collect.collect_tables(conn, top=10, dead_rows_warning=100000)),
                 ('database sizes', lambda: collect.collect_database_sizes(conn))]
        samples = {}
        for dummy in range(runs):
            for label, call in calls:
                started = time.perf_counter()
                call()
                samples.setdefault(label, []).append((time.perf_counter() - started) * 1000.0)
    finally:
        conn.close()
    return [(label, round(statistics.median(samples[label]), 1)) for label, dummy in calls]


def bench(cluster, workdir, tables, runs):
    from pg_harness import create_tables, flush_stats  # noqa: E402 pylint: disable=import-outside-toplevel
    from bench.bench_db import module_start_cost, run_module, timed  # pylint: disable=import-outside-toplevel

    started = time.perf_counter()
    db = build(cluster, tables, create_tables, flush_stats)
    setup = time.perf_counter() - started
    check_postgres = find_check_postgres()
    args = cluster.conn_params(db)
    args.update(state_file='')
    args.update(THRESHOLDS)
    sessions = start_sessions(cluster, db)
    seeded = {'sequence': 'public.%s_id_seq' % SEQUENCE_TABLE, 'column': 'public.%s.id' % SEQUENCE_TABLE,
              'sleeper_pid': sessions[0].pid, 'waiter_pid': sessions[2].pid, 'slot': SLOT}
    acute_args = dict(args, scope='acute')
    ours, query_ms, theirs, per_action, other_alerts, acute, acute_query_ms = [], [], [], {}, set(), [], []
    try:
        for dummy in range(runs):
            elapsed, result = run_module('twzrd_db_health', args, workdir)
            ours.append(elapsed)
            query_ms.append(result['metrics']['query_ms'])
            elapsed, acute_result = run_module('twzrd_db_health', acute_args, workdir)
            acute.append(elapsed)
            acute_query_ms.append(acute_result['metrics']['query_ms'])

            other_alerts.update('%s %s' % (a['check'], a['level']) for a in result['alerts']
                                if a['check'] not in TOPICS.values())
            seconds, found, lines = run_check_postgres(check_postgres, cluster, db, timed)
            for action, value in seconds.items():
                per_action.setdefault(action, []).append(value)
            theirs.append(sum(seconds.values()))
            mine = our_findings(result)
            problems = differences(found, mine, seeded) + [
                'acute run: ' + problem for problem in differences(found, our_findings(acute_result), seeded)]
            if problems:
                raise RuntimeError('the two tools did not find the same seeded conditions:\n  %s\ncheck_postgres said:\n  %s'
                                   % ('\n  '.join(problems), '\n  '.join(lines.values())))
        collectors = time_collectors(cluster, db, runs)
        start_cost = module_start_cost()
    finally:
        stop_sessions(cluster, sessions)
    with cluster.connect(db) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_class WHERE relkind = 'S'")
            sequences = cur.fetchone()[0]
    conn.close()
    return {
        'tables': tables,
        'sequences': sequences,
        'setup_s': round(setup, 1),
        'twzrd_db_health_s': round(statistics.median(ours), 3),
        'twzrd_query_ms': round(statistics.median(query_ms), 1),
        'check_postgres_s': round(statistics.median(theirs), 3),
        'check_postgres_per_action_s': dict((k, round(statistics.median(v), 3)) for k, v in per_action.items()),
        'ratio': round(statistics.median(theirs) / statistics.median(ours), 1),
        'acute_s': round(statistics.median(acute), 3),
        'acute_query_ms': round(statistics.median(acute_query_ms), 1),
        'ratio_acute': round(statistics.median(theirs) / statistics.median(acute), 1),
        'runs': runs,
        'twzrd_collectors_ms': collectors,
        'module_start_s': start_cost,
        'check_postgres_findings': found,
        'check_postgres_said': lines,
        'twzrd_findings': mine,
        'our_other_alerts': sorted(other_alerts),
    }


def write_readme(results):
    run = results['bench']
    per_action = run['check_postgres_per_action_s']
    lines = [
        BEGIN,
        '## Issue 20 checks vs check_postgres: `bench_check_postgres.py`',
        '',
        '`python -m bench check_postgres` (`TWZRD_BENCH_RUNS`, default 15). Measured %s on this machine (%s cores; '
        'load average at the start %s, at the end %s), PostgreSQL %s, one throwaway cluster with `archive_mode = on` '
        '(cp into a directory), one inactive physical slot reserving WAL, the %d-table catalog of `bench_db.py` with '
        'serial keys (%d sequences). Seeded: one int4 sequence at 80 %%, a `pg_sleep` query in another connection, '
        'an UPDATE waiting on a `LOCK TABLE`. Contenders alternating, medians of %d runs, wall time with process '
        'start.' % (results['when'], results['cpus'], results['loadavg_start'], results['loadavg'],
                    results['server_version'], run['tables'], run['sequences'], run['runs']),
        '',
        '| | wall |',
        '|---|---|',
        '| check_postgres, one process per action (as Nagios runs them), summed | %.3f s |' % run['check_postgres_s'],
        '| `twzrd_db_health`, one run the cron way: all its checks, not only these five (queries %.1f ms) | %.3f s |'
        % (run['twzrd_query_ms'], run['twzrd_db_health_s']),
        '| ratio check_postgres / twzrd daily run | %.1fx |' % run['ratio'],
        '| `twzrd_db_health scope=acute` (the hourly db_alerts run): the compared checks and the cheap ones sharing '
        'their queries, no table scan or sizes (queries %.1f ms) | %.3f s |' % (run['acute_query_ms'], run['acute_s']),
        '| ratio check_postgres / twzrd acute run | **%.1fx** (target >= %.0fx: %s) |' % (
            run['ratio_acute'], TARGET, 'met' if run['ratio_acute'] >= TARGET else 'MISSED'),
        '',
        'Where our run goes: a module process that does nothing (python + ansible.module_utils.basic + psycopg2) '
        'takes %.3f s here; `query_ms` (%.1f ms) is the time from connecting to the last query, with the Python '
        'that judges in between (the server returns only the tables and sequences a run reports on, of %d and %d); '
        'the queries alone, in-process, take %.1f ms (below).'
        % (run['module_start_s'], run['twzrd_query_ms'], run['tables'], run['sequences'],
           sum(ms for dummy, ms in run['twzrd_collectors_ms'])),
        'check_postgres per action (s): %s. Ours, in-process on one connection (ms): %s.' % (
            ', '.join('%s %.3f' % (action, per_action[action]) for action, dummy in CHECK_POSTGRES_ACTIONS),
            ', '.join('%s %.1f' % item for item in run['twzrd_collectors_ms'])),
        'Thresholds, the same on both sides: sequences 75 / 90 % (`--action=sequence --warning=75% '
        '--critical=90%`, our defaults); long queries 1 s (`--action=query_time --warning=\'1 second\' '
        '--critical=\'30 minutes\'`, ours `long_query_warning: 1`); lock waits: check_postgres counts waiting '
        'locks (`--action=locks --warning=waiting=1`), ours the seconds a session has waited (`lock_wait_warning: '
        '1`, the wait is older); archiving: `--action=archive_ready` with its defaults (10 / 15 `.ready` files), '
        'ours `archive_ready_warning: 600` s and a failed archiver; slots: 1 MB of retained WAL '
        '(`--action=replication_slots --warning=1MB`, ours `slot_wal_warning: 1048576`).',
        'Every run, before any time counts, both must report exactly the seeded conditions, else the bench fails '
        'naming what differed: the sequence at 80 % (warning), the `pg_sleep` query (warning; check_postgres names '
        'the longest query, ours every one over the threshold, so also the waiting UPDATE), one lock wait '
        '(warning; ours names the waiting pid and its blocker), archiving quiet (0 `.ready` files; ours checked, '
        'not skipped), the inactive slot (warning). Ours also ran its other checks' + (
            ' (their alerts: %s).' % ', '.join(run['our_other_alerts']) if run['our_other_alerts'] else
            ', which found nothing.'),
        END,
    ]
    section = '\n'.join(lines)
    replace_readme_section(README, BEGIN, END, section)


def main(argv=()):
    """0 when the target is met (or the bench is skipped: check_postgres or PostgreSQL missing), 1 otherwise."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--quick', action='store_true', help='500 tables, 2 runs, README untouched (smoke test)')
    parser.add_argument('--runs', type=int, default=int(os.environ.get('TWZRD_BENCH_RUNS', '15')))
    parser.add_argument('--no-readme', action='store_true', help='do not update bench/README.md')
    options = parser.parse_args(argv)
    tables, runs = (500, 2) if options.quick else (5000, options.runs)

    if not find_check_postgres():
        print('skipped: check_postgres not found (apt-get install check-postgres; scripts/install-system-deps.sh)')
        return 0
    from pg_harness import PgCluster  # pylint: disable=import-outside-toplevel
    try:
        cluster = archiving_cluster(PgCluster)
    except RuntimeError as exc:
        print('skipped: %s' % exc)
        return 0
    ensure_collection_link()
    workdir = tempfile.mkdtemp(prefix='twzrd-bench-cp-')
    os.chmod(workdir, 0o755)
    load_start = ' '.join('%.1f' % x for x in os.getloadavg())
    try:
        cluster.start()
        with cluster.connect() as conn:
            with conn.cursor() as cur:
                cur.execute('SHOW server_version')
                version = cur.fetchone()[0]
        conn.close()
        print('check_postgres vs twzrd_db_health: %d tables, %d runs each ...' % (tables, runs), flush=True)
        run = bench(cluster, workdir, tables, runs)
    finally:
        cluster.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(run, indent=1), flush=True)
    results = {'when': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), 'cpus': os.cpu_count(),
               'loadavg_start': load_start, 'loadavg': ' '.join('%.1f' % x for x in os.getloadavg()),
               'server_version': version.split()[0], 'bench': run}
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, 'w') as handle:
        json.dump(results, handle, indent=1)
    met = run['ratio_acute'] >= TARGET
    print('check_postgres (5 actions) %.3f s vs twzrd_db_health: scope=acute %.3f s -> %.1fx (target >= %.0fx: %s); '
          'the whole daily run %.3f s -> %.1fx' % (
              run['check_postgres_s'], run['acute_s'], run['ratio_acute'], TARGET, 'met' if met else 'MISSED',
              run['twzrd_db_health_s'], run['ratio']))
    if not options.quick and not options.no_readme:
        write_readme(results)
    return 0 if met else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))

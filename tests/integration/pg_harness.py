"""A throwaway PostgreSQL cluster for integration tests and benchmarks.

``PgCluster`` runs initdb/pg_ctl as the non-root ``postgres`` user (initdb
refuses to run as root; docs/design.md, "PostgreSQL facts") in a temp dir, listening on a unix socket
dir inside that temp dir plus a free 127.0.0.1 port.  pg_hba: ``trust`` on
the socket (tests connect as any role without a password) and
``scram-sha-256`` on 127.0.0.1 (password and wrong-password tests).

Plain Python, no pytest needed (bench/bench_db.py reuses it); the pytest
fixtures at the bottom are defined only when pytest is importable.
"""
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time

import psycopg2

from harness import free_port

# What `from pg_harness import *` in conftest.py registers: the pytest fixtures only.
__all__ = ['pg_cluster', 'pg_db']

PG_USER = 'postgres'
PASSWORD_ROLE = 'twzrd_pw'
PASSWORD = 'S3cret-pw-for-tests'


def find_pg_bin(name):
    """A PostgreSQL server binary from PATH or /usr/lib/postgresql/*/bin (newest first)."""
    for directory in os.environ.get('PATH', '').split(os.pathsep):
        path = os.path.join(directory, name)
        if os.access(path, os.X_OK):
            return path
    candidates = sorted(glob.glob('/usr/lib/postgresql/*/bin/%s' % name),
                        key=lambda p: int(p.split('/')[4]) if p.split('/')[4].isdigit() else 0, reverse=True)
    for path in candidates:
        if os.access(path, os.X_OK):
            return path
    return None


class PgCluster:
    """initdb + pg_ctl start/stop of a private cluster."""

    def __init__(self, base_dir=None, settings=None):
        self.initdb = find_pg_bin('initdb')
        self.pg_ctl = find_pg_bin('pg_ctl')
        if not self.initdb or not self.pg_ctl:
            raise RuntimeError('PostgreSQL server binaries (initdb, pg_ctl) not found: '
                               'apt-get install postgresql (scripts/install-system-deps.sh)')
        self.base = base_dir or tempfile.mkdtemp(prefix='twzrd-pg-')
        self.data = os.path.join(self.base, 'data')
        self.socket_dir = os.path.join(self.base, 'sock')
        self.log = os.path.join(self.base, 'server.log')
        self.port = free_port()
        self.settings = dict(settings or {})
        self.running = False
        self.as_root = os.geteuid() == 0

    # -- running commands as the cluster owner --------------------------------
    def _run(self, argv, check=True):
        if self.as_root:
            argv = ['runuser', '-u', PG_USER, '--'] + argv
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if check and proc.returncode != 0:
            raise RuntimeError('%s failed (%d): %s %s' % (argv, proc.returncode, proc.stdout, proc.stderr))
        return proc

    def _make_dirs(self):
        os.makedirs(self.socket_dir, exist_ok=True)
        os.chmod(self.base, 0o755)
        if self.as_root:
            owner = pwd.getpwnam(PG_USER)
            for path in (self.base, self.socket_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)

    def start(self):
        self._make_dirs()
        self._run([self.initdb, '-D', self.data, '-U', PG_USER, '-A', 'trust', '-E', 'UTF8',
                   '--locale=C.UTF-8', '--no-sync'])
        with open(os.path.join(self.data, 'pg_hba.conf'), 'w') as hba:
            # 'all' does not match replication connections: a standby (PgStandby) needs its own line
            hba.write('local all all trust\n'
                      'local replication all trust\n'
                      'host all all 127.0.0.1/32 scram-sha-256\n')
        self._configure_and_start()
        with self.connect() as conn:
            with conn.cursor() as cur:
                cur.execute("CREATE ROLE %s LOGIN SUPERUSER PASSWORD '%s'" % (PASSWORD_ROLE, PASSWORD))
        return self

    def _configure_and_start(self):
        """Our settings appended to postgresql.auto.conf (the last line of a name wins), then pg_ctl start."""
        conf = {
            'listen_addresses': "'127.0.0.1'",
            'port': str(self.port),
            'unix_socket_directories': "'%s'" % self.socket_dir,
            'fsync': 'off',
            'synchronous_commit': 'off',
            'full_page_writes': 'off',
            'shared_buffers': "'64MB'",
            'max_connections': '50',
            'password_encryption': "'scram-sha-256'",
            'logging_collector': 'off',
        }
        conf.update(self.settings)
        with open(os.path.join(self.data, 'postgresql.auto.conf'), 'a') as handle:
            for key, value in conf.items():
                handle.write('%s = %s\n' % (key, value))
        self._run([self.pg_ctl, '-D', self.data, '-l', self.log, '-w', '-t', '60', 'start'])
        self.running = True

    def stop(self):
        if self.running:
            self._run([self.pg_ctl, '-D', self.data, '-m', 'fast', '-w', 'stop'], check=False)
            self.running = False

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    # -- clients ----------------------------------------------------------------
    def conn_params(self, dbname='postgres', user=PG_USER):
        """Module parameters (community.postgresql names) for the socket."""
        return {'login_unix_socket': self.socket_dir, 'login_port': self.port,
                'login_user': user, 'login_db': dbname}

    def tcp_params(self, dbname='postgres', password=PASSWORD):
        return {'login_host': '127.0.0.1', 'login_port': self.port, 'login_user': PASSWORD_ROLE,
                'login_password': password, 'login_db': dbname}

    def connect(self, dbname='postgres', autocommit=True, **kwargs):
        conn = psycopg2.connect(host=self.socket_dir, port=self.port, user=PG_USER, dbname=dbname, **kwargs)
        conn.autocommit = autocommit
        return conn

    def execute(self, statements, dbname='postgres'):
        """Run SQL statements in autocommit on a fresh connection."""
        if isinstance(statements, str):
            statements = [statements]
        conn = self.connect(dbname)
        try:
            with conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
        finally:
            conn.close()

    def create_database(self, name):
        self.execute('CREATE DATABASE "%s"' % name)
        return name

    def psql_env(self):
        return {'PGHOST': self.socket_dir, 'PGPORT': str(self.port), 'PGUSER': PG_USER}


class PgStandby(PgCluster):
    """A streaming hot standby of a running ``primary``: ``pg_basebackup -R`` (standby.signal and
    primary_conninfo over the primary's unix socket) into a new data dir, started on its own port.

    ``slot``: the physical replication slot it streams from, created by pg_basebackup (``-C``).
    ``settings`` are appended after the copied postgresql.auto.conf, so they and the new port and
    socket dir win over the primary's.  ``stop``/``cleanup`` as for PgCluster.
    """

    def __init__(self, primary, slot=None, base_dir=None, settings=None):
        super().__init__(base_dir=base_dir, settings=settings)
        self.primary = primary
        self.slot = slot
        self.pg_basebackup = find_pg_bin('pg_basebackup')

    def start(self):
        self._make_dirs()
        argv = [self.pg_basebackup, '-D', self.data, '-h', self.primary.socket_dir, '-p', str(self.primary.port),
                '-U', PG_USER, '-R', '-X', 'stream', '-c', 'fast', '--no-sync']
        if self.slot:
            argv += ['-C', '-S', self.slot]
        self._run(argv)
        self._configure_and_start()
        return self

    def wait_caught_up(self, timeout=30):
        """Until the standby has replayed everything the primary has written (its current WAL position)."""
        conn = self.primary.connect()
        try:
            with conn.cursor() as cur:
                cur.execute('SELECT pg_current_wal_lsn()::text')
                target = cur.fetchone()[0]
        finally:
            conn.close()
        deadline = time.monotonic() + timeout
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                while True:
                    cur.execute('SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn', (target,))
                    if cur.fetchone()[0]:
                        return
                    if time.monotonic() > deadline:
                        raise RuntimeError('standby did not replay up to %s within %ss' % (target, timeout))
                    time.sleep(0.05)
        finally:
            conn.close()


def flush_stats(conn):
    """Make this session's counters visible to others now (PG15+; docs/design.md, "PostgreSQL facts")."""
    with conn.cursor() as cur:
        cur.execute('SELECT pg_stat_force_next_flush()')
    if not conn.autocommit:
        conn.commit()


def create_tables(conn, names, columns='id int PRIMARY KEY, v text', batch=200, options=''):
    """CREATE TABLE for many names, committing every ``batch`` tables so the lock
    table (max_locks_per_transaction) never fills up (docs/design.md, "PostgreSQL facts")."""
    autocommit = conn.autocommit
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            for index, name in enumerate(names, 1):
                cur.execute('CREATE TABLE "%s" (%s)%s' % (name, columns, options))
                if index % batch == 0:
                    conn.commit()
        conn.commit()
    finally:
        conn.autocommit = autocommit


def dead_rows(conn, table):
    """n_dead_tup of a table as the stats collector reports it right now."""
    with conn.cursor() as cur:
        cur.execute('SELECT pg_stat_clear_snapshot()')
        cur.execute('SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = %s', (table,))
        row = cur.fetchone()
    return row[0] if row else None


def seed_dead_rows(conn, table, rows, delete_every=1, autovacuum=False):
    """Create ``table`` with ``rows`` rows, autovacuum off, then delete a share of them.

    Deletes rows with id % delete_every = 0 (all of them by default) and
    flushes the stats so another session sees n_dead_tup right away.
    """
    with conn.cursor() as cur:
        cur.execute('CREATE TABLE "%s" (id int PRIMARY KEY, payload text) WITH (autovacuum_enabled = %s)'
                    % (table, 'on' if autovacuum else 'off'))
        cur.execute('INSERT INTO "%s" SELECT g, md5(g::text) FROM generate_series(1, %d) g' % (table, rows))
        cur.execute('DELETE FROM "%s" WHERE id %% %d = 0' % (table, delete_every))
    flush_stats(conn)


def wait_for_dead_rows(conn, table, minimum, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        value = dead_rows(conn, table) or 0
        if value >= minimum or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


try:
    import pytest
except ImportError:  # bench time: plain Python
    pytest = None

if pytest is not None:
    @pytest.fixture(scope='session')
    def pg_cluster():
        """One throwaway PostgreSQL cluster for the whole session, stopped at the end."""
        try:
            cluster = PgCluster()
        except RuntimeError as exc:
            pytest.fail(str(exc))
        cluster.start()
        yield cluster
        cluster.cleanup()

    @pytest.fixture
    def pg_db(pg_cluster, request):
        """A fresh database per test (name from the test), dropped afterwards."""
        name = ('t_' + request.node.name.lower())[:60]
        name = ''.join(ch if ch.isalnum() or ch == '_' else '_' for ch in name)
        pg_cluster.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
        pg_cluster.create_database(name)
        yield name
        pg_cluster.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)

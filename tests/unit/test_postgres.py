"""Connection parameters and error messages (pure parts of module_utils/postgres/connection.py)."""
from ansible_collections.twzrd.ops.plugins.module_utils.postgres import connection as postgres

SECRET = 'hunter2-Secret'


def test_default_is_the_local_socket_as_postgres_without_password():
    kwargs = postgres.connection_kwargs({}, statement_timeout=5)
    assert kwargs['host'] == '/var/run/postgresql' and kwargs['user'] == 'postgres'
    assert kwargs['dbname'] == 'postgres' and 'password' not in kwargs
    assert kwargs['options'] == '-c statement_timeout=5000'


def test_host_wins_over_socket_and_extra_params_merge():
    kwargs = postgres.connection_kwargs(
        {'login_host': 'db.internal', 'login_unix_socket': '/run/pg', 'login_port': 6432, 'login_user': 'mon',
         'login_password': SECRET, 'login_db': 'app', 'ssl_mode': 'verify-full', 'ca_cert': '/etc/ca.pem',
         'connect_params': {'options': '-c search_path=app', 'connect_timeout': 3}},
        statement_timeout=1.5, lock_timeout=2)
    assert kwargs['host'] == 'db.internal' and kwargs['port'] == 6432 and kwargs['password'] == SECRET
    assert kwargs['sslmode'] == 'verify-full' and kwargs['sslrootcert'] == '/etc/ca.pem'
    assert kwargs['connect_timeout'] == 3
    assert kwargs['options'] == '-c search_path=app -c statement_timeout=1500 -c lock_timeout=2000'


def test_socket_used_when_no_host():
    assert postgres.connection_kwargs({'login_unix_socket': '/tmp/s'})['host'] == '/tmp/s'


def test_connect_errors_are_classified_on_one_line_without_password():
    params = {'login_db': 'app', 'login_password': SECRET}
    cases = [
        ('connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: No such file or directory\n'
         '\tIs the server running locally and accepting connections on that socket?\n', 'server_unreachable'),
        ('connection to server at "127.0.0.1", port 1 failed: Connection refused\n', 'server_unreachable'),
        ('connection to server at "10.0.0.1", port 5432 failed: timeout expired\n', 'server_unreachable'),
        ('connection to server at "127.0.0.1", port 5432 failed: FATAL:  password authentication failed for '
         'user "mon"\n', 'auth_failed'),
        ('connection to server at "127.0.0.1", port 5432 failed: fe_sendauth: no password supplied\n', 'auth_failed'),
        ('connection to server on socket "/x" failed: FATAL:  Peer authentication failed for user "postgres"\n',
         'auth_failed'),
        ('connection to server on socket "/x" failed: FATAL:  database "app" does not exist\n', 'unknown_database'),
        ('something odd password=%s happened\n' % SECRET, 'connection_failed'),
    ]
    for text, kind in cases:
        got_kind, message = postgres.describe_connect_error(text, params)
        assert got_kind == kind, text
        assert '\n' not in message and SECRET not in message and 'FATAL' not in message
    assert postgres.describe_connect_error(cases[6][0], params)[1].startswith("PostgreSQL database 'app' does not exist")


def test_split_table_name():
    assert postgres.split_table_name('events') == ('public', 'events')
    assert postgres.split_table_name('audit.Log Table') == ('audit', 'Log Table')

"""Property-based tests (Hypothesis): every module run the way cron runs it, with generated input.

Each example is one module process (harness.run_module) with JSON arguments; the
properties: JSON out, never a traceback, within a bounded time, no NaN/Infinity
in the output, a rejected run names the parameter, and a rejected run changed
nothing (no pm2 restart, no VACUUM).  Real parts: a private PM2, a throwaway
PostgreSQL, real FIFOs, symlinks and device nodes.

``make test`` runs the small, derandomized profile (a few hundred examples in
all); ``make fuzz`` sets TWZRD_FUZZ=1 for a long, randomized run.
"""
import json
import os
import stat

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from harness import run_module
from pg_harness import seed_dead_rows

LONG_RUN = bool(os.environ.get('TWZRD_FUZZ'))
settings.register_profile('ci', derandomize=True, deadline=None, database=None, print_blob=True,
                          suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
settings.register_profile('fuzz', deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)
settings.load_profile('fuzz' if LONG_RUN else 'ci')


def examples(count):
    """``count`` examples in ``make test``; twenty times as many under ``make fuzz``."""
    return settings(max_examples=count * 20 if LONG_RUN else count)


RUN_TIMEOUT = 90  # seconds: any example beyond this is a hang (the audit saw runs stuck for hours)
QUIET = {'load_warning': 1000, 'load_critical': 2000, 'disk_warning': 99.8, 'disk_critical': 99.9,
         'swap_warning': 99.8, 'swap_critical': 99.9}


# --- generated values --------------------------------------------------------------------------------

NASTY_FLOATS = st.sampled_from([float('nan'), float('inf'), float('-inf'), 1e308, -1e308, 1e300, 2.0 ** 63, -0.0])
HUGE_INTS = st.sampled_from([2 ** 63, 2 ** 64 + 1, -2 ** 63, 10 ** 30, 10 ** 9, -1])
TEXT = st.text(st.characters(blacklist_categories=('Cs',)), max_size=24)
NUL_TEXT = st.tuples(TEXT, TEXT).map(lambda parts: parts[0] + '\x00' + parts[1])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-1000, 100000), HUGE_INTS,
                    st.floats(allow_nan=False, allow_infinity=False, width=64), NASTY_FLOATS, TEXT, NUL_TEXT)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(TEXT, inner, max_size=3)), max_leaves=6)


def file_kinds(base):
    """Paths of every file type under ``base`` (never the machine's own /dev entries)."""
    paths = {}
    paths['regular'] = base / 'regular'
    paths['regular'].write_text('{}')
    paths['directory'] = base / 'directory'
    paths['directory'].mkdir()
    paths['fifo'] = base / 'fifo'
    os.mkfifo(str(paths['fifo']))
    paths['null_device'] = base / 'null_device'
    os.mknod(str(paths['null_device']), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    paths['zero_device'] = base / 'zero_device'
    os.mknod(str(paths['zero_device']), 0o666 | stat.S_IFCHR, os.makedev(1, 5))
    paths['symlink'] = base / 'symlink'
    os.symlink(str(paths['regular']), str(paths['symlink']))
    paths['dangling'] = base / 'dangling'
    os.symlink(str(base / 'nowhere'), str(paths['dangling']))
    paths['missing'] = base / 'missing' / 'deeper' / 'file'
    return dict((kind, str(path)) for kind, path in paths.items())


def option_names(spec):
    """Every option and alias name of an argument spec, suboptions as 'parent.child'."""
    names = []
    for name, option in spec.items():
        names.append(name)
        names.extend(option.get('aliases') or [])
        names.extend('%s.%s' % (name, sub) for sub in (option.get('options') or {}))
    return sorted(names)


def module_spec(module):
    from ansible_collections.twzrd.ops.plugins.modules import (
        pm2_restart, twzrd_db_health, twzrd_health, twzrd_notify, twzrd_vacuum)
    return {'pm2_restart': pm2_restart.ARGUMENT_SPEC, 'twzrd_health': twzrd_health.ARGUMENT_SPEC,
            'twzrd_db_health': twzrd_db_health.ARGUMENT_SPEC,
            'twzrd_vacuum': twzrd_vacuum.ARGUMENT_SPEC, 'twzrd_notify': twzrd_notify.ARGUMENT_SPEC}[module]


# --- the properties -----------------------------------------------------------------------------------

def run_and_check(module, args, tmp_path):
    """Run once; assert the properties every run must have. Returns the result."""
    rc, result, out, err = run_module(module, args, tmp_path, timeout=RUN_TIMEOUT)
    assert 'Traceback' not in err and 'Traceback' not in out, (module, args, err[-3000:])
    assert result is not None, ('no JSON on stdout', module, args, rc, out[-2000:], err[-2000:])
    assert 'NaN' not in out and 'Infinity' not in out, ('NaN/Infinity is not JSON', out[-2000:])
    return result


def assert_rejection_names_a_parameter(module, result, fuzzed):
    """A run the module refused before doing its job (no ``status``) must say which option is wrong."""
    if not result.get('failed') or result.get('status'):
        return
    msg = result.get('msg') or ''
    assert msg, result
    names = [fuzzed, fuzzed.split('.')[0]] + option_names(module_spec(module))
    assert any(name in msg for name in names), ('the message names no parameter', fuzzed, msg)


# --- module parameters --------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def kinds(tmp_path_factory):
    return file_kinds(tmp_path_factory.mktemp('kinds'))


def fuzz_args(spec_names, kinds_map):
    """A strategy of (option, value): generated values, and for path-like options every file kind."""
    path_like = st.sampled_from(sorted(kinds_map.values()))
    return st.tuples(st.sampled_from(spec_names), st.one_of(VALUES, path_like, st.lists(path_like, max_size=2)))


HEALTH_OPTIONS = sorted(set(option_names(module_spec('twzrd_health'))) - {'notify.urls', 'ping_url'})


@examples(60)
@given(data=st.data())
def test_twzrd_health_any_option_value(tmp_path_factory, kinds, data):
    tmp_path = tmp_path_factory.mktemp('health')
    option, value = data.draw(fuzz_args(HEALTH_OPTIONS, kinds))
    args = dict(QUIET, mode=data.draw(st.sampled_from(['alerts', 'report'])), include_system_log=False,
                state_file=str(tmp_path / 'state.json'), log_file=str(tmp_path / 'run.log'),
                pm2_home=str(tmp_path / 'no-pm2'), _ansible_check_mode=data.draw(st.booleans()))
    set_option(args, option, value)
    result = run_and_check('twzrd_health', args, tmp_path)
    assert_rejection_names_a_parameter('twzrd_health', result, option)
    for kind in ('null_device', 'zero_device', 'fifo', 'symlink'):  # never replaced by a regular file
        mode = os.lstat(kinds[kind]).st_mode
        assert not stat.S_ISREG(mode), (kind, option, value)


def set_option(args, option, value):
    if '.' in option:
        parent, sub = option.split('.', 1)
        args[parent] = dict(args.get(parent) or {}, **{sub: value})
    else:
        args[option] = value


@pytest.fixture(scope='module')
def fuzz_db(pg_cluster):
    """A database with one table worth vacuuming; its vacuum count says whether anything ran."""
    pg_cluster.execute('DROP DATABASE IF EXISTS fuzz WITH (FORCE)')
    pg_cluster.create_database('fuzz')
    conn = pg_cluster.connect('fuzz')
    try:
        seed_dead_rows(conn, 'fuzz_t', 2000)
    finally:
        conn.close()
    yield 'fuzz'
    pg_cluster.execute('DROP DATABASE IF EXISTS fuzz WITH (FORCE)')


def vacuum_count(pg_cluster, db):
    conn = pg_cluster.connect(db)
    try:
        with conn.cursor() as cur:
            cur.execute('SELECT pg_stat_clear_snapshot()')
            cur.execute("SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'fuzz_t'")
            return cur.fetchone()[0]
    finally:
        conn.close()


DB_SECRETS = {'notify.urls', 'ping_url'}


@examples(50)
@given(data=st.data())
def test_db_modules_any_option_value(tmp_path_factory, kinds, pg_cluster, fuzz_db, data):
    tmp_path = tmp_path_factory.mktemp('db')
    module = data.draw(st.sampled_from(['twzrd_db_health', 'twzrd_vacuum']))
    names = sorted(set(option_names(module_spec(module))) - DB_SECRETS)
    option, value = data.draw(fuzz_args(names, kinds))
    args = dict(pg_cluster.conn_params(fuzz_db), state_file=str(tmp_path / 'state.json'),
                log_file=str(tmp_path / 'run.log'), statement_timeout=10)
    if module == 'twzrd_vacuum':
        args.update(tables=['fuzz_t'], min_dead_rows=1, max_duration=30, table_timeout=20)
    set_option(args, option, value)
    before = vacuum_count(pg_cluster, fuzz_db)
    result = run_and_check(module, args, tmp_path)
    assert_rejection_names_a_parameter(module, result, option)
    if result.get('failed') and not result.get('status'):
        assert vacuum_count(pg_cluster, fuzz_db) == before, 'a rejected run vacuumed'


# pm2_restart: check mode plans against a real PM2 without restarting; the run-mode property below
# feeds only invalid durations, which must be refused before anything restarts.

@pytest.fixture(scope='module')
def fuzz_pm2(pm2_bin, tmp_path_factory):
    from harness import Pm2
    daemon = Pm2(pm2_bin, tmp_path_factory.mktemp('fuzz-pm2') / 'home')
    daemon.start('steady.js', 'web')
    daemon.wait_for(lambda procs: any(p['pm2_env']['status'] == 'online' for p in procs))
    yield daemon
    daemon.kill()


def restarts(pm2):
    return [(p['pid'], p['pm2_env']['restart_time']) for p in pm2.jlist() if p['name'] == 'web']


RESTART_OPTIONS = sorted(set(option_names(module_spec('pm2_restart')))
                         - {'notify.urls', 'ping_url', 'pm2_bin', 'pm2_home'})


@examples(40)
@given(data=st.data())
def test_pm2_restart_any_option_value_in_check_mode(tmp_path_factory, kinds, fuzz_pm2, data):
    tmp_path = tmp_path_factory.mktemp('restart')
    option, value = data.draw(fuzz_args(RESTART_OPTIONS, kinds))
    args = {'apps': ['web'], 'pm2_bin': fuzz_pm2.bin, 'pm2_home': fuzz_pm2.home, '_ansible_check_mode': True,
            'state_file': str(tmp_path / 'state.json'), 'log_file': str(tmp_path / 'run.log')}
    set_option(args, option, value)
    before = restarts(fuzz_pm2)
    result = run_and_check('pm2_restart', args, tmp_path)
    assert_rejection_names_a_parameter('pm2_restart', result, option)
    assert restarts(fuzz_pm2) == before


BAD_DURATIONS = st.one_of(NASTY_FLOATS, st.floats(max_value=-0.001, allow_nan=False, allow_infinity=False),
                          st.floats(min_value=1e6, max_value=1e300), HUGE_INTS, TEXT.filter(lambda t: not _is_number(t)),
                          st.lists(st.integers(), min_size=1, max_size=2))


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


@examples(40)
@given(option=st.sampled_from(['online_timeout', 'stable_seconds', 'settle_seconds', 'pm2_timeout',
                               'health_checks.timeout', 'health_checks.backoff', 'health_checks.retries']),
       value=BAD_DURATIONS)
def test_pm2_restart_bad_durations_are_refused_before_any_restart(tmp_path_factory, fuzz_pm2, option, value):
    tmp_path = tmp_path_factory.mktemp('restart-run')
    args = {'apps': ['web'], 'pm2_bin': fuzz_pm2.bin, 'pm2_home': fuzz_pm2.home, 'stable_seconds': 0.2,
            'settle_seconds': 0, 'state_file': str(tmp_path / 'state.json')}
    if option.startswith('health_checks.'):
        args['health_checks'] = {'web': {'url': 'http://127.0.0.1:1/', option.split('.')[1]: value}}
    else:
        args[option] = value
    before = restarts(fuzz_pm2)
    result = run_and_check('pm2_restart', args, tmp_path)
    assert result.get('failed') and not result.get('status'), ('accepted', option, value, result)
    assert option.split('.')[-1] in result['msg'], (option, result['msg'])
    assert restarts(fuzz_pm2) == before


# --- the state file -------------------------------------------------------------------------------------

SECTION_KEYS = {
    'pm2': ['restart_baseline', 'own_restarts', 'daemons'],
    'twzrd_health': ['history', 'levels'],
    'twzrd_db_health': ['sizes', 'last_run', 'last_status'],
    'twzrd_vacuum': ['last_run', 'last_status', 'last_metrics'],
    'alerting': ['alerts', 'alerts:x', 'db_health:fuzz'],
}
STATE_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10, 10 ** 12), st.floats(allow_nan=False, allow_infinity=False),
              TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(['web#0', 't', 'load1', 'alerts', 'pending', 'since',
                                                             'level', 'told_level', 'last_sent', 'title', 'x',
                                                             '/tmp/twzrd-gone-pm2', 'user', 'restart_baseline']),
                                            inner, max_size=4)),
    max_leaves=8)


@st.composite
def states(draw):
    state = {}
    for section in draw(st.lists(st.sampled_from(sorted(SECTION_KEYS)), max_size=3, unique=True)):
        if draw(st.booleans()):
            state[section] = draw(STATE_VALUES)
        else:
            keys = draw(st.lists(st.sampled_from(SECTION_KEYS[section]), max_size=3, unique=True))
            state[section] = dict((key, draw(STATE_VALUES)) for key in keys)
    return json.dumps(state)


@examples(30)
@given(text=st.one_of(states(), st.integers(1, 3000).map(lambda depth: '{"pm2":' + '[' * depth + ']' * depth + '}'),
                      TEXT),
       told=st.booleans())
def test_any_state_content_is_a_warning_and_a_fresh_start_never_a_crash(tmp_path_factory, text, told):
    tmp_path = tmp_path_factory.mktemp('state')
    state_file = tmp_path / 'state.json'
    state_file.write_text(text)
    args = dict(QUIET, mode='alerts', state_file=str(state_file))
    if told:  # else PM2 is looked for, and the daemons the state file remembers are checked
        args['pm2_home'] = str(tmp_path / 'no-pm2')
    first = run_and_check('twzrd_health', args, tmp_path)
    assert not first.get('failed') and first['status'] in ('ok', 'warning', 'critical'), first
    second = run_and_check('twzrd_health', args, tmp_path)  # the bad section was rewritten
    assert not second.get('failed')
    assert 'wrong shape' not in json.dumps(second.get('warnings') or []), second.get('warnings')


@examples(16)
@given(kind=st.sampled_from(['directory', 'fifo', 'null_device', 'zero_device', 'symlink', 'dangling']),
       module=st.sampled_from(['twzrd_health', 'pm2_restart', 'twzrd_db_health', 'twzrd_vacuum']),
       check_mode=st.booleans())
def test_state_file_of_every_kind_is_refused_or_used_never_replaced(tmp_path_factory, kinds, kind, module, check_mode):
    tmp_path = tmp_path_factory.mktemp('kind')
    path = kinds[kind]
    before = os.lstat(path)
    args = {'state_file': path, '_ansible_check_mode': check_mode, 'pm2_home': str(tmp_path / 'no-pm2')}
    if module == 'twzrd_health':
        args.update(QUIET)
    elif module != 'pm2_restart':
        args = {'state_file': path, '_ansible_check_mode': check_mode, 'login_host': '127.0.0.1', 'login_port': 1}
    run_and_check(module, args, tmp_path)
    after = os.lstat(path)
    assert (stat.S_IFMT(after.st_mode), after.st_ino) == (stat.S_IFMT(before.st_mode), before.st_ino), kind
    assert not os.path.exists(path + '.lock')

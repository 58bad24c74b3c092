"""Property-based tests (Hypothesis) of the state file's data (issue 17, "Keep the audit running").

Two classes of input the audit found by hand:

* a number that is not finite or out of range (``1e999``, ``NaN``, a 400-digit integer, ``1e300`` in a
  time) at any depth of any section of a realistic state file: the section it sits in (or that
  alerting job's entry) starts fresh with a warning, everything else is kept, and the state saves;
* clock jumps, forward and back, of up to 60 days, for one run or several: the hourly history taken
  with the right clock is never discarded, stays bounded, and readers never see the future.

Each class has an in-process property with many examples (read_state, history) and a module property
with a few (harness.run_module, the cron code path; the clock of the module's process is shifted by a
``sitecustomize`` on its path, everything else is real).  Same profiles as test_fuzz.py: ``make test``
runs the small derandomized one, TWZRD_FUZZ=1 twenty times as many examples, randomized.
"""
import json
import os
import time

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from harness import COLLECTIONS, run_module
from recorded_week import recorded_state
from ansible_collections.twzrd.ops.plugins.module_utils.state import history
from ansible_collections.twzrd.ops.plugins.module_utils.state.store import StateStore, read_state

LONG_RUN = bool(os.environ.get('TWZRD_FUZZ'))
settings.register_profile('ci', derandomize=True, deadline=None, database=None, print_blob=True,
                          suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
settings.register_profile('fuzz', deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)
settings.load_profile('fuzz' if LONG_RUN else 'ci')


def examples(count):
    """``count`` examples in ``make test``; twenty times as many under TWZRD_FUZZ=1."""
    return settings(max_examples=count * 20 if LONG_RUN else count)


DAY = 86400
HOUR = 3600
RUN_TIMEOUT = 90
QUIET = {'load_warning': 1000, 'load_critical': 2000, 'disk_warning': 99.8, 'disk_critical': 99.9,
         'swap_warning': 99.8, 'swap_critical': 99.9, 'pm2_home': '/nonexistent/pm2home',
         'include_system_log': False}
# JSON text Python's json.loads takes: inf, -inf, nan, a float beyond any time, an integer beyond float
BAD_NUMBERS = ['1e999', '-1e999', 'Infinity', '-Infinity', 'NaN', '1e300', '-1e300', '9' * 400]
PLACEHOLDER = '"__twzrd_bad_number__"'
SHIFT_SITE = '''import os
import time
_shift = float(os.environ.get('TWZRD_TEST_CLOCK_SHIFT') or 0)
_real_time = time.time
time.time = lambda: _real_time() + _shift
'''


def disk_now(path='/'):
    stats = os.statvfs(path)
    return (stats.f_blocks - stats.f_bfree) * stats.f_frsize, stats.f_bavail * stats.f_frsize


def full_state(now):
    """A realistic state file: every section a twzrd job writes, with history."""
    used, free = disk_now()
    state = recorded_state(now, '/', used, free)
    state['pm2'] = {'daemons': {'/home/app/.pm2': {'user': 'app', 'restart_baseline': {'api#0': 3, 'worker#0': 0},
                                                   'own_restarts': {'api#0': 1}}}}
    state['twzrd_vacuum'].update(last_run=int(now) - DAY, last_status='ok',
                                 last_metrics={'planned': 2, 'vacuumed': 2, 'skipped': 0, 'failed': 0})
    state['alerting']['alerts'] = {
        'alerts': {'load': {'check': 'load', 'level': 'warning', 'since': int(now) - HOUR, 'told_level': 'warning',
                            'told_value': 3.5, 'told_threshold': 2, 'last_sent': int(now) - HOUR}},
        'pending': [{'created': int(now) - HOUR, 'title': 'load', 'body': 'load is high', 'targets': ['0123abcd']}],
        'last_run': int(now) - HOUR, 'last_success': int(now) - HOUR, 'last_status': 'warning'}
    state['someone_else'] = {'free': [1, {'form': 2.5}]}
    return state


STATE_NOW = 1796083200  # 2026-12-01T00:00:00Z, for the in-process property


@st.composite
def poisoned(draw, state):
    """``(text, unit)``: ``state`` as JSON text with one bad number put at a drawn place, any depth;
    ``unit`` is what must start fresh: the top-level section, or ``('alerting', job)``."""
    state = json.loads(json.dumps(state))  # a private copy
    path = []
    node = state
    while True:
        if isinstance(node, dict):
            keys = sorted(node)
            if not keys or draw(st.integers(0, 4)) == 0:  # stop here: a new field
                key = draw(st.sampled_from(['x', 't', 'since', 'created', 'disk', 'web']))
                node[key] = '__twzrd_bad_number__'
                path.append(key)
                break
            key = draw(st.sampled_from(keys))
            path.append(key)
            if not isinstance(node[key], (dict, list)):
                node[key] = '__twzrd_bad_number__'
                break
            node = node[key]
        else:
            if not node or draw(st.integers(0, 4)) == 0:  # a new item
                node.append('__twzrd_bad_number__')
                path.append(len(node) - 1)
                break
            index = draw(st.integers(0, len(node) - 1))
            path.append(index)
            if not isinstance(node[index], (dict, list)):
                node[index] = '__twzrd_bad_number__'
                break
            node = node[index]
    bad = draw(st.sampled_from(BAD_NUMBERS))
    text = json.dumps(state).replace(PLACEHOLDER, bad)
    unit = ('alerting', path[1]) if path[0] == 'alerting' and len(path) > 1 else path[0]
    return text, unit, bad, path


def strict_load(text):
    """The saved file as a strict JSON parser sees it: no NaN/Infinity, no 1e999, no integer beyond 2**63."""
    def number(literal):
        value = float(literal)
        assert abs(value) <= 2.0 ** 63, literal[:40]
        return value

    def integer(literal):
        assert abs(int(literal)) <= 2 ** 63, literal[:40]
        return int(literal)
    return json.loads(text, parse_float=number, parse_int=integer,
                      parse_constant=lambda name: pytest.fail('%s saved' % name))


def assert_only_unit_dropped(original, data, unit, warning):
    assert warning and 'fresh start' in warning, warning
    if isinstance(unit, tuple):
        assert unit[1] not in data.get('alerting', {}), (unit, data.get('alerting'))
        assert '%s.%s' % unit in warning, warning
        others = dict((job, entry) for job, entry in original['alerting'].items() if job != unit[1])
        assert dict((job, entry) for job, entry in data['alerting'].items()) == others
        unit = 'alerting'
    else:
        assert unit not in data, unit
        assert 'state section %s' % unit in warning, warning
    for name, section in original.items():
        if name != unit:
            assert data[name] == section, name


class TestNonFiniteNumbersAtAnyDepth:
    """A bad number anywhere: that section starts fresh, the rest is kept, the state saves."""

    @examples(150)
    @given(data=st.data())
    def test_read_state_drops_exactly_the_unit_that_holds_it_and_the_rest_saves(self, tmp_path_factory, data):
        original = full_state(STATE_NOW)
        text, unit, dummy_bad, dummy_path = data.draw(poisoned(original))
        path = tmp_path_factory.mktemp('poisoned') / 'state.json'
        path.write_text(text)
        loaded, warning = read_state(str(path))
        assert_only_unit_dropped(original, loaded, unit, warning)
        with StateStore(str(path)) as store:
            store.save()  # would raise: "Out of range float values are not JSON compliant"
        strict_load(path.read_text())

    @examples(12)
    @given(data=st.data(), mode=st.sampled_from(['alerts', 'report']))
    def test_modules_run_warn_once_and_save(self, tmp_path_factory, data, mode):
        tmp_path = tmp_path_factory.mktemp('poisoned-run')
        now = time.time()
        text, unit, bad, where = data.draw(poisoned(full_state(now)))
        state = tmp_path / 'state.json'
        state.write_text(text)
        args = dict(QUIET, mode=mode, state_file=str(state))
        first = run_checked('twzrd_health', args, tmp_path)
        said = json.dumps(first.get('warnings') or [])
        assert 'fresh start' in said, (unit, bad, where, said)
        if mode == 'alerts':
            strict_load(state.read_text())
            second = run_checked('twzrd_health', args, tmp_path)
            assert 'fresh start' not in json.dumps(second.get('warnings') or []), second.get('warnings')


def run_checked(module, args, tmp_path, env=None):
    rc, result, out, err = run_module(module, args, tmp_path, env=env, timeout=RUN_TIMEOUT)
    assert 'Traceback' not in err and 'Traceback' not in out, (args, err[-3000:])
    assert result is not None, ('no JSON on stdout', rc, out[-2000:], err[-2000:])
    assert 'NaN' not in out and 'Infinity' not in out, out[-2000:]
    assert rc == 0 and not result.get('failed'), (result.get('msg'), err[-2000:])
    return result


# --- clock jumps -------------------------------------------------------------------------------------

JUMPS = st.integers(-60 * DAY, 60 * DAY)


class TestClockJumps:
    """Runs whose clock is off (forward or back, once or for a while) keep the history the right clock took."""

    @examples(150)
    @given(jumps=st.lists(st.tuples(JUMPS, st.integers(1, 30)), min_size=1, max_size=4), hours=st.integers(0, 720))
    def test_history_taken_with_the_right_clock_is_kept(self, jumps, hours):
        cap = history.HOURLY_DAYS * 24 + 1
        samples = [{'t': STATE_NOW - (hours - i) * HOUR, 'load1': 0.5} for i in range(hours)]
        right = [s['t'] for s in samples]
        now = STATE_NOW
        wrong_runs, wrong_hours = 0, set()
        for offset, runs in jumps:  # ``runs`` hourly runs with the clock off by ``offset``, then one right run
            for run in range(runs):
                samples = history.append_hourly(samples, {'t': now + offset + run * HOUR, 'load1': 1.0})
                wrong_hours.add((now + offset + run * HOUR) // HOUR)
                wrong_runs += 1
            now += runs * HOUR
            samples = history.append_hourly(samples, {'t': now, 'load1': 2.0})
            right.append(now)
        times = [s['t'] for s in samples]
        assert len(times) <= cap and times == sorted(times)
        assert len(set(t // HOUR for t in times)) == len(times)  # one sample per clock hour
        kept = set(times)
        # A right sample goes only to make room (the oldest first, no more than the runs added beyond
        # the cap) or when a wrong run claimed its very clock hour (nothing can tell which one is right).
        lost = [t for t in right if t not in kept and t // HOUR not in wrong_hours]
        assert set(lost) <= set(sorted(right)[:max(0, len(right) + wrong_runs - cap)]), (len(lost), wrong_runs)
        assert all(t <= now for t, dummy in history.series(samples, 'load1', now=now))
        if now // HOUR not in wrong_hours:
            assert history.series(samples, 'load1', now=now)[-1] == (now, 2.0)

    @examples(6)
    @given(offset=JUMPS.filter(lambda s: abs(s) > 2 * HOUR), runs=st.integers(1, 2))
    def test_module_runs_with_a_jumped_clock_keep_the_month_and_tell_once(self, tmp_path_factory, offset, runs):
        tmp_path = tmp_path_factory.mktemp('clock')
        site = tmp_path / 'clock-site'
        site.mkdir()
        (site / 'sitecustomize.py').write_text(SHIFT_SITE)

        def env(seconds):
            return {'PYTHONPATH': '%s:%s' % (COLLECTIONS, site), 'TWZRD_TEST_CLOCK_SHIFT': str(seconds)}

        now = time.time()
        used, free = disk_now()
        month = recorded_state(now, '/', used, free)['twzrd_health']['history'][-720:]
        state = tmp_path / 'state.json'
        state.write_text(json.dumps({'twzrd_health': {'history': month}}))
        args = dict(QUIET, mode='alerts', state_file=str(state))
        for run in range(runs):
            run_checked('twzrd_health', args, tmp_path, env=env(offset + run * HOUR))
        told = []
        for dummy in range(2):
            result = run_checked('twzrd_health', args, tmp_path, env=env(0))
            told += [w for w in json.dumps(result.get('warnings') or []).split('"msg": ')[1:] if 'from the future' in w]
        kept = set(h['t'] for h in json.loads(state.read_text())['twzrd_health']['history'])
        assert set(h['t'] for h in month) <= kept, 'the jumped runs discarded history'
        assert len(told) == (1 if offset > 0 else 0), told  # the right clock tells the future samples once
        forecast = result['metrics']['disk_forecast'].get('/') or {}
        assert forecast.get('since', 0) <= time.time()  # the forecast read no sample from the future

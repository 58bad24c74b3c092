"""Issue 9, items 2, 3 and 12: the state file is read safely, validated on load, created race-free."""
import json
import multiprocessing
import os

import pytest


from ansible_collections.twzrd.ops.plugins.module_utils.state.store import MAX_STATE_BYTES, StateError, StateStore, read_state

GOOD = {
    'pm2': {'restart_baseline': {'web#0': 3}, 'own_restarts': {}},
    'twzrd_health': {'history': [{'t': 1, 'load1': 0.5}]},
    'twzrd_db_health': {'sizes': {'app': [[1, 100]]}, 'last_run': 1, 'last_status': 'ok'},
    'twzrd_vacuum': {'last_run': 1, 'last_status': 'ok', 'last_metrics': {'planned': 1}},
    'alerting': {'alerts': {'alerts': {'load': {'check': 'load', 'level': 'warning', 'since': 1}}, 'pending': []}},
    'someone_else': ['kept', 'as', 'is'],
}

BAD_SECTIONS = [
    ('pm2', {'restart_baseline': ['web#0']}),
    ('pm2', {'restart_baseline': {'web#0': '3'}}),
    ('pm2', {'restart_baseline': {'web#0': True}}),
    ('pm2', {'own_restarts': {'web#0': 1.5}}),
    ('pm2', []),
    ('twzrd_health', {'history': [{'t': '1'}]}),
    ('twzrd_health', {'history': [None]}),
    ('twzrd_health', {'levels': []}),
    ('twzrd_db_health', {'sizes': []}),
    ('twzrd_db_health', {'sizes': {'app': 'big'}}),
    ('twzrd_db_health', {'last_run': 'yesterday'}),
    ('twzrd_vacuum', {'last_metrics': []}),
    ('twzrd_vacuum', 'done'),
    ('alerting', []),
]


@pytest.mark.parametrize('name,section', BAD_SECTIONS, ids=lambda v: json.dumps(v)[:40])
def test_item3_a_section_of_the_wrong_shape_starts_fresh_alone(tmp_path, name, section):
    path = tmp_path / 'state.json'
    path.write_text(json.dumps(dict(GOOD, **{name: section})))
    data, warning = read_state(str(path))
    assert name not in data and 'state section %s' % name in warning and 'fresh start' in warning
    assert all(data[k] == v for k, v in GOOD.items() if k != name)


def test_item3_one_bad_alerting_job_does_not_wipe_the_others(tmp_path):
    path = tmp_path / 'state.json'
    alerting = {'alerts': GOOD['alerting']['alerts'], 'vacuum:app': {'alerts': {'x': {'since': 'noon'}}}}
    path.write_text(json.dumps(dict(GOOD, alerting=alerting)))
    data, warning = read_state(str(path))
    assert data['alerting'] == GOOD['alerting'] and 'alerting.vacuum:app' in warning


def test_item3_good_state_loads_without_warning(tmp_path):
    path = tmp_path / 'state.json'
    path.write_text(json.dumps(GOOD))
    assert read_state(str(path)) == (GOOD, None)


@pytest.mark.parametrize('text', ['[' * 100000 + ']' * 100000, '{"a":' * 50000 + '1' + '}' * 50000])
def test_item3_deep_nesting_is_a_fresh_start(tmp_path, text):
    path = tmp_path / 'state.json'
    path.write_text(text)
    data, warning = read_state(str(path))
    assert data == {} and 'fresh start' in warning


def test_item2_oversized_file_is_read_with_a_bound(tmp_path):
    path = tmp_path / 'state.json'
    with open(str(path), 'w') as handle:
        handle.write('{"pad": "' + 'x' * (MAX_STATE_BYTES + 10) + '"}')
    data, warning = read_state(str(path))
    assert data == {} and 'larger than' in warning


def test_item2_fifo_lock_is_refused(tmp_path):
    path = tmp_path / 'state.json'
    os.mkfifo(str(path) + '.lock')
    with pytest.raises(StateError, match='FIFO'):
        with StateStore(str(path)):
            pass


def _first_run(args):
    path, barrier = args
    barrier.wait()
    try:
        with StateStore(path) as store:
            store.section('p%d' % os.getpid())['x'] = 1
            store.save()
    except StateError as exc:
        return str(exc)
    return None


def test_item12_concurrent_first_runs_all_succeed(tmp_path):
    errors = []
    ctx = multiprocessing.get_context('fork')
    for round_no in range(30):
        path = str(tmp_path / ('r%d' % round_no) / 'a' / 'b' / 'c' / 'state.json')
        with ctx.Manager() as manager:
            barrier = manager.Barrier(6)
            with ctx.Pool(6) as pool:
                errors += [e for e in pool.map(_first_run, [(path, barrier)] * 6) if e]
    assert errors == []

import json
import os

import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.state.store import StateError, StateStore, read_state


def test_missing_state_is_a_fresh_start(tmp_path):
    data, warning = read_state(str(tmp_path / 'none.json'))
    # StateStore.first_run marks it routine (result routine_warnings): the cron runner does not mail it
    assert data == {} and warning.endswith('does not exist yet: fresh start')


@pytest.mark.parametrize('content', ['{not json', '[1, 2]', ''])
def test_corrupt_state_is_a_fresh_start(tmp_path, content):
    path = tmp_path / 'state.json'
    path.write_text(content)
    with StateStore(str(path)) as store:
        assert store.data == {} and 'fresh start' in store.warning
        store.section('a')['x'] = 1
        store.save()
    assert json.loads(path.read_text()) == {'a': {'x': 1}, 'version': 1}


def test_save_is_atomic_and_private(tmp_path):
    path = tmp_path / 'sub' / 'state.json'
    with StateStore(str(path)) as store:
        store.section('twzrd_health')['levels'] = {'swap': {'level': 'warning', 'since': 1}}
        store.save()
    assert (path.stat().st_mode & 0o777) == 0o600
    # no temp file left; the mark of a directory twzrd created (the install role owns its mode)
    assert sorted(os.listdir(str(path.parent))) == ['.created-by-twzrd', 'state.json', 'state.json.lock']
    with StateStore(str(path), read_only=True) as store:
        assert store.warning is None
        assert store.section('twzrd_health')['levels']['swap']['level'] == 'warning'


def test_read_only_never_writes(tmp_path):
    path = tmp_path / 'state.json'
    with StateStore(str(path), read_only=True) as store:
        store.section('x')['y'] = 1
        with pytest.raises(StateError):
            store.save()
    assert not path.exists() and not (tmp_path / 'state.json.lock').exists()


def test_sections_of_other_modules_survive(tmp_path):
    path = tmp_path / 'state.json'
    path.write_text(json.dumps({'future_module': {'sizes': [1]}}))
    with StateStore(str(path)) as store:
        store.section('twzrd_health')['a'] = 1
        store.save()
    assert json.loads(path.read_text())['future_module'] == {'sizes': [1]}


def test_empty_path_disables_state(tmp_path):
    with StateStore('') as store:
        assert store.read_only and store.data == {}

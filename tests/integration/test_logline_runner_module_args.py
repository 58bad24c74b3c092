"""A module run without Ansible (issue 18 item 11): the README's command works as written
(test_docs_commands.py runs it), and arguments in the wrong shape get a clear JSON failure that
says what to write, never a traceback."""
import json
import subprocess
import sys

import pytest

from harness import COLLECTIONS

MODULES = ['twzrd_health', 'twzrd_db_health', 'twzrd_vacuum', 'pm2_restart', 'twzrd_notify']


def run_module(module, *args, stdin=''):
    return subprocess.run([sys.executable, '-m', 'ansible_collections.twzrd.ops.plugins.modules.' + module] + list(args),
                          input=stdin, capture_output=True, text=True, timeout=120, check=False, cwd='/',
                          env={'PATH': '/usr/bin:/bin', 'PYTHONPATH': COLLECTIONS, 'LANG': 'C.UTF-8'})


@pytest.mark.parametrize('module', MODULES)
@pytest.mark.parametrize('content, words', [
    ('{"mode": "alerts", "login_password": "s3cret-pw"}', ['holds no ANSIBLE_MODULE_ARGS', 'plain options file']),
    ('{"ANSIBLE_MODULE_ARGS": ["mode"]}', ['ANSIBLE_MODULE_ARGS', 'must be an object']),
    ('{not json', ['cannot read the module arguments']),
], ids=['plain', 'list', 'broken'])
def test_wrongly_shaped_arguments_fail_clearly(tmp_path, module, content, words):
    path = tmp_path / 'args.json'
    path.write_text(content)
    proc = run_module(module, str(path))
    assert 'Traceback' not in proc.stdout + proc.stderr, proc.stderr
    assert proc.returncode == 1
    result = json.loads(proc.stdout)
    assert result['failed'] is True
    for word in words + [str(path), '{"ANSIBLE_MODULE_ARGS": {', 'PYTHONPATH']:
        assert word in result['msg'], result['msg']
    assert 's3cret-pw' not in proc.stdout + proc.stderr


def test_a_missing_file_is_named(tmp_path):
    # in full, however deep the directory (xdist's tmp paths are longer than 80 characters)
    path = tmp_path.joinpath('a-directory-name-long-enough-to-pass-eighty-characters', 'nowhere.json')
    proc = run_module('twzrd_health', str(path))
    assert 'Traceback' not in proc.stdout + proc.stderr and proc.returncode == 1
    assert 'no such file %s' % path in json.loads(proc.stdout)['msg']


@pytest.mark.parametrize('module', MODULES)
def test_arguments_given_inline_that_do_not_parse_are_not_echoed(module):
    # Without a file, AnsibleModule reads the argument itself as the JSON: a typo must not print its
    # beginning, where a password may be.
    inline = '{"ANSIBLE_MODULE_ARGS": {"login_password": "s3cret-pw", "mode": "alerts",}}'
    proc = run_module(module, inline)
    assert 'Traceback' not in proc.stdout + proc.stderr and proc.returncode == 1
    assert 's3cret-pw' not in proc.stdout + proc.stderr
    assert 'not valid JSON' in json.loads(proc.stdout)['msg']


def test_empty_standard_input_is_named():
    proc = run_module('twzrd_health', stdin='')
    assert 'Traceback' not in proc.stdout + proc.stderr and proc.returncode == 1
    assert 'standard input' in json.loads(proc.stdout)['msg']

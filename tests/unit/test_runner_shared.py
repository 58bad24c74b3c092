"""The cron runner takes its log-line code and job table from plugins/module_utils (one source), as a
generated copy (scripts/gen_runner_shared.py) that must not go stale, and knows a routine warning by a field."""
import importlib.util
import os

from ansible_collections.twzrd.ops.plugins.module_utils.core import jobs
from ansible_collections.twzrd.ops.plugins.module_utils.core import logline
from ansible_collections.twzrd.ops.plugins.modules import twzrd_notify

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load(name, *path):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, *path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RUNNER = load('twzrd_run', 'roles', 'install', 'files', 'twzrd_run.py')
GENERATOR = load('gen_runner_shared', 'scripts', 'gen_runner_shared.py')


def test_the_generated_block_is_fresh():
    with open(GENERATOR.RUNNER) as handle:
        text = handle.read()
    start, end = GENERATOR.current(text)
    assert text[start:end] == GENERATOR.block(), 'stale: run scripts/gen_runner_shared.py'
    assert GENERATOR.main(['--check']) == 0


def test_a_changed_source_makes_the_block_stale(tmp_path, monkeypatch):
    changed = tmp_path / 'logline.py'
    with open(GENERATOR.LOGLINE) as handle:
        changed.write_text(handle.read().replace('MAX_VALUE_BYTES = 1024', 'MAX_VALUE_BYTES = 2048'))
    monkeypatch.setattr(GENERATOR, 'LOGLINE', str(changed))
    assert GENERATOR.main(['--check']) == 1


def test_the_runner_writes_and_reads_lines_like_the_modules():
    fields = [('ts', logline.iso_utc(0)), ('job', 'twzrd_vacuum'), ('cron_job', 'vacuum'), ('status', 'failed'),
              ('msg', 'x' * 20000 + '\u2028 "quoted" ts=forged')]
    assert RUNNER.format_line(fields) == logline.format_line(fields)
    line = RUNNER.failure_line('twzrd_vacuum', 'vacuum', 0, 'cannot run\nts=forged')
    assert logline.parse_line(line) == RUNNER.parse_line(line)
    assert RUNNER.parse_line(line)['msg'] == 'cannot run ts=forged' and '\n' not in line


def test_the_job_table_is_one():
    assert RUNNER.KNOWN_JOBS == jobs.KNOWN_JOBS and RUNNER.DB_JOBS == jobs.DB_JOBS == ('db_health', 'db_alerts', 'vacuum')
    assert twzrd_notify.JOB_MODULES is jobs.JOB_MODULES and set(jobs.JOBS) == set(jobs.KNOWN_JOBS)


def test_a_routine_warning_is_known_by_its_field_not_its_words():
    first_run = 'state file /var/lib/twzrd/state.json does not exist yet: fresh start'
    corrupt = 'state file /var/lib/twzrd/state.json is corrupt (x): fresh start'
    result = {'routine_warnings': [first_run]}
    assert RUNNER.worth_mailing([first_run, corrupt], result) == [corrupt]
    assert RUNNER.worth_mailing([first_run], {}) == [first_run]  # no field: the words alone are not enough
    assert RUNNER.worth_mailing([first_run], {'routine_warnings': 'not a list'}) == [first_run]

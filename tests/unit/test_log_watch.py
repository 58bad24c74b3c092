"""log_watch: only bytes written after mark() count, rotation restarts from 0."""

from ansible_collections.twzrd.ops.plugins.module_utils.logs import watch as log_watch
from ansible_collections.twzrd.ops.plugins.module_utils.logs.collect import compile_patterns


def test_only_new_lines_after_mark(tmp_path):
    log = tmp_path / 'app-error.log'
    log.write_text('Error: old problem\n')
    missing = tmp_path / 'not-yet.log'
    offsets = log_watch.mark([str(log), str(missing)])
    assert offsets == {str(log): len('Error: old problem\n'), str(missing): 0}
    with log.open('a') as handle:
        handle.write('starting\nError: new problem\n')
    missing.write_text('FATAL boom\n')
    lines = log_watch.new_lines(offsets)
    assert lines == ['starting', 'Error: new problem', 'FATAL boom']  # files in path order
    matcher = compile_patterns([r'(?i)error', r'(?i)fatal'])
    assert log_watch.error_lines(lines, matcher) == ['Error: new problem', 'FATAL boom']


def test_rotated_file_is_read_from_start(tmp_path):
    log = tmp_path / 'app-error.log'
    log.write_text('x' * 100 + '\n')
    offsets = log_watch.mark([str(log)])
    log.write_text('Error: after rotation\n')
    assert log_watch.new_lines(offsets) == ['Error: after rotation']


def test_read_is_bounded(tmp_path):
    log = tmp_path / 'flood.log'
    log.write_text('')
    offsets = log_watch.mark([str(log)])
    log.write_text('a' * 5000 + '\nError: last\n')
    assert log_watch.read_new(str(log), offsets[str(log)], max_bytes=20).endswith('Error: last\n')
    assert len(log_watch.read_new(str(log), 0, max_bytes=20)) == 20

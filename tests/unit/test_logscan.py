import calendar
import os
import time

from ansible_collections.twzrd.ops.plugins.module_utils.logs import collect as logscan

NOW = calendar.timegm((2026, 11, 28, 12, 0, 0, 0, 0, 0))
DAY = 86400
MATCHER = logscan.compile_patterns(logscan.DEFAULT_ERROR_PATTERNS)


def test_iso_timestamps_with_and_without_zone():
    ts, rest = logscan.line_timestamp('2026-11-28T10:00:00Z Error: boom', NOW)
    assert ts == NOW - 7200 and rest == 'Error: boom'
    ts, rest = logscan.line_timestamp('2026-11-28 11:00:00 +01:00: Error: boom', NOW)
    assert ts == NOW - 7200 and rest == 'Error: boom'
    ts, _rest = logscan.line_timestamp('[2026-11-28T10:00:00.123Z] x', NOW)
    assert ts == NOW - 7200
    ts, _rest = logscan.line_timestamp('2026-11-28T10:00:00 local', NOW)
    assert ts == time.mktime((2026, 11, 28, 10, 0, 0, 0, 0, -1))


def test_syslog_timestamps_and_year_wrap():
    ts, rest = logscan.line_timestamp('Nov 27 12:00:00 host app[1]: error x', NOW)
    assert ts == time.mktime((2026, 11, 27, 12, 0, 0, 0, 0, -1)) and rest == 'host app[1]: error x'
    jan = calendar.timegm((2027, 1, 2, 0, 0, 0, 0, 0, 0))
    ts, _rest = logscan.line_timestamp('Dec 31 23:00:00 host x', jan)
    assert time.localtime(ts).tm_year == 2026


def test_no_timestamp():
    assert logscan.line_timestamp('    at Object.<anonymous> (/srv/app.js:1:1)', NOW) == \
        (None, '    at Object.<anonymous> (/srv/app.js:1:1)')


def test_message_key_groups_variable_parts():
    assert logscan.message_key('Error: connect ECONNREFUSED 127.0.0.1:5432') == \
        logscan.message_key('Error: connect ECONNREFUSED 127.0.0.2:6543')
    assert logscan.message_key('job 0xdeadbeef failed') == 'job # failed'


def test_scan_lines_period_and_inheritance():
    lines = [
        'Error: before any timestamp',                      # undated head: counted
        '2026-11-10T00:00:00Z Error: too old',               # older than 7 days
        'TypeError: continuation of the old one',            # inherits the old time: skipped
        '2026-11-27T00:00:00Z Error: connect ECONNREFUSED 127.0.0.1:5432',
        '2026-11-27T01:00:00Z Error: connect ECONNREFUSED 127.0.0.1:5432',
        '2026-11-27T02:00:00Z all good here',
        '2026-11-27T03:00:00Z Unhandled rejection password=hunter2',
    ]
    tally = logscan.scan_lines(lines, MATCHER, NOW - 7 * DAY, NOW, logscan.ErrorTally('app.log'))
    result = tally.as_dict()
    assert result['errors'] == 4 and result['distinct'] == 3
    assert result['top'][0] == {'count': 2, 'message': 'Error: connect ECONNREFUSED 127.0.0.1:5432'}
    assert result['last'] == 'Unhandled rejection password=***'
    assert result['last_at'] == calendar.timegm((2026, 11, 27, 3, 0, 0, 0, 0, 0))


def test_scan_file_secrets_and_mtime_skip(tmp_path):
    log = tmp_path / 'api-error.log'
    log.write_text('Error: login with tok-0123456789 failed\n')
    result = logscan.scan_file(str(log), MATCHER, NOW - 7 * DAY, NOW, secrets={'tok-0123456789'})
    assert result['errors'] == 1 and 'tok-0123456789' not in repr(result)
    os.utime(str(log), (NOW - 30 * DAY, NOW - 30 * DAY))
    assert logscan.scan_file(str(log), MATCHER, NOW - 7 * DAY, NOW)['errors'] == 0


def test_scan_file_reads_only_the_tail(tmp_path):
    log = tmp_path / 'big.log'
    log.write_text('Error: old\n' * 1000 + 'Error: new\n' * 10)
    result = logscan.scan_file(str(log), MATCHER, 0, NOW, max_bytes=len('Error: new\n') * 10 + 5)
    assert result['errors'] == 10 and result['top'][0]['message'] == 'Error: new'


def test_scan_file_unreadable(tmp_path):
    result = logscan.scan_file(str(tmp_path / 'missing.log'), MATCHER, 0, NOW)
    assert result['errors'] == 0 and result['error']


def test_expand_and_pm2_rotations(tmp_path):
    for name in ('api-error.log', 'api-error.log.1', 'api-error__2026-11-27_00-00-00.log',
                 'api-error.log.2.gz', 'api-out.log'):
        (tmp_path / name).write_text('x\n')
    patterns = logscan.pm2_log_patterns([str(tmp_path / 'api-error.log'), '/dev/null', None])
    found = [os.path.basename(p) for p in logscan.expand_paths(patterns)]
    assert found == ['api-error.log', 'api-error.log.1', 'api-error__2026-11-27_00-00-00.log']


def test_patterns_keep_their_own_flags():
    matcher = logscan.compile_patterns(['(?i)fatal', 'ECONN[A-Z]+'])
    assert matcher.search('FATAL: x') and matcher.search('ECONNRESET') and not matcher.search('econnreset')


def test_default_pattern_catches_node_and_python_errors_only():
    for line in ('TypeError: Cannot read properties of undefined', 'Error: connect ECONNREFUSED',
                 'FATAL: missing configuration', 'MyAppException thrown', '[UnhandledPromiseRejection: x]',
                 'Traceback (most recent call last):', 'JavaScript heap out of memory'):
        assert MATCHER.search(line), line
    for line in ('listening on 127.0.0.1:3000', 'finished with 0 errors', 'error_count=0', 'wrote to stderr'):
        assert not MATCHER.search(line), line

from ansible_collections.twzrd.ops.plugins.module_utils.core import logline


def test_format_quotes_only_when_needed():
    line = logline.format_line([('ts', '2026-11-28T14:00:00Z'), ('status', 'ok'), ('load1', 0.5),
                                ('n', 3), ('flag', True), ('empty', None),
                                ('msg', 'swap 25% used, "high"\nnext')])
    assert line == ('ts=2026-11-28T14:00:00Z status=ok load1=0.5 n=3 flag=true empty= '
                    'msg="swap 25% used, \\"high\\" next"')


def test_parse_round_trip():
    fields = [('job', 'twzrd_health'), ('msg', 'a = b "c" \\ d'), ('pct', 12.25)]
    parsed = logline.parse_line(logline.format_line(fields))
    assert parsed == {'job': 'twzrd_health', 'msg': 'a = b "c" \\ d', 'pct': '12.25'}


def test_result_fields_shape():
    result = {'status': 'warning', 'alerts': [{'level': 'warning', 'message': 'swap 25% used'}]}
    fields = logline.result_fields('twzrd_health', result, started=0, extra=[('mode', 'alerts')],
                                   metric_fields=[('swap_pct', 25.0)])
    keys = [key for key, _value in fields]
    assert keys == ['ts', 'job', 'mode', 'status', 'alerts', 'duration_ms', 'swap_pct', 'msg']
    assert dict(fields)['msg'] == 'WARNING swap 25% used'
    assert dict(fields)['ts'] == '1970-01-01T00:00:00Z'


def test_append_line_is_one_line_per_call(tmp_path):
    path = tmp_path / 'x.log'
    logline.append_line(str(path), 'a=1')
    logline.append_line(str(path), 'b=2\nc=3')
    assert path.read_text() == 'a=1\nb=2 c=3\n'
    assert (path.stat().st_mode & 0o777) == 0o640


def test_log_run_writes_the_line_or_says_why_not(tmp_path):
    result = {'status': 'ok', 'alerts': []}
    path = tmp_path / 'run.log'
    assert logline.log_run(str(path), 'twzrd_health', result, started=0, extra=[('mode', 'alerts')]) is None
    assert logline.parse_line(path.read_text())['msg'] == 'all checks ok'
    error = logline.log_run(str(tmp_path / 'missing' / 'run.log'), 'twzrd_health', result, started=0)
    assert error.startswith('cannot append to log_file %s: ' % (tmp_path / 'missing' / 'run.log'))

"""Log lines cannot be forged or lost by what goes into them (issue 17 items 3 and 13).

Names that reach a log line (tables, apps, paths, messages) come from users the root jobs do not
trust: no character in them may start a new line for any reader (``str.splitlines()`` breaks on
more than ``\\n``) or drive a terminal, and no run may write a line so long a reader skips it.
"""
import unicodedata

import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.core import logline

# Every character str.splitlines() breaks on.
LINE_BREAKS = ['\n', '\r', '\x0b', '\x0c', '\x1c', '\x1d', '\x1e', '\x85', '\u2028', '\u2029']
# Other control and format characters: terminal escapes, NUL, DEL, C1, bidi overrides, BOM.
CONTROLS = ['\x00', '\x07', '\x08', '\t', '\x1b', '\x1f', '\x7f', '\x9b', '\u200e', '\u202e', '\u2066', '\ufeff']
FORGED = 'ts=2099-01-01T00:00:00Z job=twzrd_health mode=alerts status=ok alerts=0 msg="all checks ok"'


def test_the_list_is_every_character_splitlines_breaks_on():
    breaking = [chr(code) for code in range(0x110000) if len(('a' + chr(code) + 'b').splitlines()) > 1]
    assert sorted(breaking) == sorted(LINE_BREAKS)


@pytest.mark.parametrize('char', LINE_BREAKS + CONTROLS, ids=lambda c: 'U+%04X' % ord(c))
@pytest.mark.parametrize('where', ['msg', 'job', 'mode', 'metric'])
def test_no_character_in_a_name_forges_a_line(tmp_path, char, where):
    name = 'orders' + char + FORGED
    alert = {'level': 'critical', 'message': 'table %s has 90%% dead rows' % (name if where == 'msg' else 'orders')}
    path = tmp_path / 'run.log'
    error = logline.log_run(str(path), name if where == 'job' else 'twzrd_db_health',
                            {'status': 'critical', 'alerts': [alert]}, started=0,
                            extra=[('mode', name if where == 'mode' else 'alerts')],
                            metric_fields=[('table', name if where == 'metric' else 'orders')])
    assert error is None
    text = path.read_bytes().decode('utf-8')
    assert text.endswith('\n') and text.count('\n') == 1
    lines = text.splitlines()
    assert len(lines) == 1, lines
    assert not any(unicodedata.category(c) in ('Cc', 'Cf', 'Zl', 'Zp') for c in lines[0])
    assert logline.parse_line(lines[0])['status'] == 'critical'


@pytest.mark.parametrize('char, shown', [('\u2028', '\\u2028'), ('\x1c', '\\x1c'), ('\x85', '\\x85'),
                                         ('\x1b', '\\x1b'), ('\n', ' '), ('\t', ' ')])
def test_escaped_characters_stay_visible(char, shown):
    line = logline.format_line([('msg', 'a%sb' % char)])
    assert logline.parse_line(line)['msg'] == 'a%sb' % shown


def test_a_run_with_many_alerts_writes_a_bounded_line(tmp_path):
    alerts = [{'level': 'critical', 'message': 'app web-%04d is errored (%s)' % (n, 'x' * 40)} for n in range(1000)]
    path = tmp_path / 'run.log'
    assert logline.log_run(str(path), 'twzrd_health', {'status': 'critical', 'alerts': alerts}, started=0) is None
    line = path.read_bytes()
    assert len(line) <= logline.MAX_LINE_BYTES, len(line)
    fields = logline.parse_line(line.decode('utf-8'))
    assert fields['alerts'] == '1000' and fields['status'] == 'critical'
    assert 'web-0000' in fields['msg'] and 'and %d more' % (1000 - logline.MAX_ALERTS_IN_LINE) in fields['msg']


def test_one_huge_name_is_cut_not_the_line(tmp_path):
    path = tmp_path / 'run.log'
    huge = '\u2028"\\' * 100000
    logline.log_run(str(path), 'twzrd_health', {'status': 'warning', 'alerts': [{'level': 'warning', 'message': huge}]},
                    started=0, extra=[('mode', huge)], metric_fields=[('app', huge)])
    line = path.read_bytes()
    assert len(line) <= logline.MAX_LINE_BYTES and line.count(b'\n') == 1
    fields = logline.parse_line(line.decode('utf-8'))
    assert fields['status'] == 'warning' and fields['alerts'] == '1' and 'msg' in fields

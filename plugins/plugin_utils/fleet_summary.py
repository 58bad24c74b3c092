# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One summary for a whole playbook run over many hosts (docs/fleet.md).

Pure functions, run on the controller: :func:`build` turns each host's
registered module result (or what stopped the host) into one row, worst
first, with totals per status; :func:`text_lines` and :func:`markdown` render
it for a person.  The filter plugin ``twzrd.ops.fleet_summary`` feeds it from
``hostvars``; the ``twzrd.ops.fleet_summary`` role prints and writes it.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from collections.abc import Mapping

FAILED = 'failed'
UNREACHABLE = 'unreachable'
CRITICAL = 'critical'
WARNING = 'warning'
NOT_RUN = 'not_run'
OK = 'ok'
# Worst first: a host we know nothing about ranks above one we measured.
STATUSES = (FAILED, UNREACHABLE, CRITICAL, WARNING, NOT_RUN, OK)
_RANK = dict((status, index) for index, status in enumerate(STATUSES))
_MODULE_LEVELS = (OK, WARNING, CRITICAL)
_ALERT_RANK = {CRITICAL: 0, WARNING: 1}
NOT_RUN_DETAIL = 'the module did not run on this host'
# The text table cuts long cells; JSON keeps every value whole.
TEXT_WIDTH = {'check': 24, 'value': 24, 'threshold': 20, 'detail': 72}


class SummaryError(ValueError):
    """Bad input to the summary (names the argument)."""


_FAIL_ON = {'never': (), WARNING: (CRITICAL, WARNING), CRITICAL: (CRITICAL,)}


def failing_hosts(summary, fail_on):
    """Hosts the run should fail: failed or unreachable ones, and those at ``fail_on`` or worse.

    ``fail_on`` is never (or empty), warning or critical.
    """
    fail_on = fail_on or 'never'
    if fail_on not in _FAIL_ON:
        raise SummaryError('fail_on must be never, warning or critical, got %r' % (fail_on,))
    failing = (FAILED, UNREACHABLE) + _FAIL_ON[fail_on]
    return [row['host'] for row in summary['hosts'] if row['status'] in failing]


def _one_line(value):
    if value is None:
        return ''
    if isinstance(value, float):
        text = ('%.2f' % value).rstrip('0').rstrip('.')
    else:
        text = str(value)
    return ' '.join(text.split())


def _top_alert(alerts):
    """The first critical, else the first warning (modules list them worst first already)."""
    candidates = [a for a in alerts or [] if isinstance(a, Mapping) and a.get('level') in _ALERT_RANK]
    if not candidates:
        return None
    return sorted(candidates, key=lambda a: _ALERT_RANK[a['level']])[0]


def _failure_text(failure):
    task = failure.get('task')
    message = failure.get('msg') or failure.get('message') or 'failed'
    # the message first: the text table cuts long cells, and task names can be long
    return '%s (task: %s)' % (message, task) if task else message


def _unreachable_text(message):
    text = _one_line(message)
    # Ansible 2.19 prefixes every task error; the status column already says what happened.
    if text.startswith('Task failed: '):
        text = text[len('Task failed: '):]
    return text or 'host unreachable'


def host_row(host, result=None, failure=None, not_run_detail=NOT_RUN_DETAIL):
    """One row of the table for ``host``.

    ``result`` is the registered result of the module task (None when the task
    never ran on the host); ``failure`` is what a ``rescue`` recorded when a
    task of the host's run failed (``task``, ``msg``); ``not_run_detail`` says
    why a host without either has no result (e.g. a rollout that stopped).
    """
    row = {'host': host, 'status': NOT_RUN, 'alerts': 0, 'check': None, 'subject': None, 'value': None,
           'threshold': None, 'detail': ''}
    result = result if isinstance(result, Mapping) else {}
    failure = failure if isinstance(failure, Mapping) else {}
    alerts = result.get('alerts') if isinstance(result.get('alerts'), list) else []
    top = _top_alert(alerts)
    if top is not None:
        row.update(check=top.get('check'), subject=top.get('subject'), value=top.get('value'),
                   threshold=top.get('threshold'), detail=_one_line(top.get('message')))
    row['alerts'] = len(alerts)
    if result.get('unreachable'):
        row.update(status=UNREACHABLE, detail=_unreachable_text(result.get('msg')))
    elif result.get('failed'):
        row.update(status=FAILED)
        if top is None:
            row['detail'] = _one_line(result.get('msg')) or 'the module failed'
    elif failure:
        # A task before the module failed (it never ran), or one after it: the run is not complete.
        row.update(status=FAILED, check=None, subject=None, value=None, threshold=None,
                   detail=_one_line(_failure_text(failure)))
    elif result.get('skipped') or not result:
        reason = result.get('skip_reason') or not_run_detail
        row.update(status=NOT_RUN, detail=_one_line(reason))
    elif result.get('status') in _MODULE_LEVELS:
        row['status'] = result['status']
    else:
        message = _one_line(result.get('msg'))
        row.update(status=FAILED, detail='the result has no status' + (': ' + message if message else ''))
    return row


def build(job, results, failures=None, check_mode=False, generated=None, fail_on='never',
          not_run_detail=NOT_RUN_DETAIL):
    """The summary of one run: rows worst first (then by host), totals per status.

    ``results`` maps each host of the run to its registered module result (None
    when it has none); ``failures`` maps hosts to what a rescue recorded;
    ``failing`` lists the hosts the run fails (see :func:`failing_hosts`).
    """
    if not isinstance(results, Mapping):
        raise SummaryError('results must be a mapping of host -> registered result, got %s'
                           % type(results).__name__)
    failures = failures or {}
    rows = [host_row(host, results[host], failures.get(host), not_run_detail or NOT_RUN_DETAIL) for host in results]
    rows.sort(key=lambda row: (_RANK[row['status']], str(row['host'])))
    totals = dict((status, 0) for status in STATUSES)
    for row in rows:
        totals[row['status']] += 1
    summary = {
        'job': job,
        'check_mode': bool(check_mode),
        'generated': generated,
        'hosts_total': len(rows),
        'totals': totals,
        'hosts': rows,
        'fail_on': fail_on or 'never',
    }
    summary['failing'] = failing_hosts(summary, fail_on)
    return summary


def totals_line(summary):
    """``20 hosts: 1 failed, 2 warning, 17 ok`` (statuses with no host left out)."""
    counts = ['%d %s' % (summary['totals'][s], s.replace('_', ' ')) for s in STATUSES if summary['totals'].get(s)]
    hosts = summary['hosts_total']
    return '%d host%s: %s' % (hosts, '' if hosts == 1 else 's', ', '.join(counts) if counts else 'none')


def _title(summary):
    mode = ' (check mode)' if summary.get('check_mode') else ''
    return 'twzrd.ops %s%s' % (summary.get('job') or 'run', mode)


def _cut(text, width):
    return text if len(text) <= width else text[:width - 3] + '...'


def _check_cell(row):
    check = _one_line(row['check'])
    subject = _one_line(row.get('subject'))
    return '%s %s' % (check, subject) if check and subject else check or '-'


def _cells(row):
    return [str(row['host']), row['status'].upper().replace('_', ' '), _check_cell(row),
            _one_line(row['value']) or '-', _one_line(row['threshold']) or '-', row['detail'] or '-']


COLUMNS = ('host', 'status', 'check', 'value', 'threshold', 'detail')


def text_lines(summary):
    """The table as aligned plain-text lines (what the playbook prints)."""
    header = [c.upper() for c in COLUMNS]
    table = [[_cut(cell, TEXT_WIDTH.get(col, 200)) for col, cell in zip(COLUMNS, _cells(row))]
             for row in summary['hosts']]
    widths = [max(len(r[i]) for r in [header] + table) for i in range(len(COLUMNS))]
    lines = ['%s: %s' % (_title(summary), totals_line(summary))]
    for cells in [header] + table:
        lines.append('  '.join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip())
    return lines


def _md_cell(text):
    return text.replace('\\', '\\\\').replace('|', '\\|')


def markdown(summary):
    """The summary as a Markdown document (a heading, the totals, the table)."""
    lines = ['# %s: fleet summary' % _title(summary), '']
    if summary.get('generated'):
        lines += ['Generated %s.' % summary['generated'], '']
    lines += ['**%s**' % totals_line(summary), '']
    lines += ['| %s |' % ' | '.join(c.capitalize() for c in COLUMNS), '|%s' % ('---|' * len(COLUMNS))]
    for row in summary['hosts']:
        lines.append('| %s |' % ' | '.join(_md_cell(cell) for cell in _cells(row)))
    return '\n'.join(lines) + '\n'

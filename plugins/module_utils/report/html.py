# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The weekly report as one self-contained HTML page (docs/report.md).

:func:`render_page` is pure: it takes the module result and the chart PNGs
(report/charts.py) and returns the page.  Images are ``data:`` URIs for the
file in ``report_dir`` (one file, opens anywhere) or ``cid:`` references
for the email, whose PNGs travel as inline attachments.  Every text that
comes from a host (log lines, app names) is escaped.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import os
import re
import time

from html import escape as _escape

from ansible_collections.twzrd.ops.plugins.module_utils.report import text_table
from ansible_collections.twzrd.ops.plugins.module_utils.checks.forecast import forecast_text
from ansible_collections.twzrd.ops.plugins.module_utils.core.units import human_bytes
from ansible_collections.twzrd.ops.plugins.module_utils.report.charts import CHARTS, render_charts  # matplotlib: not yet
from ansible_collections.twzrd.ops.plugins.module_utils.report.sparkline import BARS, HEADING as SPARKLINE_HEADING
from ansible_collections.twzrd.ops.plugins.module_utils.state.job_states import printable

PAGE_PREFIX = 'twzrd-report-'
# Exactly what page_name() writes: pruning never touches a copy, a note or an annotated page beside them.
PAGE_NAME = re.compile(r'^%s\d{4}-\d{2}-\d{2}\.html$' % re.escape(PAGE_PREFIX))
STATUS_COLORS = {'ok': '#2e7d32', 'warning': '#e6a100', 'critical': '#c62828', 'failed': '#6a1b9a'}

STYLE = '''
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;max-width:860px;margin:1em auto;
color:#222;padding:0 1em}
h1{font-size:1.4em;margin-bottom:.2em} h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #ddd}
.status{display:inline-block;color:#fff;padding:.2em .7em;border-radius:4px;font-weight:bold}
.meta{color:#555;font-size:.9em} table{border-collapse:collapse;font-size:.85em;margin:.4em 0}
td,th{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
.alert{border-left:4px solid;padding:.3em .6em;margin:.5em 0;background:#fafafa}
.fix{color:#444;font-size:.9em} img{max-width:100%;height:auto;display:block;margin:.3em 0}
.caption{font-size:.85em;color:#444} code{font-size:.9em} pre{font-size:.8em;background:#f6f6f6;padding:.5em;overflow-x:auto}
.collecting{background:#eef4fb;border-left:4px solid #1f77b4;padding:.4em .6em}
'''


def data_uri(name, png):
    """``src`` of an image embedded in the page itself."""
    del name
    return 'data:image/png;base64,' + base64.b64encode(png).decode('ascii')


def cid_uri(name, png):
    """``src`` of an image that travels as an inline email attachment ``NAME.png``."""
    del png
    return 'cid:%s.png' % name


def esc(value):
    return _escape('' if value is None else str(value), quote=True)


def _when(epoch):
    return time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(epoch))


def _alert_block(alert, job=None):
    color = STATUS_COLORS.get(alert.get('level'), '#999')
    name = alert.get('check', '?') + (' %s' % alert['subject'] if alert.get('subject') else '')
    origin = ' <span class="meta">(%s job)</span>' % esc(job) if job else ''
    return ('<div class="alert" style="border-color:%s"><b>%s %s</b>%s: %s'
            '<div class="fix">What to do: %s</div></div>' % (
                color, esc(str(alert.get('level', '')).upper()), esc(name), origin, esc(alert.get('message')),
                esc(alert.get('remediation'))))


def _stats(values):
    present = [v for v in values if v is not None]
    if not present:
        return None
    return min(present), sum(present) / len(present), max(present)


def _load_caption(report):
    stats = _stats(report['trends']['hourly']['load1'])
    if stats is None:
        return 'No hourly samples yet: the hourly alerts job records them.'
    limits = report['trends']['thresholds']
    return ('Load (1 min) over %d hourly samples: min %.2f, avg %.2f, max %.2f; warning above %s, critical above %s.'
            % (len([v for v in report['trends']['hourly']['load1'] if v is not None]), stats[0], stats[1], stats[2],
               limits.get('load_warning'), limits.get('load_critical')))


def _memory_caption(report):
    hourly = report['trends']['hourly']
    parts = ['memory now %.1f%% used' % report['memory']['used_percent']]
    mem, swap = _stats(hourly['mem_pct']), _stats(hourly['swap_pct'])
    if mem:
        parts.append('week max %.1f%%' % mem[2])
    parts.append('swap now %.1f%%' % report['swap']['used_percent'] if report['swap']['present'] else 'no swap')
    if swap and report['swap']['present']:
        parts.append('week max %.1f%%' % swap[2])
    return '; '.join(parts) + '.'


def _disk_caption(report):
    rows = []
    for path in sorted(report['disks']):
        disk = report['disks'][path]
        if 'used_bytes' not in disk:
            rows.append('%s: %s' % (path, disk.get('error')))
            continue
        rows.append('disk %s: %s used of %s (%.1f%%), %s' % (
            path, human_bytes(disk['used_bytes']), human_bytes(disk['total_bytes']), disk['used_percent'],
            forecast_text((report.get('disk_forecast') or {}).get(path))))
    return '; '.join(rows) + '.'


def _db_caption(report):
    trends = report['trends']
    rows = []
    for name, samples in sorted(trends['db_sizes'].items()):
        rows.append('%s: %s, %s' % (name, human_bytes(samples[-1][1]), forecast_text(trends['db_forecast'].get(name))))
    return '; '.join(rows) + '.' if rows else 'No database sizes recorded.'


def _dead_rows_caption(report):
    rows = []
    for database, tables in sorted(report['trends']['dead_rows'].items()):
        for table, counts in sorted(tables.items()):
            rows.append('%s %s: %d dead rows on the last day' % (database, table, counts[-1]))
    return '; '.join(rows) + '.' if rows else 'No dead rows recorded.'


def _restarts_caption(report):
    totals = ['%s: %d' % (app, sum(c)) for app, c in sorted(report['trends']['pm2_restarts'].items()) if sum(c)]
    return 'Crash restarts this week: %s.' % (', '.join(totals) if totals else 'none')


def _errors_caption(report):
    errors = report['log_errors']
    return 'Error lines over %d days: %d in total.' % (report['period_days'], errors['total'])


CAPTIONS = {
    'load': _load_caption, 'memory': _memory_caption, 'disk': _disk_caption, 'db_size': _db_caption,
    'dead_rows': _dead_rows_caption, 'pm2_restarts': _restarts_caption, 'errors': _errors_caption,
}


HOURLY_JOB = 'the hourly alerts job records load, memory, swap and disk use every hour'
DB_JOB = 'the daily db_health job records each database\'s size and the dead rows of its worst tables'


def _not_drawn(name, report):
    """The sentence that stands for a chart with nothing to draw: none this week, or not recorded yet."""
    trends = report['trends']
    hourly_seen = (trends.get('collecting') or {}).get('since') is not None
    if name in ('load', 'memory', 'disk'):
        return 'No hourly samples yet: %s; the chart appears after its first run.' % HOURLY_JOB
    if name == 'db_size':
        return 'No database sizes recorded yet: %s.' % DB_JOB
    if name == 'dead_rows':
        if trends['db_sizes']:
            return 'No dead rows recorded in %d days.' % len(trends['db_days'])
        return 'No dead rows recorded yet: %s.' % DB_JOB
    if name == 'pm2_restarts':
        if hourly_seen:
            return 'No PM2 crash restarts this week.'
        return 'No PM2 crash restarts recorded yet: the hourly alerts job counts them per app and day.'
    return 'No error lines in the logs over %d days.' % report['period_days']


def _collecting(report):
    """A new host: what is being collected and since when, instead of a week of empty charts."""
    collecting = report['trends'].get('collecting') or {}
    period = collecting.get('period_days') or report['period_days']
    if collecting.get('since') is None:
        return ['<p class="collecting" id="collecting"><b>New host: nothing recorded yet.</b> %s; %s; the weekly '
                'vacuum job records its runs. Each chart appears once it has data.</p>'
                % (esc(HOURLY_JOB[0].upper() + HOURLY_JOB[1:]), esc(DB_JOB))]
    if collecting['days'] >= period:
        return []
    return ['<p class="collecting" id="collecting"><b>Collecting since %s: %d of %d days so far.</b> '
            'The charts cover what was recorded; %s.</p>'
            % (esc(_when(collecting['since'])), collecting['days'], period, esc(HOURLY_JOB))]


def _top_messages(report):
    rows = []
    for source in report['trends']['errors']:
        for top in source['top']:
            rows.append('<tr><td>%s</td><td>%d</td><td><code>%s</code></td></tr>' % (
                esc(source['source']), top['count'], esc(top['message'])))
    if not rows:
        return ''
    return ('<table><tr><th>source</th><th>count</th><th>top messages</th></tr>%s</table>' % ''.join(rows))


def _vacuum_table(report):
    runs = report['trends'].get('vacuum_runs') or []
    if not runs:
        return '<p class="caption">No vacuum runs recorded in 30 days (the weekly vacuum job records them).</p>'
    rows = ''.join('<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>' % (
        esc(_when(r['t'])), esc(r.get('db')), esc(r.get('vacuumed')), esc(r.get('skipped')), esc(r.get('failed')),
        esc(r.get('dead_rows_removed')), esc(r.get('seconds'))) for r in runs)
    return ('<table><tr><th>vacuum run</th><th>database</th><th>vacuumed</th><th>skipped</th><th>failed</th>'
            '<th>dead rows removed</th><th>seconds</th></tr>%s</table>' % rows)


def _text(value):
    """A text the postgres user's state file holds: one printable line, escaped."""
    return esc(printable(value, 300))


def _table(headings, rows):
    return '<table><tr>%s</tr>%s</table>' % (''.join('<th>%s</th>' % h for h in headings), ''.join(
        '<tr>%s</tr>' % ''.join('<td>%s</td>' % cell for cell in row) for row in rows))


def _size(value):
    return esc(human_bytes(value)) if isinstance(value, (int, float)) else ''


def _pct(value):
    return '%.1f%%' % value if isinstance(value, (int, float)) else 'n/a'


def _insights_block(entry):
    """One database's weekly insights (postgres/insights.py state_copy): information, never an alert."""
    name = printable(entry.get('database'), 100)
    parts = ['<h3 id="insights-%s">Database %s <span class="meta">(weekly vacuum job, %s)</span></h3>' % (
        esc(name), esc(name), esc(_when(entry['t'])))]
    if 'unused_indexes' in entry:
        unused = entry['unused_indexes']
        parts.append('<p class="caption">Unused indexes (no scans, larger than 10 MB): %d.</p>' % len(unused))
        if unused:
            parts.append(_table(['index', 'table', 'size', 'scans', 'to drop it'], [
                (_text(u.get('index')), _text(u.get('table')), _size(u.get('bytes')), _text(u.get('since')),
                 '<code>%s</code>' % _text(u.get('drop'))) for u in unused]))
    if 'duplicate_indexes' in entry:
        dups = entry['duplicate_indexes']
        parts.append('<p class="caption">Duplicate indexes (same table, columns, operator classes, expressions and '
                     'predicate as another): %d.</p>' % len(dups))
        if dups:
            parts.append(_table(['index', 'duplicate of', 'size', 'to drop it'], [
                (_text(d.get('index')), _text(d.get('duplicate_of')), _size(d.get('bytes')),
                 '<code>%s</code>' % _text(d['drop']) if d.get('drop') else _text(d.get('note'))) for d in dups]))
    if entry.get('cache_databases'):
        parts.append('<p class="caption">Cache hit ratio (blocks found in shared buffers) per database: %s.</p>' % (
            ', '.join('%s %s' % (_text(d.get('database')), _pct(d.get('hit_pct'))) for d in entry['cache_databases'])))
    if entry.get('cache_tables'):
        parts.append(_table(['hot table', 'cache hit ratio'], [
            (_text(t.get('table')), _pct(t.get('hit_pct'))) for t in entry['cache_tables']]))
    if entry.get('statements_hint'):
        parts.append('<p class="caption" id="statements-hint-%s">%s</p>' % (esc(name), _text(entry['statements_hint'])))
    elif entry.get('statements'):
        parts.append('<p class="caption">Slowest statements by total time (pg_stat_statements):</p>')
        parts.append(_table(['total ms', 'calls', 'mean ms', 'statement'], [
            ('%.1f' % s.get('total_ms', 0), esc(s.get('calls')), '%.3f' % s.get('mean_ms', 0),
             '<code>%s</code>' % _text(s.get('query'))) for s in entry['statements']]))
    if entry.get('bloat'):
        parts.append('<p class="caption">Estimated bloat of the largest tables and their indexes (from catalog '
                     'statistics: an estimate, not a measurement):</p>')
        parts.append(_table(['table or index', 'size', 'estimated bloat'], [
            (_text(b.get('name')), _size(b.get('bytes')),
             'unknown (not analysed)' if b.get('bloat_bytes') is None else '~%s (%s)' % (
                 _size(b['bloat_bytes']), _pct(b.get('bloat_pct')))) for b in entry['bloat']]))
    return parts


def _insights(report):
    found = report['trends'].get('db_insights') or []
    if not found:
        return ['<p class="caption" id="no-insights">No database insights recorded in 30 days: the weekly vacuum '
                'job records unused and duplicate indexes, cache hit ratios, the slowest statements and '
                'estimated bloat.</p>']
    parts = []
    for entry in found:
        parts.extend(_insights_block(entry))
    return parts


def _apps_table(report):
    apps = report['pm2']['apps']
    if not apps:
        return '<p class="meta">No PM2 apps.</p>'
    rows = ''.join('<tr><td>%s</td><td>%s</td><td>%d/%d</td><td>%d</td><td>%.0f MiB</td></tr>' % (
        esc(a['name']), esc(a['status']), a['online'], a['instances'], a['restarts'], a['memory_bytes'] / 1048576.0)
        for a in apps)
    return ('<table><tr><th>app</th><th>status</th><th>online</th><th>restarts (total)</th><th>memory</th></tr>%s'
            '</table>' % rows)


def render_page(result, charts, image_src=data_uri):
    """The page for a twzrd_health report ``result``; ``charts`` is ``[(name, title, png), ...]``."""
    report = result['report']
    status = result['status']
    host = report['host'].get('hostname', '')
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<title>twzrd weekly report: %s %s</title><style>%s</style></head><body>' % (esc(host), esc(status), STYLE),
        '<h1>Weekly report: %s <span class="status" id="status" style="background:%s">%s</span></h1>' % (
            esc(host), STATUS_COLORS.get(status, '#999'), esc(status.upper())),
        '<p class="meta">%s to %s; generated by twzrd.ops twzrd_health.</p>' % (
            esc(_when(report['since'])), esc(_when(report['trends']['until']))),
        '<h2>Open alerts</h2>',
    ]
    alerts = result.get('alerts') or []
    others = report.get('open_alerts') or []
    if not alerts and not others:
        parts.append('<p>None: all checks are ok.</p>')
    parts.extend(_alert_block(a) for a in alerts)
    parts.extend(_alert_block(a, job=a.get('job')) for a in others)
    # alerts are above; sparklines are for text only (the charts below say it better, and
    # block characters render unevenly in many fonts)
    numbers = [line for line in result.get('summary') or []
               if not line.startswith(('WARNING ', 'CRITICAL ', '    what to do:', SPARKLINE_HEADING))
               and not any(char in line for char in BARS)]
    if numbers:  # the text report's numbers and sparklines (also what a text-only mail reader shows)
        parts.append('<h2>The week in numbers</h2><pre>%s</pre>' % esc('\n'.join(numbers)))
    parts.extend(_collecting(report))
    drawn = dict((name, (title, png)) for name, title, png in charts)
    for name, chart_title, dummy, dummy in CHARTS:
        if name not in drawn:  # no empty chart: say why in words
            parts.append('<h2>%s</h2>' % esc(chart_title))
            parts.append('<p class="caption" id="not-drawn-%s">%s</p>' % (esc(name), esc(_not_drawn(name, report))))
        else:
            title, png = drawn[name]
            parts.append('<h2>%s</h2>' % esc(title))
            parts.append('<img class="chart" id="chart-%s" alt="%s" src="%s">' % (esc(name), esc(title),
                                                                                  image_src(name, png)))
            parts.append('<p class="caption">%s</p>' % esc(CAPTIONS[name](report)))
        if name == 'errors' and name in drawn:
            parts.append(_top_messages(report))
        if name == 'dead_rows':
            parts.append(_vacuum_table(report))
    parts.append('<h2>Database insights</h2>')
    parts.extend(_insights(report))
    parts.append('<h2>PM2 apps</h2>')
    parts.append(_apps_table(report))
    parts.append('</body></html>')
    return '\n'.join(parts)


def page_name(now):
    return '%s%s.html' % (PAGE_PREFIX, time.strftime('%Y-%m-%d', time.gmtime(now)))


def stale_pages(names, keep):
    """The pages this stage wrote (:data:`PAGE_NAME`) beyond the newest ``keep`` (names sort by date)."""
    pages = sorted(n for n in names if PAGE_NAME.match(n))
    return pages[:-keep] if keep > 0 else pages


def prune(report_dir, keep):
    """Delete the report pages older than the newest ``keep``; returns the names removed."""
    removed = []
    for name in stale_pages(os.listdir(report_dir), keep):
        try:
            os.unlink(os.path.join(report_dir, name))
            removed.append(name)
        except OSError:
            continue
    return removed


def build_page(result):
    """The page for the file (images inline as data URIs) and for the email (``cid:`` + attachments)."""
    charts = render_charts(result['report'])
    # the mail's tables as aligned text: Apprise's plain-text part would print them one cell per line
    return {'file': render_page(result, charts, data_uri),
            'mail': text_table.tables_as_text(render_page(result, charts, cid_uri)),
            'images': [('%s.png' % name, png) for name, dummy, png in charts]}

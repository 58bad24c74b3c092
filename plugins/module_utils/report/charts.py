# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The weekly report's charts as PNG images (matplotlib, Agg backend).

matplotlib is imported here, inside :func:`render_charts`, and this file is
imported only when an HTML report is rendered: the hourly job never pays
for it (~0.5 s and a font cache).  A chart is drawn only when it has
something to draw (trends.drawn_charts): an empty chart with a 1970 axis tells
nothing, the page says in words what is still being collected instead.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import io

from ansible_collections.twzrd.ops.plugins.module_utils.report.trends import drawn_charts

GIB = 1073741824.0
MIB = 1048576.0
WIDTH, HEIGHT, DPI = 8.0, 2.8, 90
THRESHOLD_SPAN = 10   # draw a threshold line up to this many times the highest value of the week
COLORS = ('#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f')


class MissingPlotLibrary(Exception):
    """matplotlib is not installed in the runtime venv."""


def _pyplot():
    try:
        import matplotlib  # pylint: disable=import-outside-toplevel  # costly: only the weekly HTML report
        matplotlib.use('Agg')
        # Labels are names other people chose (tables, databases, apps, log files): "$\x$" is mathtext to
        # matplotlib, which then raised and the page was lost.  Every text is drawn as written.
        matplotlib.rcParams['text.parse_math'] = False
        matplotlib.rcParams['text.usetex'] = False
        import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
        import matplotlib.dates as mdates  # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        raise MissingPlotLibrary('the HTML report needs matplotlib in the runtime venv (%s)' % exc)
    return plt, mdates


def name_label(name):
    """A name as a legend label: matplotlib hides labels that start with "_" (a table "_audit" would vanish)."""
    name = str(name)
    return '\u200b' + name if name.startswith('_') else name


def _dates(epochs):
    return [datetime.datetime.fromtimestamp(t, datetime.timezone.utc) for t in epochs]


def _day_dates(days):
    return [datetime.datetime.strptime(d, '%Y-%m-%d').replace(tzinfo=datetime.timezone.utc) for d in days]


class Canvas:
    """One chart: a figure with one axis, saved as PNG bytes."""

    def __init__(self, plt, mdates, ylabel):
        self.plt = plt
        self.fig, self.ax = plt.subplots(figsize=(WIDTH, HEIGHT), dpi=DPI)
        self.ax.set_ylabel(ylabel, fontsize=8)
        self.ax.tick_params(labelsize=7)
        self.ax.grid(True, alpha=0.3)
        self.ax.xaxis.set_major_formatter(mdates.DateFormatter('%a %d'))

    def empty(self, text):
        self.ax.text(0.5, 0.5, text, ha='center', va='center', transform=self.ax.transAxes, fontsize=9, color='#666')

    def png(self):
        handles, labels = self.ax.get_legend_handles_labels()
        if handles:
            self.ax.legend(fontsize=7, loc='upper left', ncol=min(4, len(labels)), framealpha=0.8)
        self.fig.tight_layout()
        buf = io.BytesIO()
        self.fig.savefig(buf, format='png')
        self.plt.close(self.fig)
        return buf.getvalue()


def _hline(ax, value, label, color):
    if value is not None:
        ax.axhline(value, color=color, linestyle='--', linewidth=1, label=label)


def _lines(canvas, times, named_values, scale=1.0):
    drawn = False
    for index, (label, values) in enumerate(named_values):
        points = [(t, v / scale) for t, v in zip(times, values) if v is not None]
        if points:
            canvas.ax.plot(_dates([p[0] for p in points]), [p[1] for p in points], label=name_label(label),
                           color=COLORS[index % len(COLORS)], linewidth=1.2)
            drawn = True
    return drawn


def _week_axis(canvas, trends):
    canvas.ax.set_xlim(_dates([trends['since'], trends['until']]))


def load_chart(canvas, trends):
    hourly, limits = trends['hourly'], trends['thresholds']
    _week_axis(canvas, trends)
    if not _lines(canvas, hourly['t'], [('load 1 min', hourly['load1']), ('5 min', hourly['load5']),
                                        ('15 min', hourly['load15'])]):
        canvas.empty('no hourly samples yet (the hourly alerts job records them)')
        return
    # A threshold far above the week's load would flatten the lines: the caption gives it instead.
    top = max(v for v in hourly['load1'] + hourly['load5'] + hourly['load15'] if v is not None)
    for name, color in (('load_warning', '#e6a100'), ('load_critical', '#d62728')):
        if limits.get(name) is not None and limits[name] <= max(THRESHOLD_SPAN * top, 1.0):
            _hline(canvas.ax, limits[name], name.split('_')[1], color)


def memory_chart(canvas, trends):
    hourly, limits = trends['hourly'], trends['thresholds']
    _week_axis(canvas, trends)
    if not _lines(canvas, hourly['t'], [('memory used %', hourly['mem_pct']), ('swap used %', hourly['swap_pct'])]):
        canvas.empty('no hourly samples yet')
        return
    _hline(canvas.ax, limits.get('swap_warning'), 'swap warning', '#e6a100')
    canvas.ax.set_ylim(0, 100)


def disk_chart(canvas, trends, forecasts):
    hourly = trends['hourly']
    right = trends['until']
    if not _lines(canvas, hourly['t'], sorted(hourly['disk'].items()), GIB):
        canvas.empty('no disk samples yet')
        return
    horizon = trends['until'] + 14 * 86400
    for index, path in enumerate(sorted(hourly['disk'])):
        fc = (forecasts or {}).get(path) or {}
        if 'rate_per_day' not in fc:
            continue
        # the fitted line, from the first sample it used to the day it reaches the capacity (or 14 days out)
        end = min(fc['full_at'], horizon)
        start = min(fc['since'], end)
        right = max(right, end)
        ends = [fc['capacity'] - fc['rate_per_day'] * (fc['full_at'] - t) / 86400.0 for t in (start, end)]
        color = COLORS[index % len(COLORS)]
        canvas.ax.plot(_dates([start, end]), [v / GIB for v in ends], linestyle=':', color=color,
                       label=name_label('%s forecast: full %s' % (path, fc['full_date'])))
        canvas.ax.axhline(fc['capacity'] / GIB, color=color, linewidth=0.8, alpha=0.5)
    canvas.ax.set_xlim(_dates([trends['since'], right]))
    canvas.ax.set_ylim(bottom=0)


def db_size_chart(canvas, trends):
    drawn = False
    for index, (name, samples) in enumerate(sorted(trends['db_sizes'].items())):
        canvas.ax.plot(_dates([s[0] for s in samples]), [s[1] / MIB for s in samples], marker='o', markersize=3,
                       label=name_label(name), color=COLORS[index % len(COLORS)], linewidth=1.2)
        drawn = True
    if not drawn:
        canvas.empty('no database sizes yet (the daily db_health job records them)')


def dead_rows_chart(canvas, trends):
    days = _day_dates(trends['db_days'])
    index = 0
    for database, tables in sorted(trends['dead_rows'].items()):
        for table, counts in sorted(tables.items()):
            canvas.ax.plot(days, counts, marker='o', markersize=3, color=COLORS[index % len(COLORS)],
                           label=name_label('%s %s' % (database, table)), linewidth=1.2)
            index += 1
    if not index:
        canvas.empty('no dead rows recorded (db_health keeps the worst tables per day)')


def _day_bars(canvas, days, named_counts, stacked):
    positions = list(range(len(days)))
    names = sorted(named_counts)
    if not names or not any(sum(named_counts[n]) for n in names):
        return False
    width = 0.8 if stacked else 0.8 / len(names)
    bottoms = [0] * len(days)
    for index, name in enumerate(names):
        counts = named_counts[name]
        if stacked:
            canvas.ax.bar(positions, counts, width, bottom=bottoms, label=name_label(name),
                          color=COLORS[index % len(COLORS)])
            bottoms = [b + c for b, c in zip(bottoms, counts)]
        else:
            canvas.ax.bar([p + index * width - 0.4 + width / 2 for p in positions], counts, width, label=name_label(name),
                          color=COLORS[index % len(COLORS)])
    canvas.ax.set_xticks(positions)
    canvas.ax.set_xticklabels([d[5:] for d in days])
    return True


def restarts_chart(canvas, trends):
    if not _day_bars(canvas, trends['days'], trends['pm2_restarts'], stacked=False):
        canvas.empty('no PM2 crash restarts this week')


def errors_chart(canvas, trends):
    counts = dict((s['source'].rsplit('/', 1)[-1], s['per_day']) for s in trends['errors'])
    if not _day_bars(canvas, trends['days'], counts, stacked=True):
        canvas.empty('no error lines in the logs this week')


CHARTS = (
    ('load', 'Load average (1 / 5 / 15 min) with the alert thresholds', 'load', load_chart),
    ('memory', 'Memory and swap used', '%', memory_chart),
    ('disk', 'Disk used, with the forecast line to full', 'GiB', None),
    ('db_size', 'Database size over 30 days', 'MiB', db_size_chart),
    ('dead_rows', 'Dead rows of the worst tables (30 days)', 'rows', dead_rows_chart),
    ('pm2_restarts', 'PM2 crash restarts per app per day', 'restarts', restarts_chart),
    ('errors', 'Error lines per day per source', 'lines', errors_chart),
)


def render_charts(report):
    """``[(name, title, png_bytes), ...]`` for the weekly ``report`` (health.run_report)."""
    plt, mdates = _pyplot()
    trends = report['trends']
    drawn = drawn_charts(trends)
    charts = []
    for name, title, ylabel, draw in CHARTS:
        if name not in drawn:
            continue
        canvas = Canvas(plt, mdates, ylabel)
        try:
            if draw is None:
                disk_chart(canvas, trends, report.get('disk_forecast'))
            else:
                draw(canvas, trends)
            png = canvas.png()
        finally:
            plt.close('all')
        charts.append((name, title, png))
    return charts

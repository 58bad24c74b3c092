# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render a twzrd_health result as short lines a person reads (playbooks, make run)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

# Not from report.html: the hourly job prints this line and never draws the page.
from ansible_collections.twzrd.ops.plugins.module_utils.checks.forecast import forecast_text
from ansible_collections.twzrd.ops.plugins.module_utils.report.sparkline import HEADING, week_line


def _duration(seconds):
    if seconds is None:
        return '-'
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return '%dd %dh' % (days, hours)
    return '%dh %dm' % (hours, rest // 60)


def alert_lines(alerts):
    lines = []
    for alert in alerts:
        lines.append('%s %s' % (alert['level'].upper(), alert['message']))
        lines.append('    what to do: %s' % alert['remediation'])
    return lines


def _daemon_part(daemon):
    where = 'user %s, %s' % (daemon['user'], daemon['pm2_home'])
    if daemon['error']:
        return '%s: query failed (%s)' % (where, daemon['error'])
    if not daemon['daemon_running']:
        return '%s: daemon not running' % where
    return '%s: %d app(s)' % (where, daemon['apps'])


def _pm2_line(pm2):
    daemons = pm2.get('daemons') or []
    if len(daemons) > 1:
        return 'PM2: %d daemons found: %s' % (len(daemons), '; '.join(_daemon_part(d) for d in daemons))
    if not pm2['installed'] and not pm2['daemon_running']:
        return 'PM2: not installed'
    if pm2['error']:
        return 'PM2: query failed (%s)' % pm2['error']
    if not pm2['daemon_running']:
        return 'PM2: daemon not running (%s)' % pm2['pm2_home']
    found = ' (user %s, found running)' % pm2['user'] if pm2.get('discovered') and daemons and daemons[0]['pid'] else ''
    return 'PM2: %d app(s) under %s%s' % (len(pm2['apps']), pm2['pm2_home'], found)


def _system_lines(metrics):
    swap = metrics['swap']
    load = metrics['load']
    lines = [
        'memory %.1f%% used of %.1f GiB; swap %s' % (
            metrics['memory']['used_percent'], metrics['memory']['total_bytes'] / 1073741824.0,
            '%.1f%% used' % swap['used_percent'] if swap['present'] else 'none configured'),
        'load %.2f / %.2f / %.2f (1/5/15 min) on %d CPU(s)' % (
            load['load1'], load['load5'], load['load15'], load['cpu_count']),
    ]
    for path in sorted(metrics['disks']):
        disk = metrics['disks'][path]
        if 'error' in disk:
            lines.append('disk %s: %s' % (path, disk['error']))
        else:
            free_gib = disk['free_bytes'] / 1073741824.0
            fc = (metrics.get('disk_forecast') or {}).get(path)
            lines.append('disk %s %.1f%% used, %.1f GiB free%s' % (
                path, disk['used_percent'], free_gib, '; %s' % forecast_text(fc) if fc and 'days_left' in fc else ''))
    return lines


def _week_lines(report):
    """The week's load and swap as sparklines (4-hour slices, highest value of each)."""
    trends = report.get('trends')
    if not trends:
        return []
    hourly = trends['hourly']
    lines = ['%s%s to %s, highest value per 4 hours:' % (HEADING, trends['days'][0], trends['days'][-1])]
    for label, field, unit in (('load', 'load1', ''), ('swap', 'swap_pct', '%')):
        points = [(t, v) for t, v in zip(hourly['t'], hourly[field]) if v is not None]
        lines.append('  ' + week_line(label, points, trends['since'], trends['until'], unit=unit))
    return lines


def _collecting_lines(report):
    """A new host: since when its history is recorded ("2 of 7 days so far")."""
    collecting = (report.get('trends') or {}).get('collecting') or {}
    if not collecting or collecting.get('days', 0) >= collecting.get('period_days', 0):
        return []
    if collecting.get('since') is None:
        return ['history: nothing recorded yet (the hourly alerts job starts it)']
    return ['history since %s: %d of %d days so far' % (
        time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(collecting['since'])), collecting['days'],
        collecting['period_days'])]


def _other_jobs_lines(report):
    """The other jobs' open alerts and where their state came from (texts already made one printable line)."""
    lines = []
    for source in report.get('state_files') or []:
        if source.get('warning'):
            lines.append('state of user %s not fully read: %s' % (source['user'], source['warning']))
        else:
            lines.append('state of user %s (%s): jobs %s' % (source['user'], source['path'],
                                                             ', '.join(source['jobs']) or 'none yet'))
    others = report.get('open_alerts') or []
    if others:
        lines.append('open alerts of the other jobs: %d' % len(others))
        for alert in others:
            lines.append('  %s %s job: %s' % (str(alert['level']).upper(), alert['job'], alert.get('message')))
    return lines


def summary_lines(result):
    """Headline, alerts with remediation, then the numbers (and the report sections)."""
    alerts = result['alerts']
    headline = 'status %s' % result['status'].upper()
    others = len((result.get('report') or {}).get('open_alerts') or [])
    if alerts or others:
        headline += ': %s' % ' and '.join(text for count, text in (
            (len(alerts), '%d alert(s)' % len(alerts)), (others, '%d open in other jobs' % others)) if count)
    else:
        headline += ': all checks ok'
    lines = [headline] + alert_lines(alerts) + _system_lines(result['metrics'])
    lines.append(_pm2_line(result['metrics']['pm2']))
    report = result.get('report')
    if report is None:
        for name, app in sorted(result['metrics']['pm2']['apps'].items()):
            lines.append('  %s: %d/%d online, %d restarts in total' % (
                name, app['online'], app['instances'], app['restart_time']))
        if result.get('recovered'):
            lines.append('recovered since the last run: %s' % ', '.join(result['recovered']))
        return lines
    for app in report['pm2']['apps']:
        lines.append('  %s: %s, %d/%d online, %d restarts, up %s, %.0f MiB' % (
            app['name'], app['status'], app['online'], app['instances'], app['restarts'],
            _duration(app['uptime_seconds']), app['memory_bytes'] / 1048576.0))
    lines.extend(_other_jobs_lines(report))
    lines.append('host up %s' % _duration(report['host']['uptime_seconds']))
    lines.extend(_collecting_lines(report))
    trend = report['load']['trend']
    if trend['samples']:
        lines.append('load over %d days: min %.2f, avg %.2f, max %.2f (%d hourly samples)' % (
            report['period_days'], trend['min'], trend['avg'], trend['max'], trend['samples']))
    else:
        lines.append('load over %d days: no history yet (the hourly alerts job records it)'
                     % report['period_days'])
    lines.extend(_week_lines(report))
    errors = report['log_errors']
    lines.append('errors in logs over %d days: %d' % (report['period_days'], errors['total']))
    for source in errors['sources']:
        if source['errors'] or source.get('error'):
            lines.append('  %s: %d%s' % (source['source'], source['errors'],
                                         ' (%s)' % source['error'] if source.get('error') else ''))
            for top in source['top'][:3]:
                lines.append('    %dx %s' % (top['count'], top['message']))
    return lines

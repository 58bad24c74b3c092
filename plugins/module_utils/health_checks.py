# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Evaluate host and PM2 metrics against thresholds. Pure: no I/O.

Every alert names the value, the threshold it crossed and what to do
(docs/alerts.md lists them all).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.twzrd.ops.plugins.module_utils.alerts import CRITICAL, OK, WARNING, classify, make_alert, runbook
from ansible_collections.twzrd.ops.plugins.module_utils.pm2 import ERRORED_STATES, process_key

REMEDIATION = {
    'swap': runbook('Find what holds memory: `ps aux --sort=-rss | head`, `pm2 monit`. Restart a leaking app '
                    'gracefully (twzrd.ops.pm2_restart), lower its max_memory_restart, or add RAM. '
                    'Above the critical level the host slows to a crawl.', 'swap-or-memory-exhausted'),
    'load': runbook('See what is busy: `top -o %CPU`, `pm2 monit`, `ps -eo pid,stat,cmd | grep " D"` for '
                    'processes stuck on I/O. Stop runaway jobs, spread cron jobs out, or add CPUs.', 'load-spikes'),
    'disk': runbook('Find what grew: `du -xh --max-depth=2 MOUNT | sort -h | tail`. Rotate or delete old logs '
                    '(`pm2 flush`, `journalctl --vacuum-size=200M`), remove old releases, or grow the volume.',
                    'disk-full'),
    'disk_missing': runbook('The path in disk_paths does not exist: mount the volume again or remove the path '
                            'from disk_paths.', 'a-disk-path-is-missing'),
    'pm2_crashes': runbook('Read the crash cause: `pm2 logs APP --err --lines 200` and `pm2 describe APP` as '
                           'the PM2 user. Fix it, then `pm2 restart APP`; if it was stopped on purpose, remove '
                           'it (`pm2 delete APP`, `pm2 save`).', 'an-app-crash-loops'),
    'pm2_daemon': runbook('Start PM2 again as its user and restore the saved apps: `pm2 resurrect` (then '
                          '`pm2 save`). Make it survive reboots with `pm2 startup`. If PM2 was retired on purpose, '
                          'clear pm2_expected_apps and remove the state file (/var/lib/twzrd/state.json).',
                          'pm2-gone-after-a-reboot'),
    'pm2_missing_app': runbook('Start the app (`pm2 start ecosystem.config.js --only APP`) and `pm2 save`, or '
                               'remove it from pm2_expected_apps if it was retired.', 'pm2-gone-after-a-reboot'),
    'pm2_query': runbook('Run `pm2 jlist` as the PM2 user with the same PM2_HOME and read the error; check '
                         'pm2_bin, pm2_home and pm2_user.', 'pm2-cannot-be-queried'),
}


def _gib(num_bytes):
    return '%.1f GiB' % (num_bytes / 1073741824.0)


def check_swap(swap, warning, critical):
    """Swap used in percent; a host without swap is ok."""
    if not swap.get('present'):
        return []
    value = swap['used_percent']
    level, threshold = classify(value, warning, critical)
    if level == OK:
        return []
    return [make_alert(
        'swap', level, value, threshold,
        'swap %.1f%% used (%s of %s), above the %s threshold of %s%%'
        % (value, _gib(swap['used_bytes']), _gib(swap['total_bytes']), level, threshold),
        REMEDIATION['swap'])]


def check_load(load, warning, critical, per_cpu=False):
    """1-minute load average, optionally divided by the CPU count."""
    value = load['load1']
    what = 'load average %.2f (1 min)' % value
    if per_cpu:
        value = round(value / max(1, load['cpu_count']), 2)
        what = 'load average %.2f per CPU (%.2f over %d CPUs, 1 min)' % (value, load['load1'], load['cpu_count'])
    level, threshold = classify(value, warning, critical)
    if level == OK:
        return []
    return [make_alert('load', level, value, threshold,
                       '%s, above the %s threshold of %s' % (what, level, threshold),
                       REMEDIATION['load'])]


def check_disks(disks, warning, critical):
    alerts = []
    for path in sorted(disks):
        disk = disks[path]
        if 'error' in disk:
            alerts.append(make_alert('disk', WARNING, None, None,
                                     'disk path %s cannot be checked: %s' % (path, disk['error']),
                                     REMEDIATION['disk_missing'], subject=path))
            continue
        value = disk['used_percent']
        level, threshold = classify(value, warning, critical)
        if level == OK:
            continue
        alerts.append(make_alert(
            'disk', level, value, threshold,
            'disk %s %.1f%% used (%s free), above the %s threshold of %s%%'
            % (path, value, _gib(disk['free_bytes']), level, threshold),
            REMEDIATION['disk'].replace('MOUNT', path), subject=path))
    return alerts


def restart_growth(processes, baseline, own_restarts):
    """Crash restarts per process since the last run, minus restarts we made.

    ``baseline`` maps process keys to the ``restart_time`` seen last run
    (empty on a fresh start: no growth can be known then).  A counter that
    went down was reset (daemon restarted, app re-created): all of it is new.
    Returns ``(growth_by_key, new_baseline)``.
    """
    growth = {}
    new_baseline = {}
    for proc in processes:
        key = process_key(proc)
        current = proc['restart_time']
        new_baseline[key] = current
        if not baseline:
            grown = 0
        elif key not in baseline or current < baseline[key]:
            grown = current
        else:
            grown = current - baseline[key]
        growth[key] = max(0, grown - int(own_restarts.get(key, 0)))
    return growth, new_baseline


def summarize_apps(processes, growth):
    """Per app name: instances, how many are errored/stopped, crash restarts, crashes."""
    apps = {}
    for proc in processes:
        app = apps.setdefault(proc['name'], {
            'instances': 0, 'online': 0, 'down': 0, 'statuses': [], 'crash_restarts': 0,
            'restart_time': 0, 'exec_mode': proc['exec_mode'],
        })
        if 'app' in proc:  # several daemons: the name is "user/app", the app's own name is kept for commands
            app['app'] = proc['app']
        app['instances'] += 1
        app['statuses'].append(proc['status'])
        app['restart_time'] += proc['restart_time']
        if proc['status'] == 'online':
            app['online'] += 1
        elif proc['status'] in ERRORED_STATES:
            app['down'] += 1
        app['crash_restarts'] += growth.get(process_key(proc), 0)
    for app in apps.values():
        app['crashes'] = app['crash_restarts'] + app['down']
    return apps


def check_pm2_crashes(apps, warning, critical=None):
    alerts = []
    for name in sorted(apps):
        app = apps[name]
        level, threshold = classify(app['crashes'], warning, critical)
        if level == OK:
            continue
        parts = []
        if app['crash_restarts']:
            parts.append('%d crash restart%s since the last check'
                         % (app['crash_restarts'], '' if app['crash_restarts'] == 1 else 's'))
        if app['down']:
            states = sorted(set(s for s in app['statuses'] if s in ERRORED_STATES))
            parts.append('%d of %d instance%s %s' % (app['down'], app['instances'],
                                                     '' if app['instances'] == 1 else 's', '/'.join(states)))
        alerts.append(make_alert(
            'pm2_crashes', level, app['crashes'], threshold,
            'PM2 app %s: %s (threshold: more than %s)' % (name, ', '.join(parts), threshold),
            REMEDIATION['pm2_crashes'].replace('APP', app.get('app', name)), subject=name))
    return alerts


def check_pm2_presence(daemon_running, apps, expected_apps, pm2_home, seen_last_time=(), subject=None, impostor=None):
    """The daemon must run when apps are expected, or when it ran apps at the last check.

    ``seen_last_time`` are the app names of the previous alerts run: a daemon
    that died (OOM killer, reboot without ``pm2 startup``) is critical even
    when nobody listed the apps in ``pm2_expected_apps``.  ``impostor`` names
    another user's process that holds the daemon's pid and title.
    """
    if not daemon_running:
        if expected_apps:
            names, why = list(expected_apps), 'are expected'
        elif seen_last_time:
            names, why = sorted(set(seen_last_time)), 'were running at the last check'
        else:
            return []
        return [make_alert(
            'pm2_daemon', CRITICAL, 'not running', 'running',
            'PM2 daemon %sis not running (no live pid in %s/pm2.pid%s) but %d app(s) %s: %s'
            % ('of user %s ' % subject if subject else '', pm2_home,
               '; %s holds its pid and title but does not own that home: an impostor' % impostor if impostor else '',
               len(names), why, ', '.join(names)),
            REMEDIATION['pm2_daemon'], subject=subject)]
    return [make_alert('pm2_missing_app', CRITICAL, 'absent', 'present',
                       'PM2 app %s is expected but not in the PM2 process list' % name,
                       REMEDIATION['pm2_missing_app'].replace('APP', name), subject=name)
            for name in expected_apps if name not in apps]


def pm2_query_failed(error, subject=None):
    return make_alert('pm2_query', WARNING, 'failed', 'answers',
                      'PM2 could not be queried: %s' % error, REMEDIATION['pm2_query'], subject=subject)


def check_log_errors(log_errors, warning, days):
    """Optional: alert when the period's error lines exceed ``warning`` (None: report only)."""
    if warning is None:
        return []
    level, threshold = classify(log_errors['total'], warning, None)
    if level == OK:
        return []
    worst = log_errors['sources'][0] if log_errors['sources'] else {'source': '?', 'errors': 0}
    return [make_alert(
        'log_errors', level, log_errors['total'], threshold,
        '%d error lines in the logs over the last %d days (threshold %s); most in %s (%d)'
        % (log_errors['total'], days, threshold, worst['source'], worst['errors']),
        runbook('Read the top messages in the report (report.log_errors) and the log they come from; '
                'fix the cause or tune error_patterns if they are not errors.', 'errors-in-the-logs'))]


def check_report_crash_restarts(daily, days, warning, critical):
    """Weekly: crash restarts per app over ``days`` (day keys), as the hourly job counted them per day."""
    totals = {}
    for day in days:
        for app, count in ((daily or {}).get(day) or {}).items():
            if isinstance(count, int) and not isinstance(count, bool):
                totals[app] = totals.get(app, 0) + count
    alerts = []
    for app in sorted(totals):
        level, threshold = classify(totals[app], warning, critical)
        if level == OK:
            continue
        alerts.append(make_alert(
            'report_crash_restarts', level, totals[app], threshold,
            'PM2 app %s crash-restarted %d times over the last %d days (threshold: more than %s)'
            % (app, totals[app], len(days), threshold),
            REMEDIATION['pm2_crashes'].replace('APP', app.split('/')[-1]), subject=app))
    return alerts


def check_log_errors_per_day(log_errors, days, warning, critical):
    """Weekly: error lines of the busiest day over ``days`` (day keys), every source together."""
    per_day = dict((day, sum(int((s.get('per_day') or {}).get(day) or 0) for s in log_errors.get('sources') or []))
                   for day in days)
    worst = max(days, key=lambda d: (per_day[d], d)) if days else None
    level, threshold = classify(per_day[worst] if worst else None, warning, critical)
    if level == OK:
        return []
    return [make_alert(
        'log_errors_per_day', level, per_day[worst], threshold,
        '%d error lines in the logs on %s, the busiest of the last %d days (threshold: more than %s per day)'
        % (per_day[worst], worst, len(days), threshold),
        runbook('Read the top messages in the report (report.log_errors) and the log they come from; fix the cause, '
                'or tune error_patterns if they are not errors.', 'errors-in-the-logs'))]


def readings(metrics, params):
    """What each threshold check measured this run and its thresholds now, by alert key.

    The report stage needs the value of a check that no longer alerts to tell
    "recovered" from "still within the hysteresis margin" (docs/notifications.md).
    """
    def reading(value, check):
        return {'value': value, 'warning': params.get(check + '_warning'), 'critical': params.get(check + '_critical')}
    values = {}
    swap = metrics.get('swap') or {}
    if swap.get('present'):
        values['swap'] = reading(swap.get('used_percent'), 'swap')
    load = metrics.get('load') or {}
    if load.get('load1') is not None:
        value = load['load1']
        if params.get('load_per_cpu'):
            value = round(value / max(1, load.get('cpu_count') or 1), 2)
        values['load'] = reading(value, 'load')
    for path, disk in (metrics.get('disks') or {}).items():
        if 'used_percent' in disk:
            values['disk:%s' % path] = reading(disk['used_percent'], 'disk')
    for name, app in ((metrics.get('pm2') or {}).get('apps') or {}).items():
        values['pm2_crashes:%s' % name] = reading(app.get('crashes'), 'crash')
    for path, fc in (metrics.get('disk_forecast') or {}).items():  # days left: lower is worse
        values['disk_forecast:%s' % path] = {'value': fc.get('days_left'), 'warning': params.get('forecast_warning_days'),
                                             'critical': params.get('forecast_critical_days')}
    return values

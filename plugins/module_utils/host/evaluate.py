# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The twzrd_health checks that are code: PM2 crash counting and presence, the weekly ones. Pure: no I/O.

The threshold checks (swap, load, disk, PM2 crashes, ...) are entries of the check registry
(checks/host.py, evaluated by checks/registry.py). Every alert names the value, the threshold it
crossed and what to do (docs/alerts.md lists them all).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.twzrd.ops.plugins.module_utils.core.alerts import CRITICAL, OK, WARNING, classify, make_alert
from ansible_collections.twzrd.ops.plugins.module_utils.checks import host, registry
from ansible_collections.twzrd.ops.plugins.module_utils.pm2.client import ERRORED_STATES, process_key


def _registry_alerts(entry, metrics, params):
    return registry.evaluate([entry], metrics, params)[0]


# The threshold checks are registry entries (checks/host.py); these keep their old call shapes.
def check_swap(swap, warning, critical):
    """Swap used in percent; a host without swap is ok."""
    return _registry_alerts(host.SWAP, {'swap': swap}, {'swap_warning': warning, 'swap_critical': critical})


def check_load(load, warning, critical, per_cpu=False):
    """1-minute load average, optionally divided by the CPU count."""
    return _registry_alerts(host.LOAD, {'load': load},
                            {'load_warning': warning, 'load_critical': critical, 'load_per_cpu': per_cpu})


def check_disks(disks, warning, critical):
    return _registry_alerts(host.DISK, {'disks': disks}, {'disk_warning': warning, 'disk_critical': critical})


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
    return _registry_alerts(host.PM2_CRASHES, {'pm2': {'apps': apps}},
                            {'crash_warning': warning, 'crash_critical': critical})


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
            host.PM2_DAEMON.remediation_text(), subject=subject)]
    return [make_alert('pm2_missing_app', CRITICAL, 'absent', 'present',
                       'PM2 app %s is expected but not in the PM2 process list' % name,
                       host.PM2_MISSING_APP.remediation_text(app=name), subject=name)
            for name in expected_apps if name not in apps]


def pm2_query_failed(error, subject=None):
    return make_alert('pm2_query', WARNING, 'failed', 'answers',
                      'PM2 could not be queried: %s' % error, host.PM2_QUERY.remediation_text(),
                      subject=subject)


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
        host.LOG_ERRORS.remediation_text())]


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
            host.REPORT_CRASH_RESTARTS.remediation_text(app=app.split('/')[-1]), subject=app))
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
        host.LOG_ERRORS_PER_DAY.remediation_text())]

# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""twzrd_health's two runs: the hourly alerts and the weekly report.

Each run collects (host/collect.py, pm2/collect.py, logs/collect.py, the registry entries' own
collectors), evaluates (the check registry, checks/; host/evaluate.py for what stays code) and hands a result to the module; the state store passed
in is already locked (alerts) or read-only (report, check mode).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import socket

from ansible.module_utils.common.warnings import warn

from ansible_collections.twzrd.ops.plugins.module_utils.checks import forecast
from ansible_collections.twzrd.ops.plugins.module_utils.checks import host as host_checks
from ansible_collections.twzrd.ops.plugins.module_utils.checks import registry
from ansible_collections.twzrd.ops.plugins.module_utils.host import evaluate as checks
from ansible_collections.twzrd.ops.plugins.module_utils.state import history as trend_history
from ansible_collections.twzrd.ops.plugins.module_utils.state import job_states
from ansible_collections.twzrd.ops.plugins.module_utils.logs import collect as logscan
from ansible_collections.twzrd.ops.plugins.module_utils.host import collect as system
from ansible_collections.twzrd.ops.plugins.module_utils.report import trends
from ansible_collections.twzrd.ops.plugins.module_utils.pm2 import collect as pm2_view
from ansible_collections.twzrd.ops.plugins.module_utils.core.alerts import WARNING, CRITICAL, build_result
from ansible_collections.twzrd.ops.plugins.module_utils.pm2.client import STATE_SECTION as PM2_SECTION
from ansible_collections.twzrd.ops.plugins.module_utils.pm2.client import group_by_name
from ansible_collections.twzrd.ops.plugins.module_utils.report.sinks import SECTION as ALERTING_SECTION

SECTION = 'twzrd_health'
DB_SECTION = 'twzrd_db_health'  # db_health.STATE_SECTION, not imported: it pulls in psycopg2
VACUUM_SECTION = 'twzrd_vacuum'  # the vacuum module's section


def _pm2_alerts(params, view, apps, pm2_state):
    """Per daemon: unreadable (pm2_query) or gone (pm2_daemon); then expected apps missing and crashes.

    With a single daemon a dead one stands alone and lists the expected apps, as before discovery.
    """
    single = len(view.daemons) == 1
    expected = params['pm2_expected_apps']
    alerts = []
    for daemon in view.daemons:
        subject = daemon.label or None
        if daemon.error:  # we know nothing about its apps: say so, claim nothing else
            alerts.append(checks.pm2_query_failed(daemon.error, subject=subject))
        elif not daemon.running:
            seen = pm2_view.apps_seen_last_time(pm2_state, view, daemon)
            alerts += checks.check_pm2_presence(False, {}, expected if single else [], daemon.target.pm2_home,
                                                seen, subject=subject, impostor=daemon.target.impostor)
    if single and alerts:
        return alerts
    if not view.error:  # a daemon we could not read may hold the expected apps
        # An expected app may be named plainly (found in any daemon) or as "owner/app".
        present = set(apps) | set(app['app'] for app in apps.values() if 'app' in app)
        alerts += checks.check_pm2_presence(True, present, expected, None)
    return alerts  # crashes are a registry check (checks/host.py)


def pm2_unchecked(view):
    """The PM2 checks this run could not look at: a daemon we could not read, or that is gone, says
    nothing about its apps, so their crash and missing-app alerts are neither resolved nor told again."""
    if any(daemon.error or not daemon.running for daemon in view.daemons):
        return ['pm2_crashes', 'pm2_missing_app']
    return []


def run_alerts(params, store, target, now):
    """The hourly check. Updates restart baselines, alert levels and history in ``store``.

    The result carries ``readings`` (what each threshold check measured, by alert key) for the
    report stage; the module takes it out before the result is returned.
    """
    entries = registry.for_mode(host_checks.CHECKS, 'alerts')
    memory = system.collect_memory()
    load = system.collect_load()
    disks = system.collect_disks(params['disk_paths'])
    health_state = store.section(SECTION)
    collected, check_states = registry.collect(entries, params, health_state.get('checks'), now)
    pm2_state = store.section(PM2_SECTION)
    view = pm2_view.collect(params, pm2_state, target, now)

    growth, baselines = pm2_view.restart_growth(view, pm2_state)
    apps = checks.summarize_apps(view.processes, growth)
    alerts = _pm2_alerts(params, view, apps, pm2_state)

    if not store.read_only:
        pm2_view.save_state(pm2_state, view, baselines)
        health_state.pop('levels', None)  # alert history now lives in the report stage's section
        health_state['checks'] = check_states
        health_state['history'] = trend_history.append_hourly(
            health_state.get('history'), trend_history.hourly_sample(now, memory, load, disks))
        health_state['pm2_restarts'] = trend_history.add_counts(
            health_state.get('pm2_restarts'), now, dict((name, app['crash_restarts']) for name, app in apps.items()))
    _tell(trend_history.note_future_samples(health_state, now))

    found, forecasts = disk_forecasts(params, health_state.get('history'), disks, now)
    metrics = dict(memory, load=load, disks=disks, pm2=view.metrics(apps), disk_forecast=forecasts, **collected)
    measured, readings = registry.evaluate(entries, metrics, params)
    return build_result(measured + alerts + found, metrics, mode='alerts', unchecked=pm2_unchecked(view),
                        readings=readings)


def _tell(note):
    """A warning of the run (AnsibleModule.warn's list), when there is one."""
    if note:
        warn(note)


def disk_forecasts(params, history, disks, now):
    """``(alerts, forecasts)``: when each disk in ``disks`` is full at the rate of its hourly samples."""
    series = dict((path, trend_history.series(history, 'disk', subkey=path, now=now)) for path in disks)
    return forecast.disk_forecasts(series, disks, now, params['forecast_days'],
                                   params['forecast_warning_days'], params['forecast_critical_days'])


def load_trend(history, since, now=None):
    """min/avg/max of the hourly load samples from ``since`` to ``now`` (none from the future)."""
    samples = [value for dummy, value in trend_history.series(history, 'load1', since=since, now=now)]
    if not samples:
        return {'samples': 0, 'min': None, 'avg': None, 'max': None}
    return {'samples': len(samples), 'min': min(samples), 'avg': round(sum(samples) / len(samples), 2),
            'max': max(samples)}


def _app_report(name, procs):
    online = [p for p in procs if p['status'] == 'online']
    uptimes = [p['uptime_seconds'] for p in online if 'uptime_seconds' in p]
    return {
        'name': name,
        'status': procs[0]['status'] if len(set(p['status'] for p in procs)) == 1 else 'mixed',
        'exec_mode': procs[0]['exec_mode'],
        'instances': len(procs),
        'online': len(online),
        'restarts': sum(p['restart_time'] for p in procs),
        'uptime_seconds': min(uptimes) if uptimes else None,
        'memory_bytes': sum(p['memory_bytes'] for p in procs),
        'cpu_percent': round(sum(p['cpu_percent'] for p in procs), 1),
    }


def scan_logs(params, view, since, now):
    """Error lines in ``log_paths`` (read as this job) and in each daemon's app logs (read as its owner).

    A PM2 user chooses where its apps log: those files are read with that
    user's rights and must be that user's regular files (core/owned_files.py).
    """
    matcher = logscan.compile_patterns(params['error_patterns'])
    scan = dict(matcher=matcher, since=since, now=now, secrets=view.secrets, max_bytes=params['max_scan_bytes'])
    sources = logscan.scan_paths(params['log_paths'], **scan)
    if params['include_pm2_logs']:
        seen = set(s['source'] for s in sources)
        for daemon in view.daemons:
            patterns = logscan.pm2_log_patterns(sorted(set(p['error_log'] for p in daemon.processes if p['error_log'])))
            if patterns:
                found = logscan.scan_paths(patterns, owner=(daemon.target.uid, daemon.target.gid), **scan)
                sources += [s for s in found if s['source'] not in seen]
    if params['include_system_log']:
        system_log = logscan.scan_system_log(since, now, matcher, view.secrets)
        if system_log is not None:
            sources.append(system_log)
    sources.sort(key=lambda s: (-s['errors'], s['source']))
    return {'total': sum(s['errors'] for s in sources), 'sources': sources}


def skipped_log_warnings(result):
    """One warning per log file the report did not read because it is not safe to (it names the path)."""
    sources = ((result.get('report') or {}).get('log_errors') or {}).get('sources') or []
    return ['log file skipped: %s' % s['error'] for s in sources if s.get('skipped')]


def run_report(params, store, target, now):
    """The weekly report. Reads state, never writes it."""
    since = int(now) - params['report_days'] * 86400  # one boundary for every section of the report
    memory = system.collect_memory()
    load = system.collect_load()
    disks = system.collect_disks(params['disk_paths'])
    pm2_state = store.section(PM2_SECTION)
    view = pm2_view.collect(params, pm2_state, target, now)
    # Crash restarts are the hourly job's business; here only apps that are down count.
    apps = checks.summarize_apps(view.processes, {})
    alerts = _pm2_alerts(params, view, apps, pm2_state)
    log_errors = scan_logs(params, view, since, now)
    alerts += checks.check_log_errors(log_errors, params['log_errors_warning'], params['report_days'])

    # Every job's record: db_health and vacuum run as postgres and keep their own state file.
    others = job_states.discover(params['state_file']) if params['state_file'] else []
    host_state = job_states.merged(store.data, others, (SECTION, DB_SECTION, VACUUM_SECTION))
    health_state = host_state[SECTION]
    history = health_state.get('history') or []
    found, forecasts = disk_forecasts(params, history, disks, now)
    alerts += found
    days = trend_history.daily_days(now, params['report_days'])
    alerts += checks.check_report_crash_restarts(health_state.get('pm2_restarts'), days,
                                                 params['report_crash_restarts_warning'],
                                                 params['report_crash_restarts_critical'])
    alerts += checks.check_log_errors_per_day(log_errors, days, params['log_errors_per_day_warning'],
                                              params['log_errors_per_day_critical'])
    report = {
        'period_days': params['report_days'],
        'since': int(since),
        'host': dict(system.collect_uptime(now), hostname=socket.gethostname()),
        'memory': memory['memory'],
        'swap': memory['swap'],
        'load': {'current': load, 'trend': load_trend(history, since, now)},
        'disks': disks,
        'disk_forecast': forecasts,
        'pm2': {'installed': view.installed, 'daemon_running': view.daemon_running, 'error': view.error,
                'daemons': [d.metrics() for d in view.daemons],
                'apps': [_app_report(name, procs) for name, procs in sorted(group_by_name(view.processes).items())]},
        'log_errors': log_errors,
        'open_alerts': other_jobs_alerts(host_state[ALERTING_SECTION], own_job='health'),
        'state_files': job_states.source_summary(others),
        'trends': trends.weekly_trends(health_state, host_state[DB_SECTION], log_errors, now, since,
                                       params['report_days'], _thresholds(params, load),
                                       vacuum_state=host_state[VACUUM_SECTION]),
    }
    metrics = dict(memory, load=load, disks=disks, pm2=view.metrics(apps), disk_forecast=forecasts)
    measured, readings = registry.evaluate(registry.for_mode(host_checks.CHECKS, 'report'), metrics, params)
    return build_result(measured + alerts, metrics, mode='report', report=report, readings=readings)


def _thresholds(params, load):
    per_cpu = max(1, load['cpu_count']) if params['load_per_cpu'] else 1
    return {'load_warning': params['load_warning'] * per_cpu, 'load_critical': params['load_critical'] * per_cpu,
            'swap_warning': params['swap_warning'], 'swap_critical': params['swap_critical'],
            'disk_warning': params['disk_warning'], 'disk_critical': params['disk_critical']}


def other_jobs_alerts(alerting_state, own_job):
    """Alerts still open in the other jobs (db_health, vacuum ...), as their last run left them.

    Another user may have written them: every text is made one printable line.
    """
    found = []
    for job, job_state in sorted((alerting_state or {}).items()):
        if job == own_job or not isinstance(job_state, dict) or not isinstance(job_state.get('alerts'), dict):
            continue
        for entry in job_state['alerts'].values():
            if isinstance(entry, dict) and entry.get('level') in (WARNING, CRITICAL):
                alert = dict((k, _shown(entry.get(k))) for k in ('check', 'subject', 'value', 'threshold',
                                                                 'message', 'remediation', 'since'))
                alert.update(level=entry['level'], job=job_states.printable(job, 100))
                found.append(alert)
    return sorted(found, key=lambda a: (a['level'] != CRITICAL, a['job'], str(a['check']), str(a.get('subject'))))


def _shown(value):
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return job_states.printable(value)


def log_metric_fields(result):
    """The few numbers worth a column in the run log."""
    metrics = result['metrics']
    pm2 = metrics['pm2']
    fields = [
        ('swap_pct', metrics['swap']['used_percent']),
        ('mem_pct', metrics['memory']['used_percent']),
        ('load1', metrics['load']['load1']),
        ('pm2_apps', len(pm2['apps'])),
        ('pm2_crashes', sum(a['crashes'] for a in pm2['apps'].values())),
    ]
    if 'report' in result:
        fields.append(('log_errors', result['report']['log_errors']['total']))
        fields.append(('open_alerts', len(result['report']['open_alerts'])))
    return fields

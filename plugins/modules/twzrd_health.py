#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: twzrd_health
short_description: Hourly alerts and weekly report for a host running PM2 apps
version_added: 0.1.0
description:
  - In O(mode=alerts) (the hourly job) checks swap use, the load average, disk use, PM2 crashes and the other
    hourly checks of C(docs/alerts.md) against thresholds and returns one actionable alert per problem, nothing
    when all is well. Their threshold options come from the check registry (C(plugins/module_utils/checks/)).
  - In O(mode=report) (the weekly job) also counts the errors in the logs of the last O(report_days),
    reports memory and swap, the load trend from the hourly history, PM2 status, uptime and restarts
    per app, and the host's uptime. Report mode never writes the state file.
  - The report shows every job of the host, whichever user runs it. A job that runs as another user (the
    install role runs db_health and vacuum as postgres) keeps C(STATE_DIR/USER/state.json) next to O(state_file);
    the report reads those files read-only and as untrusted data (no symlink, directory and file owned by that
    user, at most 16 MiB, checked like its own state), for their open alerts, database sizes and vacuum runs.
  - The report's status is the worst of its own checks (including the week-level O(report_crash_restarts_warning)
    and O(log_errors_per_day_warning)) and of the alerts every other job left open; the subject names the alerts
    at that level.
  - Both modes forecast when each disk in O(disk_paths) is full from the hourly history (alert C(disk_forecast)).
  - In O(mode=report) with O(report_dir), or with an email channel in O(notify.urls), the report is also an
    HTML page with charts of the week (load, memory and swap, disk with its forecast, database size, dead rows,
    PM2 restarts, error lines) embedded as images; emails carry it with the charts inline. The text summary stays
    for chat channels and the log. The charts need C(matplotlib), imported only then (C(docs/report.md)).
  - Every alert carries the value, the threshold it crossed and what to do about it
    (see C(docs/alerts.md) in the collection).
  - The module can be executed directly with its arguments in a JSON file, which is how the cron
    jobs installed by the C(twzrd.ops.install) role run it.
author:
  - twzrd.ops maintainers (@twzrd)
extends_documentation_fragment:
  - twzrd.ops.common
  - twzrd.ops.pm2
  - twzrd.ops.report
  - twzrd.ops.forecast
  - twzrd.ops.health_checks
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Nothing is written in check mode (no state, no log line); the checks still run.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
options:
  mode:
    description:
      - V(alerts) runs the hourly checks and updates the state (restart baselines, alert levels, load history).
      - V(report) builds the weekly report and only reads the state.
    type: str
    choices: [alerts, report]
    default: alerts
  pm2_expected_apps:
    description:
      - PM2 apps that must exist. When set, a PM2 daemon that is not running, or an app missing from
        its process list, is critical.
      - When several PM2 daemons are checked (see O(pm2_home)), name an app plainly (found in any daemon) or as
        C(user/app).
    type: list
    elements: str
    default: []
  report_days:
    description: Period covered by the report, in days (log errors, load trend).
    type: int
    default: 7
  log_paths:
    description:
      - Extra log files to scan for errors in report mode; shell globs are expanded.
      - Read as the job user; only regular files, a symlink only when root made it, 30 s per file at most.
    type: list
    elements: path
    default: []
  include_pm2_logs:
    description:
      - Scan the error log of every PM2 app (and its rotations) in report mode.
      - The files are read with the rights of the PM2 daemon's owner, each path component without following another
        user's symlink, and must be that user's regular files; a file refused (symlink, FIFO, device, another
        owner, longer than 30 s to read) is skipped with a warning that names it.
    type: bool
    default: true
  include_system_log:
    description:
      - Count messages of priority C(err) and worse from the systemd journal in report mode, or scan
        C(/var/log/syslog) with O(error_patterns) where there is no journal.
    type: bool
    default: true
  error_patterns:
    description: Regular expressions (Python syntax); a log line matching any of them counts as an error.
    type: list
    elements: str
    default: ['(?i)(error|exception)\b|\b(fatal|panic|unhandled|traceback|segfault|out of memory)']
  max_scan_bytes:
    description: Read at most this many bytes from the end of each log file.
    type: int
    default: 67108864
  log_errors_warning:
    description: In report mode, raise a warning when the period holds more error lines than this. Unset means report only.
    type: int
  log_errors_per_day_warning:
    description:
      - In report mode, error lines in the logs on the busiest day of the period (every source together) above which
        the week's status is a warning (check C(log_errors_per_day)). A healthy app logs next to none.
    type: int
    default: 10
  log_errors_per_day_critical:
    description: Error lines on the busiest day above which the week's status is critical.
    type: int
    default: 500
  report_crash_restarts_warning:
    description:
      - In report mode, crash restarts of one PM2 app over the period (as the hourly alerts job counted them) above
        which the week's status is a warning (check C(report_crash_restarts)). The hourly job alerts on each crash;
        this one tells an app that keeps crashing all week.
    type: int
    default: 5
  report_crash_restarts_critical:
    description: Crash restarts of one app over the period above which the week's status is critical.
    type: int
    default: 50
notes:
  - 'Bounds: O(load_warning)/O(load_critical) 0-10000, O(crash_warning)/O(crash_critical) 0-1000000,
    O(pm2_timeout) 1-3600 s, O(report_days) 1-366, O(max_scan_bytes) 1 B-1 GiB, O(log_errors_warning) 0-10**9;
    O(log_errors_per_day_warning)/O(log_errors_per_day_critical) 0-10**9,
    O(report_crash_restarts_warning)/O(report_crash_restarts_critical) 0-1000000; percentages 0-100.'
  - A O(state_file) that cannot be written (read-only or full disk) is a warning; the alerts are still reported.
requirements:
  - psutil
  - matplotlib (only for the HTML report)
seealso:
  - module: twzrd.ops.pm2_restart
'''

EXAMPLES = r'''
- name: Hourly checks, as the cron job runs them
  twzrd.ops.twzrd_health:
    mode: alerts
    pm2_user: app
    pm2_expected_apps: [api, worker]
    log_file: /var/log/twzrd-daily-alerts.log
  register: health

- name: Fail the play on critical alerts only
  ansible.builtin.fail:
    msg: "{{ health.alerts | map(attribute='message') | join('; ') }}"
  when: health.status == 'critical'

- name: Weekly report with an extra application log and a stricter disk threshold
  twzrd.ops.twzrd_health:
    mode: report
    disk_paths: [/, /var/lib/postgresql]
    disk_warning: 80
    log_paths: [/var/log/nginx/error.log]

- name: Weekly report as an HTML page with charts, kept for 8 weeks
  twzrd.ops.twzrd_health:
    mode: report
    report_dir: /var/lib/twzrd/reports
    report_keep: 8

- name: Per-CPU load thresholds on a big machine
  twzrd.ops.twzrd_health:
    load_per_cpu: true
    load_warning: 1.5
    load_critical: 3
'''

RETURN = r'''
status:
  description: The worst level among the alerts.
  returned: always
  type: str
  sample: warning
alerts:
  description: One entry per problem found, worst first. Empty when all is well.
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description:
        - The check that raised it (swap, memory, oom_kills, load, disk, inodes, disk_forecast, pm2_crashes, pm2_daemon,
          pm2_missing_app, pm2_query, log_errors, ...; C(docs/alerts.md) lists them all).
      type: str
    subject:
      description: What it is about, when the check has several (mount point, app name).
      type: str
      returned: when the check has several subjects
    level:
      description: V(warning) or V(critical).
      type: str
    value:
      description: The measured value.
      type: raw
    threshold:
      description: The threshold it crossed.
      type: raw
    message:
      description: The value and the threshold in one sentence.
      type: str
    remediation:
      description: What to do about it.
      type: str
    rate_bytes_per_day:
      description: For C(disk_forecast), the growth rate of the least-squares line, bytes per day.
      type: int
      returned: for forecast alerts
    full_date:
      description: For C(disk_forecast), the projected day (UTC) the disk is full.
      type: str
      returned: for forecast alerts
    since:
      description: Epoch seconds since when this alert has been at this level.
      type: int
      returned: in alerts mode
    new:
      description: True when this alert (at this level) was not there on the previous run.
      type: bool
      returned: in alerts mode
  sample:
    - check: swap
      level: warning
      value: 25.1
      threshold: 20
      message: swap 25.1% used (1.0 GiB of 4.0 GiB), above the warning threshold of 20%
      remediation: "Find what holds memory: ps aux --sort=-rss | head ..."
metrics:
  description:
    - The numbers measured (memory, swap, load, disks, pm2 with per-app counts). Never any PM2 environment.
    - In alerts mode also what the registry's own collectors read, C(inodes) per disk path (C(total), C(free),
      C(used_percent); C(error) for a missing path) and C(oom_kills) (C(count) of the kernel's counter, C(kills) since
      the previous run, null on the first, C(victims) with C(name) and C(pid) when there were kills and the kernel log
      could be read).
    - In alerts mode, when configured, C(http) per O(http_checks) name (C(url) with credentials masked, C(status), C(expected_status),
      C(latency_ms), C(latency_warning_ms), C(timeout), C(up), C(error) saying why it failed) and C(postgres) per target
      (C(target), C(answer) C(accepting), C(rejecting) or C(no_response), C(latency_ms), C(up), C(error)).
    - C(disk_forecast) per disk path, either C(rate_per_day), C(days_left), C(full_date), C(full_at), C(samples),
      C(since), C(capacity), C(free_bytes), or C(reason) when there is no forecast.
    - C(pm2.daemons) lists each PM2 daemon checked (C(user), C(pm2_home), C(pid) when found running,
      C(daemon_running), C(error), C(apps) count, C(impostor) naming another user's process that holds a
      remembered daemon's pid and title, else null); C(pm2.discovered) is true when no O(pm2_user)/O(pm2_home)
      was given and the running daemons were looked for. With several daemons, C(pm2.apps) are named C(user/app).
  returned: always
  type: dict
  sample:
    memory: {total_bytes: 2084265984, available_bytes: 1200000000, used_percent: 42.4}
    swap: {present: true, total_bytes: 1073741824, used_bytes: 0, used_percent: 0.0}
    load: {load1: 0.52, load5: 0.4, load15: 0.3, cpu_count: 2}
    disks: {"/": {total_bytes: 52576092160, used_bytes: 11634720768, free_bytes: 38252195840, used_percent: 23.3}}
    pm2:
      installed: true
      daemon_running: true
      pm2_home: /home/app/.pm2
      user: app
      error: null
      discovered: true
      daemons: [{user: app, pm2_home: /home/app/.pm2, pid: 812, daemon_running: true, error: null, impostor: null, apps: 1}]
      apps: {api: {instances: 2, online: 2, down: 0, crash_restarts: 0, crashes: 0, restart_time: 3,
                   exec_mode: cluster, statuses: [online, online]}}
recovered:
  description: Alerts of the previous run that are gone now (C(check) or C(check:subject)).
  returned: in alerts mode
  type: list
  elements: str
  sample: [swap]
mode:
  description: The mode that ran.
  returned: always
  type: str
  sample: alerts
report:
  description:
    - The weekly report; keys C(period_days), C(since), C(host) (uptime), C(memory), C(swap),
      C(load) (current and C(trend) min/avg/max), C(disks), C(disk_forecast), C(pm2) (apps with status, restarts,
      uptime, memory; C(daemons) as in RV(metrics)), C(log_errors) (total and per source the count, the top messages, the last one, redacted,
      and C(per_day); C(error) when the file could not be read, and C(skipped) true when it was refused as unsafe),
      C(open_alerts) (alerts every other job left open, with its C(job), also the jobs run by other
      users), C(state_files) (per other user whose jobs keep their own state file, C(user), C(path), C(jobs) found,
      C(warning) when it was not read) and C(trends) (the week's hourly samples,
      PM2 crash restarts and error lines per day, database sizes and dead rows over 30 days, vacuum runs; what the
      charts draw; C(collecting) tells since when the hourly history runs and how many days of the period it covers).
  returned: in report mode
  type: dict
summary:
  description: The result as short lines a person reads.
  returned: always
  type: list
  elements: str
  sample: ["status OK: all checks ok", "memory 42.4% used of 1.9 GiB; swap none configured"]
silenced:
  description:
    - Alerts matched by a silence of the host (C(twzrd-run --silence), C(docs/notifications.md)), with
      C(silenced_reason), C(silenced_by), C(silenced_until) and C(silence_id); they raise nothing.
  returned: when an alert was silenced
  type: list
  elements: dict
silences:
  description: In report mode, the silences active on the host (C(twzrd-run --silences)); the summary lists them too.
  returned: in report mode
  type: list
  elements: dict
unchecked:
  description:
    - In alerts mode, the checks this run could not look at (a PM2 daemon that could not be read or is gone says
      nothing about its apps). Their open alerts are neither resolved nor told again until a run looks at them.
  returned: in alerts mode
  type: list
  elements: str
  sample: [pm2_crashes, pm2_missing_app]
accepted:
  description: Alerts matched by an O(accept) entry, with C(accepted_reason) and C(accepted_until); they raise nothing.
  returned: when an alert was accepted
  type: list
  elements: dict
message:
  description:
    - The message this run has for a person (title, blank line, body), with or without O(notify.urls) set.
      Absent when nothing changed since the last run (alerts are told once per change, see O(notify)).
    - The cron runner prints it when no channel took it, so cron mail stays a fallback.
  returned: when the run has something to tell
  type: str
  sample: |-
    twzrd alerts web1: WARNING

    twzrd alerts on web1 at 2026-12-01 10:00 UTC: WARNING

    NEW WARNING disk /: disk / is 91% full
      value 91, threshold 90
      what to do: free space on /
notification:
  description:
    - What was sent this run, when O(notify.urls) is set. C(messages) (this run's and pending ones), C(sent),
      C(deliveries) (per channel C(channel), C(ok), C(error); channels are V(#N scheme), never the URL),
      C(pending) (kept for the next run) and C(undelivered) (the text of a message no channel took).
    - In check mode C(would_send) instead.
  returned: when notify.urls is set
  type: dict
  sample: {messages: 1, sent: 1, pending: 0, deliveries: [{channel: "#1 mailto", ok: true, error: null}]}
report_file:
  description: The HTML report written this run.
  returned: in report mode with O(report_dir)
  type: str
  sample: /var/lib/twzrd/reports/twzrd-report-2026-12-01.html
report_text_file:
  description: The report file this run kept in O(report_dir) (its log line names it too).
  returned: when report_dir is set and the file was written
  type: str
  sample: /var/lib/twzrd/reports/health-2026-12-07T0000Z.txt
twzrd_reported:
  description: This run logged and notified itself (the cron runner then adds nothing).
  returned: always
  type: bool
routine_warnings:
  description: The warnings (C(warnings)) that need no person (a first run's missing state file); the cron runner mails them not.
  returned: on a first run
  type: list
  elements: str
'''

import time

from ansible_collections.twzrd.ops.plugins.module_utils.runs import health
from ansible_collections.twzrd.ops.plugins.module_utils.core import job_module
from ansible_collections.twzrd.ops.plugins.module_utils.core import params as checks
from ansible_collections.twzrd.ops.plugins.module_utils.checks.forecast import forecast_argument_spec, forecast_parameter_errors
from ansible_collections.twzrd.ops.plugins.module_utils.core.alerts import runbook
from ansible_collections.twzrd.ops.plugins.module_utils.checks import host as host_checks
from ansible_collections.twzrd.ops.plugins.module_utils.checks import registry
from ansible_collections.twzrd.ops.plugins.module_utils.report.summary import summary_lines
from ansible_collections.twzrd.ops.plugins.module_utils.logs.collect import DEFAULT_ERROR_PATTERNS, DEFAULT_MAX_BYTES
from ansible_collections.twzrd.ops.plugins.module_utils.pm2.client import Pm2Error, resolve_target
from ansible_collections.twzrd.ops.plugins.module_utils.report.stage import (
    ALERTS_KIND, REPORT_KIND, ReportStage, report_argument_spec, report_parameter_errors)
from ansible_collections.twzrd.ops.plugins.module_utils.state.store import StateError, StateStore
from ansible_collections.twzrd.ops.plugins.module_utils.host.collect import HAS_PSUTIL, PSUTIL_IMPORT_ERROR

ARGUMENT_SPEC = dict(
    mode=dict(type='str', default='alerts', choices=['alerts', 'report']),
    pm2_bin=dict(type='path'),
    pm2_home=dict(type='path'),
    pm2_user=dict(type='str'),
    pm2_timeout=dict(type='int', default=30),
    pm2_expected_apps=dict(type='list', elements='str', default=[]),
    report_days=dict(type='int', default=7),
    log_paths=dict(type='list', elements='path', default=[]),
    include_pm2_logs=dict(type='bool', default=True),
    include_system_log=dict(type='bool', default=True),
    error_patterns=dict(type='list', elements='str', default=DEFAULT_ERROR_PATTERNS),
    max_scan_bytes=dict(type='int', default=DEFAULT_MAX_BYTES),
    log_errors_warning=dict(type='int'),
    log_errors_per_day_warning=dict(type='int', default=10),
    log_errors_per_day_critical=dict(type='int', default=500),
    report_crash_restarts_warning=dict(type='int', default=5),
    report_crash_restarts_critical=dict(type='int', default=50),
)
# The thresholds of the registry's checks (swap_warning, disk_paths, ...): documented by the
# generated twzrd.ops.health_checks fragment, bounded by registry.parameter_errors.
ARGUMENT_SPEC.update(registry.argument_spec(host_checks.CHECKS))
ARGUMENT_SPEC.update(report_argument_spec())
ARGUMENT_SPEC.update(forecast_argument_spec())
# Documented maxima (docs/alerts.md, "Bounds"): beyond them a value is a typo, not a wish.
BOUNDS = {
    'pm2_timeout': (1, 3600), 'report_days': (1, 366),
    'max_scan_bytes': (1, 1024 ** 3), 'log_errors_warning': (0, 1000000000),
    'log_errors_per_day_warning': (0, 1000000000), 'log_errors_per_day_critical': (0, 1000000000),
    'report_crash_restarts_warning': (0, 1000000), 'report_crash_restarts_critical': (0, 1000000),
}


def parameter_errors(params):
    errors = checks.bounds_errors(params, BOUNDS)
    errors += registry.parameter_errors(host_checks.CHECKS, params)
    errors += checks.threshold_pair_errors(params, 'log_errors_per_day_warning', 'log_errors_per_day_critical', 0)
    errors += checks.threshold_pair_errors(params, 'report_crash_restarts_warning', 'report_crash_restarts_critical', 0)
    errors += forecast_parameter_errors(params)
    errors += checks.regex_errors(params, 'error_patterns')
    if not params['error_patterns']:
        errors.append('error_patterns must hold at least one pattern')
    errors += report_parameter_errors(params)
    return list(dict.fromkeys(errors))  # one message per problem, in order


def build_page(result):
    """The weekly HTML page; its code (and matplotlib) is loaded only when a page is due."""
    from ansible_collections.twzrd.ops.plugins.module_utils.report import html as report_html  # pylint: disable=import-outside-toplevel
    return report_html.build_page(result)


def wants_html(params):
    """The HTML report costs matplotlib: only for a report_dir or an email channel."""
    urls = (params.get('notify') or {}).get('urls') or []
    return bool(params['report_dir']) or any(u.split('://', 1)[0].lower() in ('mailto', 'mailtos') for u in urls)


def mask_secrets(module):
    """Passwords in http_checks URLs (sent as basic auth): masked everywhere, invocation included."""
    module.no_log_values.update(registry.secrets(host_checks.CHECKS, module.params))


def main():
    module = job_module.start(ARGUMENT_SPEC, parameter_errors, mask=mask_secrets,
                              requirements=[(HAS_PSUTIL, 'psutil', PSUTIL_IMPORT_ERROR)])
    params = module.params

    started = time.time()
    alerts_mode = params['mode'] == 'alerts'
    stage = ReportStage(module, 'alerts' if alerts_mode else 'health', 'twzrd_health',
                        kind=ALERTS_KIND if alerts_mode else REPORT_KIND, started=started, log_required=True)
    try:
        target = resolve_target(params['pm2_bin'], params['pm2_home'], params['pm2_user'])
    except Pm2Error as exc:
        module.fail_json(msg=str(exc))  # bad input: nothing written (the cron runner reports it)

    read_only = module.check_mode or not alerts_mode or stage.quiet  # a quiet look consumes no restart baseline
    run = health.run_alerts if alerts_mode else health.run_report
    try:
        # degrade: a read-only or full disk must not cost this run its alerts (it may be the alert).
        with StateStore(params['state_file'], read_only=read_only, degrade=True) as store:
            job_module.warn_state(module, store)
            result = run(params, store, target, started)
            for warning in health.skipped_log_warnings(result):
                module.warn(warning)
            # The stage saves the store (this run's baselines and alert history together).
            stage.finish(result, store=store, log_extra=[('mode', params['mode'])],
                         log_metrics=health.log_metric_fields(result),
                         readings=result.pop('readings', None), summarize=summary_lines,
                         page=None if alerts_mode or not wants_html(params) else build_page)
    except StateError as exc:
        stage.fail(str(exc), remediation=runbook('Make the state file writable by the job user, or point '
                                                 'state_file elsewhere.', 'a-job-failed'), error='state')


if __name__ == '__main__':
    main()

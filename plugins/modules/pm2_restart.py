#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: pm2_restart
short_description: Graceful, verified, one-at-a-time PM2 restarts
version_added: 0.1.0
description:
  - Restarts PM2 apps B(one at a time). Cluster-mode apps are reloaded (C(pm2 reload), zero-downtime),
    fork-mode apps restarted (C(pm2 restart)).
  - After each app it waits until PM2 shows every instance C(online) with a new pid and a fresh start,
    still the same pids O(stable_seconds) later; then probes the app's health endpoint (O(health_checks));
    then waits O(settle_seconds) and fails when the app's error log got new lines matching O(error_patterns).
  - The first failure stops the rollout. Nothing after the failed app is restarted; the result names the app,
    the step (V(restart), V(online), V(health), V(errors), V(stable)) and the evidence
    (HTTP status, error lines trimmed and with secrets removed), and lists the untouched apps.
  - Restarts it makes are recorded in the shared state file (section C(pm2), C(daemons), the daemon's
    E(PM2_HOME), key C(own_restarts)) so C(twzrd.ops.twzrd_health) does not count them as crashes.
  - Acts on one PM2 daemon. Without O(pm2_user) or O(pm2_home), that is the only daemon running on the host;
    when several run it restarts nothing and names them.
  - Never starts a PM2 daemon. An unknown app name is an error before anything is restarted.
  - So is an app name C(pm2 restart) would read as something else than that app (V(all), a number, a V(/regex/),
    a config file name such as V(apps.json), or a name starting with V(-)), since pm2 would act on other apps.
  - Never starts an app. Without O(apps), apps with a C(stopped) instance (stopped by a person, or exited with
    autorestart off) are left alone and listed in RV(skipped); naming such an app in O(apps) is an error before
    anything is restarted.
  - One run per PM2 daemon at a time, cron or playbook alike. The run takes an exclusive lock
    (C(pm2_restart.<hash of PM2_HOME>.lock) in the directory of O(state_file), V(/var/lib/twzrd) by default);
    a second run does not wait and restarts nothing, it fails with RV(error)=V(locked) and a message naming
    the run that holds the lock (pid, start time, user, how it was started). The directory must be owned by
    root or the job user and writable by no one else, and the lock must be a regular file of the job user
    (never a symlink), or nothing is restarted (RV(error)=V(lock)).
  - The procedure, and what to do when a rollout stops halfway, is in C(docs/restart.md) of the collection.
author:
  - twzrd.ops maintainers (@twzrd)
extends_documentation_fragment:
  - twzrd.ops.common
  - twzrd.ops.pm2
  - twzrd.ops.report
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Returns the plan (order, strategy, instances per app); nothing is restarted or written.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
options:
  apps:
    description:
      - PM2 app names to restart, in this order.
      - When empty, every app PM2 knows, ordered by lowest C(pm_id).
    type: list
    elements: str
    default: []
  strategy:
    description:
      - V(auto) reloads cluster-mode apps and restarts fork-mode apps.
      - V(reload) or V(restart) forces that pm2 command for every app (C(reload) of a fork-mode app is a restart anyway).
    type: str
    choices: [auto, reload, restart]
    default: auto
  health_checks:
    description:
      - Per app name, the health endpoint to probe after the app is back online.
      - Each value is a dict with C(url) (required, http or https; redirects are not followed, no proxy is used),
        C(status) (expected HTTP status, default 200), C(timeout) (seconds per request, default 5),
        C(retries) (extra attempts after the first, default 3) and C(backoff) (seconds before the first retry,
        doubled each time, default 1). A plain URL string is accepted as a shorthand.
      - Credentials in the URL (C(http://user:password@host/)) are sent as HTTP basic auth, never in the URL,
        and masked in results and logs.
      - Apps without an entry are not probed.
    type: dict
    default: {}
  online_timeout:
    description:
      - Seconds to wait, per app, until all its instances are online with new pids and stable.
    type: int
    default: 60
  stable_seconds:
    description:
      - An app counts as online only when all its instances kept the same new pids for this many seconds
        (a crash-looping app flips through short-lived C(online) pids).
    type: float
    default: 2
  settle_seconds:
    description:
      - Seconds to wait after the health check before reading the app's error log for new lines.
      - Error lines written any time since the restart count, not only those in this window.
    type: float
    default: 10
  error_patterns:
    description:
      - Python regular expressions; a new line in an app's PM2 error log (stderr) matching any of them fails the app.
      - Set to an empty list to skip the error log check.
    type: list
    elements: str
    default: ['(?i)(error|exception)\b|\b(fatal|panic|unhandled|traceback|segfault|out of memory)']
notes:
  - In check mode the module returns the plan (order, strategy, instances per app) and touches nothing.
  - 'Bounds, all checked before anything restarts: O(online_timeout) 1-3600 s, O(pm2_timeout) 1-3600 s,
    O(stable_seconds) 0-600 s and lower than O(online_timeout), O(settle_seconds) 0-3600 s; per health check
    C(timeout) above 0 and at most 300 s (for the whole request: connect, headers and body), C(retries) 0-10,
    C(backoff) 0-300 s (each wait between attempts at most 300 s).'
  - The O(state_file) must be usable (our restarts are recorded there) or nothing is restarted.
  - With O(state_file) empty, the restart lock is still taken, in V(/var/lib/twzrd).
  - Check mode takes no lock.
seealso:
  - name: PM2 graceful reload
    description: Why reload is zero-downtime only in cluster mode.
    link: https://pm2.keymetrics.io/docs/usage/cluster-mode/
'''

EXAMPLES = r'''
- name: Restart every PM2 app, one at a time, verified
  twzrd.ops.pm2_restart:
    pm2_user: app
    health_checks:
      api:
        url: http://127.0.0.1:3000/health
      web:
        url: http://127.0.0.1:8080/healthz
        status: 204
        retries: 5
    log_file: /var/log/twzrd-restart.log

- name: Show the plan only
  twzrd.ops.pm2_restart:
    apps: [api, worker]
  check_mode: true
'''

RETURN = r'''
status:
  description: V(ok) when every planned app restarted and passed its checks, V(critical) on the first failure.
  returned: always
  type: str
changed:
  description: Whether any pm2 restart or reload ran.
  returned: always
  type: bool
plan:
  description: The apps in order with strategy, exec mode, instances, pids before, statuses and health URL.
  returned: always
  type: list
  elements: dict
restarted:
  description:
    - Apps restarted and verified, in order. Each has C(app), C(strategy), C(exec_mode), C(old_pids), C(new_pids),
      C(seconds_to_online), C(seconds_to_healthy) (from the pm2 command to a passing health check),
      C(restart_counts) (per C(name#pm_id), the restarts recorded) and C(health) when probed.
  returned: always
  type: list
  elements: dict
  sample:
    - app: api
      strategy: reload
      exec_mode: cluster
      old_pids: [4101, 4102]
      new_pids: [5210, 5233]
      seconds_to_online: 2.6
      seconds_to_healthy: 2.7
      restart_counts: {"api#0": 1, "api#1": 1}
      health: {url: "http://127.0.0.1:3000/health", status: 200, attempts: 1}
failure:
  description:
    - The app that stopped the rollout (null when none; named C(failure) because Ansible reserves C(failed)
      for the task's own boolean) with C(step) (V(restart), V(online), V(health), V(errors),
      V(stable)), C(message), C(evidence) (instances, HTTP status, or error lines, redacted) and what is known of pids.
  returned: always
  type: dict
untouched:
  description: Planned apps that were not restarted because an earlier app failed.
  returned: always
  type: list
  elements: str
skipped:
  description:
    - Apps left alone because they have a C(stopped) instance (only a person starts them), or were deleted while
      the rollout ran, with C(app), C(reason) and C(statuses) (null for an app stopped or deleted while the rollout ran).
  returned: when the plan was made
  type: list
  elements: dict
  sample: [{app: reports, reason: "stopped (instance 3): only a person starts it (`pm2 start reports`)", statuses: [stopped]}]
error:
  description:
    - Why the run failed before restarting anything, among others V(locked) (another run of this PM2 daemon holds
      the restart lock), V(lock) (the lock cannot be used safely), V(plan), V(pm2_daemon), V(pm2_target).
  returned: when the run failed before the rollout
  type: str
holder:
  description: What the run holding the restart lock wrote about itself (C(pid), C(started), C(user), C(started_by), C(pm2_home)).
  returned: when error is locked
  type: dict
  sample: {pid: 4242, started: "2026-12-04T01:00:02Z", user: root, started_by: "the cron runner (twzrd-run restart)"}
own_restarts:
  description: Restarts recorded in the state file, per C(name#pm_id).
  returned: always
  type: dict
summary:
  description: The rollout in a few lines (each app restarted with old and new pids, the failure and the untouched apps).
  returned: when the rollout ran (not in check mode)
  type: list
  elements: str
alerts:
  description: One critical alert naming the failed app and step, with remediation; empty on success.
  returned: always
  type: list
  elements: dict
metrics:
  description: C(planned), C(restarted), C(untouched), C(skipped) counts and C(duration_seconds).
  returned: always
  type: dict
silenced:
  description:
    - Alerts matched by a silence of the host (C(twzrd-run --silence), C(docs/notifications.md)), with
      C(silenced_reason), C(silenced_by), C(silenced_until) and C(silence_id); they raise nothing.
  returned: when an alert was silenced
  type: list
  elements: dict
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
report_text_file:
  description: The report file this run kept in O(report_dir) (its log line names it too).
  returned: when report_dir is set and the file was written
  type: str
  sample: /var/lib/twzrd/reports/health-2026-12-07T0000Z.txt
twzrd_reported:
  description: This run logged and notified itself (the cron runner then adds nothing).
  returned: always
  type: bool
'''

import os
import time


from ansible_collections.twzrd.ops.plugins.module_utils.core import job_module
from ansible_collections.twzrd.ops.plugins.module_utils.core import params
from ansible_collections.twzrd.ops.plugins.module_utils.pm2 import rollout as pm2_rollout
from ansible_collections.twzrd.ops.plugins.module_utils.pm2 import restart_lock
from ansible_collections.twzrd.ops.plugins.module_utils.core.alerts import CRITICAL, build_result, make_alert, runbook
from ansible_collections.twzrd.ops.plugins.module_utils.logs.collect import DEFAULT_ERROR_PATTERNS, compile_patterns
from ansible_collections.twzrd.ops.plugins.module_utils.pm2.client import Pm2Error, daemon_pid, resolve_target, snapshot
from ansible_collections.twzrd.ops.plugins.module_utils.pm2.discovery import single_target
from ansible_collections.twzrd.ops.plugins.module_utils.core.redact import url_credentials
from ansible_collections.twzrd.ops.plugins.module_utils.state.store import DEFAULT_STATE_FILE, StateError, StateStore, path_error
from ansible_collections.twzrd.ops.plugins.module_utils.report.stage import (
    ReportStage, report_argument_spec, report_parameter_errors)

JOB = 'pm2_restart'
REMEDIATION = {
    'restart': 'pm2 itself refused: check `pm2 describe {app}` and pm2.log in PM2_HOME, then rerun with apps: {rest}',
    'online': 'the app does not start: read `pm2 logs {app} --err`, fix it, `pm2 restart {app}`, '
              'then rerun with apps: {rest}',
    'health': 'the app runs but its health endpoint fails: check it by hand, fix or roll back the release, '
              '`pm2 restart {app}`, then rerun with apps: {rest}',
    'errors': 'the app logs errors since the restart: read `pm2 logs {app} --err`, fix or roll back, '
              'then rerun with apps: {rest}',
    'stable': 'the app crashed after coming up: read `pm2 logs {app} --err`, fix or roll back, '
              'then rerun with apps: {rest}',
}


# Documented maxima (docs/restart.md, "Bounds"); all checked before anything restarts.
BOUNDS = {'online_timeout': (1, 3600), 'pm2_timeout': (1, 3600), 'stable_seconds': (0, 600),
          'settle_seconds': (0, 3600)}

SETUP_REMEDIATION = runbook('Check pm2_bin, pm2_home and pm2_user: `sudo -u USER PM2_HOME=HOME pm2 ls` must '
                            'list the apps.', 'pm2-cannot-be-queried')


DAEMON_REMEDIATION = runbook('As the PM2 user: `pm2 resurrect` (then `pm2 save`, `pm2 startup`); '
                             'the next run restarts the apps.', 'pm2-gone-after-a-reboot')
LOCKED_REMEDIATION = runbook('Another restart of this PM2 daemon is running (cron or a playbook): let it finish '
                             '(`ps -fp PID`, `tail -1 /var/log/twzrd-restart.log`), then rerun if its result '
                             'needs it. Nothing was restarted by this run.', 'two-restarts-at-once')
STATE_REMEDIATION = runbook('Make the state file (and its directory) writable by the job user, or point '
                            'state_file elsewhere; pm2 was not run.', 'a-job-failed')
LOCK_REMEDIATION = runbook('Keep state_file in a directory only root (or the job user) can write, such as '
                           '/var/lib/twzrd, and remove a lock file that is not a regular file of that user.',
                           'two-restarts-at-once')


def lock_directory(state_file):
    """The lock lives next to the state file (root-owned /var/lib/twzrd by default), keyed by PM2_HOME."""
    return os.path.dirname(os.path.abspath(state_file or DEFAULT_STATE_FILE))


def from_controller(module):
    """Whether Ansible ran this module (its controller passes _ansible_version; cron's args file does not)."""
    return getattr(module, 'ansible_version', '0.0') not in (None, '0.0')


def take_restart_lock(stage, target, started):
    """Hold this PM2 daemon's restart lock for the rest of the run, or fail at once naming its holder."""
    problem = path_error(stage.params['state_file']) if stage.params['state_file'] else None
    if problem:  # /dev/null as state_file must not put a lock file into /dev
        stage.fail('nothing restarted: %s' % problem, remediation=STATE_REMEDIATION, error='state')
    try:
        dummy, warning = restart_lock.acquire(lock_directory(stage.params['state_file']), target.pm2_home,
                                              restart_lock.holder_details(started, ansible_task=from_controller(stage.module)))
    except restart_lock.LockHeld as held:
        holder = restart_lock.describe_holder(held.holder)
        stage.fail('another pm2_restart run holds the restart lock of PM2_HOME=%s (%s): this run restarted '
                   'nothing and did not wait (lock %s)' % (target.pm2_home, holder, held.path),
                   remediation=LOCKED_REMEDIATION, error='locked', holder=held.holder)
    except restart_lock.LockError as exc:
        stage.fail('nothing restarted: %s' % exc, remediation=LOCK_REMEDIATION, error='lock')
    if warning:
        stage.module.warn(warning)


def failure_alert(failed, untouched):
    rest = '[%s]' % ', '.join([failed['app']] + untouched)
    return make_alert(
        'pm2_restart', CRITICAL, value=failed['step'], threshold='online, healthy, no new errors',
        message='%s failed at step %s: %s' % (failed['app'], failed['step'], failed['message']),
        remediation=runbook(REMEDIATION[failed['step']].format(app=failed['app'], rest=rest),
                            'the-friday-restart-stopped-halfway'),
        subject=failed['app'])


def health_check_secrets(health_checks):
    """Passwords inside health check URLs: masked everywhere, invocation included (basic auth is supported)."""
    secrets = []
    for spec in (health_checks or {}).values() if isinstance(health_checks, dict) else ():
        url = spec.get('url') if isinstance(spec, dict) else spec
        secrets.extend(url_credentials(url))
    return secrets


def log_metrics(result):
    failed = result.get('failure') or {}
    return [
        ('planned', len(result['plan'])),
        ('restarted', len(result['restarted'])),
        ('apps', ','.join(r['app'] for r in result['restarted'])),
        ('failed_app', failed.get('app')),
        ('failed_step', failed.get('step')),
        ('untouched', len(result['untouched'])),
        ('skipped', ','.join(s['app'] for s in result.get('skipped') or [])),
    ]


ARGUMENT_SPEC = dict(
    apps=dict(type='list', elements='str', default=[]),
    strategy=dict(type='str', choices=list(pm2_rollout.STRATEGIES), default='auto'),
    health_checks=dict(type='dict', default={}),
    online_timeout=dict(type='int', default=60),
    stable_seconds=dict(type='float', default=2),
    settle_seconds=dict(type='float', default=10),
    error_patterns=dict(type='list', elements='str', default=list(DEFAULT_ERROR_PATTERNS)),
    pm2_bin=dict(type='path'),
    pm2_home=dict(type='path'),
    pm2_user=dict(type='str'),
    pm2_timeout=dict(type='int', default=30),
    **report_argument_spec()
)


def parameter_errors(p):
    """Every bad value, all checked before anything restarts."""
    errors = params.bounds_errors(p, BOUNDS)
    if p['stable_seconds'] >= p['online_timeout']:
        errors.append('stable_seconds (%s) must be lower than online_timeout (%s): an app must be able to '
                      'prove itself stable within the wait' % (p['stable_seconds'], p['online_timeout']))
    errors += params.regex_errors(p, 'error_patterns')
    errors += pm2_rollout.normalize_health_checks(p['health_checks'])[1]
    errors += report_parameter_errors(p)
    return errors


def mask_health_check_secrets(module):
    module.no_log_values.update(health_check_secrets(module.params['health_checks']))


def main():
    module = job_module.start(ARGUMENT_SPEC, parameter_errors, mask=mask_health_check_secrets)
    started = time.time()
    p = module.params
    checks = pm2_rollout.normalize_health_checks(p['health_checks'])[0]

    stage = ReportStage(module, 'restart', JOB, started=started)
    try:
        target = single_target(resolve_target(p['pm2_bin'], p['pm2_home'], p['pm2_user']),
                               p['pm2_bin'], p['pm2_home'], p['pm2_user'])
    except Pm2Error as exc:
        stage.fail(str(exc), remediation=SETUP_REMEDIATION, error='pm2_target')
    if target.pm2_bin is None:
        stage.fail('pm2 executable not found in PATH, /usr/local/bin or /usr/bin: set pm2_bin',
                   remediation=SETUP_REMEDIATION, error='pm2_bin')
    daemon_gone = ('the PM2 daemon is not running (PM2_HOME=%s, user %s): nothing restarted; '
                   'this module never starts one' % (target.pm2_home, target.user))
    try:
        if daemon_pid(target.pm2_home) is None:
            stage.fail(daemon_gone, remediation=DAEMON_REMEDIATION, error='pm2_daemon')
        if not module.check_mode:
            # A plain fd: held until this process exits. Taken before the process list is read: the plan is never stale.
            take_restart_lock(stage, target, started)
        snap = snapshot(target, timeout=p['pm2_timeout'], now_ms=int(time.time() * 1000))
    except Pm2Error as exc:
        stage.fail('cannot read the PM2 process list, nothing restarted: %s' % exc,
                   remediation=SETUP_REMEDIATION, error='pm2_query')
    if not snap.daemon_running:
        stage.fail(daemon_gone, remediation=DAEMON_REMEDIATION, error='pm2_daemon')
    plan, skipped, plan_errors = pm2_rollout.plan_restart(snap.by_name(), p['apps'], p['strategy'], checks)
    if plan_errors:
        stage.fail('nothing restarted: ' + '; '.join(plan_errors),
                   remediation=runbook('Fix apps/health_checks to name apps PM2 runs (`pm2 ls` as the PM2 user); a '
                                       'stopped app is started by a person, never by this module.',
                                       'the-friday-restart-stopped-halfway'),
                   error='plan')
    metrics = {'planned': len(plan), 'restarted': 0, 'untouched': len(plan) if module.check_mode else 0,
               'skipped': len(skipped)}

    if module.check_mode:
        result = build_result([], metrics, plan=plan, restarted=[], failure=None, untouched=[], own_restarts={},
                              skipped=skipped, changed=bool(plan))
        stage.finish(result)

    if p['state_file']:
        try:  # our restarts must be recordable, else twzrd_health would count them as crashes
            with StateStore(p['state_file']):
                pass
        except StateError as exc:
            stage.fail('nothing restarted: %s' % exc, error='state', remediation=STATE_REMEDIATION)
    ops = pm2_rollout.Pm2Ops(target, p['pm2_timeout'], p['state_file'])
    ops.secrets |= snap.secrets
    outcome = pm2_rollout.execute(plan, ops, {
        'online_timeout': p['online_timeout'],
        'stable_seconds': p['stable_seconds'],
        'settle_seconds': p['settle_seconds'],
        'poll_interval': 0.5,
        'health_checks': checks,
        'error_patterns': compile_patterns(p['error_patterns']),
    })
    for warning in sorted(set(ops.warnings), key=ops.warnings.index):  # once each, first-seen order
        module.warn(warning)
    failed = outcome['failure']
    outcome['skipped'] = skipped + outcome['skipped']
    alerts = [failure_alert(failed, outcome['untouched'])] if failed else []
    metrics.update(restarted=len(outcome['restarted']), untouched=len(outcome['untouched']),
                   skipped=len(outcome['skipped']), duration_seconds=round(time.time() - started, 3))
    changed = bool(outcome['restarted']) or bool(failed and (failed['step'] != 'restart' or failed.get('restart_counts')))
    result = build_result(alerts, metrics, plan=plan, changed=changed, **outcome)
    stage.finish(result, log_extra=[('mode', 'run')], log_metrics=log_metrics(result),
                 summarize=pm2_rollout.summary_lines, fail_msg=alerts[0]['message'] if failed else None)


if __name__ == '__main__':
    main()

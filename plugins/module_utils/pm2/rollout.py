# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Graceful, verified, one-at-a-time PM2 restarts (docs/restart.md).

Planning is pure: :func:`plan_rollout` turns the process list and the
parameters into an ordered plan, or into errors before anything restarts.
Executing is :func:`execute`: for each app in turn it restarts (cluster
``reload`` is zero-downtime, fork ``restart``), waits until every instance is
``online`` with a new pid and a fresh start and stays so, probes the health
endpoint, then looks for new error lines during a settle window.  The first
failure stops the rollout.  All I/O goes through an ``ops`` object
(:class:`Pm2Ops` for real), so the sequencing is unit-testable.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math
import re
import time

from ansible_collections.twzrd.ops.plugins.module_utils.probes import http_probe
from ansible_collections.twzrd.ops.plugins.module_utils.logs import watch as log_watch
from ansible_collections.twzrd.ops.plugins.module_utils.pm2.client import (
    Pm2Error, daemon_pid, process_key, record_own_restarts, run_pm2, snapshot)
from ansible_collections.twzrd.ops.plugins.module_utils.core.redact import excerpt, redact
from ansible_collections.twzrd.ops.plugins.module_utils.state.store import StateError, StateStore

STRATEGIES = ('auto', 'reload', 'restart')
STEPS = ('restart', 'online', 'health', 'errors', 'stable')
HEALTH_DEFAULTS = {'status': 200, 'timeout': 5.0, 'retries': 3, 'backoff': 1.0}
# Documented maxima (docs/restart.md): a probe stays within minutes, never hours.
HEALTH_MAX = {'timeout': 300.0, 'retries': 10, 'backoff': 300.0}
# pm2 restart/reload reads these as something else than one app's name (PM2 7, lib/API.js _operate and
# Common.isConfigFile): "every app", a /regex/ over all names (stopped apps included), an ecosystem file
# to load, stdin or an option. App names are the PM2 user's: none of these may reach pm2.
_AMBIGUOUS_NAME = re.compile(r'^(all|/(.*/)?|-.*)$|\.(json|ya?ml|config\.[cm]?js)')
# ...and anything JavaScript's isNaN() takes for a number is read as a pm_id ("7", " 7", "1e3", "0x1f").
_JS_NUMBER = re.compile(r'^([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?Infinity|0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+)$')


def pm2_reads_otherwise(name):
    """Whether ``pm2 restart NAME`` would act on something else than the app called NAME."""
    return bool(_AMBIGUOUS_NAME.search(name) or _JS_NUMBER.match(name.strip()) or not name.strip())


MAX_EVIDENCE_LINES = 5


# --- planning (pure) ---------------------------------------------------------

def normalize_health_checks(raw):
    """``{app: {url, status, timeout, retries, backoff}}`` with defaults, plus error messages."""
    checks, errors = {}, []
    if not isinstance(raw, dict):
        return {}, ['health_checks must be a dict of app name -> {url, status, timeout, retries, backoff}']
    for app, spec in sorted(raw.items()):
        where = 'health_checks[%s]' % app
        if isinstance(spec, str):
            spec = {'url': spec}
        if not isinstance(spec, dict):
            errors.append('%s must be a dict with at least url' % where)
            continue
        unknown = sorted(set(spec) - set(HEALTH_DEFAULTS) - set(['url']))
        if unknown:
            errors.append('%s: unknown keys %s (allowed: url, status, timeout, retries, backoff)'
                          % (where, ', '.join(unknown)))
            continue
        check = dict(HEALTH_DEFAULTS)
        check.update((k, v) for k, v in spec.items() if v is not None)
        errors.extend('%s: %s' % (where, msg) for msg in http_probe.url_errors(check.get('url')))
        number_errors = _health_number_errors(check)
        if number_errors:
            errors.extend('%s: %s' % (where, msg) for msg in number_errors)
            continue
        checks[app] = check
    return checks, errors


def _health_number_errors(check):
    """Coerce status/timeout/retries/backoff in place; messages for what is not a sane number."""
    errors = []
    for key, kind in (('status', int), ('timeout', float), ('retries', int), ('backoff', float)):
        value = check[key]
        if isinstance(value, bool):
            errors.append('%s must be a number, got %s' % (key, value))
            continue
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            errors.append('%s must be a number, got %r' % (key, value))
            continue
        if not math.isfinite(number):
            errors.append('%s must be a finite number, got %s' % (key, value))
            continue
        if kind is int and number != int(number):
            errors.append('%s must be a whole number, got %s' % (key, value))
            continue
        check[key] = kind(number)
    if errors:
        return errors
    if not 100 <= check['status'] <= 599:
        errors.append('status must be an HTTP status (100-599), got %s' % check['status'])
    if not 0 < check['timeout'] <= HEALTH_MAX['timeout']:
        errors.append('timeout must be > 0 and <= %s seconds, got %s' % (HEALTH_MAX['timeout'], check['timeout']))
    for key in ('retries', 'backoff'):
        if not 0 <= check[key] <= HEALTH_MAX[key]:
            errors.append('%s must be between 0 and %s, got %s' % (key, HEALTH_MAX[key], check[key]))
    return errors


def choose_strategy(strategy, exec_mode):
    if strategy == 'auto':
        return 'reload' if exec_mode == 'cluster' else 'restart'
    return strategy


def stopped_instances(procs):
    """pm_ids of an app's instances that are ``stopped``: stopped by a person (``pm2 stop``) or exited
    with autorestart off. A restart would start them, which only a person decides."""
    return sorted(p['pm_id'] for p in procs if p['status'] == 'stopped')


def _stopped_reason(app, stopped, procs):
    which = ', '.join(str(pm_id) for pm_id in stopped)
    if len(stopped) == len(procs):
        return 'stopped (instance%s %s): only a person starts it (`pm2 start %s`)' % (
            's' if len(stopped) > 1 else '', which, app)
    return ('instance%s %s of %d stopped: a restart would start %s; only a person does (`pm2 start %s`)' % (
        's' if len(stopped) > 1 else '', which, len(procs), 'them' if len(stopped) > 1 else 'it', app))


def _leave_stopped(by_name, apps, explicit):
    """``(skipped, errors)``: stopped apps are left out, or refused when the person named them."""
    skipped, errors = [], []
    for app in apps:
        procs = sorted(by_name[app], key=lambda p: p['pm_id'])
        stopped = stopped_instances(procs)
        if not stopped:
            continue
        reason = _stopped_reason(app, stopped, procs)
        if explicit:
            errors.append('%s is %s; pm2_restart never starts stopped apps: start it first or leave it out of apps'
                          % (app, reason))
        else:
            skipped.append({'app': app, 'reason': reason, 'statuses': [p['status'] for p in procs]})
    return skipped, errors


def plan_restart(by_name, apps, strategy, health_checks):
    """Ordered plan for ``apps`` (all apps, by lowest pm_id, when empty), and the apps left alone.

    ``by_name`` is ``Pm2Snapshot.by_name()``.  Returns ``(plan, skipped, errors)``;
    any error means nothing may be restarted.  Apps with a ``stopped`` instance
    are never planned: left out (``skipped``, with the reason) when ``apps`` is
    empty, an error when ``apps`` names them.
    """
    errors = []
    explicit = bool(apps)
    if not apps:
        apps = sorted(by_name, key=lambda name: min(p['pm_id'] for p in by_name[name]))
    ordered = []
    for app in apps:
        if app not in ordered:
            ordered.append(app)
    missing = [app for app in ordered if app not in by_name]
    if missing:
        errors.append('unknown PM2 app%s: %s (known: %s)' % (
            's' if len(missing) > 1 else '', ', '.join(missing), ', '.join(sorted(by_name)) or 'none'))
    ambiguous = [app for app in ordered if pm2_reads_otherwise(app)]
    if ambiguous:
        errors.append('app names pm2 would read as "all", a pm_id, a /regex/, a config file or an option cannot be '
                      'restarted by name: %s (rename the app, or leave it out of apps)' % ', '.join(ambiguous))
    skipped, stopped_errors = _leave_stopped(by_name, [a for a in ordered if a in by_name], explicit)
    errors.extend(stopped_errors)
    stray = sorted(set(health_checks) - set(by_name))
    if stray:
        errors.append('health_checks name apps PM2 does not know: %s' % ', '.join(stray))
    if strategy not in STRATEGIES:
        errors.append('strategy must be one of %s, got %s' % (', '.join(STRATEGIES), strategy))
    if errors:
        return [], [], errors
    plan = []
    left_alone = set(entry['app'] for entry in skipped)
    for app in [a for a in ordered if a not in left_alone]:
        procs = sorted(by_name[app], key=lambda p: p['pm_id'])
        exec_mode = procs[0]['exec_mode']
        check = health_checks.get(app)
        plan.append({
            'app': app,
            'strategy': choose_strategy(strategy, exec_mode),
            'exec_mode': exec_mode,
            'instances': len(procs),
            'pm_ids': [p['pm_id'] for p in procs],
            'pids': [p['pid'] for p in procs],
            'statuses': [p['status'] for p in procs],
            'health_url': redact(check['url']) if check else None,
        })
    return plan, skipped, errors


def plan_rollout(by_name, apps, strategy, health_checks):
    """:func:`plan_restart` without the skipped apps: ``(plan, errors)``."""
    plan, dummy, errors = plan_restart(by_name, apps, strategy, health_checks)
    return plan, errors


def instances_state(before, now, started_epoch):
    """Where a restarted app stands: ``('ready'|'waiting'|'errored', reason)``.

    Ready means every instance that existed before is there again, ``online``,
    with a pid that did not exist before and a start time after ours.
    """
    old_pids = set(p['pid'] for p in before if p['pid'])
    current = dict((p['pm_id'], p) for p in now)
    errored = [p for p in now if p['status'] == 'errored']
    if errored:
        return 'errored', 'PM2 gave up on instance%s %s (status errored)' % (
            's' if len(errored) > 1 else '', ', '.join(str(p['pm_id']) for p in errored))
    problems = []
    for old in before:
        proc = current.get(old['pm_id'])
        if proc is None:
            problems.append('instance %s is gone' % old['pm_id'])
        elif proc['status'] != 'online':
            problems.append('instance %s is %s' % (proc['pm_id'], proc['status']))
        elif not proc['pid'] or proc['pid'] in old_pids:
            problems.append('instance %s still has its old pid %s' % (proc['pm_id'], proc['pid']))
        elif proc['started_at'] is None or proc['started_at'] < int(started_epoch):
            problems.append('instance %s was started before the restart' % proc['pm_id'])
    if problems:
        return 'waiting', '; '.join(problems)
    return 'ready', 'all %d instance%s online with new pids' % (len(before), '' if len(before) == 1 else 's')


def count_own_restarts(before, after):
    """``{process_key: n}`` restarts one pm2 command made, measured on ``restart_time``.

    Each instance counts what its ``restart_time`` actually grew by, at most 1:
    one restart/reload command restarts an instance once, so anything above
    is a crash right after start, which twzrd_health must still see.
    """
    previous = dict((process_key(p), p['restart_time']) for p in before)
    counts = {}
    for proc in after:
        key = process_key(proc)
        if key in previous:
            grown = proc['restart_time'] - previous[key]
            if grown > 0:
                counts[key] = min(grown, 1)
    return counts


def instances_evidence(procs):
    """What a failure shows of an app's instances: id, pid, status and restart count of each."""
    return {'instances': [dict((k, p[k]) for k in ('pm_id', 'pid', 'status', 'restart_time')) for p in procs]}


def pids_of(procs):
    return [p['pid'] for p in sorted(procs, key=lambda p: p['pm_id'])]


# --- executing (I/O through ops) ---------------------------------------------

class Pm2Ops:
    """The real world for :func:`execute`: pm2, the state file, HTTP, logs, clocks."""

    def __init__(self, target, pm2_timeout=30, state_file=None):
        self.target = target
        self.pm2_timeout = pm2_timeout
        self.state_file = state_file
        self.secrets = set()
        self.warnings = []
        self.sleep = time.sleep
        self.clock = time.monotonic
        self.wall = time.time

    def processes(self, app):
        if daemon_pid(self.target.pm2_home) is None:
            raise Pm2Error('the PM2 daemon (PM2_HOME=%s) stopped running' % self.target.pm2_home)
        snap = snapshot(self.target, timeout=self.pm2_timeout, now_ms=int(self.wall() * 1000))
        self.secrets |= snap.secrets
        return [p for p in snap.processes if p['name'] == app]

    def restart(self, app, strategy, before):
        """Run the pm2 command and record the restarts it made, under the state lock.

        Holding the lock from the command until the record is saved means a
        twzrd_health run cannot see the new restart_time without our record.
        Returns ``(processes right after, counts)``; raises :class:`CommandCutShort`
        (its restarts recorded too) when the command failed after restarting some.
        """
        if not self.state_file:
            return self._restart(app, strategy, before)
        with StateStore(self.state_file) as store:
            if store.warning:
                self.warnings.append(store.warning)
            try:
                after, counts = self._restart(app, strategy, before)
            except CommandCutShort as exc:
                self._record(store, exc.counts)
                raise
            self._record(store, counts)
            return after, counts

    def _record(self, store, counts):
        if counts:
            record_own_restarts(store, counts, self.target)
            try:
                store.save()
            except StateError as exc:
                self.warnings.append('%s: twzrd_health may count these restarts as crashes' % exc)

    def _restart(self, app, strategy, before):
        # pm2 would quietly spawn a fresh, empty daemon if ours died since the last look.
        if daemon_pid(self.target.pm2_home) is None:
            raise Pm2Error('the PM2 daemon (PM2_HOME=%s) stopped running' % self.target.pm2_home)
        try:
            run_pm2(self.target, [strategy, app], timeout=self.pm2_timeout)
        except Pm2Error as exc:
            # The CLI drives the daemon instance by instance: ended mid-way (pm2_timeout), the daemon
            # finishes the instance in flight and never starts the others. Say what it did restart.
            after = self._settled(app, before)
            counts = count_own_restarts(before, after)
            if counts:
                raise CommandCutShort(exc, after, counts)
            raise
        after = self.processes(app)
        return after, count_own_restarts(before, after)

    def _settled(self, app, before):
        """The app's processes once the daemon is done with the instance in flight (same pm_ids as before,
        none starting or stopping, unchanged for a second), or the last look after pm2_timeout."""
        deadline = self.clock() + self.pm2_timeout
        ids = sorted(p['pm_id'] for p in before)
        last = None
        while True:
            now = self.processes(app)
            view = sorted((p['pm_id'], p['pid'], p['status'], p['restart_time']) for p in now)
            quiet = ([v[0] for v in view] == ids and not [v for v in view if v[2] in _MOVING])
            if quiet and view == last or self.clock() >= deadline:
                return now
            last = view if quiet else None
            self.sleep(1.0)

    def probe(self, check):
        return http_probe.probe(check['url'], check['status'], check['timeout'], check['retries'], check['backoff'])

    def mark_logs(self, paths):
        return log_watch.mark(paths, owner=(self.target.uid, self.target.gid))

    def new_log_lines(self, offsets):
        return log_watch.new_lines(offsets, owner=(self.target.uid, self.target.gid), warnings=self.warnings)


# PM2 statuses of an instance the daemon is still acting on.
_MOVING = ('launching', 'stopping', 'waiting restart', 'one-launch-status')


class CommandCutShort(Pm2Error):
    """The pm2 command failed after the daemon restarted some instances (``counts``, per process key)."""

    def __init__(self, error, after, counts):
        Pm2Error.__init__(self, str(error))
        self.after = after
        self.counts = counts


class _LeftAlone(Exception):
    """The app got a stopped instance after the plan was made: not ours to start."""


class _Failure(Exception):
    def __init__(self, step, message, evidence=None):
        Exception.__init__(self, message)
        self.step = step
        self.message = message
        self.evidence = evidence or {}


def _wait_online(ops, app, before, started_epoch, online_timeout, stable_seconds, poll):
    """Block until ready and still ready ``stable_seconds`` later with the same pids."""
    deadline = ops.clock() + online_timeout
    stable_pids, stable_since = None, None
    while True:
        now = ops.processes(app)
        state, reason = instances_state(before, now, started_epoch)
        evidence = instances_evidence(now)
        if state == 'errored':
            raise _Failure('online', '%s did not come back online: %s' % (app, reason), evidence)
        if state == 'ready':
            pids = pids_of(now)
            if pids != stable_pids:
                stable_pids, stable_since = pids, ops.clock()
            if ops.clock() - stable_since >= stable_seconds:
                return now
        else:
            stable_pids = None  # a crash-looping instance keeps changing pid: start over
        if ops.clock() >= deadline:
            raise _Failure('online', '%s not online with new pids after %ss: %s' % (app, online_timeout, reason), evidence)
        ops.sleep(poll)


def _restart_one(ops, item, options, entry):
    """Restart and verify one app, filling ``entry`` as it goes (kept on failure too)."""
    app, strategy = item['app'], item['strategy']
    before = ops.processes(app)
    if not before:  # deleted since the plan: `pm2 restart NAME` would now act on a namespace called NAME
        raise _LeftAlone('no app called %s any more (deleted since the plan was made): nothing to restart' % app)
    stopped = stopped_instances(before)
    if stopped:  # someone ran `pm2 stop` since the plan was made
        raise _LeftAlone(_stopped_reason(app, stopped, before))
    offsets = ops.mark_logs(sorted(set(p['error_log'] for p in before if p['error_log'])))
    started_epoch = ops.wall()
    started = ops.clock()
    entry['old_pids'] = pids_of(before)
    try:
        _after, counts = ops.restart(app, strategy, before)
    except StateError as exc:  # the lock comes before the pm2 command: pm2 never ran
        raise _Failure('restart', 'state file unusable, pm2 %s %s not run: %s' % (strategy, app, exc))
    except CommandCutShort as exc:
        entry['restart_counts'] = exc.counts
        raise _Failure('restart', 'pm2 %s %s was cut short (%s) after the daemon restarted %d of its %d '
                       'instance%s (%s); any other still runs as before' % (
                           strategy, app, exc, len(exc.counts), len(before), '' if len(before) == 1 else 's',
                           ', '.join(sorted(exc.counts))),
                       instances_evidence(exc.after))
    except Pm2Error as exc:
        raise _Failure('restart', 'pm2 %s %s failed: %s' % (strategy, app, exc))
    entry['restart_counts'] = counts
    online = _wait_online(ops, app, before, started_epoch, options['online_timeout'],
                          options['stable_seconds'], options['poll_interval'])
    entry['new_pids'] = pids_of(online)
    entry['seconds_to_online'] = round(ops.clock() - started, 3)
    check = options['health_checks'].get(app)
    if check:
        outcome = ops.probe(check)
        entry['health'] = {'url': redact(check['url']), 'status': outcome['status'], 'attempts': outcome['attempts']}
        if not outcome['ok']:
            raise _Failure('health', '%s is unhealthy after restart: %s' % (app, outcome['error']), {
                'url': redact(check['url']), 'expected_status': check['status'], 'status': outcome['status'],
                'attempts': outcome['attempts'], 'error': excerpt(outcome['error'] or '', ops.secrets),
                'body': excerpt(outcome['body'] or '', ops.secrets)})
    entry['seconds_to_healthy'] = round(ops.clock() - started, 3)
    if options['settle_seconds'] > 0:
        ops.sleep(options['settle_seconds'])
    errors = log_watch.error_lines(ops.new_log_lines(offsets), options['error_patterns'])
    if errors:
        raise _Failure('errors', '%s logged %d new error line%s after restart' % (
            app, len(errors), '' if len(errors) == 1 else 's'), {
            'error_lines': [excerpt(line, ops.secrets) for line in errors[-MAX_EVIDENCE_LINES:]],
            'error_line_count': len(errors)})
    final = ops.processes(app)
    state, reason = instances_state(before, final, started_epoch)
    if state != 'ready' or pids_of(final) != entry['new_pids']:
        raise _Failure('stable', '%s did not stay up through the settle window: %s' % (
            app, reason if state != 'ready' else 'pids changed from %s to %s' % (entry['new_pids'], pids_of(final))),
            instances_evidence(final))
    return entry


def execute(plan, ops, options):
    """Run the plan; stop at the first failure.

    ``options``: online_timeout, stable_seconds, poll_interval, settle_seconds,
    health_checks (normalized), error_patterns (logscan.compile_patterns).
    Returns ``{restarted, failure, untouched, own_restarts, skipped}``
    (``skipped``: apps stopped since the plan, left alone).
    """
    restarted, own, skipped = [], {}, []
    for index, item in enumerate(plan):
        entry = {'app': item['app'], 'strategy': item['strategy'], 'exec_mode': item['exec_mode'],
                 'old_pids': item['pids']}
        failed = None
        try:
            restarted.append(_restart_one(ops, item, options, entry))
        except _LeftAlone as exc:
            skipped.append({'app': item['app'], 'reason': str(exc), 'statuses': None})
        except _Failure as exc:
            failed = dict(entry, step=exc.step, message=excerpt(exc.message, ops.secrets, limit=500),
                          evidence=exc.evidence)
        except Pm2Error as exc:  # jlist failed mid-way, or the daemon went away
            failed = dict(entry, step='online' if 'restart_counts' in entry else 'restart',
                          message=excerpt(str(exc), ops.secrets, limit=500), evidence={})
        own.update(entry.get('restart_counts') or {})
        if failed:
            return {'restarted': restarted, 'failure': failed, 'own_restarts': own, 'skipped': skipped,
                    'untouched': [later['app'] for later in plan[index + 1:]]}
    return {'restarted': restarted, 'failure': None, 'untouched': [], 'own_restarts': own, 'skipped': skipped}


def summary_lines(result):
    """The rollout as lines a person reads (result ``summary``, the kept report)."""
    lines = []
    for done in result.get('restarted') or []:
        lines.append('restarted %s (%s): pids %s -> %s, healthy after %ss' % (
            done['app'], done['strategy'], ','.join(str(p) for p in done.get('old_pids') or []),
            ','.join(str(p) for p in done.get('new_pids') or []), done.get('seconds_to_healthy')))
    for left in result.get('skipped') or []:
        lines.append('left alone %s: %s' % (left['app'], left['reason']))
    failed = result.get('failure')
    if failed:
        lines.append('FAILED %s at step %s: %s' % (failed['app'], failed['step'], failed['message']))
        lines.extend('  | %s' % line for line in (failed.get('evidence') or {}).get('error_lines') or [])
        lines.append('untouched: %s' % (', '.join(result.get('untouched') or []) or '(none)'))
    if not lines:
        lines.append('nothing to restart: PM2 runs no app')
    return lines

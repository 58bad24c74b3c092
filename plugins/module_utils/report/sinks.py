# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report stage's steps ("sinks"): one :class:`Run`, then each sink of :data:`SINKS` in turn.

A module builds its result; report_stage.ReportStage wraps it in a :class:`Run` (the job, its
options, the result, the state store, the time the run started, check mode, on-demand ...) and
calls :func:`report`, which hands the run to each sink in this order:

1. ``conditions``  applies ``accept`` entries and silences, sets the status. Before tracking: an
                   accepted or silenced alert must neither be told nor resolve what was told.
2. ``tracking``    the alert lifecycle against the previous run (report/alerting.py: hysteresis, repeats,
                   recoveries, expired silences and accept entries told once). Before the message:
                   the message tells what tracking found changed.
3. ``summary``     the short lines a person reads (after tracking: they name what is still open).
4. ``message``     the text a person would get (a report every run; alerts only on a change).
5. ``report_file`` the run's text report in ``report_dir`` (needs the final status and summary).
6. ``page``        the weekly HTML page, kept in ``report_dir``; its mail version goes to the outbox.
7. ``outbox``      delivers pending messages, then this run's; what no channel took stays pending.
8. ``save_state``  saves tracking and the outbox together (after delivery: pending is known only then).
9. ``ping``        the dead-man's switch (after the state is safe: a ping says the run completed).
10. ``textfile``   node_exporter metrics (last_success from the job state tracking just updated).
11. ``log_line``   the run's one log line, last: it counts what the others did (report file,
                   deliveries, pending) and its duration covers the whole run, so a reader that
                   sees the line (``twzrd-run --status``, tests) knows every other output is done.

Every side output that fails (log unwritable, channel down, state unwritable, page not rendered)
adds a warning to ``run.warnings`` and the run goes on: no sink loses an alert.  An undelivered
message stays pending in the state file and goes out with the next run; its text is also in the
result (``notification.undelivered``) so the cron runner prints it and cron mail stays a fallback.
The code of each optional output (report files, HTML page, metrics, Apprise) is imported only when
that output is due: a quiet hourly run pays for none.  Nothing here needs an AnsibleModule: tests
call each sink with a :class:`Run` (tests/unit/test_report_sinks.py).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math
import os
import shutil
import socket
import tempfile
import time

from ansible_collections.twzrd.ops.plugins.module_utils.report import alerting
from ansible_collections.twzrd.ops.plugins.module_utils.core import logline
from ansible_collections.twzrd.ops.plugins.module_utils.report import notify as delivery
from ansible_collections.twzrd.ops.plugins.module_utils.state import silences
from ansible_collections.twzrd.ops.plugins.module_utils.core.jobs import ALERTS_KIND, REPORT_KIND, last_success_field, tracking_job
from ansible_collections.twzrd.ops.plugins.module_utils.core.alerts import OK, alert_key, build_result, runbook, worst_level
from ansible_collections.twzrd.ops.plugins.module_utils.core.atomic import write_atomic
from ansible_collections.twzrd.ops.plugins.module_utils.state.store import StateError, StateStore

SECTION = 'alerting'
FAILED = 'failed'
MAX_PENDING = 20           # undelivered messages kept for the next run, newest last


def _number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) and _finite(value) else None


def _finite(value):
    return not math.isnan(value) and not math.isinf(value)


class Run:
    """One module run on its way out: what every sink reads, and what the sinks found so far.

    ``job`` is the cron job's name (alerts, health, db_health, db_alerts, vacuum, restart), ``module_name`` the
    module's (the log line's ``job``). ``failed``: the run could not do its job (its result holds the
    ``job_failed`` alert). ``readings`` (alert key -> value measured now) lets alerts that stopped
    firing be held within the hysteresis margin; ``summarize(result)`` gives the lines a person reads;
    ``page(result)`` renders the HTML report ``{'file', 'mail', 'images'}`` once the alerts are final.
    """

    def __init__(self, job, module_name, params, result, kind=ALERTS_KIND, instance=None, started=None,
                 check_mode=False, store=None, failed=False, readings=None, summarize=None, page=None,
                 log_extra=(), log_metrics=(), log_required=False, host=None, out_of_scope=()):
        self.job = job
        self.module_name = module_name
        self.params = params
        self.result = result
        self.kind = kind
        self.instance = instance
        # the alert history this run reads and writes: db_alerts shares db_health's (core/jobs.py TRACKED_WITH)
        tracked = tracking_job(job)
        self.key = tracked if not instance else '%s:%s' % (tracked, instance)
        self.out_of_scope = tuple(out_of_scope)  # checks this job never looks at (db_alerts: the daily ones)
        self.started = time.time() if started is None else started
        self.host = socket.gethostname() if host is None else host
        self.check_mode = check_mode
        self.store = store            # the module's own store (maybe read-only), or None
        self.failed = failed
        self.readings = readings
        self.summarize = summarize
        self.page = page
        self.log_extra = list(log_extra)
        self.log_metrics = list(log_metrics)
        # A module whose log is its main output (twzrd_health) fails when the line cannot be
        # written; the others warn (the log is one output of several).
        self.log_required = log_required
        self.urls = [u for u in ((params.get('notify') or {}).get('urls') or []) if u]
        self.policy = alerting.Policy.from_option(params.get('notify'))
        # A person's on-demand look (the playbooks set on_demand) tells nobody unless notify_on_demand
        # asks, and changes no state: every change stays for the next cron run to tell.
        self.on_demand = bool(params.get('on_demand'))
        self.quiet = self.on_demand and not params.get('notify_on_demand')
        self.warnings = []
        # what the sinks found, in the order they find it
        self.inherited = []           # open alerts of other jobs a report counts (twzrd_health report)
        self.accepted = []
        self.accept_notes = []
        self.silence_entries = []
        self.tracking_store = None    # the store tracking reads and save_state writes
        self.own_store = False
        self.job_state = {}
        self.events = []
        self.pending = []
        self.message = None
        self.report_path = None
        self.rendered = None
        self.notification = None
        self.log_error = None

    @property
    def status(self):
        return FAILED if self.failed else self.result['status']

    def warn(self, text):
        """A side output's problem: kept for the module's warnings, with every channel secret scrubbed."""
        self.warnings.append(delivery.scrub(text, self.urls + [self.params.get('ping_url') or '']))

    def timeout(self):
        return float((self.params.get('notify') or {}).get('timeout') or delivery.DEFAULT_TIMEOUT)


# --- 1. conditions -----------------------------------------------------------

def conditions(run):
    """Accepted conditions and silences leave the alerts; the status is the worst of what is left."""
    result = run.result
    raised, run.accepted, run.accept_notes = alerting.apply_acceptance(
        result.get('alerts') or [], run.params.get('accept'), run.started)
    run.silence_entries, warning = silences.read(silences.silences_file())
    if warning:
        run.warn(warning)
    raised, silenced = silences.apply(raised, run.silence_entries, run.started)
    if silenced:
        result['silenced'] = silenced
    # A report's status is the host's: the alerts other jobs left open count too (twzrd_health report).
    run.inherited = list((result.get('report') or {}).get('open_alerts') or [])
    if not run.failed:
        result.update(build_result(raised, result.get('metrics') or {}))
        result['status'] = worst_level(result['alerts'] + run.inherited)
    else:
        result['alerts'] = raised
    if run.accepted:
        result['accepted'] = run.accepted
    if run.store is not None and run.store.first_run:
        # which module warnings are routine, as a field: the cron runner mails them not (twzrd_run.py)
        result['routine_warnings'] = [run.store.warning]
    result['twzrd_reported'] = True  # the cron runner: this run logged and notified itself


# --- 2. tracking -------------------------------------------------------------

def tracking(run):
    """This run's alerts against the job's previous ones: the events to tell, pending messages."""
    _open_tracking_store(run)
    if run.tracking_store is not None:
        job_state = run.tracking_store.section(SECTION).get(run.key)
        run.job_state = dict(job_state) if isinstance(job_state, dict) else {}  # a copy: a quiet run keeps none
    result = run.result
    previous = run.job_state.get('alerts') if isinstance(run.job_state.get('alerts'), dict) else {}
    silenced = result.get('silenced') or []
    unchecked = tuple(result.get('unchecked') or ()) + run.out_of_scope
    # An accepted alert still fires: like a silenced one it resolves nothing and is told again once the entry goes.
    held_back = set(alert_key(a) for a in silenced) | set(alert_key(a) for a in run.accepted)
    entries, events, recovered = alerting.transition(previous, result['alerts'], run.started, run.policy,
                                                     readings=run.readings, failed=run.failed,
                                                     unchecked=unchecked,
                                                     silenced=held_back,
                                                     failure_key=alerting.failure_key(run.job))
    run.events = _expired_silences(run, silenced, unchecked) + events
    if not run.failed and run.kind == ALERTS_KIND:
        result['recovered'] = recovered
    run.job_state['alerts'] = entries
    run.job_state['last_run'] = int(run.started)
    run.job_state['last_status'] = run.status
    if not run.failed:
        run.job_state[last_success_field(run.job)] = int(run.started)
    pending = run.job_state.get('pending')
    run.pending = [p for p in pending if isinstance(p, dict)] if isinstance(pending, list) else []
    _tell_expired_accepts_once(run, unchecked)


def _open_tracking_store(run):
    """Tracking keeps one state section per job key, in the module's store or one opened here.

    A module that writes its own state (a writable store) has this run's tracking saved with it.
    Otherwise a report, sent every run anyway, needs state only to keep undelivered messages and
    to tell a failure once: without channels it writes nothing (make run stays read-only).
    """
    store = run.store
    keeps_state = run.kind == ALERTS_KIND or bool(run.urls) or (store is not None and not store.read_only)
    if not run.params.get('state_file') or not keeps_state:
        return
    if store is None or store.read_only:
        store = StateStore(run.params['state_file'], read_only=run.check_mode or run.quiet)
        try:
            store.__enter__()
            run.own_store = True
        except StateError as exc:
            run.warn('%s: alert history not kept this run (every alert counts as new)' % exc)
            store = None
    run.tracking_store = store


def _tell_expired_accepts_once(run, unchecked=()):
    """Warn about an expired ``accept`` entry on the first run that finds it, not every hourly run after.

    The job state remembers the notes told; a note a good run no longer finds is forgotten, so an
    entry that is renewed and expires again is told again (a failed run looked at nothing: it forgets none;
    nor does a run forget the notes of checks it did not look at, ``unchecked``: db_alerts and the daily ones).
    """
    told = run.job_state.get('accept_expired_told')
    told = set(t for t in told if isinstance(t, str)) if isinstance(told, list) else set()
    for note in run.accept_notes:
        if note not in told or run.tracking_store is None:
            run.warn(note)
    unseen = set(t for t in told if run.failed or _accept_note_check(t) in unchecked)
    run.job_state['accept_expired_told'] = sorted(set(run.accept_notes) | unseen)


def _accept_note_check(note):
    """The check an expired-accept note of alerting.apply_acceptance names ("accepted condition CHECK[:SUBJECT] ...")."""
    prefix = 'accepted condition '
    return note[len(prefix):].split(' ', 1)[0].split(':', 1)[0] if note.startswith(prefix) else None


def _expired_silences(run, silenced, unchecked=()):
    """Events for silences this job used that have run out (told once), remembering the ones in use.

    A run that did not look at a silence's check (a failed run, a check in ``unchecked``: the hourly db_alerts
    job never looks at the daily checks) cannot tell whether it still fires: the silence stays remembered, for
    the next run that looks to tell.
    """
    firing = run.result['alerts']
    used = run.job_state.get('silences') if isinstance(run.job_state.get('silences'), dict) else {}
    live = dict((e['id'], e) for e in silences.active(run.silence_entries, run.started))
    ended = dict((e['id'], e) for e in run.silence_entries if e['id'] not in live)  # still in the file, past its end
    events = []
    unseen = set()
    for sid, entry in sorted(used.items()):
        if sid in live or not isinstance(entry, dict):
            continue
        if run.failed or entry.get('check') in unchecked:
            unseen.add(sid)
            continue
        entry = dict(entry, until=ended[sid]['until']) if sid in ended else entry
        if _number(entry.get('until')) is not None and entry['until'] <= run.started:
            now_firing = [a for a in firing if a.get('check') == entry.get('check')
                          and entry.get('subject') in (None, '', '*', a.get('subject'))]
            events.append({
                'event': alerting.SILENCE_EXPIRED, 'check': entry.get('check'), 'subject': entry.get('subject'),
                'level': now_firing[0]['level'] if now_firing else OK,
                'message': 'the silence by %s (%s) ended at %s: %s' % (
                    entry.get('by') or '?', entry.get('reason'), silences.iso_utc(entry['until']),
                    'alerting again' if now_firing else 'it is not raised now'),
                'remediation': runbook('Fix the cause, or silence it again for a while: twzrd-run --silence '
                                       'CHECK[:SUBJECT] --for DURATION --reason TEXT.', 'silence-a-check-for-a-while'),
            })
    kept = dict((sid, entry) for sid, entry in used.items() if sid in live or sid in unseen)
    for alert in silenced:
        entry = live.get(alert.get('silence_id'))
        if entry is not None:
            kept[entry['id']] = dict((k, entry.get(k)) for k in ('check', 'subject', 'until', 'reason', 'by'))
    run.job_state['silences'] = kept
    return events


# --- 3. summary, 4. message --------------------------------------------------

def summary(run):
    """The short lines a person reads; the weekly report also lists the active silences."""
    result = run.result
    if run.summarize is not None:
        result['summary'] = run.summarize(result)
    if run.kind == REPORT_KIND and run.job == 'health':
        result['silences'] = silences.active(run.silence_entries, run.started)
        if result['silences'] and isinstance(result.get('summary'), list):
            result['summary'] = result['summary'] + [silences.summary_line(e) for e in result['silences']]


def _report_text(run):
    return delivery.compose_report_message(run.job, run.host, run.status, run.result.get('summary') or [],
                                           run.result['alerts'] + run.inherited, run.accepted, run.started)


def message(run):
    """A report is a message every run; alerts are one only when tracking found a change."""
    if run.kind == REPORT_KIND:
        run.message = _report_text(run)
    elif run.events:
        run.message = delivery.compose_alert_message(run.job, run.host, run.status, run.events,
                                                     list(run.result['alerts']), run.started)
    if run.message:
        # The text a person would get; the cron runner prints it where no channel took it.
        run.result['message'] = '%s\n\n%s' % run.message


# --- 5. report_file, 6. page -------------------------------------------------

def report_file(run):
    """The run's report as a dated file in report_dir: the audit trail of the weekly jobs."""
    directory = run.params.get('report_dir')
    if not directory or run.check_mode:
        return
    dummy, text = _report_text(run)
    try:
        from ansible_collections.twzrd.ops.plugins.module_utils.report import files  # pylint: disable=import-outside-toplevel
        run.report_path = files.write(directory, run.key, run.started, text, run.params.get('report_keep') or 1)
    except (IOError, OSError) as exc:
        run.warn('report not kept in report_dir %s: %s' % (directory, exc))
        return
    run.result['report_text_file'] = run.report_path


def page(run):
    """Render the HTML report and keep it in ``report_dir``; a failure is a warning, the text report stays."""
    if run.page is None or run.failed or run.check_mode:
        return
    try:
        rendered = run.page(run.result)
    except Exception as exc:  # pylint: disable=broad-except  # a chart bug must not lose the report
        run.warn('HTML report not rendered: %s' % exc)
        return
    run.rendered = rendered
    directory = run.params.get('report_dir')
    if not directory:
        return
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o750)
        from ansible_collections.twzrd.ops.plugins.module_utils.report import html as report_html  # pylint: disable=import-outside-toplevel
        path = os.path.join(directory, report_html.page_name(run.started))
        write_atomic(path, rendered['file'], mode=0o640)
        report_html.prune(directory, run.params.get('report_keep') or 1)
        run.result['report_file'] = path
    except (IOError, OSError) as exc:
        run.warn('HTML report not written to report_dir %s: %s' % (directory, exc))


# --- 7. outbox -----------------------------------------------------------------

def outbox(run):
    """Deliver, with the page's mail version and its images when there is one."""
    html = attach = None
    tmpdir = None
    if run.rendered and run.urls:
        tmpdir = tempfile.mkdtemp(prefix='twzrd-report-')
        html, attach = run.rendered['mail'], _write_images(tmpdir, run.rendered['images'])
    try:
        kind = delivery.message_type(run.kind == REPORT_KIND, run.status, run.events)
        run.notification = _deliver(run, html, attach, kind)
    finally:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)
    if run.notification is not None:
        run.result['notification'] = run.notification


def _write_images(directory, images):
    paths = []
    for name, data in images:
        path = os.path.join(directory, name)
        with open(path, 'wb') as handle:
            handle.write(data)
        paths.append(path)
    return paths


def _deliver(run, html, attach, message_type):
    """Send pending messages, then this run's; returns the result's ``notification`` or None.

    ``notify.timeout`` is one budget for the whole delivery: a channel that timed out is not tried
    again this run, and what the budget leaves unsent stays pending, untried.
    """
    message, pending = run.message, run.pending
    if not run.urls:
        run.job_state['pending'] = []
        return None
    if run.check_mode:
        return {'would_send': message is not None, 'pending': len(pending)}
    if run.quiet:
        # pending messages stay in the state file for the next cron run
        return {'on_demand': True, 'would_send': message is not None, 'sent': 0, 'pending': len(pending),
                'deliveries': []}
    by_fingerprint = dict((delivery.fingerprint(u), u) for u in run.urls)
    queue = []
    for item in pending:
        targets = [by_fingerprint[f] for f in item.get('targets') or [] if f in by_fingerprint]
        if targets and item.get('title') and item.get('body'):
            note = '(delayed: first attempt at %s)\n\n' % logline.iso_utc(item.get('created') or 0)
            queue.append((item, targets, item['title'], note + item['body'], None, None))
    if message:
        item = {'created': int(run.started), 'title': message[0], 'body': message[1], 'type': message_type}
        queue.append((item, list(run.urls), message[0], message[1], html, attach))
    still_pending, deliveries, sent = [], [], 0
    budget_end = time.time() + run.timeout()
    given_up = {}  # fingerprint -> why it is not tried again this run
    for item, targets, title, body, html_body, files in queue:
        remaining = budget_end - time.time()
        tried = [u for u in targets if delivery.fingerprint(u) not in given_up] if remaining > 0 else []
        kind = item.get('type') if item.get('type') in delivery.NOTIFY_TYPES else delivery.INFO
        outcomes = delivery.deliver(tried, title, body, timeout=remaining, html=html_body, attach=files,
                                    notify_type=kind) if tried else []
        outcome_of = dict(zip(tried, outcomes))
        for url in targets:
            outcome = outcome_of.get(url) or _untried(run, url, given_up)
            outcome['channel'] = delivery.channel_name(run.urls.index(url), url)
            if outcome.get('timed_out'):
                given_up[outcome['fingerprint']] = 'it timed out on an earlier message of this run'
            deliveries.append(dict((k, outcome[k]) for k in ('channel', 'ok', 'error')))
        failed_targets = [delivery.fingerprint(u) for u in targets if not (outcome_of.get(u) or {}).get('ok')]
        sent += 1 if len(failed_targets) < len(targets) else 0
        if failed_targets:
            still_pending.append(dict(item, targets=failed_targets))
    dropped = max(0, len(still_pending) - MAX_PENDING)
    if dropped:
        run.warn('%d undelivered message(s) older than the last %d dropped' % (dropped, MAX_PENDING))
    run.job_state['pending'] = still_pending[-MAX_PENDING:]
    errors = [d for d in deliveries if not d['ok']]
    _warn_undelivered(run, errors)
    notification = {'messages': len(queue), 'sent': sent, 'deliveries': deliveries,
                    'pending': len(run.job_state['pending'])}
    if errors and message:
        notification['undelivered'] = '%s\n\n%s' % message
    return notification


def _untried(run, url, given_up):
    """The outcome of a channel this run did not try for a message (the budget, or it hung before)."""
    why = given_up.get(delivery.fingerprint(url)) or (
        'the delivery time budget (notify.timeout %gs) was used up' % run.timeout())
    return {'fingerprint': delivery.fingerprint(url), 'ok': False, 'error': 'not attempted: %s' % why}


def _warn_undelivered(run, errors):
    """One warning per channel that failed, with its distinct reasons (not one per kept message)."""
    reasons = {}
    for failure in errors:
        reasons.setdefault(failure['channel'], []).append(failure['error'])
    for channel in sorted(reasons, key=[f['channel'] for f in errors].index):
        told = reasons[channel]
        distinct = sorted(set(told), key=told.index)
        run.warn('notification not delivered via %s: %s (%d message(s) kept for the next run)'
                 % (channel, '; '.join(distinct[:3]), len(told)))


# --- 8. save_state -------------------------------------------------------------

def save_state(run):
    """Tracking and the outbox's pending messages, saved together (with the module's own data)."""
    store = run.tracking_store
    try:
        if store is None or run.check_mode:
            return
        if run.quiet:  # a quiet on-demand run leaves the alert history to cron (the module's own data stays)
            if store.read_only:
                return
        else:
            store.section(SECTION)[run.key] = run.job_state
        try:
            store.save()
        except StateError as exc:
            run.warn('%s: alert history not kept this run' % exc)
    finally:
        if run.own_store and store is not None:
            store.__exit__(None, None, None)
        run.own_store = False


# --- 9. ping, 10. textfile, 11. log_line ---------------------------------------

def ping(run):
    url = run.params.get('ping_url')
    if not url or run.check_mode or run.on_demand:  # the dead-man's switch watches cron, not people
        return
    error = delivery.ping(url, run.failed)
    if error:
        run.warn(error)


def textfile(run):
    """node_exporter textfile (report/metrics_export.py); last_success comes from the job's state."""
    directory = run.params.get('textfile_dir')
    if not directory or run.check_mode:
        return
    # A failed run keeps the previous success the state file knows (whole seconds there).
    last_success = run.job_state.get(last_success_field(run.job)) if run.failed else run.started
    from ansible_collections.twzrd.ops.plugins.module_utils.report import metrics_export  # pylint: disable=import-outside-toplevel
    error = metrics_export.export(directory, run.job, run.instance, run.result, run.status, run.started, time.time(),
                                  last_success=last_success, params=run.params)
    if error:
        run.warn(error)


def log_line(run):
    """The run's line (core/logline.py). A module that needs it (``log_required``) fails without it."""
    if not run.params.get('log_file') or run.check_mode:
        return
    result, notification = run.result, run.notification
    fields = list(run.log_metrics)
    if run.report_path:
        fields.append(('report', run.report_path))
    if result.get('accepted'):
        fields.append(('accepted', len(result['accepted'])))
    if notification is not None:
        fields.append(('notified', notification.get('sent', 0)))
        failures = [d['channel'] for d in notification.get('deliveries') or [] if not d['ok']]
        if failures:
            fields.append(('notify_failed', ','.join(failures)))
        if notification.get('pending'):
            fields.append(('notify_pending', notification['pending']))
    logged = dict(result, status=run.status)
    error = logline.log_run(run.params['log_file'], run.module_name, logged, run.started,
                            extra=run.log_extra, metric_fields=fields)
    if error and run.log_required:
        run.log_error = error
    elif error:
        run.warn(error)


# The order is the design (module docstring): each sink may read what an earlier one found.
SINKS = (conditions, tracking, summary, message, report_file, page, outbox, save_state, ping, textfile, log_line)


def report(run, sinks=SINKS):
    """Hand ``run`` to each sink in order; returns the run (its result, warnings, log_error)."""
    for sink in sinks:
        sink(run)
    return run

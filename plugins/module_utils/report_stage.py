# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report stage: everything after evaluate, in one place (docs/design.md, "The report stage").

Every module ends with one call::

    stage = ReportStage(module, 'alerts', 'twzrd_health')   # job, module name
    ...collect, evaluate -> result...
    stage.finish(result, store=store, log_extra=[...], log_metrics=[...], readings={...})

or, when the run could not do its job, ``stage.fail(msg, remediation=...)``.
The stage then, in this order: applies accepted conditions, tracks the
alerts against the previous run (alerting.py), keeps the run's report in
``report_dir`` (report_file.py; the weekly health report also as an HTML page,
report_html.py), saves the state, appends the run's log line, exports metrics
(textfile_dir: metrics_export.py), delivers the message (notify.py), pings the
dead-man's switch, and exits.  Cron and playbooks run this same code.
The code of each optional output (report files, HTML page, metrics, Apprise)
is imported only when that output is due: a quiet hourly run pays for none.

One rule for side outputs that fail (log unwritable, channel down, state
unwritable): warn, keep the result, never lose an alert.  An undelivered
message stays pending in the state file and goes out with the next run;
its text is also in the result (``notification.undelivered``) so the cron
runner prints it and cron mail stays a fallback.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math
import os
import shutil
import socket
import tempfile
import time

from ansible_collections.twzrd.ops.plugins.module_utils import alerting
from ansible_collections.twzrd.ops.plugins.module_utils import logline
from ansible_collections.twzrd.ops.plugins.module_utils import notify as delivery
from ansible_collections.twzrd.ops.plugins.module_utils import silences
from ansible_collections.twzrd.ops.plugins.module_utils.alerts import CRITICAL, OK, WARNING, alert_key, build_result, runbook, worst_level
from ansible_collections.twzrd.ops.plugins.module_utils.core.atomic import write_atomic
from ansible_collections.twzrd.ops.plugins.module_utils.state import DEFAULT_STATE_FILE, StateError, StateStore

SECTION = 'alerting'
ALERTS_KIND = 'alerts'     # tell a person about changes only
REPORT_KIND = 'report'     # every run is a message (weekly report, vacuum report)
FAILED = 'failed'
MAX_PENDING = 20           # undelivered messages kept for the next run, newest last
MAX_REPEAT_HOURS = 24 * 365
MAX_REPORT_KEEP = 1000


def report_argument_spec():
    """Options every twzrd.ops module shares (plugins/doc_fragments/report.py documents them)."""
    return dict(
        state_file=dict(type='path', default=DEFAULT_STATE_FILE),
        log_file=dict(type='path'),
        notify=dict(type='dict', options=dict(
            urls=dict(type='list', elements='str', no_log=True, default=[]),
            min_level=dict(type='str', choices=[WARNING, CRITICAL], default=WARNING),
            repeat_hours=dict(type='float', default=24.0),
            recovery=dict(type='bool', default=True),
            hysteresis_pct=dict(type='float', default=alerting.DEFAULT_HYSTERESIS_PCT),
            timeout=dict(type='float', default=delivery.DEFAULT_TIMEOUT),
        )),
        ping_url=dict(type='str', no_log=True),
        textfile_dir=dict(type='path'),
        accept=dict(type='list', elements='dict', default=[], options=dict(
            check=dict(type='str', required=True),
            subject=dict(type='str'),
            until=dict(type='str'),
            reason=dict(type='str', required=True),
        )),
        report_dir=dict(type='path'),
        report_keep=dict(type='int', default=12),
        on_demand=dict(type='bool', default=False),
        notify_on_demand=dict(type='bool', default=False),
    )


def _number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) and _finite(value) else None


def _finite(value):
    return not math.isnan(value) and not math.isinf(value)


def report_parameter_errors(params):
    """Messages naming the bad report option (bounds the argument spec cannot say)."""
    errors = []
    options = params.get('notify') or {}
    bounds = (('repeat_hours', 0, MAX_REPEAT_HOURS), ('hysteresis_pct', 0, 100), ('timeout', 1, 300))
    for key, low, high in bounds:
        value = options.get(key)
        if value is None:
            continue
        if not _finite(value) or not low <= value <= high:
            errors.append('notify.%s must be between %s and %s, got %s' % (key, low, high, value))
    for index, url in enumerate(options.get('urls') or []):
        if not isinstance(url, str) or '://' not in url or '\x00' in url:
            # never echo the URL: it may hold a password
            errors.append('notify.urls[%d] is not an Apprise URL (scheme://...)' % index)
    ping_url = params.get('ping_url')
    if ping_url and (not ping_url.startswith(('http://', 'https://')) or '\x00' in ping_url):
        errors.append('ping_url must be an http:// or https:// URL')
    errors += alerting.acceptance_errors(params.get('accept'))
    keep = params.get('report_keep')
    if keep is not None and not 1 <= keep <= MAX_REPORT_KEEP:
        errors.append('report_keep must be between 1 and %d, got %s' % (MAX_REPORT_KEEP, keep))
    return errors


class ReportStage:
    """The end of one module run. ``job`` is the cron job's name (alerts, health, db_health, vacuum, restart)."""

    def __init__(self, module, job, module_name, kind=ALERTS_KIND, instance=None, started=None, log_required=False):
        self.module = module
        self.module_name = module_name
        self.params = module.params
        self.job = job
        self.kind = kind
        self.instance = instance
        self.key = job if not instance else '%s:%s' % (job, instance)
        self.started = time.time() if started is None else started
        self.host = socket.gethostname()
        self.urls = [u for u in ((self.params.get('notify') or {}).get('urls') or []) if u]
        self.policy = alerting.Policy.from_option(self.params.get('notify'))
        self.check_mode = module.check_mode
        # A person's on-demand look (the playbooks set on_demand) tells nobody unless notify_on_demand
        # asks, and changes no state: every change stays for the next cron run to tell.
        self.on_demand = bool(self.params.get('on_demand'))
        self.quiet = self.on_demand and not self.params.get('notify_on_demand')
        self.warnings = []
        # A module whose log is its main output (twzrd_health) fails when the line cannot be
        # written; the others warn (the log is one output of several).
        self.log_required = log_required
        self.log_error = None
        self._page = None
        self.report_path = None

    # --- public entry points ---------------------------------------------

    def finish(self, result, store=None, log_extra=(), log_metrics=(), readings=None, summarize=None,
               html=None, attach=None, fail_msg=None, page=None):
        """Report a run that did its job; exits the module.

        ``readings`` (alert key -> value measured now) lets alerts that stopped
        firing be held within the hysteresis margin; ``summarize(result)``
        gives the short lines a person reads (result ``summary``, the report
        message); ``html``/``attach`` are an email version of a report.
        ``fail_msg`` fails the module after reporting (a rollout that stopped).
        ``page(result)`` renders an HTML report once the alerts are final:
        ``{'file': html, 'mail': html, 'images': [(filename, png), ...]}``;
        the file goes to ``report_dir``, the mail version to email channels.
        """
        result.setdefault('changed', False)
        self._page = page
        self._report(result, store, log_extra, log_metrics, readings, summarize, html, attach, failed=False)
        if fail_msg:
            self.module.fail_json(msg=fail_msg, **result)
        if self.log_error and self.log_required:
            self.module.fail_json(msg=self.log_error, **result)
        self.module.exit_json(**result)

    def fail(self, msg, remediation=None, error=None, store=None, log_extra=(), **extra):
        """Report a run that could not do its job (status ``failed``); fails the module.

        The failure is an alert (check ``job_failed``) tracked like any other:
        told once, reminded after ``repeat_hours``, resolved by the next good run.
        """
        failure = alerting.failure_alert(self.job, msg, remediation, error)
        result = dict(extra)
        result.update(status=FAILED, alerts=[failure] + list(extra.get('alerts') or []),
                      metrics=extra.get('metrics') or {})
        if remediation:
            result['remediation'] = remediation
        if error:
            result['error'] = error
        self._report(result, store, log_extra, (), None, None, None, None, failed=True)
        result.pop('msg', None)
        self.module.fail_json(msg=msg, **result)

    # --- the stage ---------------------------------------------------------

    def _report(self, result, store, log_extra, log_metrics, readings, summarize, html, attach, failed):
        now = self.started
        raised, accepted, notes = alerting.apply_acceptance(result.get('alerts') or [], self.params.get('accept'), now)
        silence_entries, warning = silences.read(silences.silences_file())
        if warning:
            self._warn(warning)
        raised, silenced = silences.apply(raised, silence_entries, now)
        if silenced:
            result['silenced'] = silenced
        # A report's status is the host's: the alerts other jobs left open count too (twzrd_health report).
        inherited = list((result.get('report') or {}).get('open_alerts') or [])
        if not failed:
            result.update(build_result(raised, result.get('metrics') or {}))
            result['status'] = worst_level(result['alerts'] + inherited)
        else:
            result['alerts'] = raised
        if accepted:
            result['accepted'] = accepted
        result['twzrd_reported'] = True  # the cron runner: this run logged and notified itself

        events, pending = self._track(result, store, readings, failed, silence_entries)
        self._tell_expired_once(notes, failed)
        if summarize is not None:
            result['summary'] = summarize(result)
        if self.kind == REPORT_KIND and self.job == 'health':  # the weekly report lists them
            result['silences'] = silences.active(silence_entries, now)
            if result['silences'] and isinstance(result.get('summary'), list):
                result['summary'] = result['summary'] + [silences.summary_line(e) for e in result['silences']]
        status = FAILED if failed else result['status']
        message = None
        if self.kind == REPORT_KIND:
            message = delivery.compose_report_message(
                self.job, self.host, status, result.get('summary') or [], result['alerts'] + inherited,
                accepted, now)
        elif events:
            message = delivery.compose_alert_message(self.job, self.host, status, events,
                                                     list(result['alerts']), now)
        if message:
            # The text a person would get; the cron runner prints it where no channel took it.
            result['message'] = '%s\n\n%s' % message
        if self.params.get('report_dir') and not self.check_mode:
            self._keep_report(result, status, accepted)
        tmpdir = None
        rendered = self._render_page(result) if self._page is not None and not failed else None
        if rendered and self.urls:
            tmpdir = tempfile.mkdtemp(prefix='twzrd-report-')
            html, attach = rendered['mail'], self._write_images(tmpdir, rendered['images'])
        try:
            notification = self._deliver(message, pending, html, attach,
                                         delivery.message_type(self.kind == REPORT_KIND, status, events))
        finally:
            if tmpdir:
                shutil.rmtree(tmpdir, ignore_errors=True)
        if notification is not None:
            result['notification'] = notification
        self._save_delivery_state(store, notification)
        self._ping(failed)
        self._log(result, status, log_extra, log_metrics, notification)
        self._export(result, status)
        for warning in self.warnings:
            self.module.warn(warning)

    def _render_page(self, result):
        """Render the HTML report and keep it in ``report_dir``; a failure is a warning, the text report stays."""
        if self.check_mode:
            return None
        try:
            rendered = self._page(result)
        except Exception as exc:  # pylint: disable=broad-except  # a chart bug must not lose the report
            self._warn('HTML report not rendered: %s' % exc)
            return None
        report_dir = self.params.get('report_dir')
        if report_dir:
            try:
                if not os.path.isdir(report_dir):
                    os.makedirs(report_dir, 0o750)
                from ansible_collections.twzrd.ops.plugins.module_utils import report_html  # pylint: disable=import-outside-toplevel
                path = os.path.join(report_dir, report_html.page_name(self.started))
                write_atomic(path, rendered['file'], mode=0o640)
                report_html.prune(report_dir, self.params.get('report_keep') or 1)
                result['report_file'] = path
            except (IOError, OSError) as exc:
                self._warn('HTML report not written to report_dir %s: %s' % (report_dir, exc))
        return rendered

    @staticmethod
    def _write_images(directory, images):
        paths = []
        for name, data in images:
            path = os.path.join(directory, name)
            with open(path, 'wb') as handle:
                handle.write(data)
            paths.append(path)
        return paths

    def _keep_report(self, result, status, accepted):
        """The run's report as a dated file in report_dir: the audit trail of the weekly jobs."""
        inherited = list((result.get('report') or {}).get('open_alerts') or [])
        dummy, text = delivery.compose_report_message(self.job, self.host, status, result.get('summary') or [],
                                                      result['alerts'] + inherited, accepted, self.started)
        try:
            from ansible_collections.twzrd.ops.plugins.module_utils import report_file  # pylint: disable=import-outside-toplevel
            self.report_path = report_file.write(self.params['report_dir'], self.key, self.started, text,
                                                 self.params.get('report_keep') or 1)
        except (IOError, OSError) as exc:
            self._warn('report not kept in report_dir %s: %s' % (self.params['report_dir'], exc))
            return
        result['report_text_file'] = self.report_path

    def _warn(self, text):
        self.warnings.append(delivery.scrub(text, self.urls + [self.params.get('ping_url') or '']))

    # Tracking keeps one state section per job key; the store may be the one the
    # module already holds (locked), or the stage opens its own.
    def _track(self, result, store, readings, failed, silence_entries):
        self._store = None
        self._own_store = False
        self._job_state = {}
        # A module that writes its own state (a writable store) has this run's tracking saved with
        # it.  Otherwise a report, sent every run anyway, needs state only to keep undelivered
        # messages and to tell a failure once: without channels it writes nothing (make run stays
        # read-only).
        keeps_state = self.kind == ALERTS_KIND or bool(self.urls) or (store is not None and not store.read_only)
        if self.params.get('state_file') and keeps_state:
            if store is None or store.read_only:
                store = StateStore(self.params['state_file'], read_only=self.check_mode or self.quiet)
                try:
                    store.__enter__()
                    self._own_store = True
                except StateError as exc:
                    self._warn('%s: alert history not kept this run (every alert counts as new)' % exc)
                    store = None
            self._store = store
        if self._store is not None:
            section = self._store.section(SECTION)
            job_state = section.get(self.key)
            self._job_state = dict(job_state) if isinstance(job_state, dict) else {}  # a copy: a quiet run keeps none
        previous = self._job_state.get('alerts') if isinstance(self._job_state.get('alerts'), dict) else {}
        silenced = result.get('silenced') or []
        entries, events, recovered = alerting.transition(previous, result['alerts'], self.started, self.policy,
                                                         readings=readings, failed=failed,
                                                         unchecked=result.get('unchecked') or (),
                                                         silenced=set(alert_key(a) for a in silenced))
        events = self._expired_silences(silenced, silence_entries, result['alerts']) + events
        if not failed and self.kind == ALERTS_KIND:
            result['recovered'] = recovered
        self._job_state['alerts'] = entries
        self._job_state['last_run'] = int(self.started)
        self._job_state['last_status'] = FAILED if failed else result['status']
        if not failed:
            self._job_state['last_success'] = int(self.started)
        pending = self._job_state.get('pending')
        return events, [p for p in pending if isinstance(p, dict)] if isinstance(pending, list) else []

    def _tell_expired_once(self, notes, failed):
        """Warn about an expired ``accept`` entry on the first run that finds it, not every hourly run after.

        The job state remembers the notes told; a note a good run no longer finds is forgotten, so an
        entry that is renewed and expires again is told again (a failed run looked at nothing: it forgets none).
        """
        told = self._job_state.get('accept_expired_told')
        told = set(t for t in told if isinstance(t, str)) if isinstance(told, list) else set()
        for note in notes:
            if note not in told or self._store is None:
                self._warn(note)
        self._job_state['accept_expired_told'] = sorted(set(notes) | (told if failed else set()))

    def _expired_silences(self, silenced, silence_entries, firing):
        """Events for silences this job used that have run out (told once), remembering the ones in use."""
        used = self._job_state.get('silences') if isinstance(self._job_state.get('silences'), dict) else {}
        live = dict((e['id'], e) for e in silences.active(silence_entries, self.started))
        ended = dict((e['id'], e) for e in silence_entries if e['id'] not in live)  # still in the file, past its end
        events = []
        for sid, entry in sorted(used.items()):
            if sid in live or not isinstance(entry, dict):
                continue
            entry = dict(entry, until=ended[sid]['until']) if sid in ended else entry
            if _number(entry.get('until')) is not None and entry['until'] <= self.started:
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
        kept = dict((sid, entry) for sid, entry in used.items() if sid in live)
        for alert in silenced:
            entry = live.get(alert.get('silence_id'))
            if entry is not None:
                kept[entry['id']] = dict((k, entry.get(k)) for k in ('check', 'subject', 'until', 'reason', 'by'))
        self._job_state['silences'] = kept
        return events

    def _deliver(self, message, pending, html, attach, message_type):
        """Send pending messages, then this run's; returns the result's ``notification`` or None.

        ``notify.timeout`` is one budget for the whole delivery: a channel that timed out is not tried
        again this run, and what the budget leaves unsent stays pending, untried.
        """
        if not self.urls:
            self._job_state['pending'] = []
            return None
        if self.check_mode:
            return {'would_send': message is not None, 'pending': len(pending)}
        if self.quiet:
            # pending messages stay in the state file for the next cron run
            return {'on_demand': True, 'would_send': message is not None, 'sent': 0, 'pending': len(pending),
                    'deliveries': []}
        by_fingerprint = dict((delivery.fingerprint(u), u) for u in self.urls)
        outbox = []
        for item in pending:
            targets = [by_fingerprint[f] for f in item.get('targets') or [] if f in by_fingerprint]
            if targets and item.get('title') and item.get('body'):
                note = '(delayed: first attempt at %s)\n\n' % logline.iso_utc(item.get('created') or 0)
                outbox.append((item, targets, item['title'], note + item['body'], None, None))
        if message:
            item = {'created': int(self.started), 'title': message[0], 'body': message[1], 'type': message_type}
            outbox.append((item, list(self.urls), message[0], message[1], html, attach))
        still_pending, deliveries, sent = [], [], 0
        budget_end = time.time() + self.policy_timeout()
        given_up = {}  # fingerprint -> why it is not tried again this run
        for item, targets, title, body, html_body, files in outbox:
            remaining = budget_end - time.time()
            tried = [u for u in targets if delivery.fingerprint(u) not in given_up] if remaining > 0 else []
            kind = item.get('type') if item.get('type') in delivery.NOTIFY_TYPES else delivery.INFO
            outcomes = delivery.deliver(tried, title, body, timeout=remaining, html=html_body, attach=files,
                                        notify_type=kind) if tried else []
            outcome_of = dict(zip(tried, outcomes))
            for url in targets:
                outcome = outcome_of.get(url) or self._untried(url, given_up)
                outcome['channel'] = delivery.channel_name(self.urls.index(url), url)
                if outcome.get('timed_out'):
                    given_up[outcome['fingerprint']] = 'it timed out on an earlier message of this run'
                deliveries.append(dict((k, outcome[k]) for k in ('channel', 'ok', 'error')))
            failed_targets = [delivery.fingerprint(u) for u in targets if not (outcome_of.get(u) or {}).get('ok')]
            sent += 1 if len(failed_targets) < len(targets) else 0
            if failed_targets:
                still_pending.append(dict(item, targets=failed_targets))
        dropped = max(0, len(still_pending) - MAX_PENDING)
        if dropped:
            self._warn('%d undelivered message(s) older than the last %d dropped' % (dropped, MAX_PENDING))
        self._job_state['pending'] = still_pending[-MAX_PENDING:]
        errors = [d for d in deliveries if not d['ok']]
        self._warn_undelivered(errors)
        notification = {'messages': len(outbox), 'sent': sent, 'deliveries': deliveries,
                        'pending': len(self._job_state['pending'])}
        if errors and message:
            notification['undelivered'] = '%s\n\n%s' % message
        return notification

    def _untried(self, url, given_up):
        """The outcome of a channel this run did not try for a message (the budget, or it hung before)."""
        why = given_up.get(delivery.fingerprint(url)) or (
            'the delivery time budget (notify.timeout %gs) was used up' % self.policy_timeout())
        return {'fingerprint': delivery.fingerprint(url), 'ok': False, 'error': 'not attempted: %s' % why}

    def _warn_undelivered(self, errors):
        """One warning per channel that failed, with its distinct reasons (not one per kept message)."""
        reasons = {}
        for failure in errors:
            reasons.setdefault(failure['channel'], []).append(failure['error'])
        for channel in sorted(reasons, key=[f['channel'] for f in errors].index):
            told = reasons[channel]
            distinct = sorted(set(told), key=told.index)
            self._warn('notification not delivered via %s: %s (%d message(s) kept for the next run)'
                       % (channel, '; '.join(distinct[:3]), len(told)))

    def policy_timeout(self):
        return float((self.params.get('notify') or {}).get('timeout') or delivery.DEFAULT_TIMEOUT)

    def _save_delivery_state(self, store, notification):
        if self._store is None or self.check_mode:
            self._close_own_store()
            return
        if self.quiet:  # a quiet on-demand run leaves the alert history to cron (the module's own data stays)
            if self._store.read_only:
                self._close_own_store()
                return
        else:
            self._store.section(SECTION)[self.key] = self._job_state
        try:
            self._store.save()
        except StateError as exc:
            self._warn('%s: alert history not kept this run' % exc)
        self._close_own_store()

    def _close_own_store(self):
        if self._own_store and self._store is not None:
            self._store.__exit__(None, None, None)
        self._own_store = False

    def _ping(self, failed):
        url = self.params.get('ping_url')
        if not url or self.check_mode or self.on_demand:  # the dead-man's switch watches cron, not people
            return
        error = delivery.ping(url, failed)
        if error:
            self._warn(error)

    def _export(self, result, status):
        """node_exporter textfile (metrics_export.py); last_success comes from the job's state."""
        directory = self.params.get('textfile_dir')
        if not directory or self.check_mode:
            return
        # A failed run keeps the previous success the state file knows (whole seconds there).
        last_success = self._job_state.get('last_success') if status == FAILED else self.started
        from ansible_collections.twzrd.ops.plugins.module_utils import metrics_export  # pylint: disable=import-outside-toplevel
        error = metrics_export.export(directory, self.job, self.instance, result, status, self.started, time.time(),
                                      last_success=last_success)
        if error:
            self._warn(error)

    def _log(self, result, status, log_extra, log_metrics, notification):
        if not self.params.get('log_file') or self.check_mode:
            return
        fields = list(log_metrics)
        if self.report_path:
            fields.append(('report', self.report_path))
        if result.get('accepted'):
            fields.append(('accepted', len(result['accepted'])))
        if notification is not None:
            fields.append(('notified', notification.get('sent', 0)))
            failures = [d['channel'] for d in notification.get('deliveries') or [] if not d['ok']]
            if failures:
                fields.append(('notify_failed', ','.join(failures)))
            if notification.get('pending'):
                fields.append(('notify_pending', notification['pending']))
        logged = dict(result, status=status)
        if status == FAILED:
            logged['alerts'] = result['alerts']
        error = logline.log_run(self.params['log_file'], self.module_name, logged, self.started,
                                extra=list(log_extra), metric_fields=fields)
        if error and self.log_required:
            self.log_error = error
        elif error:
            self._warn(error)

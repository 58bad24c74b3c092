# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report stage: everything after evaluate, in one place (docs/design.md, "The report stage").

Every module ends with one call::

    stage = ReportStage(module, 'alerts', 'twzrd_health')   # job, module name
    ...collect, evaluate -> result...
    stage.finish(result, store=store, log_extra=[...], log_metrics=[...], readings={...})

or, when the run could not do its job, ``stage.fail(msg, remediation=...)``.
The stage wraps the result in one run object and hands it to an ordered list
of small steps, the sinks (report/sinks.py: conditions, tracking, summary,
message, report file, page, outbox, state, ping, textfile, log line; the
order and why are documented there), then turns the run's warnings into
module warnings and exits.  Cron and playbooks run this same code.

One rule for side outputs that fail (log unwritable, channel down, state
unwritable): warn, keep the result, never lose an alert.
This file also holds the options every module shares and their checks.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math
import time

from ansible_collections.twzrd.ops.plugins.module_utils.report import alerting
from ansible_collections.twzrd.ops.plugins.module_utils.report import notify as delivery
from ansible_collections.twzrd.ops.plugins.module_utils.report import sinks
from ansible_collections.twzrd.ops.plugins.module_utils.core.alerts import CRITICAL, WARNING
from ansible_collections.twzrd.ops.plugins.module_utils.report.sinks import ALERTS_KIND, FAILED, REPORT_KIND
from ansible_collections.twzrd.ops.plugins.module_utils.state.store import DEFAULT_STATE_FILE

KINDS = (ALERTS_KIND, REPORT_KIND)
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
    """The end of one module run: wraps the result in a report_sinks.Run and exits the module.

    ``job`` is the cron job's name (alerts, health, db_health, db_alerts, vacuum, restart); ``out_of_scope`` the
    checks it never looks at, whose open alerts (another job's, in a shared history) it leaves as they are.
    """

    def __init__(self, module, job, module_name, kind=ALERTS_KIND, instance=None, started=None, log_required=False,
                 out_of_scope=()):
        if kind not in KINDS:
            raise ValueError('a report stage is of kind %s, not %r' % (' or '.join(KINDS), kind))
        self.module = module
        self.module_name = module_name
        self.params = module.params
        self.job = job
        self.kind = kind
        self.instance = instance
        self.started = time.time() if started is None else started
        self.log_required = log_required
        self.out_of_scope = tuple(out_of_scope)
        # A person's on-demand look tells nobody and changes no state (report_sinks.Run.quiet).
        self.quiet = bool(self.params.get('on_demand')) and not self.params.get('notify_on_demand')

    def run(self, result, **kwargs):
        """The :class:`report_sinks.Run` of this module run (what every sink reads)."""
        return sinks.Run(self.job, self.module_name, self.params, result, kind=self.kind, instance=self.instance,
                         started=self.started, check_mode=self.module.check_mode, log_required=self.log_required,
                         out_of_scope=self.out_of_scope, **kwargs)

    def finish(self, result, store=None, log_extra=(), log_metrics=(), readings=None, summarize=None,
               fail_msg=None, page=None):
        """Report a run that did its job; exits the module.

        ``readings``, ``summarize`` and ``page`` are report_sinks.Run's. ``fail_msg`` fails the
        module after reporting (a rollout that stopped).
        """
        result.setdefault('changed', False)
        run = sinks.report(self.run(result, store=store, log_extra=log_extra, log_metrics=log_metrics,
                                    readings=readings, summarize=summarize, page=page))
        self._warn(run)
        if fail_msg:
            self.module.fail_json(msg=fail_msg, **result)
        if run.log_error and self.log_required:
            self.module.fail_json(msg=run.log_error, **result)
        self.module.exit_json(**result)

    def fail(self, msg, remediation=None, error=None, store=None, log_extra=(), **extra):
        """Report a run that could not do its job (status ``failed``); fails the module.

        The failure is an alert (check ``job_failed``) tracked like any other:
        told once, reminded after ``repeat_hours``, resolved by the next good run.
        """
        result = failure_result(self.job, msg, remediation, error, extra)
        run = sinks.report(self.run(result, store=store, failed=True, log_extra=log_extra))
        self._warn(run)
        result.pop('msg', None)
        self.module.fail_json(msg=msg, **result)

    def _warn(self, run):
        for warning in run.warnings:
            self.module.warn(warning)


def failure_result(job, msg, remediation=None, error=None, extra=None):
    """The result of a run that could not do its job: status ``failed`` and the ``job_failed`` alert first."""
    extra = extra or {}
    failure = alerting.failure_alert(job, msg, remediation, error)
    result = dict(extra)
    result.update(status=FAILED, alerts=[failure] + list(extra.get('alerts') or []),
                  metrics=extra.get('metrics') or {})
    if remediation:
        result['remediation'] = remediation
    if error:
        result['error'] = error
    return result

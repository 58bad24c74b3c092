# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Alert lifecycle between runs: what changed, what a person must hear. Pure: no I/O.

Alertmanager is the model (group, repeat, resolve).  One job's alerts are
compared with the previous run's (kept in the state file by the report
stage) and turned into *events*:

- ``firing``: an alert a person has not been told about yet;
- ``escalated`` / ``deescalated``: the level told before changed;
- ``reminder``: still firing ``repeat_hours`` after it was last told;
- ``resolved``: gone (or below ``min_level``) after having been told.

No flapping: an alert whose value and threshold are numbers recovers (or
de-escalates) only once the value is back past its threshold by a margin,
``hysteresis_pct`` of the threshold (10 % by default).  Until then it is
*held*: nothing is sent and the told level stays.  Counts compared with a
threshold of 0 (crashes > 0) have no margin: 0 is recovery.

A failed run knows nothing about the other checks: their alerts are carried
over untouched, and only the failure itself is tracked (check ``job_failed``).
A run that could not look at some checks (the database was down) names them
in ``unchecked``: their alerts are carried over the same way, neither resolved
nor told again.  A silenced alert (``twzrd-run --silence``) is kept without its
told level: nothing is sent while silenced, and if it still fires once the
silence is gone it is told as new.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import math

from ansible_collections.twzrd.ops.plugins.module_utils.core.alerts import CRITICAL, OK, WARNING, alert_key, level_rank, runbook
from ansible_collections.twzrd.ops.plugins.module_utils.core.jobs import tracking_job

FIRING = 'firing'
ESCALATED = 'escalated'
DEESCALATED = 'deescalated'
REMINDER = 'reminder'
RESOLVED = 'resolved'
SILENCE_EXPIRED = 'silence_expired'
EVENT_ORDER = (SILENCE_EXPIRED, FIRING, ESCALATED, DEESCALATED, REMINDER, RESOLVED)

FAILURE_CHECK = 'job_failed'
DEFAULT_HYSTERESIS_PCT = 10.0

# Fields of an alert worth keeping in the state file: enough to say "resolved"
# about it later without the check that raised it.
_KEPT = ('check', 'subject', 'level', 'value', 'threshold', 'message', 'remediation')
_TOLD = ('told_level', 'told_value', 'told_threshold', 'last_sent')


class Policy:
    """When to tell a person: the module's ``notify`` option, validated."""

    def __init__(self, min_level=WARNING, repeat_hours=24.0, recovery=True, hysteresis_pct=DEFAULT_HYSTERESIS_PCT):
        self.min_level = min_level
        self.repeat_hours = repeat_hours
        self.recovery = recovery
        self.hysteresis_pct = hysteresis_pct

    @classmethod
    def from_option(cls, notify):
        notify = notify or {}

        def pick(key, default):
            return default if notify.get(key) is None else notify[key]
        return cls(min_level=pick('min_level', WARNING), repeat_hours=float(pick('repeat_hours', 24)),
                   recovery=bool(pick('recovery', True)),
                   hysteresis_pct=float(pick('hysteresis_pct', DEFAULT_HYSTERESIS_PCT)))

    def tells(self, level):
        """Is ``level`` worth a message at all?"""
        return level in (WARNING, CRITICAL) and level_rank(level) >= level_rank(self.min_level)


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def held(told, reading, hysteresis_pct):
    """Is ``reading`` still too close to the threshold the told alert crossed?

    ``told`` has the told ``level``, ``value`` and ``threshold``.  ``reading``
    is the value measured now, or ``{'value', 'warning', 'critical'}`` with
    the thresholds configured now: a threshold a person raised (or disabled)
    since then counts, not the one in the old alert.  The direction comes
    from the told alert: a value above its threshold recovers below
    ``threshold - margin``; one below it (days before a disk is full) above
    ``threshold + margin``.
    """
    told_threshold = _number(told.get('threshold'))
    told_value = _number(told.get('value'))
    if told_value is None or told_threshold is None or told_value == told_threshold:
        return False
    threshold = told_threshold
    if isinstance(reading, dict):
        if told.get('level') in reading:
            threshold = _number(reading.get(told['level']))
        reading = reading.get('value')
    value = _number(reading)
    if value is None or threshold is None:
        return False
    margin = abs(threshold) * hysteresis_pct / 100.0
    if told_value > told_threshold:
        return value > threshold - margin
    return value < threshold + margin


def _state_entry(alert, previous, now):
    """The stored view of a current alert (``since`` follows the actual level)."""
    entry = dict((key, alert.get(key)) for key in _KEPT)
    same_level = previous and previous.get('level') == alert['level'] and _number(previous.get('since')) is not None
    entry['since'] = previous['since'] if same_level else int(now)
    for key in ('told_level', 'told_value', 'told_threshold', 'last_sent'):
        if previous and previous.get(key) is not None:
            entry[key] = previous[key]
    return entry


def _told_view(entry):
    return {'level': entry.get('told_level'), 'value': entry.get('told_value'), 'threshold': entry.get('told_threshold')}


def _tell(entry, event_kind, now, events, alert):
    event = dict(alert, event=event_kind)
    if entry.get('told_level'):
        event['previous_level'] = entry['told_level']
    events.append(event)
    if event_kind == RESOLVED:
        return
    entry['told_level'] = alert['level']
    entry['told_value'] = alert.get('value')
    entry['told_threshold'] = alert.get('threshold')
    entry['last_sent'] = int(now)


def transition(previous, alerts, now, policy, readings=None, failed=False, unchecked=(), silenced=(),
               failure_key=FAILURE_CHECK):
    """Compare this run's ``alerts`` with ``previous`` (key -> stored entry).

    ``unchecked``: check names this run did not look at; ``silenced``: alert
    keys firing now but silenced (not in ``alerts``); ``failure_key``: the key of this job's own
    failure alert (:func:`failure_alert`), where jobs share one history the others' are not this run's to judge.

    ``readings`` maps alert keys to what each threshold check measured now,
    alerting or not (see :func:`held`), for hysteresis.  Returns ``(entries, events, recovered)``:
    the new state, the events to tell (ordered), and the keys whose alert is
    gone this run (for the module result).  Annotates each alert with
    ``since`` and ``new``.
    """
    readings = readings or {}
    previous = dict((k, v) for k, v in (previous or {}).items() if isinstance(v, dict))
    entries, events, recovered = {}, [], []

    for alert in alerts:
        key = alert_key(alert)
        before = previous.get(key)
        entry = _state_entry(alert, before, now)
        if _number(entry.get('last_sent')) is not None and entry['last_sent'] > now:
            entry['last_sent'] = int(now)  # told while the clock ran ahead: remind from now, not from then
        alert['since'] = entry['since']
        alert['new'] = not (before and before.get('level') == alert['level'])
        entries[key] = entry
        told = entry.get('told_level')
        wanted = alert['level'] if policy.tells(alert['level']) else None
        if told is None and wanted:
            _tell(entry, FIRING, now, events, alert)
        elif told and wanted and level_rank(wanted) > level_rank(told):
            _tell(entry, ESCALATED, now, events, alert)
        elif told and (wanted is None or level_rank(wanted) < level_rank(told)):
            if held(_told_view(entry), readings.get(key, alert.get('value')), policy.hysteresis_pct):
                # too close to the told threshold: keep the told level, but it still fires: remind
                if _reminder_due(entry, now, policy):
                    events.append(dict(alert, event=REMINDER, previous_level=told))
                    entry['last_sent'] = int(now)
                continue
            if wanted:
                _tell(entry, DEESCALATED, now, events, alert)
            else:
                _forget(entry, policy, events, alert)
        elif told and wanted and _measured_or_not_changed(entry, alert):
            _tell(entry, FIRING, now, events, alert)  # same level, another condition: a disk path gone, say
        elif told and _reminder_due(entry, now, policy):
            _tell(entry, REMINDER, now, events, alert)

    for key in sorted(previous):
        if key in entries:
            continue
        before = previous[key]
        if (failed and before.get('check') != FAILURE_CHECK) or before.get('check') in unchecked:
            entries[key] = before  # a run that did not look says nothing about it
            continue
        if before.get('check') == FAILURE_CHECK and key != failure_key:
            entries[key] = before  # another job's failure: only its own next run can tell it is over
            continue
        if key in silenced:
            entries[key] = dict((k, v) for k, v in before.items() if k not in _TOLD)  # told again if it outlives the silence
            continue
        if before.get('told_level') and held(_told_view(before), readings.get(key), policy.hysteresis_pct):
            entries[key] = dict(before, level=OK)  # measured ok, but too close to tell "resolved" yet
            continue
        recovered.append(key)
        if before.get('told_level') and policy.recovery:
            alert = dict((k, before.get(k)) for k in _KEPT)
            reading = readings.get(key)
            alert.update(value=reading.get('value') if isinstance(reading, dict) else reading,
                         level=before['told_level'], previous_level=before['told_level'])
            if isinstance(reading, dict) and before['told_level'] in reading:
                alert['threshold'] = reading[before['told_level']]  # the one configured now, maybe raised since
            events.append(dict(alert, event=RESOLVED))
    events.sort(key=lambda e: (EVENT_ORDER.index(e['event']), -level_rank(e.get('level') or OK),
                               e.get('check') or '', str(e.get('subject') or '')))
    return entries, events, recovered


def _measured_or_not_changed(entry, alert):
    """Was the told alert a measurement (a number past a threshold) and this one not, or the other way round?

    "disk /data 91% used" told, then "disk path /data cannot be checked" at the same level: a person who knows
    only the first does not know the volume is gone (nor, the other way round, that it is back and full).
    """
    if 'told_threshold' not in entry:
        return False  # an entry from before told thresholds were kept: nothing to compare
    return (_number(entry['told_threshold']) is None) != (_number(alert.get('threshold')) is None)


def _reminder_due(entry, now, policy):
    return policy.repeat_hours > 0 and now - entry.get('last_sent', now) >= policy.repeat_hours * 3600


def _forget(entry, policy, events, alert):
    """The alert dropped below min_level: for a person it is resolved."""
    if policy.recovery:
        events.append(dict(alert, event=RESOLVED, level=entry['told_level'], previous_level=entry['told_level']))
    for key in _TOLD:
        entry.pop(key, None)


def failure_alert(job, message, remediation, error=None):
    """A run that failed is itself a critical alert, tracked like any other.

    A job that keeps its alerts in another job's history (core/jobs.py TRACKED_WITH) names itself as the
    subject, so the two jobs' failures are two alerts there.
    """
    alert = {
        'check': FAILURE_CHECK,
        'level': CRITICAL,
        'value': error or 'failed',
        'threshold': 'a successful run',
        'message': 'the %s job failed: %s' % (job, message),
        'remediation': remediation or runbook('Run the job by hand and read its error.', 'a-job-failed'),
    }
    if tracking_job(job) != job:
        alert['subject'] = job
    return alert


def failure_key(job):
    """The alert key of ``job``'s own failure alert."""
    return alert_key(failure_alert(job, '', None))


# --- accepted conditions -------------------------------------------------

def parse_until(text):
    """``YYYY-MM-DD`` (end of that day, UTC) or ``YYYY-MM-DDTHH:MM[:SS]`` UTC -> epoch; None if invalid."""
    text = (text or '').strip().rstrip('Z')
    for fmt, whole_day in (('%Y-%m-%d', True), ('%Y-%m-%dT%H:%M:%S', False), ('%Y-%m-%dT%H:%M', False),
                           ('%Y-%m-%d %H:%M', False)):
        try:
            moment = datetime.datetime.strptime(text, fmt)
        except ValueError:
            continue
        if whole_day:
            moment += datetime.timedelta(days=1)
        return int((moment - datetime.datetime(1970, 1, 1)).total_seconds())
    return None


def acceptance_errors(accept):
    """Messages naming the bad entry of the ``accept`` option."""
    errors = []
    for index, entry in enumerate(accept or []):
        where = 'accept[%d]' % index
        if not (entry.get('check') or '').strip():
            errors.append('%s.check is required' % where)
        if not (entry.get('reason') or '').strip():
            errors.append('%s.reason is required: say why this condition is accepted' % where)
        if entry.get('until') and parse_until(entry['until']) is None:
            errors.append('%s.until must be a date (YYYY-MM-DD) or a UTC time (YYYY-MM-DDTHH:MM), got %r'
                          % (where, entry['until']))
    return errors


def _matches(entry, alert):
    if entry.get('check') != alert.get('check'):
        return False
    subject = entry.get('subject')
    return subject in (None, '', '*') or subject == alert.get('subject')


def apply_acceptance(alerts, accept, now):
    """Split ``alerts`` into (raised, accepted, expired_notes).

    An accepted alert stays in the result (``accepted`` list, with the reason)
    but raises nothing.  An acceptance past its ``until`` no longer applies
    and is named in a note, so nobody forgets it expired.
    """
    raised, accepted, notes = [], [], []
    for alert in alerts:
        match = None
        for entry in accept or []:
            if not _matches(entry, alert):
                continue
            until = parse_until(entry['until']) if entry.get('until') else None
            if until is not None and now >= until:
                notes.append('accepted condition %s expired on %s (%s): alerting again'
                             % (alert_key(alert), entry['until'], entry.get('reason')))
                continue
            match = entry
            break
        if match is None:
            raised.append(alert)
        else:
            accepted.append(dict(alert, accepted=True, accepted_reason=match.get('reason'),
                                 accepted_until=match.get('until')))
    return raised, accepted, notes

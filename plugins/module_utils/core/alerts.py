# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Alert and result model shared by every twzrd.ops module.

Evaluators build alerts with :func:`make_alert`; modules turn them into the
common result shape with :func:`build_result`.  Nothing here does I/O.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

OK = 'ok'
WARNING = 'warning'
CRITICAL = 'critical'
LEVELS = (OK, WARNING, CRITICAL)
_RANK = {OK: 0, WARNING: 1, CRITICAL: 2}
# Every remediation ends with a pointer to its step-by-step section here
# (tests/unit/test_runbook_links.py checks each anchor exists).
RUNBOOK = 'docs/runbooks.md'


def runbook(text, anchor):
    """``text`` followed by its runbook section: ``... (docs/runbooks.md#disk-full)``."""
    return '%s (%s#%s)' % (text, RUNBOOK, anchor)


def level_rank(level):
    return _RANK[level]


def worst_level(alerts):
    """The most severe level among ``alerts`` (``ok`` for none)."""
    level = OK
    for alert in alerts:
        if _RANK[alert['level']] > _RANK[level]:
            level = alert['level']
    return level


def make_alert(check, level, value, threshold, message, remediation, subject=None):
    """One actionable alert: what crossed which threshold, and what to do."""
    if level not in (WARNING, CRITICAL):
        raise ValueError('an alert is warning or critical, not %r' % (level,))
    alert = {
        'check': check,
        'level': level,
        'value': value,
        'threshold': threshold,
        'message': message,
        'remediation': remediation,
    }
    if subject is not None:
        alert['subject'] = subject
    return alert


def alert_key(alert):
    """Stable identity of an alert across runs (check plus subject)."""
    if alert.get('subject') is None:
        return alert['check']
    return '%s:%s' % (alert['check'], alert['subject'])


def classify(value, warning, critical):
    """Level of ``value`` against "greater than" thresholds.

    Returns ``(level, threshold_crossed)``; either threshold may be None
    (disabled).  A value equal to a threshold does not cross it.
    """
    if value is None:
        return OK, None
    if critical is not None and value > critical:
        return CRITICAL, critical
    if warning is not None and value > warning:
        return WARNING, warning
    return OK, None


def track_alerts(alerts, previous_levels, now):
    """Mark alerts as new or continuing and find the checks that recovered.

    ``previous_levels`` maps alert keys to ``{'level', 'since'}`` from the
    last run.  Each alert gets ``since`` (epoch seconds it was first seen at
    this level) and ``new`` (first run at this level).  Returns
    ``(current_levels, recovered_keys)`` for the state file.
    """
    current = {}
    for alert in alerts:
        key = alert_key(alert)
        before = previous_levels.get(key) or {}
        if before.get('level') == alert['level'] and isinstance(before.get('since'), (int, float)):
            alert['since'] = before['since']
            alert['new'] = False
        else:
            alert['since'] = now
            alert['new'] = True
        current[key] = {'level': alert['level'], 'since': alert['since']}
    recovered = sorted(key for key in previous_levels if key not in current)
    return current, recovered


def build_result(alerts, metrics, **extra):
    """The common result: ``status``, ``alerts`` (worst first), ``metrics``."""
    ordered = sorted(alerts, key=lambda a: (-_RANK[a['level']], a['check'], str(a.get('subject', ''))))
    result = {
        'status': worst_level(ordered),
        'alerts': ordered,
        'metrics': metrics,
    }
    result.update(extra)
    return result

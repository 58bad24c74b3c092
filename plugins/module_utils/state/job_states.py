# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every job of the host recorded, for the weekly report (docs/report.md, "Every job's state").

A job that runs as another user keeps its own state file, ``STATE_DIR/USER/state.json``
(the install role's layout: db_health and vacuum run as postgres).  The weekly report
finds those files next to its own: a subdirectory named for an existing user, read
through state.read_user_state (no symlinks, owned by that user, bounded, schema-checked).
Their content is data a less-privileged user controls: it is only shown, and every text
of it goes through :func:`printable` before a text summary, a subject or a log line.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import pwd

from ansible_collections.twzrd.ops.plugins.module_utils.state.store import read_user_state

ALERTING = 'alerting'  # report_sinks.SECTION, not imported: it pulls in delivery
MAX_USERS = 32         # subdirectories looked at, far above the jobs a host runs
MAX_TEXT = 200


def discover(state_file, own_uid=None):
    """``[{'user', 'path', 'data', 'warning'}]``: the state of the jobs run by other users.

    Looks in the directory of ``state_file`` for subdirectories named for a user other than
    us; a missing state directory, or one we may not list, has no other users' state.
    """
    own_uid = os.geteuid() if own_uid is None else own_uid
    base = os.path.dirname(os.path.abspath(state_file))
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return []
    found = []
    for name in names:
        if len(found) >= MAX_USERS:
            break
        try:
            user = pwd.getpwnam(name)
        except (KeyError, ValueError):
            continue  # reports/, lock/ ...: not a user's state directory
        if user.pw_uid == own_uid:
            continue  # our own state is the store the run already holds
        directory = os.path.join(base, name)
        data, warning = read_user_state(directory, name, user.pw_uid)
        if data or warning:
            found.append({'user': name, 'path': os.path.join(directory, 'state.json'), 'data': data,
                          'warning': warning})
    return found


def _freshness(section):
    """When a section was last written: its job's ``last_run``, else its newest hourly sample."""
    if not isinstance(section, dict):
        return -1
    times = [section.get('last_run')] + [h.get('t') for h in (section.get('history') or [])[-1:] if isinstance(h, dict)]
    times = [t for t in times if isinstance(t, (int, float)) and not isinstance(t, bool)]
    return max(times) if times else 0


def merged(own, others, sections):
    """One view of the host: each of ``sections`` from whichever file has it freshest, and the
    alerting section with each job's entry from the file where that job ran last.

    ``own`` is this run's state data, ``others`` the :func:`discover` entries.
    """
    sources = [own] + [o['data'] for o in others]
    view = {}
    for name in sections:
        candidates = [s.get(name) for s in sources if isinstance(s.get(name), dict) and s.get(name)]
        view[name] = max(candidates, key=_freshness) if candidates else {}
    jobs = {}
    for source in sources:
        for job, entry in (source.get(ALERTING) or {}).items():
            if isinstance(entry, dict) and _freshness(entry) >= _freshness(jobs.get(job)):
                jobs[job] = entry
    view[ALERTING] = jobs
    return view


def source_summary(others):
    """What the report says about each other user's state: user, path, jobs found, why not read."""
    return [{'user': o['user'], 'path': o['path'], 'jobs': sorted(printable(j, 100) for j in o['data'].get(ALERTING) or {}),
             'warning': o['warning']} for o in others]


def printable(value, limit=MAX_TEXT):
    """``value`` as one line of at most ``limit`` characters: line breaks and control characters become '?'."""
    text = '' if value is None else str(value)
    text = ''.join(ch if ch.isprintable() else '?' for ch in text)
    return text if len(text) <= limit else text[:limit - 3] + '...'

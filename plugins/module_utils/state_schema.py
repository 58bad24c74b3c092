# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shape of each state file section, checked when the file is loaded.

Valid JSON with the wrong types (a hand edit, an old version, a bad disk)
must not crash every run from then on: a section that does not have the
expected shape is dropped with a warning and starts fresh (README, "State").
Sections of unknown modules are kept untouched.  No I/O here.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math

ANY = 'any'
STR = 'str'
INT = 'int'
NUMBER = 'number'


class Map:
    """A JSON object of string keys to ``values``."""

    def __init__(self, values):
        self.values = values


class List:
    """A JSON array of ``items``."""

    def __init__(self, items):
        self.items = items


class Record:
    """A JSON object; the named ``fields``, when present, have their shape; others are free."""

    def __init__(self, **fields):
        self.fields = fields


class Optional:
    """``shape`` or null."""

    def __init__(self, shape):
        self.shape = shape


_ALERT_ENTRY = Record(check=STR, subject=Optional(ANY), level=STR, since=NUMBER, told_level=Optional(STR),
                      last_sent=Optional(NUMBER))
_PENDING = Record(created=Optional(NUMBER), title=Optional(STR), body=Optional(STR), targets=Optional(List(STR)),
                  type=Optional(STR))

# Top-level section -> shape.  The per-job 'alerting' entries are checked one
# by one, so one bad job entry does not wipe the other jobs' alert history.
SECTIONS = {
    'pm2': Record(restart_baseline=Map(INT), own_restarts=Map(INT),
                  daemons=Map(Record(user=STR, restart_baseline=Map(INT), own_restarts=Map(INT)))),
    'twzrd_health': Record(history=List(Record(t=NUMBER, load1=Optional(NUMBER))), levels=Map(ANY)),
    'twzrd_db_health': Record(sizes=Map(Optional(List(ANY))), last_run=NUMBER, last_status=STR),
    'twzrd_vacuum': Record(last_run=NUMBER, last_status=STR, last_metrics=Map(ANY)),
    'alerting': Map(Record(alerts=Map(_ALERT_ENTRY), pending=List(_PENDING), last_run=NUMBER,
                           last_success=NUMBER, last_status=STR, accept_expired_told=List(STR))),
}


def problem(value, shape, where):
    """Where ``value`` first departs from ``shape`` (a short text), or None when it conforms."""
    if shape == ANY:
        return None
    if isinstance(shape, Optional):
        return None if value is None else problem(value, shape.shape, where)
    if shape == STR:
        return None if isinstance(value, str) else '%s is not a string' % where
    if shape in (INT, NUMBER):
        kinds = (int,) if shape == INT else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
            return '%s is not %s' % (where, 'an integer' if shape == INT else 'a number')
        return None
    if isinstance(shape, List):
        if not isinstance(value, list):
            return '%s is not a list' % where
        for index, item in enumerate(value):
            found = problem(item, shape.items, '%s[%d]' % (where, index))
            if found:
                return found
        return None
    if not isinstance(value, dict):
        return '%s is not an object' % where
    if isinstance(shape, Map):
        for key in sorted(value):
            found = problem(value[key], shape.values, '%s.%s' % (where, key))
            if found:
                return found
        return None
    for key in sorted(shape.fields):
        if key in value:
            found = problem(value[key], shape.fields[key], '%s.%s' % (where, key))
            if found:
                return found
    return None


def validate(data):
    """Drop every section (or alerting job entry) of the wrong shape: ``(data, [warnings])``."""
    warnings = []
    for name in sorted(SECTIONS):
        if name not in data:
            continue
        shape = SECTIONS[name]
        if name == 'alerting' and isinstance(data[name], dict):
            for job in sorted(data[name]):
                found = problem(data[name][job], shape.values, '%s.%s' % (name, job))
                if found:
                    warnings.append('state section %s.%s has the wrong shape (%s): fresh start for it'
                                    % (name, job, found))
                    del data[name][job]
            continue
        found = problem(data[name], shape, name)
        if found:
            warnings.append('state section %s has the wrong shape (%s): fresh start for it' % (name, found))
            del data[name]
    return data, warnings

# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shape of each state file section, checked when the file is loaded.

Valid JSON with the wrong types (a hand edit, an old version, a bad disk)
must not crash every run from then on: a section that does not have the
expected shape is dropped with a warning and starts fresh (README, "State").
Every number at every depth must be finite and in range, in every section:
one ``1e999`` would make the whole file unsaveable.  Sections of unknown
modules are otherwise kept untouched.  No I/O here.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math
import re

from ansible_collections.twzrd.ops.plugins.module_utils.core.jobs import TRACKED_WITH, last_success_field

ANY = 'any'        # any JSON; its numbers still have to be finite and in range
STR = 'str'
INT = 'int'
NUMBER = 'number'
COUNT = 'count'    # a number of things: 0 or more
EPOCH = 'epoch'    # a time in seconds since 1970 that time.gmtime and strftime can take

# Every number in the file, wherever it sits: JSON takes 1e999 (inf) and 400-digit integers, Python's
# json.loads too, but json.dumps(allow_nan=False) refuses inf and int(inf) raises; so no state saves.
MAX_NUMBER = 2.0 ** 63
MAX_EPOCH = 253402300799  # 9999-12-31T23:59:59Z: gmtime beyond it overflows or strftime misprints
DAY_KEY = re.compile(r'^\d{4}-\d{2}-\d{2}$')
_MAX_WHERE = 200  # a deeply nested path is cut short in the warning


class Map:
    """A JSON object of string keys (matching ``keys``, a regex, when given) to ``values``."""

    def __init__(self, values, keys=None):
        self.values = values
        self.keys = keys


class List:
    """A JSON array of ``items``."""

    def __init__(self, items):
        self.items = items


class Tuple:
    """A JSON array of exactly these ``items``, e.g. ``[epoch, bytes]``."""

    def __init__(self, *items):
        self.items = items


class Record:
    """A JSON object; the named ``fields``, when present, have their shape; the ``required`` ones must be
    present; other fields are free (ANY)."""

    def __init__(self, required=(), **fields):
        self.fields = fields
        self.required = required


class Optional:
    """``shape`` or null."""

    def __init__(self, shape):
        self.shape = shape


class OneOf:
    """One of these strings (an alert level: anything else is a KeyError where levels are ranked)."""

    def __init__(self, *values):
        self.values = values


LEVEL = OneOf('ok', 'warning', 'critical')


_ALERT_ENTRY = Record(check=STR, subject=Optional(ANY), level=LEVEL, since=EPOCH, told_level=Optional(LEVEL),
                      last_sent=Optional(EPOCH))
_PENDING = Record(created=Optional(EPOCH), title=Optional(STR), body=Optional(STR), targets=Optional(List(STR)),
                  type=Optional(STR))
_HOURLY_SAMPLE = Record(required=('t',), t=EPOCH, load1=Optional(NUMBER), load5=Optional(NUMBER),
                        load15=Optional(NUMBER), mem_pct=Optional(NUMBER), swap_pct=Optional(NUMBER), disk=Map(NUMBER))
_PER_DAY_COUNTS = Map(Map(COUNT), keys=DAY_KEY)   # {day: {name: count}}
_FORECAST = Record(rate_per_day=NUMBER, days_left=NUMBER, full_at=EPOCH, full_date=STR, samples=COUNT, since=EPOCH,
                   capacity=NUMBER, free_bytes=NUMBER, reason=STR)
_VACUUM_RUN = Record(required=('t',), t=EPOCH, db=Optional(STR), planned=COUNT, vacuumed=COUNT, skipped=COUNT,
                     failed=COUNT, not_started=COUNT, dead_rows_removed=Optional(NUMBER), seconds=Optional(NUMBER))
_INSIGHTS = Record(  # postgres/insights.py state_copy: one database's weekly insights
    required=('t',), t=EPOCH,
    unused_indexes=List(Record(index=STR, table=STR, bytes=COUNT, since=STR, drop=Optional(STR))),
    duplicate_indexes=List(Record(index=STR, table=STR, duplicate_of=STR, bytes=COUNT, drop=Optional(STR),
                                  note=Optional(STR))),
    cache_databases=List(Record(database=STR, hit_pct=Optional(NUMBER))),
    cache_tables=List(Record(table=STR, hit_pct=Optional(NUMBER))),
    statements=List(Record(query=STR, calls=COUNT, mean_ms=NUMBER, total_ms=NUMBER)), statements_hint=STR,
    bloat=List(Record(name=STR, table=STR, bytes=COUNT, bloat_bytes=Optional(COUNT), bloat_pct=Optional(NUMBER))))

# Top-level section -> shape.  The per-job 'alerting' entries are checked one
# by one, so one bad job entry does not wipe the other jobs' alert history.
# Sections not named here (another module's, a newer version's) are ANY.
SECTIONS = {
    'pm2': Record(restart_baseline=Map(INT), own_restarts=Map(INT),
                  daemons=Map(Record(user=STR, restart_baseline=Map(INT), own_restarts=Map(INT)))),
    'twzrd_health': Record(history=List(_HOURLY_SAMPLE), levels=Map(ANY), pm2_restarts=_PER_DAY_COUNTS,
                           future_noted=EPOCH),
    'twzrd_db_health': Record(sizes=Map(Optional(List(Tuple(EPOCH, NUMBER)))), last_run=EPOCH, last_status=STR,
                              dead_rows=Map(_PER_DAY_COUNTS), forecast=Map(_FORECAST)),
    'twzrd_vacuum': Record(last_run=EPOCH, last_status=STR, last_metrics=Map(ANY), runs=List(_VACUUM_RUN),
                           insights=Map(_INSIGHTS)),
    'alerting': Map(Record(alerts=Map(_ALERT_ENTRY), pending=List(_PENDING), last_run=EPOCH,
                           last_success=EPOCH, last_status=STR, accept_expired_told=List(STR),
                           **dict((last_success_field(job), EPOCH) for job in TRACKED_WITH))),
}


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number_problem(value, where):
    """Why ``value`` cannot be a number of the state file (any number anywhere), or None."""
    if isinstance(value, float) and not math.isfinite(value):  # an int is finite (isfinite overflows on 10**400)
        return '%s is not a finite number' % where
    if abs(value) > MAX_NUMBER:
        return '%s is out of range (more than 2**63 in magnitude)' % where
    return None


def _scalar_problem(value, shape, where):
    if shape == STR:
        return None if isinstance(value, str) else '%s is not a string' % where
    if not _is_number(value) or (shape == INT and not isinstance(value, int)):
        return '%s is not %s' % (where, 'an integer' if shape == INT else 'a number')
    found = _number_problem(value, where)
    if found:
        return found
    if shape == COUNT and value < 0:
        return '%s is negative, not a count' % where
    if shape == EPOCH and not 0 <= value <= MAX_EPOCH:
        return '%s is not a time between 1970 and 9999 (seconds since 1970)' % where
    return None


def free_problem(value, where):
    """The first number anywhere inside ``value`` that is not finite or out of range (iterative: any depth)."""
    stack = [(value, where)]
    while stack:
        item, path = stack.pop()
        if _is_number(item):
            found = _number_problem(item, path[:_MAX_WHERE])
            if found:
                return found
        elif isinstance(item, dict):
            stack.extend((item[key], '%s.%s' % (path, key)) for key in sorted(item, reverse=True))
        elif isinstance(item, list):
            stack.extend((item[index], '%s[%d]' % (path, index)) for index in reversed(range(len(item))))
    return None


def problem(value, shape, where):
    """Where ``value`` first departs from ``shape`` (a short text), or None when it conforms."""
    if shape == ANY:
        return free_problem(value, where)
    if isinstance(shape, Optional):
        return None if value is None else problem(value, shape.shape, where)
    if isinstance(shape, str):
        return _scalar_problem(value, shape, where)
    if isinstance(shape, OneOf):
        return None if value in shape.values else '%s is not one of %s' % (where, ', '.join(shape.values))
    if isinstance(shape, (List, Tuple)):
        return _array_problem(value, shape, where)
    return _object_problem(value, shape, where)


def _array_problem(value, shape, where):
    if not isinstance(value, list):
        return '%s is not a list' % where
    if isinstance(shape, Tuple) and len(value) != len(shape.items):
        return '%s is not a list of %d items' % (where, len(shape.items))
    for index, item in enumerate(value):
        found = problem(item, shape.items if isinstance(shape, List) else shape.items[index], '%s[%d]' % (where, index))
        if found:
            return found
    return None


def _object_problem(value, shape, where):
    """A Map or a Record."""
    if not isinstance(value, dict):
        return '%s is not an object' % where
    if isinstance(shape, Map):
        for key in sorted(value):
            if shape.keys is not None and not shape.keys.match(key):
                return '%s has a key %r that is not a day (YYYY-MM-DD)' % (where, key[:40])
            found = problem(value[key], shape.values, '%s.%s' % (where, key))
            if found:
                return found
        return None
    for key in shape.required:
        if key not in value:
            return '%s has no %s' % (where, key)
    for key in sorted(value):
        found = problem(value[key], shape.fields.get(key, ANY), '%s.%s' % (where, key))
        if found:
            return found
    return None


def validate(data):
    """Drop every section (or alerting job entry) of the wrong shape: ``(data, [warnings])``.

    This is the one place that cleans what the state file holds: code that reads a
    section may take its shape for granted (a hand edit never reaches it).
    """
    warnings = []
    for name in sorted(data):
        shape = SECTIONS.get(name, ANY)
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

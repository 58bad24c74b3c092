# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation of module parameters that AnsibleModule's types cannot express.

Each function returns a list of messages that name the parameter and the
problem; modules join them into one ``fail_json``.  No I/O here.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math
import re


def threshold_pair_errors(params, warning_name, critical_name, minimum=0, maximum=None):
    """Check one warning/critical pair: in range, and warning below critical."""
    errors = []
    for name in (warning_name, critical_name):
        value = params.get(name)
        if value is None:
            continue
        if value < minimum:
            errors.append('%s must be >= %s, got %s' % (name, minimum, value))
        elif maximum is not None and value > maximum:
            errors.append('%s must be <= %s, got %s' % (name, maximum, value))
    warning, critical = params.get(warning_name), params.get(critical_name)
    if warning is not None and critical is not None and warning >= critical:
        errors.append('%s (%s) must be lower than %s (%s)' % (warning_name, warning, critical_name, critical))
    return errors


def minimum_errors(params, names, minimum):
    """Each named parameter, when set, must be at least ``minimum``."""
    errors = []
    for name in names:
        value = params.get(name)
        if value is not None and value < minimum:
            errors.append('%s must be >= %s, got %s' % (name, minimum, value))
    return errors


def regex_errors(params, name):
    """Every entry of the list parameter ``name`` must compile as a regex."""
    errors = []
    for pattern in params.get(name) or []:
        try:
            re.compile(pattern)
        except re.error as exc:
            errors.append('%s: %r is not a valid regular expression (%s)' % (name, pattern, exc))
    return errors


# --- every option: no NUL bytes, finite numbers, sane sizes (issue 9) -------------------------

# Any integer or float option: beyond this it is a typo, and JSON consumers lose precision.
MAX_ABS_NUMBER = 2 ** 53
# Durations and counts that each module bounds more tightly are listed in its own ``BOUNDS``.


def _value_errors(name, value, kind):
    """Problems of one value of the given AnsibleModule ``type`` (``kind``); recursive for raw dicts/lists."""
    if isinstance(value, str):
        return ['%s must not contain a NUL byte' % name] if '\x00' in value else []
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, float):
        if not math.isfinite(value):
            return ['%s must be a finite number, got %s' % (name, value)]
        if abs(value) > MAX_ABS_NUMBER:
            return ['%s must be between -%d and %d, got %s' % (name, MAX_ABS_NUMBER, MAX_ABS_NUMBER, value)]
        return []
    if isinstance(value, int):
        if abs(value) > MAX_ABS_NUMBER:
            return ['%s must be between -%d and %d, got %s' % (name, MAX_ABS_NUMBER, MAX_ABS_NUMBER, value)]
        return []
    errors = []
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            if isinstance(key, str) and '\x00' in key:
                errors.append('%s must not contain a NUL byte in a key' % name)
            errors += _value_errors('%s[%s]' % (name, str(key).replace('\x00', '\\x00')), value[key], kind)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            errors += _value_errors('%s[%d]' % (name, index), item, kind)
    return errors


def input_errors(argument_spec, params, prefix=''):
    """NUL bytes, NaN/inf and absurd magnitudes in any option, named (suboptions included).

    AnsibleModule accepts ``nan``, ``inf`` and ``1e308`` as floats and strings
    with NUL bytes; later they crash os/pwd/psycopg2 or silently disable a
    threshold.  Run this first, before any other check compares numbers.
    """
    errors = []
    for name in sorted(argument_spec):
        value = params.get(name)
        if value is None:
            continue
        spec = argument_spec[name]
        where = prefix + name
        options = spec.get('options')
        if options and isinstance(value, dict):
            errors += input_errors(options, value, where + '.')
        elif options and isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    errors += input_errors(options, item, '%s[%d].' % (where, index))
        else:
            errors += _value_errors(where, value, spec.get('type'))
    return errors


def bounds_errors(params, bounds):
    """``bounds``: ``{name: (low, high)}`` inclusive; ``low`` may be ``('>', x)`` for a strict minimum."""
    errors = []
    for name in sorted(bounds):
        value = params.get(name)
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        low, high = bounds[name]
        strict = isinstance(low, tuple)
        low_value = low[1] if strict else low
        if (value <= low_value) if strict else (value < low_value):
            errors.append('%s must be %s %s, got %s' % (name, '>' if strict else '>=', low_value, value))
        elif high is not None and value > high:
            errors.append('%s must be <= %s, got %s' % (name, high, value))
    return errors


def reject_bad_input(module):
    """Fail the module on :func:`input_errors`; first step of every module's ``main``."""
    errors = input_errors(module.argument_spec, module.params)
    if errors:
        module.fail_json(msg='; '.join(errors))

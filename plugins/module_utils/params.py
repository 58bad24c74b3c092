# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation of module parameters that AnsibleModule's types cannot express.

Each function returns a list of messages that name the parameter and the
problem; modules join them into one ``fail_json``.  No I/O here.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

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

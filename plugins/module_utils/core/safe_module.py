# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""AnsibleModule whose output is always JSON.

AnsibleModule accepts ``nan`` and ``inf`` for float options and echoes the
options back (``invocation.module_args``), also when its own type checks
refuse a value: Python's json then writes ``NaN``/``Infinity``, which no JSON
parser reads.  This subclass writes such numbers as strings, and when
AnsibleModule's own validation reports an error that names no option
(``dictionary requested, could not parse JSON or key=value``) it reports the
first of its errors that does.  What it logs to the journal/syslog has every URL's
userinfo masked.  Arguments that are not ``{"ANSIBLE_MODULE_ARGS": {...}}`` (a plain
options file, a path that does not exist) are a JSON failure naming what is wrong, not a
traceback.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import math
import os
import sys

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.twzrd.ops.plugins.module_utils.core.redact import redact


def json_safe(value):
    """``value`` with non-finite floats as their string (``'nan'``, ``'inf'``), containers walked."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return dict((key, json_safe(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


ARGS_HELP = ('run a module without Ansible with its options wrapped in a JSON file: '
             '{"ANSIBLE_MODULE_ARGS": {"mode": "alerts"}}, and the collection on PYTHONPATH '
             '(README.md, "A module without Ansible"; on an installed host: twzrd-run JOB)')


def _arguments_error(msg):
    """Fail before AnsibleModule exists: the same JSON a failed module prints, exit 1."""
    sys.stdout.write(json.dumps({'failed': True, 'msg': '%s; %s' % (msg, ARGS_HELP)}) + '\n')
    sys.stdout.flush()
    raise SystemExit(1)


def shape_errors(argument_spec, params, prefix=''):
    """Options with suboptions given something that is not a dictionary, named.

    AnsibleModule raises TypeError (a traceback, no JSON) when such an option holds
    a number, a boolean or a list with anything but dictionaries; a string it parses
    or refuses itself.
    """
    errors = []
    for name, spec in sorted(argument_spec.items()):
        value = params.get(name) if isinstance(params, dict) else None
        options = spec.get('options')
        if value is None or not options:
            continue
        where = prefix + name
        if spec.get('type') == 'dict':
            if isinstance(value, dict):
                errors += shape_errors(options, value, where + '.')
            elif not isinstance(value, str):
                errors.append('%s must be a dictionary of options, got %s' % (where, type(value).__name__))
        elif spec.get('type') == 'list' and isinstance(value, list):
            for index, item in enumerate(value):
                item_where = '%s[%d]' % (where, index)
                if isinstance(item, dict):
                    errors += shape_errors(options, item, item_where + '.')
                else:
                    errors.append('%s must be a dictionary of options, got %s' % (item_where, type(item).__name__))
    return errors


def _source():
    """Where the arguments came from, for the message (never their content: it may hold secrets)."""
    if len(sys.argv) > 1 and not sys.argv[1].startswith('-'):
        argument = sys.argv[1]
        if os.path.isfile(argument):
            return 'the file %s' % argument
        if argument.lstrip().startswith(('{', '[')):
            # AnsibleModule read the argument itself as the JSON: none of it is shown, a password may be there
            return 'the argument given inline (not valid JSON; its text is not shown)'
        return 'the argument (no such file %s, and not JSON either)' % argument
    return 'standard input'


class SafeModule(AnsibleModule):
    """Use exactly like AnsibleModule."""

    def _load_params(self):
        try:
            super(SafeModule, self)._load_params()
        except Exception as exc:  # pylint: disable=broad-except  # AnsibleModule raises bare Exception here
            if 'ANSIBLE_MODULE_ARGS' in str(exc):
                _arguments_error('%s holds no ANSIBLE_MODULE_ARGS object (a plain options file?)' % _source())
            _arguments_error('cannot read the module arguments from %s: %s' % (_source(), str(exc).rstrip('.')))
        if not isinstance(self.params, dict):
            _arguments_error('ANSIBLE_MODULE_ARGS in %s must be an object of options, got %s'
                             % (_source(), type(self.params).__name__))
        errors = shape_errors(self.argument_spec, self.params)
        if errors:
            sys.stdout.write(json.dumps({'failed': True, 'msg': '; '.join(errors)}) + '\n')
            sys.stdout.flush()
            raise SystemExit(1)

    def _scrub(self, kwargs):
        params = getattr(self, 'params', None)
        if isinstance(params, dict):
            for name in list(params):
                params[name] = json_safe(params[name])
        return json_safe(kwargs)

    def exit_json(self, **kwargs):
        super(SafeModule, self).exit_json(**self._scrub(kwargs))

    def _naming(self, msg):
        names = list(getattr(self, 'argument_spec', None) or {})
        result = getattr(self, 'validation_result', None)
        if result is None or not isinstance(msg, str) or any("'%s'" % name in msg for name in names):
            return msg
        for error in result.errors:
            if any("'%s'" % name in str(error) for name in names):
                return str(error)
        return msg

    def log(self, msg, log_args=None):
        """Journal/syslog lines ("Invoked with ...") with every URL's userinfo masked, not only its password.

        Cron runs log nothing (their job files pass _ansible_no_log, Ansible's no_target_syslog).
        """
        if isinstance(msg, bytes):
            msg = msg.decode('utf-8', 'replace')
        if isinstance(msg, str):
            msg = redact(msg)
        if log_args:
            log_args = dict((key, redact(str(value))) for key, value in log_args.items())
        super(SafeModule, self).log(msg, log_args=log_args)

    def fail_json(self, msg, **kwargs):
        kwargs = self._scrub(kwargs)
        super(SafeModule, self).fail_json(msg=json_safe(self._naming(msg)), **kwargs)

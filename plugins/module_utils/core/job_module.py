# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One skeleton for every twzrd.ops module (docs/design.md, "One module skeleton").

Each module declares, with these names:

- ``ARGUMENT_SPEC``: its options, report_stage.report_argument_spec() included;
- ``BOUNDS``: documented maxima, ``{option: (low, high)}`` (params.bounds_errors);
- ``parameter_errors(params)``: every message about a bad value, each naming the parameter:
  ``bounds_errors(params, BOUNDS)`` first, then the module's own checks, then
  ``report_parameter_errors(params)`` (unit tests call it with plain dicts);

and its ``main()`` starts with :func:`start`, which creates the SafeModule, masks secrets,
rejects NaN/NUL input, checks the libraries and fails once with every parameter error, before
the module reads, writes or connects to anything.

What is a failure and what is an alert, decided here once:

- **A failure** (the module fails, status ``failed``): the module cannot do its job at all.
  Bad parameters and a missing library fail in :func:`start` (nothing written). After the
  report stage exists (report_stage.ReportStage.fail) it is tracked and told like an alert
  (check ``job_failed``): the state file unusable, PM2 cannot be queried, a restart lock held,
  the catalog of a reachable database unreadable.
- **An alert** (the module succeeds, status warning or critical): anything about the thing the
  module watches or maintains.  A database that does not answer (down, unreachable, refusing
  the login, no such database) is the critical ``connection`` alert of
  postgres.connection_alert, in twzrd_db_health and twzrd_vacuum alike, never a module
  failure: cron's exit code says critical (2), the message names the database and what to do,
  and the next run that reaches it resolves the alert like any other.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.twzrd.ops.plugins.module_utils.core.params import reject_bad_input
from ansible_collections.twzrd.ops.plugins.module_utils.core.safe_module import SafeModule


def start(argument_spec, parameter_errors, requirements=(), mask=None, **module_options):
    """The module, its parameters checked; fails it (one message naming each bad parameter) otherwise.

    ``requirements``: ``(available, library name, import error)`` triples. ``mask(module)`` adds the
    module's secrets to ``no_log_values`` before anything could echo them. ``module_options`` go
    to AnsibleModule (mutually_exclusive ...); every module supports check mode.
    """
    module = SafeModule(argument_spec=argument_spec, supports_check_mode=True, **module_options)
    if mask is not None:
        mask(module)
    reject_bad_input(module)  # NaN and NUL would make every comparison after it meaningless
    for available, library, error in requirements:
        if not available:
            module.fail_json(msg=missing_required_lib(library), exception=str(error))
    errors = list(dict.fromkeys(parameter_errors(module.params)))  # one message per problem, in order
    if errors:
        module.fail_json(msg='; '.join(errors))
    return module


def warn_state(module, store):
    """The state file's warning (corrupt, unreadable, not there yet), as a module warning.

    The report stage tells the cron runner which of them is routine (a first run) in the result's
    ``routine_warnings``, a field, not a wording to match (report_sinks.conditions).
    """
    if store.warning:
        module.warn(store.warning)

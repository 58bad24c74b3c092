# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test helper: appends each twzrd.ops module task's module arguments (its `invocation`) to
the JSON-lines file named by TWZRD_INVOCATIONS. Enabled only by tests (ANSIBLE_CALLBACKS_ENABLED)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: record_invocations
type: aggregate
short_description: Record the module arguments of twzrd.ops tasks (tests only)
description:
  - Appends one JSON line per twzrd.ops module result, with the module, its invocation arguments and the
    interpreter Ansible discovered for the host (when this task discovered it), to the file named by the
    environment variable E(TWZRD_INVOCATIONS).
requirements:
  - enabled in ANSIBLE_CALLBACKS_ENABLED
"""

import json
import os

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'record_invocations'
    CALLBACK_NEEDS_ENABLED = True

    def _record(self, result):
        action = result.task_fields.get('action') or ''
        invocation = result._result.get('invocation') or {}
        if not action.startswith('twzrd.ops.') or 'module_args' not in invocation:
            return
        with open(os.environ['TWZRD_INVOCATIONS'], 'a', encoding='utf-8') as out:
            out.write(json.dumps({'module': action.split('.')[-1], 'host': result._host.get_name(),
                                  'module_args': invocation['module_args'],
                                  'python': (result._result.get('ansible_facts') or {}).get('discovered_interpreter_python')})
                      + '\n')

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result)

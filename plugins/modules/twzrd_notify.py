#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: twzrd_notify
short_description: Send a test message, or report a job that failed before it could report itself
version_added: "0.2.0"
description:
  - With O(test=true), sends a test message to every URL in O(notify.urls), each on its own, and says per
    channel whether it went through. The first thing to run after configuring notifications.
  - With O(failure), reports a twzrd.ops job that could not report itself (it crashed, timed out, or its
    configuration could not be read; the cron runner calls this). The failure is tracked like an alert of
    that job, in the same state (told once, reminded after O(notify.repeat_hours), resolved by the job's
    next good run).
  - Channels are named by position and scheme (V(#1 mailto)); URLs never appear in the result.
author:
  - twzrd.ops maintainers (@twzrd)
extends_documentation_fragment:
  - twzrd.ops.common
  - twzrd.ops.report
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: In check mode nothing is sent and the state is not changed.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
options:
  test:
    description: Send a test message to every channel and report each.
    type: bool
    default: false
  failure:
    description: A job failure to report. Mutually exclusive with O(test).
    type: dict
    suboptions:
      job:
        description: The job's name (V(alerts), V(health), V(db_health), V(vacuum), V(restart)).
        type: str
        required: true
      instance:
        description: The database of a database job (its C(login_db)), so the failure shares that job's state.
        type: str
      msg:
        description: What went wrong.
        type: str
        required: true
      remediation:
        description: What to do about it.
        type: str
requirements:
  - apprise (on the host, only when a message is sent)
notes:
  - Setup and examples for email, Slack, Telegram, ntfy and webhooks are in C(docs/notifications.md).
'''

EXAMPLES = r'''
- name: Does every configured channel reach us?
  twzrd.ops.twzrd_notify:
    test: true
    notify:
      urls: "{{ twzrd_notify_urls }}"

- name: Report a job that could not run
  twzrd.ops.twzrd_notify:
    failure:
      job: vacuum
      instance: app
      msg: "twzrd_vacuum killed after 3000s (timeout)"
      remediation: "Raise install_job_timeout or max_duration"
    notify:
      urls: "{{ twzrd_notify_urls }}"
'''

RETURN = r'''
deliveries:
  description: With O(test=true), one entry per channel.
  returned: when test is true
  type: list
  elements: dict
  contains:
    channel:
      description: Position and scheme of the URL (V(#1 mailto)).
      type: str
    ok:
      description: Whether the message went through.
      type: bool
    error:
      description:
        - Why not, in Apprise's words plus the socket error (an HTTP status, V([Errno 111] Connection refused),
          a timeout), scrubbed of the URL's secrets; or null.
      type: str
  sample:
    - {channel: "#1 mailto", ok: true, error: null}
    - {channel: "#2 json", ok: false, error: "Failed to send JSON POST notification: Internal server error., error=500."}
    - {channel: "#3 json", ok: false,
       error: "A Connection error occurred sending JSON notification to 127.0.0.1. ([Errno 111] Connection refused)"}
status:
  description: V(failed) when reporting a failure, otherwise V(ok).
  returned: always
  type: str
message:
  description:
    - The message this run has for a person (title, blank line, body), with or without O(notify.urls) set.
      Absent when nothing changed since the last run (alerts are told once per change, see O(notify)).
    - The cron runner prints it when no channel took it, so cron mail stays a fallback.
  returned: when the run has something to tell
  type: str
  sample: |-
    twzrd alerts web1: WARNING

    twzrd alerts on web1 at 2026-12-01 10:00 UTC: WARNING

    NEW WARNING disk /: disk / is 91% full
      value 91, threshold 90
      what to do: free space on /
notification:
  description: What the report stage sent (messages, sent, deliveries, pending, undelivered text).
  returned: when a failure was reported and urls are set
  type: dict
accepted:
  description: Alerts matched by O(accept) (none for a failure; present for symmetry with the job modules).
  returned: when an accepted condition matched
  type: list
  elements: dict
report_text_file:
  description: The report file this run kept in O(report_dir) (its log line names it too).
  returned: when report_dir is set and the file was written
  type: str
  sample: /var/lib/twzrd/reports/health-2026-12-07T0000Z.txt
twzrd_reported:
  description: The failure was logged and notified.
  returned: when a failure was reported
  type: bool
'''

import socket
import time


from ansible_collections.twzrd.ops.plugins.module_utils.core import job_module
from ansible_collections.twzrd.ops.plugins.module_utils.core.jobs import JOB_MODULES, JOBS
from ansible_collections.twzrd.ops.plugins.module_utils.report import notify as delivery
from ansible_collections.twzrd.ops.plugins.module_utils.report.stage import (
    ReportStage, report_argument_spec, report_parameter_errors)

BOUNDS = {}  # no numeric option beyond the shared report options (report_parameter_errors)


ARGUMENT_SPEC = dict(
    test=dict(type='bool', default=False),
    failure=dict(type='dict', options=dict(
        job=dict(type='str', required=True),
        instance=dict(type='str'),
        msg=dict(type='str', required=True),
        remediation=dict(type='str'),
    )),
)
ARGUMENT_SPEC.update(report_argument_spec())


def parameter_errors(params):
    errors = report_parameter_errors(params)
    failure = params.get('failure')
    if failure and failure['job'] not in JOB_MODULES:
        errors.append('failure.job must be one of %s, got %r' % (', '.join(sorted(JOB_MODULES)), failure['job']))
    if not params['test'] and not failure:
        errors.append('set test: true or failure')
    return errors


def send_test(module, urls):
    title, body = delivery.test_message(socket.gethostname(), time.time())
    if module.check_mode:
        return [{'channel': delivery.channel_name(i, u), 'ok': None, 'error': None} for i, u in enumerate(urls)]
    timeout = float((module.params.get('notify') or {}).get('timeout') or delivery.DEFAULT_TIMEOUT)
    outcomes = delivery.deliver(urls, title, body, timeout=timeout)
    return [dict((k, o[k]) for k in ('channel', 'ok', 'error')) for o in outcomes]


def main():
    module = job_module.start(ARGUMENT_SPEC, parameter_errors, mutually_exclusive=[('test', 'failure')],
                              required_one_of=[('test', 'failure')])
    params = module.params
    failure = params.get('failure')

    urls = [u for u in (params.get('notify') or {}).get('urls') or [] if u]
    if params['test']:
        if not urls:
            module.fail_json(msg='notify.urls is empty: nothing to test')
        deliveries = send_test(module, urls)
        failed = [d for d in deliveries if d['ok'] is False]
        result = dict(changed=False, status='ok', deliveries=deliveries)
        if failed:
            module.fail_json(msg='test message not delivered via %s' % ', '.join(
                '%s (%s)' % (d['channel'], d['error']) for d in failed), **result)
        module.exit_json(**result)

    job = failure['job']
    # the job's own kind: a report job's failure is a message too
    stage = ReportStage(module, job, JOB_MODULES[job], kind=JOBS[job][1], instance=failure.get('instance'))
    stage.fail(failure['msg'], remediation=failure.get('remediation'), error='job', log_extra=[('cron_job', job)])


if __name__ == '__main__':
    main()

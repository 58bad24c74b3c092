# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters behind the fleet summary (docs in fleet_summary.yml and fleet_summary_render.yml)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.twzrd.ops.plugins.plugin_utils import fleet_summary as summary_utils


def _host_var(variables, name):
    """A variable of one host, or None when the host does not have it."""
    if not name:
        return None
    try:
        return variables[name]
    except KeyError:
        return None


def fleet_summary(hostvars, hosts, result, job=None, failure='twzrd_fleet_failure', check_mode=False,
                  generated=None, fail_on='never', not_run=None):
    """Build the summary from ``hostvars``: each host's registered ``result`` and rescued ``failure``."""
    if not isinstance(hostvars, Mapping):
        raise AnsibleFilterError('fleet_summary: the input must be hostvars, got %s' % type(hostvars).__name__)
    if isinstance(hosts, (str, bytes)) or not hasattr(hosts, '__iter__'):
        raise AnsibleFilterError('fleet_summary: hosts must be a list of inventory host names')
    if not result or not isinstance(result, str):
        raise AnsibleFilterError('fleet_summary: result must name the variable the module task registered')
    results, failures = {}, {}
    for host in hosts:
        try:
            variables = hostvars[host]
        except KeyError:
            raise AnsibleFilterError('fleet_summary: %s is not an inventory host' % host)
        results[host] = _host_var(variables, result)
        failures[host] = _host_var(variables, failure)
    try:
        return summary_utils.build(job, results, failures, check_mode=check_mode, generated=generated,
                                   fail_on=fail_on, not_run_detail=not_run)
    except summary_utils.SummaryError as exc:
        raise AnsibleFilterError('fleet_summary: %s' % exc)


def fleet_summary_render(summary, output='text'):
    """The summary as plain-text lines (``text``) or one Markdown document (``markdown``)."""
    if not isinstance(summary, Mapping) or 'hosts' not in summary or 'totals' not in summary:
        raise AnsibleFilterError('fleet_summary_render: the input must be the result of twzrd.ops.fleet_summary')
    if output == 'text':
        return summary_utils.text_lines(summary)
    if output == 'markdown':
        return summary_utils.markdown(summary)
    raise AnsibleFilterError('fleet_summary_render: output must be text or markdown, got %r' % (output,))


class FilterModule:
    def filters(self):
        return {
            'fleet_summary': fleet_summary,
            'fleet_summary_render': fleet_summary_render,
        }

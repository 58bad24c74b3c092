# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inventory as Prometheus file_sd target groups (docs in prometheus_targets.yml)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

# Prometheus label names; those starting with __ are Prometheus' own.
LABEL_NAME = re.compile(r'^[a-zA-Z_][a-zA-Z0-9_]*$')
IMPLICIT_GROUPS = ('all', 'ungrouped')


def _var(variables, name, default=None):
    try:
        value = variables[name]
    except KeyError:
        return default
    return default if value is None else value


def _port(host, value, variable):
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = None
    if port is None or isinstance(value, bool) or not 1 <= port <= 65535:
        raise AnsibleFilterError('prometheus_targets: %s of host %s must be a port 1-65535, got %r' % (variable, host, value))
    return port


def _labels(host, variables, labels_var):
    labels = {'instance': host}
    groups = sorted(g for g in (_var(variables, 'group_names', []) or []) if g not in IMPLICIT_GROUPS)
    # ",db,web,": one label holds every group, matched with =~".*,web,.*" (Prometheus' own
    # convention for lists in a label, as its Consul discovery does with tags)
    labels['groups'] = ',%s,' % ','.join(groups) if groups else ''
    extra = _var(variables, labels_var, {})
    if not isinstance(extra, Mapping):
        raise AnsibleFilterError('prometheus_targets: %s of host %s must be a dictionary of labels' % (labels_var, host))
    for name, value in extra.items():
        if not isinstance(name, str) or not LABEL_NAME.match(name) or name.startswith('__'):
            raise AnsibleFilterError('prometheus_targets: %s of host %s: %r is not a Prometheus label name '
                                     '([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)' % (labels_var, host, name))
        labels[name] = '%s' % value
    return labels


def prometheus_targets(hostvars, hosts, port=9100, address_var='twzrd_exporter_address',
                       port_var='twzrd_exporter_port', labels_var='twzrd_exporter_labels'):
    """One file_sd target group per host, in the order of ``hosts``."""
    if not isinstance(hostvars, Mapping):
        raise AnsibleFilterError('prometheus_targets: the input must be hostvars, got %s' % type(hostvars).__name__)
    if isinstance(hosts, (str, bytes)) or not hasattr(hosts, '__iter__'):
        raise AnsibleFilterError('prometheus_targets: hosts must be a list of inventory host names')
    groups = []
    for host in hosts:
        try:
            variables = hostvars[host]
        except KeyError:
            raise AnsibleFilterError('prometheus_targets: %s is not an inventory host' % host)
        address = _var(variables, address_var) or _var(variables, 'ansible_host') or host
        own = _var(variables, port_var)
        target_port = _port(host, port if own is None else own, 'port' if own is None else port_var)
        groups.append({'targets': ['%s:%d' % (address, target_port)],
                       'labels': _labels(host, variables, labels_var)})
    return groups


class FilterModule:
    def filters(self):
        return {'prometheus_targets': prometheus_targets}

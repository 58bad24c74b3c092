# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Molecule's connection to its podman containers: run each task in the container's namespaces with nsenter.

Test infrastructure only (docs/design.md, "Molecule on this machine"). containers.podman's connection cannot
pipeline and spends four podman commands on every task (mount, mkdir, chmod, exec: 0.1-0.2 s each here, more
under load); a role pass is ~70 module runs, and the scenarios make several. nsenter enters a running
container's namespaces in milliseconds and passes stdin through, so a task is one command.
Root on the controller and rootful podman (as the scenarios run): the container's root is the host's root.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = '''
name: twzrd_nsenter
short_description: Run tasks in a running podman container through nsenter (Molecule only)
description:
  - Finds the container's init process with C(podman inspect) once per connection, then runs every command with
    C(nsenter --all) in its namespaces, with the environment C(podman exec) gives a command. Modules are pipelined.
  - Needs root on the controller and a rootful podman container.
author: twzrd.ops
options:
  remote_addr:
    description: The container's name.
    default: inventory_hostname
    type: str
    vars:
      - name: inventory_hostname
      - name: ansible_host
'''

import shlex
import subprocess

from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.connection import ConnectionBase

# What `podman exec` gives a command in these images (they set no environment of their own): never the
# controller's PATH, HOME or ANSIBLE_* variables.
CONTAINER_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'TERM=xterm']


class Connection(ConnectionBase):
    """nsenter into the namespaces of a podman container's PID 1."""

    transport = 'twzrd_nsenter'
    has_pipelining = True
    always_pipeline_modules = True

    def __init__(self, *args, **kwargs):
        super(Connection, self).__init__(*args, **kwargs)
        self._pid = None

    def _connect(self):
        if not self._connected:
            name = self.get_option('remote_addr')
            found = subprocess.run(['podman', 'inspect', '--type', 'container', '--format', '{{.State.Pid}}', name],
                                   capture_output=True, check=False)
            pid = found.stdout.strip().decode('ascii', 'replace')
            if found.returncode != 0 or not pid.isdigit() or pid == '0':
                raise AnsibleConnectionFailure('container %s is not running: %s'
                                               % (name, to_native(found.stderr).strip() or 'no PID'))
            self._pid = pid
            self._connected = True
        return self

    def _enter(self, argv):
        """``argv`` run inside the container: its namespaces, root and working directory, its environment."""
        return ['nsenter', '--target', self._pid, '--all', '--root', '--wd', '--', 'env', '-i'] + CONTAINER_ENV + argv

    def exec_command(self, cmd, in_data=None, sudoable=True):
        super(Connection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)
        self._connect()
        proc = subprocess.run(self._enter(['/bin/sh', '-c', cmd]), input=in_data or b'', capture_output=True,
                              check=False)
        return proc.returncode, proc.stdout, proc.stderr

    def put_file(self, in_path, out_path):
        super(Connection, self).put_file(in_path, out_path)
        self._connect()
        with open(in_path, 'rb') as source:
            proc = subprocess.run(self._enter(['/bin/sh', '-c', 'cat > %s' % shlex.quote(out_path)]), stdin=source,
                                  capture_output=True, check=False)
        if proc.returncode != 0:
            raise AnsibleError('could not write %s in the container: %s' % (out_path, to_native(proc.stderr)))

    def fetch_file(self, in_path, out_path):
        super(Connection, self).fetch_file(in_path, out_path)
        self._connect()
        with open(out_path, 'wb') as target:
            proc = subprocess.run(self._enter(['cat', '--', in_path]), stdout=target, stderr=subprocess.PIPE,
                                  check=False)
        if proc.returncode != 0:
            raise AnsibleError('could not read %s in the container: %s' % (in_path, to_native(proc.stderr)))

    def close(self):
        self._connected = False

"""The documented commands work as written (issue 10 item 8).

Every ```sh block right after a `<!-- docs-test -->` line in README.md and docs/*.md is run for
real, one command per line, from the repository root in a shell like a person's after the
README's setup: the venv's tools first on PATH and no ANSIBLE_* variable (the Makefile exports
some; a person's shell does not), so ansible.cfg alone must find the collection. The blocks are
chosen to be safe on any machine: documentation, syntax checks, read-only reports of localhost.
"""
import glob
import os
import re
import subprocess
import sys

import pytest

from harness import ROOT

MARKER = '<!-- docs-test -->'
BLOCK = re.compile(re.escape(MARKER) + r'\s*\n```(?:sh|bash|console)\n(.*?)\n```', re.S)


def documented_commands():
    commands = []
    for path in [os.path.join(ROOT, 'README.md')] + sorted(glob.glob(os.path.join(ROOT, 'docs', '*.md'))):
        with open(path, encoding='utf-8') as handle:
            text = handle.read()
        assert text.count(MARKER) == len(BLOCK.findall(text)), '%s: a marker without a sh block after it' % path
        for block in BLOCK.findall(text):
            for line in block.splitlines():
                command = re.sub(r'\s+#.*$', '', line).strip()
                if command and not command.startswith('#'):
                    commands.append((os.path.relpath(path, ROOT), command))
    return commands


def person_env():
    env = {key: value for key, value in os.environ.items() if not key.startswith('ANSIBLE_')}
    env['PATH'] = os.path.dirname(sys.executable) + os.pathsep + env.get('PATH', '/usr/bin:/bin')
    env['ANSIBLE_NOCOLOR'] = '1'  # output only; not a setting the commands depend on
    return env


COMMANDS = documented_commands()


def test_the_docs_mark_commands_to_run():
    files = {path for path, command in COMMANDS}
    assert 'README.md' in files and 'docs/configuration.md' in files, files
    assert any(command.startswith('ansible-playbook') for path, command in COMMANDS)


@pytest.mark.parametrize('path,command', COMMANDS, ids=['%s: %s' % item for item in COMMANDS])
def test_documented_command_runs(path, command):
    proc = subprocess.run(['bash', '-c', command], cwd=ROOT, env=person_env(), capture_output=True, text=True,
                          timeout=300, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, '%s: `%s` exited %d\n%s' % (path, command, proc.returncode, output)
    assert 'was not found' not in output and 'ERROR' not in output, output


def test_make_build_is_documented_with_the_repository_url_it_needs():
    """`make build` alone stops ("REPOSITORY_URL is required", docs/release.md): never tell a person to run it so."""
    bare = []
    for path in [os.path.join(ROOT, 'README.md')] + sorted(glob.glob(os.path.join(ROOT, 'docs', '*.md'))):
        with open(path, encoding='utf-8') as handle:
            for number, line in enumerate(handle, 1):
                if re.search(r'make build(?! REPOSITORY_URL=)\b', line):
                    bare.append('%s:%d: %s' % (os.path.relpath(path, ROOT), number, line.strip()))
    assert bare == []

"""Issue 21 item 6: the collection declares what an execution environment needs, and ansible-builder reads it.

The built tarball is installed offline, ``ansible-builder introspect`` (what an EE build runs inside the
image) must find exactly the collection's requirements.txt and bindep.txt, and ``ansible-builder create``
turns the shipped example definition (extras/ee/) into a build context. No image is built.
"""
import os
import subprocess
import sys

import yaml

from harness import ROOT

BIN = os.path.dirname(sys.executable)


def run(cmd, **kwargs):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, **kwargs)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def requirement_lines(name):
    with open(os.path.join(ROOT, name)) as handle:
        return [line.strip() for line in handle if line.strip() and not line.startswith('#')]


def test_introspect_finds_the_collections_python_and_system_dependencies(tmp_path):
    run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', str(tmp_path), ROOT], cwd=ROOT)
    collections = tmp_path / 'collections'
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false')
    run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '--offline', '-p', str(collections),
         str(tmp_path / 'twzrd-ops-0.1.0.tar.gz')], env=env)
    found = yaml.safe_load(run([os.path.join(BIN, 'ansible-builder'), 'introspect', str(collections)], cwd=str(tmp_path)))
    python = [line.split('#')[0].strip() for line in found['python']]
    system = [line.split('#')[0].strip() for line in found['system']]
    assert python == requirement_lines('requirements.txt')
    assert system == requirement_lines('bindep.txt')
    assert all(line.endswith('# from collection twzrd.ops') for line in found['python'] + found['system'])


def test_the_example_definition_makes_a_build_context(tmp_path):
    context = tmp_path / 'context'
    run([os.path.join(BIN, 'ansible-builder'), 'create', '-f', os.path.join(ROOT, 'extras', 'ee', 'execution-environment.yml'),
         '-c', str(context)], cwd=str(tmp_path))
    with open(str(context / '_build' / 'requirements.yml')) as handle:
        galaxy = yaml.safe_load(handle)
    assert [c['name'] for c in galaxy['collections']] == ['twzrd.ops']
    containerfile = (context / 'Containerfile').read_text()
    # the image build installs the collection, then introspects it: our meta/execution-environment.yml is read there
    assert 'ansible-galaxy collection install' in containerfile and 'introspect.py introspect' in containerfile

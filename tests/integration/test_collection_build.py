"""The collection builds into a tarball that installs and documents itself."""
import os
import subprocess
import sys

from harness import ROOT

BIN = os.path.dirname(sys.executable)


def run(cmd, **kwargs):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, **kwargs)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_build_install_and_ansible_doc(tmp_path):
    run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', str(tmp_path), ROOT], cwd=ROOT)
    [tarball] = [p for p in os.listdir(str(tmp_path)) if p.endswith('.tar.gz')]
    assert tarball == 'twzrd-ops-0.1.0.tar.gz'
    listing = run(['tar', '-tzf', str(tmp_path / tarball)])
    assert 'plugins/modules/twzrd_health.py' in listing
    for unwanted in ('.venv/', 'tests/node/node_modules', '.build/', 'tests/output'):
        assert unwanted not in listing
    install_dir = tmp_path / 'collections'
    # only the fresh install dir is configured: the dev link in .build must not count as "already installed"
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(install_dir), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',
               ANSIBLE_NOCOLOR='1')
    run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '--offline', '-p', str(install_dir),
         str(tmp_path / tarball)], env=env)
    assert os.path.isfile(str(install_dir / 'ansible_collections' / 'twzrd' / 'ops' / 'MANIFEST.json'))
    doc = run([os.path.join(BIN, 'ansible-doc'), 'twzrd.ops.twzrd_health'], env=env, cwd=str(tmp_path))
    assert 'MODULE twzrd.ops.twzrd_health' in doc and 'checks swap use' in doc and 'swap_warning' in doc and 'RETURN VALUES' in doc

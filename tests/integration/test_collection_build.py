"""The collection builds into a tarball that installs and documents itself."""
import json
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


# The release build (`make build REPOSITORY_URL=...`, scripts/build_collection.py) with the
# test-only address `make galaxy-check` uses.
TEST_URL = 'https://galaxy-check.invalid/twzrd/ops'
# What users need, and all of it: the top level of the tarball.
SHIPPED = {'MANIFEST.json', 'FILES.json', 'README.md', 'COPYING', 'CHANGELOG.md', 'install.yml', 'requirements.txt', 'bindep.txt',
           'changelogs', 'docs', 'extras', 'meta', 'playbooks', 'plugins', 'roles'}
SHIPPED_DIRS = ('docs/', 'extras/', 'meta/', 'playbooks/', 'plugins/', 'roles/')


def release_build(out_dir, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'build_collection.py'),
                           '--output-path', str(out_dir)] + list(args),
                          capture_output=True, text=True, timeout=300, check=False, cwd=ROOT,
                          env={k: v for k, v in os.environ.items() if k != 'REPOSITORY_URL'})


def test_release_tarball_holds_only_what_users_need(tmp_path):
    proc = release_build(tmp_path, '--check-only', '--repository-url', TEST_URL + '.git/')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tarball = str(tmp_path / 'twzrd-ops-0.1.0.tar.gz')
    names = {n.rstrip('/') for n in run(['tar', '-tzf', tarball]).split()}
    assert {n.split('/')[0] for n in names} == SHIPPED
    for wanted in ('COPYING', 'CHANGELOG.md', 'changelogs/changelog.yaml', 'changelogs/config.yaml',
                   'roles/install/README.md', 'roles/health_check/README.md',
                   'roles/install/meta/argument_specs.yml', 'roles/install/files/twzrd_run.py',
                   'plugins/modules/twzrd_notify.py', 'docs/notifications.md', 'playbooks/health.yml',
                   'extras/prometheus/twzrd.rules.yml'):
        assert wanted in names, wanted
    for unwanted in ('changelogs/fragments', 'galaxy.yml', 'Makefile', '.ansible-lint', '.gitignore',
                     'tests', 'molecule', 'scripts', 'bench', 'requirements', '.ci'):
        assert unwanted not in names, unwanted
    assert not [n for n in names if '__pycache__' in n or n.endswith('.pyc') or 'node_modules' in n]
    # every tracked file of the user-facing directories made it in
    tracked = run(['git', 'ls-files', '--'] + list(SHIPPED_DIRS), cwd=ROOT).split('\n')
    assert not [f for f in tracked if f and f not in names]
    # COPYING is the GPL-3.0 text, not a summary of it
    copying = run(['tar', '-xzOf', tarball, 'COPYING'])
    assert copying.startswith(' ' * 20 + 'GNU GENERAL PUBLIC LICENSE') and 'END OF TERMS AND CONDITIONS' in copying
    # the four addresses come from the one URL (trailing .git and / dropped)
    info = json.loads(run(['tar', '-xzOf', tarball, 'MANIFEST.json']))['collection_info']
    assert {k: info[k] for k in ('repository', 'homepage', 'documentation', 'issues')} == {
        'repository': TEST_URL, 'homepage': TEST_URL,
        'documentation': TEST_URL + '/tree/main/docs', 'issues': TEST_URL + '/issues'}
    assert info['license'] == ['GPL-3.0-or-later'] and 'monitoring' in info['tags']


def test_release_build_without_repository_url_fails_clearly(tmp_path):
    venv = os.path.dirname(BIN)
    proc = subprocess.run(['make', '-s', '-C', ROOT, 'build', 'REPOSITORY_URL=', 'VENV=' + venv,
                           '--assume-old=' + os.path.join(venv, '.installed')],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode != 0
    assert 'REPOSITORY_URL is not set' in proc.stderr and 'make build REPOSITORY_URL=https://' in proc.stderr
    # a test-only address is refused for a release, and a token in the URL is never echoed
    proc = release_build(tmp_path, '--repository-url', TEST_URL)
    assert proc.returncode != 0 and 'test-only address' in proc.stderr
    proc = release_build(tmp_path, '--repository-url', 'https://user:s3cr3t-token@git.example.org/twzrd/ops')
    assert proc.returncode != 0 and 'not an https address' in proc.stderr and 's3cr3t' not in proc.stderr
    assert not os.listdir(str(tmp_path))

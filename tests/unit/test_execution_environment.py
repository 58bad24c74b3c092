"""The execution environment's Python requirements are the hosts' runtime venv's (less ansible-core)."""
import os

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_requirements_txt_is_the_runtime_venv_without_ansible_core():
    with open(os.path.join(ROOT, 'roles', 'install', 'defaults', 'main.yml')) as handle:
        runtime = yaml.safe_load(handle)['install_runtime_packages']
    with open(os.path.join(ROOT, 'requirements.txt')) as handle:
        ee = [line.strip() for line in handle if line.strip() and not line.startswith('#')]
    assert ee == [package for package in runtime if not package.startswith('ansible-core')]


def test_meta_names_the_files_that_exist():
    with open(os.path.join(ROOT, 'meta', 'execution-environment.yml')) as handle:
        meta = yaml.safe_load(handle)
    assert meta['version'] == 1
    for path in meta['dependencies'].values():
        assert os.path.isfile(os.path.join(ROOT, path)), path

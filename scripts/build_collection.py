"""Build the collection tarball with its public addresses filled in (`make build`).

galaxy.yml leaves repository, documentation, issues and homepage out: the public address is not
decided yet, so it is one build variable, REPOSITORY_URL. This copies the files git knows about
(tracked, or new and not ignored) to a staging directory, adds the four addresses to the staged
galaxy.yml and runs `ansible-galaxy collection build` there: the working tree is never edited.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
URL_KEYS = ('repository', 'homepage', 'documentation', 'issues')
# https://HOST[:PORT]/PATH: no user, password, query or fragment (nothing secret ends up in metadata)
URL_RE = re.compile(r'^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~-]+)+$')
# Reserved by RFC 2606, never resolves: the marker of a test-only address.
TEST_HOST_SUFFIX = '.invalid'

MISSING = """REPOSITORY_URL is not set. A release build needs the collection's public repository address:
    make build REPOSITORY_URL=https://github.com/OWNER/REPO
It becomes repository and homepage, REPOSITORY_URL/issues and REPOSITORY_URL/tree/main/docs in the
tarball's metadata (docs/release.md). To check the collection without one: make galaxy-check"""


def addresses(url, check_only):
    """The four galaxy.yml addresses derived from one repository URL."""
    url = (url or '').strip()
    if not url:
        raise SystemExit(MISSING)
    url = url.rstrip('/')
    if url.endswith('.git'):
        url = url[:-len('.git')]
    if not URL_RE.match(url):
        # the value is not echoed: a mistyped URL may carry a token
        raise SystemExit('REPOSITORY_URL is not an https address of a repository '
                         '(https://HOST/OWNER/REPO, without user, password, query or fragment)')
    host = url.split('/')[2].split(':')[0]
    if host.endswith(TEST_HOST_SUFFIX) and not check_only:
        raise SystemExit('REPOSITORY_URL %s is a test-only address (%s): it may only be used by '
                         'make galaxy-check, never for a release build' % (url, TEST_HOST_SUFFIX))
    return {'repository': url, 'homepage': url,
            'documentation': url + '/tree/main/docs', 'issues': url + '/issues'}


def source_files():
    """Files git knows about: tracked, or new and not ignored (what sanity.sh checks too)."""
    out = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
                         cwd=ROOT, capture_output=True, check=True).stdout
    return [f for f in out.decode().split('\0') if f and os.path.isfile(os.path.join(ROOT, f))]


def stage(dest, urls):
    for rel in source_files():
        os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, rel), os.path.join(dest, rel))
    galaxy_yml = os.path.join(dest, 'galaxy.yml')
    with open(galaxy_yml) as fh:
        text = fh.read()
    present = [k for k in URL_KEYS if k in (yaml.safe_load(text) or {})]
    if present:
        raise SystemExit('galaxy.yml sets %s itself: remove it, REPOSITORY_URL provides it'
                         % ', '.join(present))
    lines = ['', '# filled in by scripts/build_collection.py from REPOSITORY_URL']
    lines += ['%s: %s' % (k, urls[k]) for k in URL_KEYS]
    with open(galaxy_yml, 'a') as fh:
        fh.write('\n'.join(lines) + '\n')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repository-url', default=os.environ.get('REPOSITORY_URL', ''))
    parser.add_argument('--output-path', required=True)
    parser.add_argument('--check-only', action='store_true',
                        help='the tarball is for the import check: a test-only *.invalid address is allowed')
    args = parser.parse_args(argv)
    urls = addresses(args.repository_url, args.check_only)
    galaxy = os.path.join(os.path.dirname(sys.executable), 'ansible-galaxy')
    if not os.path.exists(galaxy):
        galaxy = shutil.which('ansible-galaxy') or sys.exit('ansible-galaxy not found (make venv)')
    os.makedirs(args.output_path, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix='twzrd-build-') as tmp:
        src = os.path.join(tmp, 'ops')
        stage(src, urls)
        proc = subprocess.run([galaxy, 'collection', 'build', '--force', '--output-path',
                               os.path.abspath(args.output_path), src], check=False)
    return proc.returncode


if __name__ == '__main__':
    sys.exit(main())

"""Every relative link in the Markdown docs reaches an existing file and, with #anchor, an existing heading."""
import glob
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = sorted(glob.glob(os.path.join(ROOT, '*.md')) + glob.glob(os.path.join(ROOT, 'docs', '*.md'))
              + glob.glob(os.path.join(ROOT, 'roles', '*', 'README.md')) + glob.glob(os.path.join(ROOT, 'bench', '*.md')))
LINK = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')
FENCE = re.compile(r'^(```|~~~).*?^\1', re.S | re.M)


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r'`|\*\*|\*', '', heading.strip().lower())
    text = re.sub(r'[^\w\- ]', '', text)
    return text.replace(' ', '-')


def anchors(path):
    with open(path) as handle:
        text = FENCE.sub('', handle.read())
    return set(slug(m.group(1)) for m in re.finditer(r'^#{1,6}\s+(.*)$', text, re.M))


def links(path):
    with open(path) as handle:
        text = FENCE.sub('', handle.read())
    text = re.sub(r'`[^`\n]*`', '', text)  # inline code is not a link
    return [m.group(1) for m in LINK.finditer(text)]


@pytest.mark.parametrize('doc', DOCS, ids=[os.path.relpath(d, ROOT) for d in DOCS])
def test_relative_links_resolve(doc):
    broken = []
    for target in links(doc):
        if re.match(r'^[a-z]+:', target):  # http:, https:, mailto:
            continue
        path, _hash, anchor = target.partition('#')
        resolved = os.path.normpath(os.path.join(os.path.dirname(doc), path)) if path else doc
        if not os.path.exists(resolved):
            broken.append('%s (no such file)' % target)
        elif anchor and resolved.endswith('.md') and anchor not in anchors(resolved):
            broken.append('%s (no such heading)' % target)
    assert not broken, broken

"""Every citation of the design notes in the code names a section that exists (issue 19 item 2).

A citation is ``docs/design.md, "Heading"`` (or ``design.md#anchor`` in a Markdown link); the heading
must be one of docs/design.md's, whole. The design notes live in the repository: a bare
``DESIGN.md`` points at nothing a reader of the code has.
"""
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DESIGN = os.path.join(ROOT, 'docs', 'design.md')
CITATION = re.compile(r'docs/design\.md,\s+"([^"]+)"')
# Files that quote history (what a change said at the time), and this file, which quotes the forms.
HISTORY = ('CHANGELOG.md', 'changelogs/', 'tests/unit/test_design_refs.py')


def headings():
    with open(DESIGN) as handle:
        return set(m.group(1).strip() for m in re.finditer(r'^#{2,6}\s+(.*)$', handle.read(), re.M))


def tracked_texts():
    names = subprocess.run(['git', 'ls-files', '-z'], cwd=ROOT, capture_output=True, check=True).stdout.split(b'\0')
    for name in names:
        name = name.decode()
        if not name or name.startswith(HISTORY) or not os.path.isfile(os.path.join(ROOT, name)):
            continue
        with open(os.path.join(ROOT, name), 'rb') as handle:
            data = handle.read()
        if b'\0' in data:
            continue
        yield name, data.decode('utf-8', 'replace')


def test_every_design_citation_names_an_existing_section():
    known = headings()
    # A heading may carry its issue number, "State (issue 9)": citing it without the number is fine.
    known |= set(re.sub(r'\s*\(issues? [^)]*\)$', '', h) for h in known)
    broken = []
    for name, text in tracked_texts():
        joined = re.sub(r'\n\s*(?:#|\*|//)?\s*', ' ', text)  # a citation may wrap across comment lines
        for match in CITATION.finditer(joined):
            if match.group(1) not in known:
                broken.append('%s: %s' % (name, match.group(1)))
    assert not broken, broken


def test_no_citation_of_a_design_file_outside_the_repository():
    cited = []
    for name, text in tracked_texts():
        for number, line in enumerate(text.splitlines(), 1):
            if re.search(r'(?<![\w/])DESIGN\.md', line):
                cited.append('%s:%d' % (name, number))
    assert not cited, cited

# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tables as aligned plain text, for the weekly mail.

Apprise builds an email's plain-text part from its HTML, one table cell per
line: a text-only reader got "vacuum run / database / vacuumed / ..." down
the screen.  The mail version of the page therefore carries its tables as
aligned columns in ``<pre>``, which reads the same in both parts (the page
file in report_dir keeps its HTML tables).  Pure: no I/O.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from html import escape
from html.parser import HTMLParser

GAP = '  '
MAX_CELL = 80   # a long log message stays readable; the last column is never padded anyway
_TABLE = re.compile(r'<table\b[^>]*>.*?</table>', re.S | re.I)


class _Cells(HTMLParser):
    """The rows of one table, each a list of its cells' text."""

    def __init__(self):
        HTMLParser.__init__(self, convert_charrefs=True)
        self.rows = []
        self._cell = None

    def handle_starttag(self, tag, attrs):
        if tag == 'tr':
            self.rows.append([])
        elif tag in ('td', 'th') and self.rows:
            self._cell = []
            self.rows[-1].append(self._cell)

    def handle_endtag(self, tag):
        if tag in ('td', 'th'):
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _cell_text(parts):
    text = ' '.join(''.join(parts).split())
    return text if len(text) <= MAX_CELL else text[:MAX_CELL - 3] + '...'


def align(rows):
    """``rows`` (the first is the header) as lines of columns, padded to the widest cell; a rule under the header."""
    rows = [[str(cell) for cell in row] for row in rows if row]
    if not rows:
        return ''
    count = max(len(row) for row in rows)
    rows = [row + [''] * (count - len(row)) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(count)]

    def line(cells):
        return GAP.join(cell.ljust(widths[i]) if i < count - 1 else cell for i, cell in enumerate(cells)).rstrip()
    lines = [line(rows[0]), line(['-' * w for w in widths])]
    lines.extend(line(row) for row in rows[1:])
    return '\n'.join(lines)


def tables_as_text(html):
    """``html`` with every ``<table>`` replaced by the same rows aligned in a ``<pre>``."""
    def replace(match):
        parser = _Cells()
        parser.feed(match.group(0))
        parser.close()
        rows = [[_cell_text(cell) for cell in row] for row in parser.rows]
        return '<pre class="table">%s</pre>' % escape(align(rows), quote=False)
    return _TABLE.sub(replace, html)
